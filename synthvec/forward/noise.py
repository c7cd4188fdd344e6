"""Exact, vectorised samplers of the detector noise (photon counts and rounded readout noise).

Most pixels of a far-field pattern expect far less than one photon, where
``Generator.poisson`` spends ~35-50 ns per draw. Two exact shortcuts:

- **Poisson by inversion.** ``k`` is the smallest integer with
  ``U < F(k; lambda)`` for one uniform ``U`` per pixel; the CDF is summed
  term by term (``p_k = p_{k-1} lambda / k``) on the shrinking set of pixels
  not yet decided. Pixels with ``lambda > threshold`` are drawn by
  ``Generator.poisson`` (their inversion would need many terms).
- **Rounded readout noise.** For an integer photon count ``k``,
  ``rint(k + e) = k + rint(e)`` (ties have probability zero), so Gaussian
  readout noise followed by rounding to whole units adds ``D = rint(e)``,
  ``e ~ N(0, sigma^2)``, with pmf ``Phi((d + 1/2) / sigma) - Phi((d - 1/2) / sigma)``;
  it is drawn from one uniform by a table of that CDF. When a continuous
  ``e`` is needed after all (a readout fault adds a continuous offset before
  rounding), :func:`normal_in_cell` draws ``e`` given ``D = d`` (a normal
  truncated to ``[d - 1/2, d + 1/2)``), so the pair ``(D, e)`` has exactly
  the joint law of drawing ``e`` first.

"Exact" means: the distributions equal the named ones up to float64 rounding
of the CDFs and the 2^-53 resolution of ``Generator.random`` (mass beyond
``9 sigma`` of the rounded normal, < 1e-18, is folded into the last table
entry). Randomness comes only from the ``rng`` argument; the number of draws
depends on the shape and on ``lam`` only, never on the outcomes' use.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

__all__ = ["POISSON_INVERSION_MAX", "poisson_counts", "noisy_counts", "rounded_normal",
           "rounded_normal_pmf", "normal_in_cell"]

POISSON_INVERSION_MAX = 12.0
"""Default ``threshold``: above it ``Generator.poisson`` (PTRS rejection) is cheaper than
summing ~lambda CDF terms."""

_GUIDE_BITS = 12        # guide table of the rounded normal: 4096 cells of the unit interval
_TAIL_SIGMAS = 9.0      # the rounded normal's table spans |d| <= 9 sigma + 1


def _poisson_inversion(lam: np.ndarray, u: np.ndarray, *, rng: np.random.Generator,
                       threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poisson counts of the flat means ``lam`` by inversion of the uniforms ``u``.

    Returns the indices and counts of the non-zero counts and the recycled
    uniform of every element: after inversion has chosen k (``F(k-1) <= U <
    F(k)``), ``V = (U - F(k-1)) / p_k`` is uniform on [0, 1) and independent of
    k (Devroye, *Non-Uniform Random Variate Generation*, 1986, sec. II.3,
    recycling). Elements above ``threshold`` are drawn by ``rng.poisson``;
    their ``V`` is their unused ``U``.
    """
    big = np.flatnonzero(lam > threshold)
    q = np.exp(lam)                                 # 1 / P(k = 0); inf above ~709 (big only)
    v = np.multiply(u, q, out=q)                    # U / p_0: the recycled uniform if k = 0
    act = np.flatnonzero(v >= 1.0)                  # elements with k >= 1 (and big ones)
    if big.size:
        act = act[lam[act] <= threshold]
        v[big] = u[big]
    # per undecided element: its mean, the current pmf term p_k and the rest r = U - F(k)
    lam_a = lam[act]
    p_a = np.exp(-lam_a)
    r_a = u[act]
    r_a -= p_a
    found_i, found_k = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    # beyond k_max the Poisson(threshold) tail is < 1e-30: only a uniform above the
    # float64-rounded CDF (probability ~1e-16) can get there; it stops at k_max
    k_max = int(np.ceil(threshold + 12.0 * np.sqrt(threshold) + 30.0))
    for k in range(1, k_max + 1):
        if not act.size:
            break
        p_a *= lam_a
        p_a *= 1.0 / k
        r_a -= p_a
        more = r_a >= 0.0
        done = np.flatnonzero(~more) if k < k_max else np.arange(act.size)
        i = act[done]
        found_i.append(i)
        found_k.append(np.full(i.size, k))
        v[i] = 1.0 + r_a[done] / p_a[done]      # (U - F(k-1)) / p_k, as U - F(k) in [-p_k, 0)
        if k == k_max:
            np.clip(v[i], 0.0, 1.0)
        keep = np.flatnonzero(more)
        act, lam_a, p_a, r_a = act[keep], lam_a[keep], p_a[keep], r_a[keep]
    if big.size:
        found_i.append(big)
        found_k.append(rng.poisson(lam[big]))
    return np.concatenate(found_i), np.concatenate(found_k), v


