"""Corrupt-frame detection before reconstruction (paper, Methods and fig. S2).

The paper: "The high-angle diffraction intensity at each scan position was
integrated to produce a low-resolution map at every ptychography scan. Local
maxima in the magnitude of the gradient of this map were used to identify and
remove bad frames."

Here the map is ``m_i = ln(1 + sum_{|q| >= q_min} I_i(q))`` (logarithm, so a
flux drop by a factor f is the same step ``ln f`` wherever it happens). The
positions need not form a grid: the gradient magnitude at position i is the
*median* slope ``|m_i - m_j| / d_ij`` to its 8 nearest neighbours j. A corrupt
frame differs from all its neighbours, so its median slope is large, while
each neighbour has one steep edge among eight and keeps a small median; a
real edge of the sample raises the slope along a line, not at an isolated
maximum. Frames whose slope is a local maximum (>= every neighbour's) and
exceeds ``median + threshold * 1.4826 * MAD`` over the scan are flagged.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["high_angle_map", "gradient_magnitude", "detect_bad_frames", "detection_scores"]


def high_angle_map(frames: np.ndarray, *, q_min: float = 0.5) -> np.ndarray:
    """Integrated high-angle intensity per frame.

    Parameters
    ----------
    frames : (n, H, W) float, DC-centred
    q_min : float
        Inner radius as a fraction of the detector Nyquist radius ``min(H, W) / 2``.

    Returns
    -------
    (n,) float64
    """
    n, h, w = frames.shape
    ky = np.arange(h) - h // 2
    kx = np.arange(w) - w // 2
    r = np.hypot(*np.meshgrid(ky, kx, indexing="ij"))
    ring = r >= q_min * min(h, w) / 2
    return frames[:, ring].sum(axis=1, dtype=np.float64)


def gradient_magnitude(values: np.ndarray, positions: np.ndarray, *, k: int = 8
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Robust gradient magnitude of scattered values: median slope to the k nearest neighbours.

    Returns
    -------
    grad : (n,) float64
    neighbours : (n, k) int64 indices
    """
    pos = np.asarray(positions, dtype=float)
    k = min(k, len(pos) - 1)
    if k < 1:
        return np.zeros(len(pos)), np.zeros((len(pos), 0), np.int64)
    dist, nb = cKDTree(pos).query(pos, k=k + 1)
    dist, nb = dist[:, 1:], nb[:, 1:]
    slope = np.abs(values[:, None] - values[nb]) / np.maximum(dist, 1e-12)
    return np.median(slope, axis=1), nb


def detect_bad_frames(frames: np.ndarray, positions_px: np.ndarray, *, q_min: float = 0.5,
                      threshold: float = 6.0) -> np.ndarray:
    """Indices of corrupt frames (paper fig. S2 procedure, see module docstring).

    Parameters
    ----------
    frames : (n, H, W) float, DC-centred intensities
    positions_px : (n, 2) float, scan positions (any unit)
    q_min : float
        High-angle inner radius, fraction of Nyquist.
    threshold : float
        Robust z-score a local maximum must exceed.

    Returns
    -------
    (m,) int64, sorted
    """
    m = np.log1p(np.maximum(high_angle_map(frames, q_min=q_min), 0.0))
    g, nb = gradient_magnitude(m, positions_px)
    if nb.shape[1] == 0:
        return np.zeros(0, np.int64)
    med = np.median(g)
    sigma = 1.4826 * np.median(np.abs(g - med))
    sigma = max(sigma, 1e-12 * max(med, 1e-300))
    local_max = g >= g[nb].max(axis=1)
    return np.nonzero(local_max & (g > med + threshold * sigma))[0].astype(np.int64)


def detection_scores(detected, truth) -> dict[str, float]:
    """Precision and recall of detected frame indices against a truth list.

    Empty sets count as perfect (precision 1 when nothing is flagged, recall 1
    when nothing is corrupt).
    """
    det, tru = set(int(i) for i in detected), set(int(i) for i in truth)
    tp = len(det & tru)
    return {"precision": tp / len(det) if det else 1.0,
            "recall": tp / len(tru) if tru else 1.0, "true_positives": float(tp)}
