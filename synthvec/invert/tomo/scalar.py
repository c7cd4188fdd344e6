"""Scalar tomography stage: alignment then RESIRE, on labelled projection sets."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .align import (centre_of_mass_align, common_line_align, rough_align, series_offsets,
                    shift_images)
from .config import TomoConfig
from .dataio import detector_grid, validate_projection_set, volume_dataset
from .projectors import group_series
from .resire import resire, rigid_component

__all__ = ["prealign", "mass_conserved", "reconstruct_scalar", "halfset_reconstructions",
           "SCALAR_METHODS"]


def prealign(data: np.ndarray, phis_deg, thetas_deg, *, shifts_px: np.ndarray | None = None,
             center_of_mass: bool = True) -> np.ndarray:
    """The paper's pre-alignment chain; returns total shifts (N, 2) (dv, du) in pixels.

    1. rough cross-correlation within each tilt series;
    2. centre of mass of all projections to one rigid 3D centre (optional; skipped
       when the projected totals differ by more than 5 %, see :func:`mass_conserved`);
    3. common line along the tilt axis within each series;
    4. common lines across series: one rigid translation per series.

    Each step measures what is left after the previous corrections.
    """
    phis, thetas = np.asarray(phis_deg, float), np.asarray(thetas_deg, float)
    groups = group_series(phis)
    shifts = np.zeros((len(data), 2)) if shifts_px is None else np.asarray(shifts_px, float).copy()

    def current():
        return shift_images(data, -shifts) if np.any(shifts) else data

    shifts += rough_align(current(), groups)
    if center_of_mass and mass_conserved(data):
        d, _ = centre_of_mass_align(current(), phis, thetas)
        shifts += d
    shifts += common_line_align(current(), groups)
    if len(groups) > 1:
        t = series_offsets(current(), phis, thetas, groups)
        from ...geometry import detector_axes

        for s, g in enumerate(groups):
            for i in g:
                u, v = detector_axes(phis[i], thetas[i])
                shifts[i] += (v @ t[s], u @ t[s])
    # a common 3D translation of all projections only moves the volume: keep the
    # rotation centre of the file (the corrections carry no rigid component)
    start = np.zeros_like(shifts) if shifts_px is None else np.asarray(shifts_px, float)
    return shifts - rigid_component(shifts - start, phis, thetas)


def mass_conserved(data: np.ndarray, tol: float = 0.05) -> bool:
    """Whether every projection holds the same total (a compact object inside the field).

    Centre-of-mass alignment assumes it; an extended slab, whose projected
    total grows as 1/cos(theta) and leaves the field at high tilt, breaks it.
    """
    tot = np.asarray(data, float).sum(axis=(1, 2))
    return bool(tot.mean() > 0 and tot.std() <= tol * tot.mean())


def _register(data, phis, thetas, shifts, cfg: TomoConfig):
    """Optional series registration by separate reconstructions (:mod:`.frames`)."""
    if cfg.register_series == "off" or len(group_series(phis)) < 2:
        return shifts, phis
    from .frames import register_series

    rot = 2.0 if cfg.register_series == "rigid" else 0.0
    _, shifts, phis = register_series(data, phis, thetas, shifts_px=shifts, max_rotation_deg=rot)
    return shifts, phis


def _run(data, phis, thetas, shifts0, cfg, support):
    res = resire(data, phis, thetas, cfg, shifts_px=shifts0, support=support)
    return res


def _dataset(res, pitch, proj_coords, cfg, angle_index=None) -> xr.Dataset:
    n = res.volume.shape[0]
    ds = volume_dataset(n, pitch)
    # the projector integrates in voxels; data are line integrals in nm
    ds["density"] = (("z", "y", "x"), (res.volume / pitch).astype(np.float32))
    ds["density"].attrs["units"] = "optical density per nm"
    ds["shift_v_px"] = ("angle", res.shifts_px[:, 0])
    ds["shift_u_px"] = ("angle", res.shifts_px[:, 1])
    ds["phi_refined_deg"] = ("angle", res.phis_deg)
    ds["theta_refined_deg"] = ("angle", res.thetas_deg)
    ds["r1"] = ("iteration", np.asarray(res.r1))
    ds = ds.assign_coords(phi_deg=("angle", proj_coords[0]), theta_deg=("angle", proj_coords[1]),
                          iteration=("iteration", np.arange(1, len(res.r1) + 1)))
    if angle_index is not None:
        ds = ds.assign_coords(angle_index=("angle", np.asarray(angle_index)))
    ds.attrs.update(method=cfg.method, projector=cfg.projector, acceleration=cfg.acceleration,
                    iterations=cfg.iterations,
                    shift_convention="measured(v, u) = true(v - dv, u - du)")
    return ds


def reconstruct_scalar(proj: xr.Dataset, cfg: TomoConfig, *,
                       support: np.ndarray | None = None, cube_px: int | None = None
                       ) -> xr.Dataset:
    """Scalar tomography of a projection set (pre-alignment + RESIRE with refinement).

    Parameters
    ----------
    proj : xarray.Dataset
        ``projections (angle, v, u)`` with ``phi_deg``, ``theta_deg``, ``u``, ``v``
        (:func:`read_projection_set`).
    cfg : TomoConfig
    support : (n, n, n) bool, optional
        Voxels allowed to be non-zero.
    cube_px : int, optional
        Side of the cube (default max(n_u, n_v)); its parity sets whether voxel
        centres sit on integer or half-integer multiples of the pixel
        (:func:`.dataio.detector_grid`), e.g. to share the grid of another volume.

    Returns
    -------
    xarray.Dataset
        ``density (z, y, x)`` float32 on a cube of side ``cube_px`` or max(n_u, n_v) with the
        detector pixel as voxel, centred on the rotation centre, coords in nm;
        ``shift_v_px``, ``shift_u_px``, ``phi_refined_deg``, ``theta_refined_deg``
        on ``angle`` (the refined alignment) and ``r1 (iteration)``.
    """
    proj = validate_projection_set(proj)
    data, pitch, shifts0 = detector_grid(proj, cube_px=cube_px)
    phis, thetas = proj["phi_deg"].values.astype(float), proj["theta_deg"].values.astype(float)
    if cfg.align:
        shifts0 = prealign(data, phis, thetas, shifts_px=shifts0, center_of_mass=cfg.center_of_mass)
        shifts0, phis_start = _register(data, phis, thetas, shifts0, cfg)
    else:
        phis_start = phis
    res = _run(data, phis_start, thetas, shifts0, cfg, support)
    ds = _dataset(res, pitch, (phis, thetas), cfg)
    ds.attrs["prealigned"] = int(cfg.align)
    ds.attrs["center_of_mass_used"] = int(cfg.align and cfg.center_of_mass and mass_conserved(data))
    return ds


def halfset_reconstructions(proj: xr.Dataset, cfg: TomoConfig, *,
                            support: np.ndarray | None = None, cube_px: int | None = None
                            ) -> tuple[xr.Dataset, xr.Dataset]:
    """Two independent reconstructions from alternate projections (paper, fig. S4A).

    The pre-alignment is done once on the full set (so both halves share one
    frame); each half is then reconstructed by RESIRE on its own. Feed the two
    ``density`` volumes to the FSC (0.143 criterion). ``cube_px`` as in
    :func:`reconstruct_scalar`.

    Returns
    -------
    (even, odd) : tuple of xarray.Dataset as :func:`reconstruct_scalar`, each with
    an ``angle_index`` coord naming the projections used.
    """
    proj = validate_projection_set(proj)
    data, pitch, shifts0 = detector_grid(proj, cube_px=cube_px)
    phis, thetas = proj["phi_deg"].values.astype(float), proj["theta_deg"].values.astype(float)
    phis_start = phis
    if cfg.align:
        shifts0 = prealign(data, phis, thetas, shifts_px=shifts0, center_of_mass=cfg.center_of_mass)
        shifts0, phis_start = _register(data, phis, thetas, shifts0, cfg)
    out = []
    for start in (0, 1):
        idx = np.arange(start, len(data), 2)
        res = _run(data[idx], phis_start[idx], thetas[idx], shifts0[idx], cfg, support)
        out.append(_dataset(res, pitch, (phis[idx], thetas[idx]), cfg, angle_index=idx))
    return out[0], out[1]


def _resire_method(proj: xr.Dataset, cfg: TomoConfig) -> xr.Dataset:
    return reconstruct_scalar(proj, cfg)


#: Scalar tomography methods by name (one signature: (proj, cfg) -> Dataset).
SCALAR_METHODS = {"resire": _resire_method}
