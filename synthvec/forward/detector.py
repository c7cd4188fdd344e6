"""Far-field detector: intensities, noise, saturation and corrupt frames.

Far field. Exit waves are formed on a grid ``os`` times finer than the object
pixel (``N_f = os N``); the detector of N x N pixels sees exactly the central
N x N spatial frequencies of that grid (the same frequency spacing
``1 / (N p)``), so the recorded intensity is the crop of
``|FFT_ortho(psi_fine)|^2``. Frequencies beyond the detector are lost, as in
the instrument. Frames are stored DC-centred (index N // 2 is zero
frequency), as in ``shared/bench/p1.py``. With ``sum |P_fine|^2`` equal to
the photon number, a blank frame holds the incident photons (Parseval).

Only the needed output is computed: the row FFTs are cropped to N columns
before the column FFTs (a pruned 2D FFT, 3/4 of the full cost for os = 2).
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

__all__ = ["detector_frequencies", "far_field_intensity", "coarse_probe", "record_frames",
           "CORRUPT_KINDS"]

CORRUPT_KINDS = ("readout", "flux")


def detector_frequencies(n_fine: int, n_det: int) -> np.ndarray:
    """Indices of the FFT of length ``n_fine`` seen by ``n_det`` detector pixels, DC-centred."""
    if n_det > n_fine or n_det % 2:
        raise ValueError(f"detector ({n_det}) must be even and <= the exit-wave grid ({n_fine})")
    k = np.arange(-(n_det // 2), n_det // 2)
    return np.mod(k, n_fine)


def far_field_intensity(exit_waves: np.ndarray, n_det: int, *, workers: int = 1) -> np.ndarray:
    """DC-centred far-field intensities of exit waves on the fine grid.

    Parameters
    ----------
    exit_waves : ndarray, (..., N_f, N_f) complex
        Exit waves, pixel ``p / os``.
    n_det : int
        Detector edge N.

    Returns
    -------
    ndarray, (..., N, N) float, ``|FFT_ortho(psi)|^2`` cropped to the detector
    """
    nf = exit_waves.shape[-1]
    idx = detector_frequencies(nf, n_det)
    rows = sfft.fft(exit_waves, axis=-1, norm="ortho", workers=workers)[..., idx]
    spec = sfft.fft(rows, axis=-2, norm="ortho", workers=workers)[..., idx, :]
    return spec.real ** 2 + spec.imag ** 2


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

    Photon noise and readout noise are drawn for all frames at once from
    ``rng``, whose consumption depends on ``clean`` only; faults are applied
    afterwards from ``fault_rng``: a flux drop by a factor f thins the counts
    binomially (exactly Poisson(f lambda)), a readout malfunction adds an
    offset to a band of rows. So corrupting a frame leaves every other frame
    bit-identical.

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
    photons = rng.poisson(clean + background)
    noise = (rng.standard_normal(photons.shape, dtype=np.float32) * np.float32(readout_noise)
             if readout_noise > 0 else None)
    for i in np.flatnonzero(np.asarray(flux_factor) < 1.0):
        photons[i] = fault_rng.binomial(photons[i], flux_factor[i])
    counts = photons.astype(np.float32)
    if noise is not None:
        counts += noise
    for i in np.flatnonzero(readout_fault[:, 1] > readout_fault[:, 0]):
        r0, r1 = readout_fault[i]
        counts[i, r0:r1] += readout_fault_counts * (1.0 + fault_rng.random((r1 - r0,
                                                                           counts.shape[2])))
    if saturation is not None:
        np.minimum(counts, np.float32(saturation), out=counts)
    return np.rint(counts, out=counts)
