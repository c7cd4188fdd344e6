"""Smoothed total variation for RESIRE: the prior that fills the missing cone.

With tilts limited to +-62 deg (three series at phi = 0/120/240), a cone of
Fourier space around k_z is never measured. Positivity fills it only where the
object borders empty space, and slowly: on benchmark T1 (seed 2) the error
after 100 RESIRE iterations is 75 % missing-cone error, at the z-facing caps
of the dense spheres, and the plain iteration is still at NRMSE 0.088 after 400
iterations. A small isotropic TV term (Sidky & Pan, Phys. Med. Biol. 53, 4777,
2008, for limited-angle tomography) recovers those edges and damps the
high-frequency fit of data inconsistency.

The term is ``mu * sum sqrt(|grad O|^2 + eps^2)`` (forward differences,
Neumann boundary). Its gradient is ``-div(grad O / sqrt(|grad O|^2 + eps^2))``,
Lipschitz with constant at most ``12 mu / eps`` (``||D||^2 <= 12`` in 3D).
The weights are dimensionless: :func:`tv_scales` sets ``mu`` and ``eps`` from
a density amplitude measured on the current reconstruction, so they follow the
data's units and need no tuning to a sample's scale.
"""

from __future__ import annotations

import numpy as np

__all__ = ["tv_gradient", "tv_value", "tv_scales", "TV_LIPSCHITZ_FACTOR"]

#: ||D^T D|| bound of the 3D forward-difference gradient (4 per axis).
TV_LIPSCHITZ_FACTOR = 12.0


def _forward_diffs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward differences along z, y, x with zero at the far edge (Neumann)."""
    gz = np.zeros_like(x)
    gy = np.zeros_like(x)
    gx = np.zeros_like(x)
    np.subtract(x[1:], x[:-1], out=gz[:-1])
    np.subtract(x[:, 1:], x[:, :-1], out=gy[:, :-1])
    np.subtract(x[:, :, 1:], x[:, :, :-1], out=gx[:, :, :-1])
    return gz, gy, gx


def tv_value(x: np.ndarray, eps: float) -> float:
    """Smoothed TV ``sum sqrt(|grad x|^2 + eps^2)`` of a (z, y, x) volume (float64 sum)."""
    gz, gy, gx = _forward_diffs(np.asarray(x))
    return float(np.sqrt(gz.astype(float) ** 2 + gy ** 2 + gx ** 2 + float(eps) ** 2).sum())


def tv_gradient(x: np.ndarray, eps: float) -> np.ndarray:
    """Gradient of :func:`tv_value` with respect to ``x``.

    Parameters
    ----------
    x : (n_z, n_y, n_x) float32 or float64
    eps : float
        Smoothing, in the units of ``x`` (> 0).

    Returns
    -------
    (n_z, n_y, n_x) array of x's dtype: ``D^T (D x / sqrt(|D x|^2 + eps^2))``.
    """
    x = np.asarray(x)
    gz, gy, gx = _forward_diffs(x)
    m = gz * gz
    m += gy * gy
    m += gx * gx
    m += x.dtype.type(eps) ** 2
    np.sqrt(m, out=m)
    np.reciprocal(m, out=m)
    gz *= m
    gy *= m
    gx *= m
    # D^T of a forward difference with zero last row: out[i] = g[i-1] - g[i]
    out = -gz
    out[1:] += gz[:-1]
    out -= gy
    out[:, 1:] += gy[:, :-1]
    out -= gx
    out[:, :, 1:] += gx[:, :, :-1]
    return out


def tv_scales(x: np.ndarray, weight: float, smoothing: float, *, lipschitz_data: float,
              percentile: float = 99.9) -> tuple[float, float]:
    """TV weight ``mu`` and smoothing ``eps`` in the units of the reconstruction.

    ``a`` = the ``percentile`` of ``x`` is the density amplitude; ``eps =
    smoothing * a`` and ``mu = weight * lipschitz_data * a``, so that one
    gradient step of length ``1 / lipschitz_data`` moves a voxel by at most
    ``~6 weight * a`` through the TV term. Returns (0, 0) for an empty ``x``.
    """
    a = float(np.percentile(x, percentile)) if x.size else 0.0
    if not np.isfinite(a) or a <= 0 or weight <= 0:
        return 0.0, 0.0
    return weight * lipschitz_data * a, smoothing * a
