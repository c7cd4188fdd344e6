"""Exact, vectorised samplers of the detector noise (photon counts and rounded readout noise).

Most pixels of a far-field pattern expect far less than one photon, where
``Generator.poisson`` spends ~35-50 ns per draw and Gaussian readout noise
plus rounding another ~15 ns. Both are drawn here by inversion of a uniform
``U``, and ``U`` is made lazily (Marsaglia's table idea): its first 16 bits
pick one of 2^16 equal cells of [0, 1); when the whole cell maps to one value
(almost always) that value is the sample; otherwise the rest of ``U`` is
drawn (``U = (cell + V) / 2^16``, V from ``Generator.random``), which is
exactly a uniform given the cell. So the samples are exact, and cost 16
random bits each nearly always.

- **Photons, k ~ Poisson(lambda).** ``k = 0`` iff ``U < exp(-lambda)``: a
  pixel whose cell lies below ``exp(-lambda)`` is 0 (a table lookup of
  ``-ln((cell + 1) / 2^16)`` and a comparison, no exponential). The others
  get their full ``U`` and the smallest k with ``U < F(k; lambda)``, the CDF
  summed term by term (``p_k = p_{k-1} lambda / k``) on the shrinking set of
  undecided pixels; pixels with ``lambda > threshold`` are drawn by
  ``Generator.poisson`` instead (inversion would need ~lambda terms).
- **Rounded readout noise.** For an integer photon count ``k``,
  ``rint(k + e) = k + rint(e)`` (ties have probability zero), so Gaussian
  readout noise followed by rounding to whole units adds ``D = rint(e)``,
  ``e ~ N(0, sigma^2)``, with pmf ``Phi((d + 1/2) / sigma) - Phi((d - 1/2) / sigma)``;
  a table of its value per cell (cells holding a CDF step refined as above)
  draws it. When a continuous ``e`` is needed after all (a readout fault adds
  a continuous offset before rounding), :func:`normal_in_cell` draws ``e``
  given ``D = d`` (a normal truncated to ``[d - 1/2, d + 1/2)``), so the pair
  ``(D, e)`` has exactly the joint law of drawing ``e`` first.

"Exact" means: the distributions equal the named ones up to float64 rounding
of the CDFs and the 2^-53 resolution of a uniform (the rounded normal's mass
beyond ``9 sigma``, < 1e-18, is folded into its outermost values).
Randomness comes only from the ``rng`` argument (raw bits of its bit
generator, ``random``, ``poisson``); the same ``rng`` state and inputs give
the same samples.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.special import ndtr, ndtri

__all__ = ["POISSON_INVERSION_MAX", "poisson_counts", "noisy_counts", "rounded_normal",
           "rounded_normal_pmf", "normal_in_cell"]

POISSON_INVERSION_MAX = 12.0
"""Default ``threshold``: above it ``Generator.poisson`` (PTRS rejection) is cheaper than
summing ~lambda CDF terms."""

_CELL_BITS = 16
_CELLS = 1 << _CELL_BITS
_TAIL_SIGMAS = 9.0      # the rounded normal's table spans |d| <= 9 sigma + 1


def _cells(rng: np.random.Generator, count: int, n: int) -> list[np.ndarray]:
    """``count`` arrays of n uniform 16-bit cell indices (uint16), from raw 64-bit words."""
    words = rng.bit_generator.random_raw(-(-count * n // 4))
    bits = np.ascontiguousarray(words).view(np.uint16)
    return [bits[i * n:(i + 1) * n] for i in range(count)]


def _refine(cell: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Full uniforms given their 16-bit cells: ``(cell + V) / 2^16``, float64."""
    u = rng.random(cell.size)
    u += cell
    u *= 1.0 / _CELLS
    return u


@lru_cache(maxsize=1)
def _zero_bounds() -> np.ndarray:
    """Per cell c, a lower bound of ``-ln((c + 1) / 2^16)``: ``lambda`` above it means the
    cell reaches ``exp(-lambda)`` (k may be > 0); at or below, k = 0."""
    exact = -np.log((np.arange(_CELLS) + 1.0) / _CELLS)
    # float32 (a fast lookup), never above the true bound: log and rounding err < 1e-7
    bound = (exact * (1.0 - 1e-6)).astype(np.float32)
    bound.flags.writeable = False
    return bound


