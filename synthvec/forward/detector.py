"""Far-field detector: intensities, noise, saturation and corrupt frames.

Far field. Exit waves are formed on a grid ``os`` times finer than the object
pixel (``N_f = os N``); the detector of N x N pixels sees exactly the central
N x N spatial frequencies of that grid (the same frequency spacing
``1 / (N p)``), so the recorded intensity is the crop of
``|FFT_ortho(psi_fine)|^2``. Frequencies beyond the detector are lost, as in
the instrument. Frames are stored DC-centred (index N // 2 is zero
frequency), as in ``shared/bench/p1.py``. With ``sum |P_fine|^2`` equal to
the photon number, a blank frame holds the incident photons (Parseval).

Only the needed output is computed: the column FFTs are cropped to N rows
before the row FFTs (a pruned 2D FFT, 3/4 of the full cost for os = 2). A
wave multiplied by :func:`detector_ramp` (the simulator folds it into the
probe) has the detector's frequencies as the FFT's first N, so no reordering
copy is needed. Noise: :func:`record_frames` with the exact samplers of
:mod:`.noise`.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from .noise import noisy_counts, normal_in_cell

__all__ = ["detector_frequencies", "detector_ramp", "far_field_intensity", "coarse_probe",
           "record_frames", "CORRUPT_KINDS"]

CORRUPT_KINDS = ("readout", "flux")


def detector_frequencies(n_fine: int, n_det: int) -> np.ndarray:
    """Indices of the FFT of length ``n_fine`` seen by ``n_det`` detector pixels, DC-centred."""
    if n_det > n_fine or n_det % 2:
        raise ValueError(f"detector ({n_det}) must be even and <= the exit-wave grid ({n_fine})")
    k = np.arange(-(n_det // 2), n_det // 2)
    return np.mod(k, n_fine)


def detector_ramp(n_fine: int, n_det: int) -> np.ndarray:
    """``exp(2 pi i h (x + y) / N_f)``, h = N // 2: a wave times it has its far field shifted
    by h in both axes, so the detector's DC-centred frequencies are the FFT's first N.

    Returns
    -------
    ndarray, (N_f, N_f) complex128 (exact +-1, +-i for N_f / N = 1, 2)
    """
    detector_frequencies(n_fine, n_det)
    v = np.arange(n_fine) * (n_det // 2) % n_fine
    ramp = np.exp(2j * np.pi * v / n_fine)
    quarter = 4 * v % n_fine == 0                  # multiples of pi / 2: exactly 1, i, -1, -i
    ramp[quarter] = np.array([1, 1j, -1, -1j])[4 * v[quarter] // n_fine]
    return ramp[:, None] * ramp[None, :]


def far_field_intensity(exit_waves: np.ndarray, n_det: int, *, workers: int = 1,
                        overwrite_x: bool = False, ramped: bool = False) -> np.ndarray:
    """DC-centred far-field intensities of exit waves on the fine grid.

    Parameters
    ----------
    exit_waves : ndarray, (..., N_f, N_f) complex
        Exit waves, pixel ``p / os``.
    n_det : int
        Detector edge N.
    workers : int
        Threads of each FFT.
    overwrite_x : bool
        The FFTs may use ``exit_waves`` as scratch (its content is then lost).
    ramped : bool
        The exit waves already carry :func:`detector_ramp` (folded into the
        probe, it costs nothing per frame): the detector is then the first
        N x N outputs, with no reordering.

    Returns
    -------
    ndarray, (..., N, N) float (float32 for complex64 input), ``|FFT_ortho(psi)|^2`` cropped
    to the detector
    """
    nf = exit_waves.shape[-1]
    detector_frequencies(nf, n_det)                      # checks the sizes
    h = n_det // 2
    if nf == n_det:
        spec = sfft.fft2(exit_waves, norm="ortho", workers=workers, overwrite_x=overwrite_x)
    else:
        # columns first (the faster strided pass on the full grid), keep the detector's rows,
        # then the rows
        cols = sfft.fft(exit_waves, axis=-2, norm="ortho", workers=workers,
                        overwrite_x=overwrite_x)
        if ramped:
            rows = cols[..., :n_det, :]
        else:
            rows = np.empty(cols.shape[:-2] + (n_det, nf), cols.dtype)
            rows[..., :h, :] = cols[..., nf - h:, :]
            rows[..., h:, :] = cols[..., :h, :]
        spec = sfft.fft(rows, axis=-1, norm="ortho", workers=workers, overwrite_x=not ramped)
    if ramped:
        out = np.abs(spec[..., :n_det, :n_det])
        return np.multiply(out, out, out=out)
    out = np.empty(spec.shape[:-2] + (n_det, n_det), spec.real.dtype)
    # (detector, FFT) index ranges of the negative and the non-negative frequencies
    halves = ((slice(None, h), slice(nf - h, None)), (slice(h, None), slice(None, h)))
    row_halves = halves if nf == n_det else ((slice(None), slice(None)),)
    for rd, rs in row_halves:
        for cd, cs in halves:
            z = spec[..., rs, cs]
            out[..., rd, cd] = z.real ** 2 + z.imag ** 2
    return out


def coarse_probe(fine_probe: np.ndarray, n_det: int, *, workers: int = 1) -> np.ndarray:
    """The probe on the object-pixel grid that reproduces the detector's view of a fine probe.

    ``|FFT_ortho(result)|^2`` over N x N equals the detector crop of
    ``|FFT_ortho(fine_probe)|^2``, so a reconstruction on the object pixel
    that uses it as its probe has data and model in the same normalisation.

    Parameters
    ----------
    fine_probe : ndarray, (..., N_f, N_f) complex
    n_det : int

    Returns
    -------
    ndarray, (..., N, N) complex128, centred at index N // 2
    """
    nf = fine_probe.shape[-1]
    idx = detector_frequencies(nf, n_det)
    spec = sfft.fft2(sfft.ifftshift(fine_probe, axes=(-2, -1)), norm="ortho", workers=workers)
    spec = spec[..., idx, :][..., :, idx]                     # DC-centred crop
    small = sfft.ifft2(sfft.ifftshift(spec, axes=(-2, -1)), norm="ortho", workers=workers)
    return sfft.fftshift(small, axes=(-2, -1))


def record_frames(clean: np.ndarray, *, rng: np.random.Generator, background: float,
                  readout_noise: float, saturation: float | None,
                  flux_factor: np.ndarray, readout_fault: np.ndarray,
                  readout_fault_counts: float, fault_rng: np.random.Generator) -> np.ndarray:
    """Detector counts from expected intensities.

    Per pixel: photons ``k ~ Poisson(clean + background)``, plus Gaussian
    readout noise ``e ~ N(0, readout_noise^2)``, clipped at ``saturation``,
    rounded to whole analogue-to-digital units: ``rint(min(k + e, saturation))``.
    As ``k`` is an integer this is ``min(k + rint(e), rint(saturation))``, so
    the samplers of :mod:`.noise` draw ``k`` and ``rint(e)`` exactly from their
    distributions without forming ``e`` (same law, a fraction of the cost).

    Photon and readout noise are drawn for all frames at once from ``rng``,
    before and independently of the faults, which are applied afterwards
    from ``fault_rng``: a flux drop by a factor f thins the photons binomially
    (exactly Poisson(f lambda)); a readout malfunction adds an offset
    ``readout_fault_counts (1 + U)``, U uniform in [0, 1), to a band of rows
    before saturation and rounding, with the readout noise ``e`` of those
    pixels drawn given its rounded value (so ``e`` is exactly Gaussian). So
    corrupting a frame leaves every other frame bit-identical.

    Parameters
    ----------
    clean : ndarray, (F, N, N) float
        Expected photons per pixel.
    rng, fault_rng : numpy.random.Generator
        Noise stream and fault stream.
    background : float
        Mean stray-light counts per pixel (Poisson).
    readout_noise : float
        Rms Gaussian readout noise, counts.
    saturation : float or None
        Full-well level; pixels are clipped there.
    flux_factor : ndarray, (F,) float in (0, 1]
        Flux drop per frame (1: none).
    readout_fault : ndarray, (F, 2) int
        Row range [start, stop) of a readout malfunction per frame (start = stop: none).
    readout_fault_counts : float
        Mean offset added to the faulty rows.

    Returns
    -------
    ndarray, (F, N, N) float32, counts rounded to whole analogue-to-digital units
    """
    lam = np.add(clean, background, dtype=np.float64)
    counts, idx, k = noisy_counts(lam, readout_noise, rng=rng)
    flux_frames = np.flatnonzero(np.asarray(flux_factor) < 1.0)
    row_frames = np.flatnonzero(readout_fault[:, 1] > readout_fault[:, 0])
    photons = {}
    if flux_frames.size or row_frames.size:
        n_px = counts[0].size
        frame_of = idx // n_px
        for i in np.union1d(flux_frames, row_frames):
            sel = np.flatnonzero(frame_of == i)
            ph = np.zeros(n_px, np.int64)
            ph[idx[sel] - i * n_px] = k[sel]
            photons[i] = ph.reshape(counts.shape[1:])
    for i in flux_frames:
        readout = counts[i] - photons[i]
        photons[i] = fault_rng.binomial(photons[i], flux_factor[i])
        counts[i] = photons[i] + readout
    for i in row_frames:
        r0, r1 = readout_fault[i]
        ph = photons[i][r0:r1]
        e = normal_in_cell(counts[i, r0:r1] - ph, readout_noise, rng=fault_rng)
        offset = readout_fault_counts * (1.0 + fault_rng.random(e.shape))
        counts[i, r0:r1] = np.rint(ph + e + offset)
    if saturation is not None:
        np.minimum(counts, np.rint(np.float32(saturation)), out=counts)
    return counts
