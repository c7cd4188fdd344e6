"""Angular-spectrum propagation and multislice exit waves.

The angular-spectrum transfer function over a distance ``dz`` is
``H(f) = exp(i 2 pi dz (sqrt(1/lambda^2 - |f|^2) - 1/lambda))`` (the common
phase ``exp(i 2 pi dz / lambda)`` is dropped; evanescent waves are set to
zero). It is exact for band-limited fields in free space (Goodman,
*Introduction to Fourier Optics*, 3rd ed., sec. 3.10). FFTs are unnormalised
pairs with ``workers=1``: each Dask task owns one thread.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

__all__ = ["axial_phase_per_nm", "transfer_function", "propagate", "multislice"]


def axial_phase_per_nm(shape: tuple[int, int], *, pixel_nm: float, wavelength_nm: float
                       ) -> tuple[np.ndarray, np.ndarray]:
    """``2 pi (sqrt(1/lambda^2 - |f|^2) - 1/lambda)`` (rad/nm) and the propagating mask.

    Both (rows, cols) on the unshifted FFT grid; ``H(dz) = exp(i dz phase) * mask``.
    """
    fy = np.fft.fftfreq(shape[0], d=pixel_nm)
    fx = np.fft.fftfreq(shape[1], d=pixel_nm)
    f2 = fy[:, None] ** 2 + fx[None, :] ** 2
    inv2 = 1.0 / wavelength_nm ** 2
    prop = f2 < inv2
    kz = np.where(prop, np.sqrt(np.maximum(inv2 - f2, 0.0)) - 1.0 / wavelength_nm, 0.0)
    return 2.0 * np.pi * kz, prop


def transfer_function(shape: tuple[int, int], *, pixel_nm: float, wavelength_nm: float,
                      distance_nm: float | np.ndarray) -> np.ndarray:
    """Angular-spectrum kernel on the unshifted FFT grid.

    Parameters
    ----------
    shape : (int, int)
        Field shape (rows, cols).
    pixel_nm, wavelength_nm : float
        Sampling and wavelength, nm.
    distance_nm : float or ndarray (D,)
        Propagation distance(s), nm; positive is downstream.

    Returns
    -------
    ndarray, complex128, (rows, cols) or (D, rows, cols)
    """
    phase, prop = axial_phase_per_nm(shape, pixel_nm=pixel_nm, wavelength_nm=wavelength_nm)
    d = np.asarray(distance_nm, dtype=float)
    return np.exp(1j * d[..., None, None] * phase) * prop


def propagate(field: np.ndarray, distance_nm: float, *, pixel_nm: float, wavelength_nm: float,
              workers: int = 1) -> np.ndarray:
    """Propagate a complex field (..., rows, cols) by ``distance_nm`` in free space."""
    if distance_nm == 0:
        return np.array(field, copy=True)
    h = transfer_function(field.shape[-2:], pixel_nm=pixel_nm, wavelength_nm=wavelength_nm,
                          distance_nm=distance_nm)
    spec = sfft.fft2(field, workers=workers)
    return sfft.ifft2(spec * h.astype(spec.dtype, copy=False), workers=workers)


def multislice(slab_transmissions: np.ndarray, slab_centres_nm: np.ndarray, *, pixel_nm: float,
               wavelength_nm: float, incident: np.ndarray | None = None,
               workers: int = 1) -> np.ndarray:
    """Exit wave of a thick object by multislice, referred back to the plane s = 0.

    The incident wave is given at the plane s = 0 (the rotation centre) and
    propagated to the first slab; after each slab's transmission it is
    propagated to the next; the exit wave is finally propagated back to
    s = 0 so that it compares directly with the projection approximation
    ``incident * prod(slab_transmissions)``.

    Parameters
    ----------
    slab_transmissions : ndarray, (S, ..., rows, cols) complex
        Transmission of each slab (projection approximation within the slab);
        the middle axes broadcast against ``incident``.
    slab_centres_nm : ndarray, (S,)
        Increasing lab depths of the slab centres, nm.
    pixel_nm, wavelength_nm : float
        Sampling and wavelength, nm.
    incident : ndarray, (..., rows, cols) complex, optional
        Illumination at s = 0 (default: unit plane wave).

    Returns
    -------
    ndarray, (..., rows, cols) complex128
    """
    t = np.asarray(slab_transmissions)
    centres = np.asarray(slab_centres_nm, dtype=float)
    if t.ndim < 3 or t.shape[0] != centres.size:
        raise ValueError("slab_transmissions must be (S, ..., rows, cols) with one centre per slab")
    psi = np.ones(t.shape[1:], complex) if incident is None else np.asarray(incident, complex)
    shape = t.shape[-2:]
    kernels: dict[float, np.ndarray] = {}

    def step(field, dz):
        key = round(float(dz), 9)
        if key == 0.0:
            return field
        if key not in kernels:
            kernels[key] = transfer_function(shape, pixel_nm=pixel_nm,
                                             wavelength_nm=wavelength_nm, distance_nm=dz)
        spec = sfft.fft2(field, workers=workers)
        return sfft.ifft2(spec * kernels[key], workers=workers)

    psi = step(psi, centres[0])
    for i in range(len(centres)):
        psi = psi * t[i]
        if i + 1 < len(centres):
            psi = step(psi, centres[i + 1] - centres[i])
    return step(psi, -centres[-1])
