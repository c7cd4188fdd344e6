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

The same functions take a field of several components, (C, z, y, x): the
vectorial TV ``sum_voxels sqrt(sum_c |grad m_c|^2 + eps^2)`` (Blomgren & Chan,
IEEE TIP 7, 304, 1998) couples them, so an edge or a point where all
components turn at once (a hedgehog core) costs one square root, not three.
Its gradient is ``-div_c(grad m_c / w)`` with the shared weight ``w``, and its
Lipschitz bound is the same ``12 mu / eps``. An optional ``mask`` drops the
differences across its border (a known support edge is not penalised).
"""

from __future__ import annotations

import numpy as np

__all__ = ["tv_gradient", "tv_value", "tv_scales", "tv_step", "TV_LIPSCHITZ_FACTOR"]

#: ||D^T D|| bound of the 3D forward-difference gradient (4 per axis).
TV_LIPSCHITZ_FACTOR = 12.0


def _link_masks(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward differences kept along z, y, x: both ends inside ``mask`` (False at the far edge)."""
    mask = np.asarray(mask, bool)
    lz = np.zeros_like(mask)
    ly = np.zeros_like(mask)
    lx = np.zeros_like(mask)
    np.logical_and(mask[1:], mask[:-1], out=lz[:-1])
    np.logical_and(mask[:, 1:], mask[:, :-1], out=ly[:, :-1])
    np.logical_and(mask[:, :, 1:], mask[:, :, :-1], out=lx[:, :, :-1])
    return lz, ly, lx


def _forward_diffs(x: np.ndarray, mask: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward differences along the last three axes (z, y, x), zero at the far edge (Neumann)
    and, with ``mask``, across its border."""
    gz = np.zeros_like(x)
    gy = np.zeros_like(x)
    gx = np.zeros_like(x)
    np.subtract(x[..., 1:, :, :], x[..., :-1, :, :], out=gz[..., :-1, :, :])
    np.subtract(x[..., :, 1:, :], x[..., :, :-1, :], out=gy[..., :, :-1, :])
    np.subtract(x[..., :, :, 1:], x[..., :, :, :-1], out=gx[..., :, :, :-1])
    if mask is not None:
        for g, link in zip((gz, gy, gx), _link_masks(mask)):
            g *= link
    return gz, gy, gx


def _check_mask(x: np.ndarray, mask) -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask, bool)
    if mask.shape != x.shape[-3:]:
        raise ValueError(f"mask shape {mask.shape} does not match the volume {x.shape[-3:]}")
    return mask


def _sq_norm(gz: np.ndarray, gy: np.ndarray, gx: np.ndarray) -> np.ndarray:
    """``sum over components and axes of g^2``, (z, y, x) (components = axes before the last 3)."""
    m = gz * gz
    m += gy * gy
    m += gx * gx
    if m.ndim > 3:
        m = m.reshape((-1,) + m.shape[-3:]).sum(axis=0)
    return m


def tv_value(x: np.ndarray, eps: float, *, mask: np.ndarray | None = None) -> float:
    """Smoothed TV ``sum sqrt(|grad x|^2 + eps^2)`` (float64 sum).

    Parameters
    ----------
    x : (n_z, n_y, n_x) or (C, n_z, n_y, n_x) float
        A volume, or C coupled components (vectorial TV: ``|grad x|^2`` sums
        over the components).
    eps : float
        Smoothing, in the units of ``x``.
    mask : (n_z, n_y, n_x) bool, optional
        Differences with an end outside it are dropped.
    """
    x = np.asarray(x, float)
    gz, gy, gx = _forward_diffs(x, _check_mask(x, mask))
    return float(np.sqrt(_sq_norm(gz, gy, gx) + float(eps) ** 2).sum())


def tv_gradient(x: np.ndarray, eps: float, *, mask: np.ndarray | None = None) -> np.ndarray:
    """Gradient of :func:`tv_value` with respect to ``x``.

    Parameters
    ----------
    x : (n_z, n_y, n_x) or (C, n_z, n_y, n_x) float32 or float64
        A volume or C coupled components (:func:`tv_value`).
    eps : float
        Smoothing, in the units of ``x`` (> 0).
    mask : (n_z, n_y, n_x) bool, optional
        Differences with an end outside it are dropped (:func:`tv_value`).

    Returns
    -------
    array of x's shape and dtype: ``D^T (D x / sqrt(|D x|^2 + eps^2))``.
    """
    x = np.asarray(x)
    mask = _check_mask(x, mask)
    gz, gy, gx = _forward_diffs(x, mask)
    m = _sq_norm(gz, gy, gx)
    m += x.dtype.type(eps) ** 2
    np.sqrt(m, out=m)
    np.reciprocal(m, out=m)
    gz *= m
    gy *= m
    gx *= m
    # D^T of a forward difference with zero last row: out[i] = g[i-1] - g[i]
    # (masked links are already zero in g, so D^T needs no mask)
    out = -gz
    out[..., 1:, :, :] += gz[..., :-1, :, :]
    out -= gy
    out[..., :, 1:, :] += gy[..., :, :-1, :]
    out -= gx
    out[..., :, :, 1:] += gx[..., :, :, :-1]
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


def tv_step(step: float, lipschitz_data: float, mu: float, eps: float) -> float:
    """Gradient step ``step / (L + 12 mu / eps)`` with the TV term's Lipschitz bound added.

    ``lipschitz_data`` is the data term's normalisation (``N n``); with ``mu = 0``
    (TV off or not engaged yet) this is the plain normalised step ``step / L``.
    """
    return step / (lipschitz_data + (TV_LIPSCHITZ_FACTOR * mu / eps if mu > 0 else 0.0))