def _poisson_sparse(lam: np.ndarray, cell: np.ndarray, *, rng: np.random.Generator,
                    threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Non-zero Poisson counts of the flat means ``lam``: (flat indices, counts), int64.

    ``cell`` holds the first 16 bits of each element's uniform.
    """
    cand = np.flatnonzero(lam > _zero_bounds().take(cell))      # may have k > 0
    lam_c = lam[cand]
    u = _refine(cell[cand], rng)
    # means above -ln(2^-16) are candidates whatever their cell, so only they may skip it
    threshold = max(threshold, _CELL_BITS * np.log(2.0))
    big = np.flatnonzero(lam_c > threshold)
    big_i, big_k = cand[big], rng.poisson(lam_c[big])
    # undecided: k_a counts the steps passed; r = U - F(k) only decreases, so decided
    # elements (r < 0) stop counting and stay until enough have finished to compact
    p_a = np.negative(lam_c)
    p_a[big] = 0.0                                              # (drawn above) k = 0 here
    np.exp(p_a, out=p_a)
    r_a = np.subtract(u, p_a, out=u)
    act = np.flatnonzero(r_a >= 0.0)                             # k >= 1
    lam_a, p_a, r_a = lam_c[act], p_a[act], r_a[act]
    idx_a = cand[act]
    k_a = np.ones(act.size, np.int32)
    found_i, found_k = [big_i], [big_k]
    # beyond k_max the Poisson(threshold) tail is < 1e-30: only a uniform above the
    # float64-rounded CDF (probability ~1e-16) can get there; it stops at k_max
    k_max = int(np.ceil(threshold + 12.0 * np.sqrt(threshold) + 30.0))
    for k in range(1, k_max):
        if not idx_a.size:
            break
        p_a *= lam_a
        p_a *= 1.0 / k
        r_a -= p_a
        more = r_a >= 0.0
        k_a += more
        n_more = np.count_nonzero(more)
        if 2 * n_more < idx_a.size:
            done = np.flatnonzero(~more)
            found_i.append(idx_a[done])
            found_k.append(k_a[done])
            keep = np.flatnonzero(more)
            idx_a, lam_a, p_a, r_a, k_a = (idx_a[keep], lam_a[keep], p_a[keep], r_a[keep],
                                           k_a[keep])
    found_i.append(idx_a)
    found_k.append(k_a)
    return np.concatenate(found_i), np.concatenate(found_k).astype(np.int64)


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
        Source of the uniforms (raw bits, ``random``) and of ``poisson`` above
        ``threshold``.
    threshold : float
        Largest mean drawn by inversion (>= 0; below 16 ln 2 = 11.1 it acts as 11.1).

    Returns
    -------
    ndarray, same shape as ``lam``, int64
    """
    lam = _check_lam(lam, threshold)
    flat = lam.reshape(-1)
    (cell,) = _cells(rng, 1, flat.size)
    idx, k = _poisson_sparse(flat, cell, rng=rng, threshold=threshold)
    out = np.zeros(flat.size, np.int64)
    out[idx] = k
    return out.reshape(lam.shape)


def noisy_counts(lam: np.ndarray, readout_sigma: float, *, rng: np.random.Generator,
                 threshold: float = POISSON_INVERSION_MAX
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``k + rint(e)``, ``k ~ Poisson(lam)``, ``e ~ N(0, readout_sigma^2)``, all independent.

    Parameters
    ----------
    lam : ndarray, any shape, float >= 0
        Expected photons per element.
    readout_sigma : float >= 0
        Rms of the readout noise ``e`` before rounding.
    rng : numpy.random.Generator
        Source of every draw.
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
    cell_k, cell_d = _cells(rng, 2, flat.size)
    idx, k = _poisson_sparse(flat, cell_k, rng=rng, threshold=threshold)
    if readout_sigma > 0:
        counts = _rounded_normal_from_cells(cell_d, float(readout_sigma), rng)
    else:
        counts = np.zeros(flat.size, np.float32)
    counts[idx] += k
    return counts.reshape(lam.shape), idx, k


@lru_cache(maxsize=8)
def _rounded_normal_table(sigma: float) -> tuple[int, np.ndarray, np.ndarray]:
    """Half-width K, CDF ``P(D <= d)`` for d = -K..K-1, and the value per 16-bit cell
    (float32; NaN where a CDF step falls inside the cell)."""
    half = int(np.ceil(_TAIL_SIGMAS * sigma + 1.0))
    with np.errstate(over="ignore"):             # a denormal sigma: steps at +-inf
        cdf = ndtr((np.arange(-half, half) + 0.5) / sigma)
    edges = np.arange(_CELLS + 1) / _CELLS
    lo = np.searchsorted(cdf, edges[:-1], side="right")   # value index at a cell's left end
    hi = np.searchsorted(cdf, edges[1:], side="left")     # ... just before its right end
    values = np.where(lo == hi, lo - half, np.nan).astype(np.float32)
    values.flags.writeable = False
    cdf.flags.writeable = False
    return half, cdf, values


def _rounded_normal_from_cells(cell: np.ndarray, sigma: float,
                               rng: np.random.Generator) -> np.ndarray:
    """``rint(e)``, ``e ~ N(0, sigma^2)``, by inversion of uniforms given their cells (float32)."""
    half, cdf, values = _rounded_normal_table(sigma)
    d = values.take(cell)
    undecided = np.flatnonzero(np.isnan(d))
    if undecided.size:
        u = _refine(cell[undecided], rng)
        d[undecided] = np.searchsorted(cdf, u, side="right") - half
    return d


def rounded_normal(shape: tuple[int, ...] | int, sigma: float, *,
                   rng: np.random.Generator) -> np.ndarray:
    """``rint(e)`` for ``e ~ N(0, sigma^2)``, drawn exactly from its pmf.

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
    (cell,) = _cells(rng, 1, int(np.prod(shape)))
    return _rounded_normal_from_cells(cell, float(sigma), rng).astype(np.int32).reshape(shape)


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
