"""Fresnel zone plate probe: focal length, annular pupil, defocus, aberration, modes.

A zone plate of outer zone width ``dr`` and diameter ``D`` focuses (first
order) at ``f = D dr / lambda`` with numerical aperture ``NA = D / (2 f) =
lambda / (2 dr)`` (Attwood, *Soft X-rays and Extreme Ultraviolet Radiation*,
ch. 9). Its focal field is the Fourier transform of the annular pupil (central
stop of diameter ``stop * D``); its angular spectrum fills spatial frequencies
``stop / (2 dr) <= |f| <= 1 / (2 dr)``. The Airy focal spot of an unobstructed
pupil has an intensity FWHM of ``1.029 lambda / (2 NA) = 1.029 dr``. Defocus
is applied by angular-spectrum propagation (:mod:`.propagate`).

The probe is built on a grid ``pad`` times wider than the window it is
returned in, so the pupil is well sampled and the defocused beam does not
wrap around; the centre of the returned window (index ``n // 2``) is the beam
axis.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from .propagate import transfer_function

__all__ = ["focal_length_nm", "numerical_aperture", "zone_plate_probe", "probe_modes",
           "intensity_fwhm_nm"]


def focal_length_nm(*, outer_zone_nm: float, diameter_um: float, wavelength_nm: float) -> float:
    """First-order focal length ``f = D dr / lambda``, nm."""
    return diameter_um * 1e3 * outer_zone_nm / wavelength_nm


def numerical_aperture(*, outer_zone_nm: float, wavelength_nm: float) -> float:
    """``NA = lambda / (2 dr)`` (independent of D)."""
    return wavelength_nm / (2.0 * outer_zone_nm)


def zone_plate_probe(n: int, pixel_nm: float, *, wavelength_nm: float, outer_zone_nm: float,
                     central_stop_fraction: float = 0.0, defocus_nm: float = 0.0,
                     astigmatism_rad: float = 0.0, shift_nm: tuple[float, float] = (0.0, 0.0),
                     pad: int = 4, workers: int = 1) -> np.ndarray:
    """Complex probe of a Fresnel zone plate, normalised to ``sum |P|^2 = 1``.

    Parameters
    ----------
    n : int
        Edge of the returned window, pixels (even).
    pixel_nm : float
        Sampling in the sample plane, nm (the object pixel ``lambda z / (N p)``
        or a finer simulation pixel).
    wavelength_nm, outer_zone_nm : float
        Wavelength and outer zone width dr, nm.
    central_stop_fraction : float
        Central stop diameter over zone plate diameter.
    defocus_nm : float
        Distance of the sample plane downstream of the focus, nm.
    astigmatism_rad : float
        Pupil phase ``astigmatism_rad * rho^2 cos(2 phi)`` (rho = 1 at the edge).
    shift_nm : (float, float)
        Lateral (v, u) shift of the beam, nm (a source point off axis).
    pad : int
        Oversampling of the construction grid.

    Returns
    -------
    ndarray, (n, n) complex128
    """
    if n % 2:
        raise ValueError(f"probe window must be even (got {n})")
    big = n * pad
    f = np.fft.fftfreq(big, d=pixel_nm)
    fr = np.hypot(f[:, None], f[None, :])
    df = f[1] - f[0]
    f_max = 1.0 / (2.0 * outer_zone_nm)
    if f_max > 0.5 / pixel_nm:
        raise ValueError(f"pixel {pixel_nm} nm does not sample NA (needs < {outer_zone_nm} nm)")
    # anti-aliased annulus: linear ramp over one frequency sample at each edge
    pupil = np.clip((f_max - fr) / df + 0.5, 0.0, 1.0)
    if central_stop_fraction > 0:
        pupil *= np.clip((fr - central_stop_fraction * f_max) / df + 0.5, 0.0, 1.0)
    phase = np.zeros_like(fr)
    if astigmatism_rad:
        rho2 = (fr / f_max) ** 2
        cos2 = np.cos(2.0 * np.arctan2(f[:, None], f[None, :]))
        phase += astigmatism_rad * rho2 * cos2
    if shift_nm[0] or shift_nm[1]:
        phase -= 2 * np.pi * (f[:, None] * shift_nm[0] + f[None, :] * shift_nm[1])
    spec = pupil * np.exp(1j * phase)
    if defocus_nm:
        spec = spec * transfer_function((big, big), pixel_nm=pixel_nm,
                                        wavelength_nm=wavelength_nm, distance_nm=defocus_nm)
    field = sfft.fftshift(sfft.ifft2(spec, workers=workers))
    c = big // 2
    win = field[c - n // 2:c + n // 2, c - n // 2:c + n // 2]
    return win / np.sqrt(np.sum(np.abs(win) ** 2))


def probe_modes(n: int, pixel_nm: float, *, n_modes: int, source_sigma_nm: float,
                rng: np.random.Generator, **probe_kw) -> tuple[np.ndarray, np.ndarray]:
    """Mutually incoherent modes of a partially coherent beam.

    Partial coherence from a finite (demagnified) source is modelled as an
    incoherent sum over source points: each mode is the coherent probe
    laterally shifted by one source point drawn from a Gaussian of rms
    ``source_sigma_nm``; the first mode is the on-axis one.

    Returns
    -------
    modes : ndarray, (M, n, n) complex128, each with ``sum |P|^2 = 1``
    weights : ndarray, (M,) float64, summing to 1
    """
    shifts = np.zeros((n_modes, 2))
    if n_modes > 1:
        shifts[1:] = rng.normal(0.0, source_sigma_nm, size=(n_modes - 1, 2))
    modes = np.stack([zone_plate_probe(n, pixel_nm, shift_nm=tuple(s), **probe_kw)
                      for s in shifts])
    return modes, np.full(n_modes, 1.0 / n_modes)


def intensity_fwhm_nm(probe: np.ndarray, pixel_nm: float) -> float:
    """FWHM of ``|probe|^2`` along the row through its maximum, nm (linear interpolation)."""
    inten = np.abs(probe) ** 2
    r, c = np.unravel_index(np.argmax(inten), inten.shape)
    row = inten[r] / inten[r, c]
    left = c
    while left > 0 and row[left] >= 0.5:
        left -= 1
    right = c
    while right < row.size - 1 and row[right] >= 0.5:
        right += 1
    xl = left + (0.5 - row[left]) / (row[left + 1] - row[left])
    xr = right - 1 + (row[right - 1] - 0.5) / (row[right - 1] - row[right])
    return float((xr - xl) * pixel_nm)
