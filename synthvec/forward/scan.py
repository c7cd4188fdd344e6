"""Raster scans over the projected sample, position errors, depth offsets, corrupt frames."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .detector import CORRUPT_KINDS

__all__ = ["raster_positions", "mid_plane_depth_nm", "draw_corrupt_frames"]


def raster_positions(support: np.ndarray, *, pixel_nm: float, origin_index: tuple[int, int],
                     step_nm: float, margin_nm: float) -> np.ndarray:
    """Programmed raster covering the projected sample (which widens with tilt).

    A square raster of pitch ``step_nm`` is laid over the bounding box of the
    support, grown by ``margin_nm``, and centred on it; positions farther than
    ``margin_nm + step_nm / 2`` from the support are dropped.

    Parameters
    ----------
    support : ndarray, (V, U) bool
        Where the sample projects (any path through material), on a grid of
        pitch ``pixel_nm``.
    pixel_nm : float
        Pitch of ``support``, nm.
    origin_index : (int, int)
        Grid index of element [0, 0] of ``support``: element (i, j) sits at
        ``v = (origin_index[0] + i) * pixel_nm``, ``u = (origin_index[1] + j) * pixel_nm``.
    step_nm, margin_nm : float
        Raster pitch and margin, nm.

    Returns
    -------
    ndarray, (F, 2) float64
        (v, u) of the probe centre, nm, row-major raster order.
    """
    if not support.any():
        raise ValueError("the sample does not project onto the detector grid")
    rows, cols = np.nonzero(support)
    v_lo, v_hi = ((rows.min() + origin_index[0]) * pixel_nm,
                  (rows.max() + origin_index[0]) * pixel_nm)
    u_lo, u_hi = ((cols.min() + origin_index[1]) * pixel_nm,
                  (cols.max() + origin_index[1]) * pixel_nm)

    def axis(lo, hi):
        n = int(np.ceil((hi - lo + 2 * margin_nm) / step_nm)) + 1
        return 0.5 * (lo + hi) + (np.arange(n) - (n - 1) / 2.0) * step_nm

    vv, uu = np.meshgrid(axis(v_lo, v_hi), axis(u_lo, u_hi), indexing="ij")
    pos = np.stack([vv.ravel(), uu.ravel()], axis=1)
    # Pad the support so that every raster position lies on the grid: a margin position
    # just beyond the projected sample is measured by its true distance, not dropped.
    pad = int(np.ceil((margin_nm + step_nm) / pixel_nm)) + 2
    padded = np.pad(support, pad)
    dist = ndimage.distance_transform_edt(~padded) * pixel_nm
    i = np.rint(pos[:, 0] / pixel_nm - origin_index[0]).astype(int) + pad
    j = np.rint(pos[:, 1] / pixel_nm - origin_index[1]).astype(int) + pad
    inside = (i >= 0) & (i < padded.shape[0]) & (j >= 0) & (j < padded.shape[1])
    d = np.full(len(pos), np.inf)
    d[inside] = dist[i[inside], j[inside]]
    return pos[d <= margin_nm + 0.5 * step_nm]


def mid_plane_depth_nm(positions_vu_nm: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Lab depth s (along the beam) where each probe axis crosses the sample mid-plane z = 0.

    The ray of detector point (u, v) is ``u a + v b + s k`` (sample frame); it
    meets z = 0 at ``s = -(u a_z + v b_z) / k_z``: ``v tan(theta)`` in this
    geometry. This is the local defocus offset of the tilted sample.

    Returns
    -------
    ndarray, (F,) float64, nm
    """
    rot = np.asarray(rotation, float)
    a, b, k = rot[0], rot[1], rot[2]
    v, u = positions_vu_nm[:, 0], positions_vu_nm[:, 1]
    return -(u * a[2] + v * b[2]) / k[2]


def draw_corrupt_frames(n_frames: int, n_det: int, *, rate: float, rng: np.random.Generator
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Choose corrupt frames and their faults (paper fig. S2).

    Each frame is corrupt with probability ``rate``, of kind ``"readout"``
    (a band of rows gets a spurious offset: detector readout malfunction) or
    ``"flux"`` (the incident flux drops to 10-60 %: unstable beam), equally likely.

    Returns
    -------
    index : ndarray, (K,) int64, sorted corrupt frame indices
    kind : ndarray, (K,) str
    flux_factor : ndarray, (F,) float64, 1 except for flux drops
    readout_rows : ndarray, (F, 2) int64, [start, stop) of faulty rows (start = stop: none)
    """
    bad = rng.random(n_frames) < rate
    index = np.flatnonzero(bad).astype(np.int64)
    kind = np.array([CORRUPT_KINDS[k] for k in rng.integers(0, 2, size=index.size)], dtype="<U8")
    flux = np.ones(n_frames)
    rows = np.zeros((n_frames, 2), np.int64)
    for i, k in zip(index, kind):
        if k == "flux":
            flux[i] = rng.uniform(0.1, 0.6)
        else:
            length = int(rng.integers(max(1, n_det // 8), n_det // 2 + 1))
            start = int(rng.integers(0, n_det - length + 1))
            rows[i] = (start, start + length)
    return index, kind, flux, rows