def _check_lam(lam: np.ndarray, threshold: float) -> np.ndarray:
    lam = np.asarray(lam, dtype=np.float64)
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0 (got {threshold})")
    if lam.size and not lam.min() >= 0:         # also catches NaN
        raise ValueError("lam must be finite and >= 0")
    return lam


def poisson_counts(lam: np.ndarray, *, rng: np.random.Generator,
                   threshold: float = POISSON_INVERSION_MAX) -> np.ndarray:
    """Poisson counts of mean ``lam``, exact, by inversion below ``threshold``.

    Parameters
    ----------
    lam : ndarray, any shape, float >= 0
        Expected counts per element.
    rng : numpy.random.Generator
        Draws ``lam.size`` uniforms (``Generator.random``), then
        ``Generator.poisson`` for the elements above ``threshold``.
    threshold : float
        Largest mean drawn by inversion (>= 0).

    Returns
    -------
    ndarray, same shape as ``lam``, int64
    """
    lam = _check_lam(lam, threshold)
    flat = lam.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        idx, k, _ = _poisson_inversion(flat, rng.random(flat.size), rng=rng,
                                       threshold=threshold)
    out = np.zeros(flat.size, np.int64)
    out[idx] = k
    return out.reshape(lam.shape)


def noisy_counts(lam: np.ndarray, readout_sigma: float, *, rng: np.random.Generator,
                 threshold: float = POISSON_INVERSION_MAX
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``k + rint(e)``, ``k ~ Poisson(lam)``, ``e ~ N(0, readout_sigma^2)``, all independent.

    One uniform per element drives both: inversion picks ``k``, and the
    recycled uniform ``V`` (see :func:`_poisson_inversion`) picks ``rint(e)``
    by a table of its CDF. Each pair (k, d) is then an interval of the first
    uniform of length ``P(k) P(d)``, so the joint law is exact up to the
    uniform's 2^-53 grid and float64 rounding of the interval ends.

    Parameters
    ----------
    lam : ndarray, any shape, float >= 0
        Expected photons per element.
    readout_sigma : float >= 0
        Rms of the readout noise ``e`` before rounding.
    rng : numpy.random.Generator
        Draws ``lam.size`` uniforms, then ``Generator.poisson`` above ``threshold``.
    threshold : float
        Largest mean drawn by inversion.

    Returns
    -------
    counts : ndarray, ``lam.shape``, float32, ``k + rint(e)``
    photon_index : ndarray, (K,) int64, flat indices of the non-zero ``k`` (any order)
    photons : ndarray, (K,) int64, those ``k``
    """
    lam = _check_lam(lam, threshold)
    if not readout_sigma >= 0:
        raise ValueError(f"readout_sigma must be >= 0 (got {readout_sigma})")
    flat = lam.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        idx, k, v = _poisson_inversion(flat, rng.random(flat.size), rng=rng,
                                       threshold=threshold)
    if readout_sigma > 0:
        counts = _rounded_normal_from_uniform(v, float(readout_sigma))
    else:
        counts = np.zeros(flat.size, np.float32)
    counts[idx] += k
    return counts.reshape(lam.shape), idx, k


def _rounded_normal_table(sigma: float) -> tuple[int, np.ndarray, np.ndarray]:
    """Half-width K, CDF ``P(D <= d)`` for d = -K..K-1, and the guide table (NaN: undecided).

    Guide entry j holds the value of every uniform in ``[j / M, (j + 1) / M)``
    when that cell holds no CDF step; one extra entry (the top value) takes
    a uniform rounded up to 1.
    """
    half = int(np.ceil(_TAIL_SIGMAS * sigma + 1.0))
    with np.errstate(over="ignore"):             # a denormal sigma: steps at +-inf
        cdf = ndtr((np.arange(-half, half) + 0.5) / sigma)
    m = 1 << _GUIDE_BITS
    edges = np.arange(m + 1) / m
    lo = np.searchsorted(cdf, edges[:-1], side="right")   # value index at a cell's left end
    hi = np.searchsorted(cdf, edges[1:], side="left")     # ... just before its right end
    guide = np.where(lo == hi, lo - half, np.nan).astype(np.float32)
    return half, cdf, np.append(guide, np.float32(half))


def _rounded_normal_from_uniform(v: np.ndarray, sigma: float) -> np.ndarray:
    """``rint(e)`` of ``e ~ N(0, sigma^2)`` by inversion of the uniforms ``v`` (float32)."""
    half, cdf, guide = _rounded_normal_table(sigma)
    cell = np.multiply(v, len(guide) - 1).astype(np.int32)   # float64 -> int32 casts fast
    d = guide.take(cell)
    undecided = np.flatnonzero(np.isnan(d))
    if undecided.size:
        d[undecided] = np.searchsorted(cdf, v[undecided], side="right") - half
    return d


def rounded_normal(shape: tuple[int, ...] | int, sigma: float, *,
                   rng: np.random.Generator) -> np.ndarray:
    """``rint(e)`` for ``e ~ N(0, sigma^2)``, drawn exactly from its pmf (one uniform each).

    Parameters
    ----------
    shape : tuple of int or int
    sigma : float >= 0
        Rms of ``e``; 0 gives zeros and draws nothing.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, ``shape``, int32
    """
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0 (got {sigma})")
    if sigma == 0:
        return np.zeros(shape, np.int32)
    d = _rounded_normal_from_uniform(rng.random(int(np.prod(shape))), float(sigma))
    return d.astype(np.int32).reshape(shape)


def rounded_normal_pmf(d: np.ndarray, sigma: float) -> np.ndarray:
    """``P(rint(e) = d)`` for ``e ~ N(0, sigma^2)`` (float64; sigma = 0: the point mass at 0)."""
    d = np.asarray(d, dtype=np.float64)
    if sigma == 0:
        return (d == 0).astype(np.float64)
    # the smaller of the two tail differences, for accuracy far out
    with np.errstate(over="ignore"):
        a, b = (d - 0.5) / sigma, (d + 0.5) / sigma
    return np.where(d <= 0, ndtr(b) - ndtr(a), ndtr(-a) - ndtr(-b))


def normal_in_cell(d: np.ndarray, sigma: float, *, rng: np.random.Generator) -> np.ndarray:
    """``e ~ N(0, sigma^2)`` conditioned on ``rint(e) = d`` (the cell ``[d - 1/2, d + 1/2)``).

    Parameters
    ----------
    d : ndarray, int
        Rounded values (from :func:`rounded_normal`).
    sigma : float >= 0
    rng : numpy.random.Generator
        Draws ``d.size`` uniforms (none when sigma = 0).

    Returns
    -------
    ndarray, ``d.shape``, float64; ``d`` itself when sigma = 0
    """
    d = np.asarray(d)
    if sigma == 0:
        return d.astype(np.float64)
    v = rng.random(d.shape)
    # sample the mirror cell on the lower side, where Phi is accurate, and reflect
    s = np.where(d > 0, -1.0, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        lo = ndtr((s * d - 0.5) / sigma)
        hi = ndtr((s * d + 0.5) / sigma)
        x = ndtri(lo + v * (hi - lo)) * sigma
    return s * np.clip(x, s * d - 0.5, s * d + 0.5)
