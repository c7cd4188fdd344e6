"""Resolution: Fourier shell correlation and radially averaged power spectral density.

FSC (Harauz & van Heel 1986; paper fig. S4A) between volumes a and b on
shells of spatial frequency |k| (nm^-1):

    FSC(k) = Re sum_shell A B* / sqrt(sum_shell |A|^2 sum_shell |B|^2).

For vector volumes (3, Z, Y, X) the per-component curves are reported and the
combined curve sums the cross and auto powers over components. Shells are
1 / (max(Z, Y, X) voxel_nm) wide, centred on multiples of that width, up to
the Nyquist frequency 1 / (2 voxel_nm). Thresholds: 0.143 for half-set
reconstructions (Rosenthal & Henderson 2003; the paper), 0.5 against truth,
and the half-bit curve of van Heel & Schatz (2005),

    T(n) = (0.2071 + 1.9102 / sqrt(n)) / (1.2071 + 0.9102 / sqrt(n)),

n = voxels in the shell. The resolution is 1 / k at the first downward
crossing (linear interpolation between shells).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import scipy.fft

from ..threads import n_threads

__all__ = ["fsc", "fsc_resolution", "half_bit", "radial_psd"]


def half_bit(n_voxels: np.ndarray) -> np.ndarray:
    """Half-bit information threshold for shells of ``n_voxels`` voxels."""
    r = 1.0 / np.sqrt(np.maximum(np.asarray(n_voxels, float), 1.0))
    return (0.2071 + 1.9102 * r) / (1.2071 + 0.9102 * r)


def _shells(shape: tuple[int, ...], voxel_nm: float) -> tuple[np.ndarray, float, int]:
    freqs = np.meshgrid(*(np.fft.fftfreq(n, d=voxel_nm) for n in shape), indexing="ij")
    k = np.sqrt(sum(f * f for f in freqs))
    dk = 1.0 / (max(shape) * voxel_nm)
    idx = np.rint(k / dk).astype(np.int64)
    n_shells = int(np.floor(0.5 / voxel_nm / dk)) + 1
    return idx, dk, n_shells


def fsc(vol_a: np.ndarray, vol_b: np.ndarray, *, voxel_nm: float) -> pd.DataFrame:
    """Fourier shell correlation of two volumes.

    Parameters
    ----------
    vol_a, vol_b : (Z, Y, X) or (3, Z, Y, X) float
        Scalar volumes or vector volumes (components x, y, z first).
    voxel_nm : float, keyword-only
        Voxel edge.

    Returns
    -------
    pandas.DataFrame
        One row per shell from 0 to Nyquist: ``shell``, ``freq_nm_inv``,
        ``n_voxels``, ``fsc`` (combined), ``half_bit``, and for vector input
        ``fsc_x, fsc_y, fsc_z``.
    """
    a = np.asarray(vol_a, dtype=np.float64)
    b = np.asarray(vol_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"fsc: shapes differ ({a.shape} vs {b.shape})")
    vector = a.ndim == 4
    if not vector:
        a, b = a[None], b[None]
    if a.ndim != 4:
        raise ValueError(f"fsc: volumes must be (Z, Y, X) or (3, Z, Y, X) (got {np.shape(vol_a)})")
    idx, dk, n_shells = _shells(a.shape[1:], voxel_nm)
    sel = idx < n_shells
    lab = idx[sel]
    counts = np.bincount(lab, minlength=n_shells)
    cross_t = np.zeros(n_shells)
    pa_t = np.zeros(n_shells)
    pb_t = np.zeros(n_shells)
    out = {"shell": np.arange(n_shells), "freq_nm_inv": np.arange(n_shells) * dk,
           "n_voxels": counts}
    for c in range(a.shape[0]):
        fa = scipy.fft.fftn(a[c], workers=n_threads())[sel]
        fb = scipy.fft.fftn(b[c], workers=n_threads())[sel]
        cross = np.bincount(lab, weights=(fa * np.conj(fb)).real, minlength=n_shells)
        pa = np.bincount(lab, weights=np.abs(fa) ** 2, minlength=n_shells)
        pb = np.bincount(lab, weights=np.abs(fb) ** 2, minlength=n_shells)
        cross_t += cross
        pa_t += pa
        pb_t += pb
        if vector:
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"fsc_{'xyz'[c]}"] = cross / np.sqrt(pa * pb)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["fsc"] = cross_t / np.sqrt(pa_t * pb_t)
    out["half_bit"] = half_bit(counts)
    cols = ["shell", "freq_nm_inv", "n_voxels", "fsc", "half_bit"] + (
        ["fsc_x", "fsc_y", "fsc_z"] if vector else [])
    return pd.DataFrame(out)[cols]


def fsc_resolution(curve: pd.DataFrame, threshold: float | Literal["half_bit"] = 0.143, *,
                   column: str = "fsc") -> float:
    """Resolution (nm) where ``curve[column]`` first falls below ``threshold``.

    Parameters
    ----------
    curve : DataFrame from :func:`fsc`.
    threshold : float or "half_bit"
        0.143 for half sets, 0.5 against truth, or the half-bit curve.
    column : str
        ``fsc`` or a component column.

    Returns
    -------
    float
        1 / k at the crossing (linear interpolation between shells); the
        Nyquist resolution 2 voxels (1 / k_max) when the curve never crosses;
        NaN when the curve is undefined.
    """
    k = curve["freq_nm_inv"].to_numpy(float)
    f = curve[column].to_numpy(float)
    t = curve["half_bit"].to_numpy(float) if threshold == "half_bit" else np.full(len(f), threshold)
    for i in range(1, len(f)):
        if not np.isfinite(f[i]):
            continue
        if f[i] < t[i]:
            j = i - 1
            if j < 1 or not np.isfinite(f[j]):
                return float(1.0 / k[i])
            d0, d1 = f[j] - t[j], f[i] - t[i]
            kc = k[j] + (k[i] - k[j]) * d0 / (d0 - d1)
            return float(1.0 / kc)
    if not np.any(np.isfinite(f[1:])):
        return float("nan")
    return float(1.0 / k[-1])


def radial_psd(images: np.ndarray, *, pixel_nm: float) -> pd.DataFrame:
    """Radially averaged power spectral density of 2-D images (fig. S4B).

    Parameters
    ----------
    images : (V, U) or (N, V, U) float
        One image or a stack (e.g. projections (angle, v, u)); the PSD is the
        mean over the stack of |FFT_ortho|^2 averaged over rings.
    pixel_nm : float, keyword-only

    Returns
    -------
    pandas.DataFrame
        ``freq_nm_inv``, ``psd`` (per ring, up to Nyquist), ``n_pixels``.
    """
    im = np.asarray(images, dtype=np.float64)
    if im.ndim == 2:
        im = im[None]
    if im.ndim != 3:
        raise ValueError(f"radial_psd: images must be (V, U) or (N, V, U) (got {im.shape})")
    power = np.mean(np.abs(scipy.fft.fft2(im - im.mean(axis=(1, 2), keepdims=True), norm="ortho",
                                          workers=n_threads())) ** 2, axis=0)
    idx, dk, n_rings = _shells(im.shape[1:], pixel_nm)
    sel = idx < n_rings
    counts = np.bincount(idx[sel], minlength=n_rings)
    psd = np.bincount(idx[sel], weights=power[sel], minlength=n_rings) / np.maximum(counts, 1)
    return pd.DataFrame({"freq_nm_inv": np.arange(n_rings) * dk, "psd": psd, "n_pixels": counts})
