"""The experimental geometry, stated once: rotations, beam direction, detector axes.

Convention (identical to ``shared/bench/t1.py``, the projection-file convention)
------------------------------------------------------------------------------
* Sample frame: right-handed (x, y, z) in nm, origin at the volume centre, z
  normal to the slab. Volumes are indexed ``(z, y, x)``.
* Projection i rotates the sample *actively* by ``R_i = Rx(theta_i) @ Rz(phi_i)``:
  first the in-plane rotation phi about the sample z axis, then the tilt theta
  about the lab x axis. Both angles are counter-clockwise (right-hand rule).
* The beam travels along lab +z. The detector axes are u = lab x (columns) and
  v = lab y (rows), in nm, origin on the rotation centre; projection arrays
  are indexed ``(angle, v, u)``.
* A projection is ``b_i(u, v) = integral f(R_i^T (u, v, s)) ds``.
* Beam direction in the sample frame: ``k_i = R_i^T e_z
  = (sin(theta) sin(phi), sin(theta) cos(phi), cos(theta))``.

Relation to the paper's eq. 4, ``(alpha, beta, gamma) = (sin theta cos phi,
sin theta sin phi, cos theta)``: the paper measures its in-plane angle from the
other in-plane axis. With ``phi_paper = 90 deg - phi`` the two agree, so the
XMCD coefficients (alpha, beta, gamma) of eq. 3-6 are exactly the components of
:func:`beam_direction` here. The tilt theta is the same angle in both.

Helicity: ``+1`` and ``-1`` label the two circular polarisations; the
scattering factor is ``f = f_c + helicity * i f_m (k . m)`` (eq. 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import Section, param
from .errors import ConfigError

__all__ = ["rx", "rz", "rotation", "beam_direction", "detector_axes", "GeometryConfig",
           "acquisition_angles", "HELICITIES"]

HELICITIES = (1, -1)


def rx(angle_rad: float) -> np.ndarray:
    """Active rotation by ``angle_rad`` about x, (3, 3) float64."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rz(angle_rad: float) -> np.ndarray:
    """Active rotation by ``angle_rad`` about z, (3, 3) float64."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation(phi_deg: float, theta_deg: float) -> np.ndarray:
    """Sample-to-lab rotation ``R = Rx(theta) @ Rz(phi)``, (3, 3) float64.

    Applies to column vectors in (x, y, z) order: ``r_lab = R @ r_sample``.
    """
    return rx(np.deg2rad(theta_deg)) @ rz(np.deg2rad(phi_deg))


def beam_direction(phi_deg, theta_deg) -> np.ndarray:
    """Unit beam direction in the sample frame, ``k = R^T e_z``.

    Parameters
    ----------
    phi_deg, theta_deg : float or array_like
        In-plane rotation and tilt in degrees (broadcast together).

    Returns
    -------
    ndarray, (..., 3) float64
        ``(kx, ky, kz)``; the (alpha, beta, gamma) of the paper's eq. 3-6.
    """
    phi = np.deg2rad(np.asarray(phi_deg, dtype=float))
    th = np.deg2rad(np.asarray(theta_deg, dtype=float))
    phi, th = np.broadcast_arrays(phi, th)
    return np.stack([np.sin(th) * np.sin(phi), np.sin(th) * np.cos(phi), np.cos(th)], axis=-1)


def detector_axes(phi_deg: float, theta_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Detector axes u (columns) and v (rows) as unit vectors in the sample frame.

    ``u = R^T e_x`` and ``v = R^T e_y``; a sample point r lands at detector
    coordinates ``(u . r, v . r)``.
    """
    rot = rotation(phi_deg, theta_deg)
    return rot[0].copy(), rot[1].copy()


@dataclass(frozen=True, kw_only=True)
class GeometryConfig(Section):
    """Acquisition geometry: three tilt series at in-plane rotations (paper, Fig. 1)."""

    phis_deg: tuple[float, ...] = param(
        (0.0, 120.0, 240.0), doc="In-plane rotations phi about the sample z axis, degrees "
        "(paper: 0, 120, 240).", ge=-360.0, le=360.0)
    tilt_min_deg: float = param(-62.0, doc="First tilt theta about the lab x axis, degrees "
                                "(paper: -62).", gt=-90.0, lt=90.0)
    tilt_max_deg: float = param(62.0, doc="Last tilt, degrees (paper: +62).", gt=-90.0, lt=90.0)
    tilt_step_deg: float = param(4.0, doc="Tilt increment, degrees (paper: 4).", gt=0.0, le=90.0)

    def check(self) -> None:
        if not self.phis_deg:
            raise ConfigError("phis_deg", "must list at least one in-plane rotation")
        if self.tilt_max_deg < self.tilt_min_deg:
            raise ConfigError("tilt_max_deg", f"must be >= tilt_min_deg ({self.tilt_min_deg:g})"
                              f" (got {self.tilt_max_deg:g})")

    @property
    def tilts_deg(self) -> np.ndarray:
        """Tilt angles of one series, degrees, (n_tilt,) float64."""
        n = int(np.floor((self.tilt_max_deg - self.tilt_min_deg) / self.tilt_step_deg + 1e-9)) + 1
        return self.tilt_min_deg + self.tilt_step_deg * np.arange(n)


def acquisition_angles(cfg: GeometryConfig) -> np.ndarray:
    """All (phi_deg, theta_deg) pairs, series-major: (n_series * n_tilt, 2) float64."""
    return np.array([(p, t) for p in cfg.phis_deg for t in cfg.tilts_deg], dtype=float)
