"""Probe constraints: the paper's phase-unwrapping constraint against defocus at high tilt.

A zone-plate probe is its pupil (an annulus of nearly uniform amplitude)
times a smooth aberration phase: defocus is a quadratic phase, astigmatism
and coma are the other second- and third-order terms. At high tilt the
sample spans a range of depths; rPIE then pushes depth-dependent structure
into the probe and the pupil phase becomes rough. The constraint (applied
after each macro-iteration, paper Methods and fig. S3) takes the pupil
``F = fftshift(fft2(ifftshift(P)))``, unwraps its phase inside the pupil
support (``skimage.restoration.unwrap_phase``), replaces it by its
amplitude-weighted least-squares fit with polynomials in (ky, kx) up to
``order`` (piston, tilts = probe position, defocus, astigmatism, coma...),
keeps the amplitude, and transforms back.

The pupil-support constraint is the other half of what a zone-plate probe
is: its far field (the bright-field disc on the detector) cannot reach
beyond the optic's aperture, whatever the defocus or aberrations (both are
phases in the pupil). rPIE's probe update otherwise lets the probe absorb
object structure at spatial frequencies the optic cannot make - most of all
the raster-grid pathology at the scan step's period (40 nm steps: 1/40 nm^-1,
while a 45 nm zone plate's pupil ends at 1/90 nm^-1) - and the two
helicities' independent probes absorb different parts of it, which the
XMCD difference then shows. The support is taken from the nominal probe's
far field (so it holds for real data with any optic), dilated by a pixel
or two for sampling.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pupil", "from_pupil", "pupil_phase_constraint", "pupil_support_mask",
           "pupil_support_constraint", "defocus_probe"]


def pupil(probe: np.ndarray) -> np.ndarray:
    """Centred far field (pupil) of a centred probe, orthonormal FFT."""
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(probe), norm="ortho"))


def from_pupil(pup: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pupil`."""
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(pup), norm="ortho"))


def _poly_basis(ky: np.ndarray, kx: np.ndarray, order: int) -> np.ndarray:
    return np.stack([ky ** i * kx ** j for i in range(order + 1) for j in range(order + 1 - i)],
                    axis=1)


def pupil_phase_constraint(probe: np.ndarray, *, order: int = 3, support: float = 0.02
                           ) -> np.ndarray:
    """Project the probe's pupil phase on smooth polynomials (see module docstring).

    Parameters
    ----------
    probe : (H, W) complex
    order : int
        Highest total polynomial order kept.
    support : float
        Pupil support threshold, fraction of max |pupil|.

    Returns
    -------
    (H, W) complex64
    """
    from skimage.restoration import unwrap_phase

    pup = pupil(np.asarray(probe, dtype=np.complex128))
    amp = np.abs(pup)
    mask = amp >= support * amp.max()
    if mask.sum() < 10:
        return np.asarray(probe, dtype=np.complex64)
    phase = np.ma.masked_array(np.angle(pup), mask=~mask)
    unwrapped = np.asarray(unwrap_phase(phase).filled(0.0))
    h, w = probe.shape
    ky, kx = np.meshgrid((np.arange(h) - h // 2) / (h / 2), (np.arange(w) - w // 2) / (w / 2),
                         indexing="ij")
    basis = _poly_basis(ky[mask], kx[mask], order)
    wgt = amp[mask]
    coef, *_ = np.linalg.lstsq(basis * wgt[:, None], unwrapped[mask] * wgt, rcond=None)
    fit = np.angle(pup)
    fit[mask] = basis @ coef
    return from_pupil(amp * np.exp(1j * fit)).astype(np.complex64)


def pupil_support_mask(probe: np.ndarray, *, threshold: float = 0.05, dilate_px: int = 1
                       ) -> np.ndarray:
    """Far-field support of a (nominal) probe: ``|pupil| >= threshold max|pupil|``.

    The mask is dilated by ``dilate_px`` and its holes are filled (a central
    stop is a hole in the amplitude, not in what a drifting focus can reach).

    Returns
    -------
    (H, W) bool, centred like :func:`pupil`
    """
    import scipy.ndimage as ndi

    amp = np.abs(pupil(np.asarray(probe, dtype=np.complex128)))
    mask = amp >= threshold * amp.max()
    if dilate_px:
        mask = ndi.binary_dilation(mask, iterations=dilate_px)
    return ndi.binary_fill_holes(mask)


def pupil_support_constraint(probe: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Zero the probe's far field outside ``mask`` (see module docstring).

    Parameters
    ----------
    probe : (H, W) complex
    mask : (H, W) bool, from :func:`pupil_support_mask`

    Returns
    -------
    (H, W) complex64
    """
    return from_pupil(pupil(np.asarray(probe, dtype=np.complex64)) * mask).astype(np.complex64)


def defocus_probe(probe: np.ndarray, *, dz_nm: float, pixel_nm: float, wavelength_nm: float
                  ) -> np.ndarray:
    """Propagate a probe by ``dz_nm`` (angular-spectrum / paraxial Fresnel in the pupil).

    Used to make a nominal probe that differs from the truth (a defocused
    one) and by tests of the defocus constraint.
    """
    h, w = probe.shape
    qy = np.fft.fftshift(np.fft.fftfreq(h, d=pixel_nm))
    qx = np.fft.fftshift(np.fft.fftfreq(w, d=pixel_nm))
    q2 = qy[:, None] ** 2 + qx[None, :] ** 2
    kernel = np.exp(-1j * np.pi * wavelength_nm * dz_nm * q2)
    return from_pupil(pupil(probe) * kernel).astype(np.complex64)
