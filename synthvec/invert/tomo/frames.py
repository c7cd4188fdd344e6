"""Bring tilt series into one frame by registering their separate reconstructions.

The paper (Methods, scalar tomography): 'From the three independent
reconstructions, transformation matrices were computed to align the three tilt
series of 96 projections to a global coordinate system.' Each series is
reconstructed alone by RESIRE; every other series' volume is registered to the
first one's by an in-plane rotation (about z, the axis shared by the series'
phi) and a 3D translation. A series whose stage sat at ``phi + eps`` yields the
object actively rotated by ``eps`` about z; a series whose object sat at
``r + t`` yields it translated by t.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from ...geometry import detector_axes
from ...threads import n_threads
from .config import TomoConfig
from .projectors import group_series, inplane_rotation_matrix
from .resire import resire

__all__ = ["volume_shift", "register_series", "transform_matrix"]


def volume_shift(ref: np.ndarray, mov: np.ndarray) -> tuple[np.ndarray, float]:
    """3D shift (dz, dy, dx) of ``mov`` relative to ``ref`` and the peak correlation.

    Cross-correlation peak refined by a 3-point parabola per axis.
    """
    shape = ref.shape
    a = sfft.rfftn(ref - ref.mean(), workers=n_threads())
    b = sfft.rfftn(mov - mov.mean(), workers=n_threads())
    cc = sfft.irfftn(b * a.conj(), s=shape, workers=n_threads())
    peak = np.unravel_index(int(np.argmax(cc)), shape)
    out = np.zeros(3)
    for ax in range(3):
        idx_m, idx_p = list(peak), list(peak)
        idx_m[ax] = (peak[ax] - 1) % shape[ax]
        idx_p[ax] = (peak[ax] + 1) % shape[ax]
        cm, c0, cp = cc[tuple(idx_m)], cc[peak], cc[tuple(idx_p)]
        den = cm + cp - 2 * c0
        frac = 0.5 * (cm - cp) / den if den < 0 else 0.0
        out[ax] = (peak[ax] + shape[ax] // 2) % shape[ax] - shape[ax] // 2 + frac
    norm = np.linalg.norm(ref - ref.mean()) * np.linalg.norm(mov - mov.mean())
    return out, float(cc[peak] / max(norm, 1e-30))


def _rotate_z(vol: np.ndarray, angle_deg: float) -> np.ndarray:
    n = vol.shape[0]
    w = inplane_rotation_matrix(n, angle_deg, order=3, dtype=vol.dtype)
    return np.ascontiguousarray((w @ vol.reshape(n, n * n).T).T).reshape(vol.shape)


def transform_matrix(angle_deg: float, translation_xyz) -> np.ndarray:
    """4x4 homogeneous matrix: rotation about z by ``angle_deg`` then translation (voxels)."""
    a = np.deg2rad(angle_deg)
    m = np.eye(4)
    m[:2, :2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    m[:3, 3] = translation_xyz
    return m


def register_series(proj: np.ndarray, phis_deg, thetas_deg, *, shifts_px: np.ndarray | None = None,
                    iterations: int = 30, max_rotation_deg: float = 2.0, step_deg: float = 0.5,
                    threads: int | None = None):
    """Transformation of each tilt series relative to the first, from separate reconstructions.

    Parameters
    ----------
    proj : (N, n, n) float
        Projections, pixel = voxel.
    phis_deg, thetas_deg : (N,) float
    shifts_px : (N, 2) float, optional
        Shifts already known (applied before reconstructing).
    iterations : int
        RESIRE iterations per series.
    max_rotation_deg, step_deg : float
        Search range and grid of the in-plane rotation (refined by a parabola);
        0 registers translations only.

    Returns
    -------
    matrices : (S, 4, 4) float64
        Per series: rotation about z by eps_s and translation t_s (x, y, z voxels),
        the identity for the first series.
    shifts_px : (N, 2) float64
        Input shifts plus ``(v_i . t_s, u_i . t_s)`` for every projection.
    phis_deg : (N,) float64
        ``phi_i + eps_s``.
    """
    phis = np.asarray(phis_deg, float).copy()
    thetas = np.asarray(thetas_deg, float)
    groups = group_series(phis)
    shifts = np.zeros((len(proj), 2)) if shifts_px is None else np.asarray(shifts_px, float).copy()
    cfg = TomoConfig(iterations=iterations, refine_every=0, align=False)
    vols = [resire(proj[g], phis[g], thetas[g], cfg, shifts_px=shifts[g], threads=threads).volume
            for g in groups]
    mats = [np.eye(4)]
    grid = np.arange(-max_rotation_deg, max_rotation_deg + 1e-9, step_deg)
    for s in range(1, len(groups)):
        if max_rotation_deg <= 0:
            grid = np.zeros(1)
        scores = np.array([volume_shift(vols[0], _rotate_z(vols[s], -e) if e else vols[s])[1]
                           for e in grid])
        k = int(np.argmax(scores))
        eps = grid[k]
        if 0 < k < len(grid) - 1:
            cm, c0, cp = scores[k - 1], scores[k], scores[k + 1]
            den = cm + cp - 2 * c0
            if den < 0:
                eps += 0.5 * step_deg * (cm - cp) / den
        dzyx, _ = volume_shift(vols[0], _rotate_z(vols[s], -eps) if eps else vols[s])
        t = dzyx[::-1]  # (x, y, z)
        mats.append(transform_matrix(eps, t))
        for i in groups[s]:
            u, v = detector_axes(phis[i], thetas[i])
            shifts[i] += (v @ t, u @ t)
        phis[groups[s]] += eps
    return np.stack(mats), shifts, phis
