"""Angular-spectrum propagation and multislice against closed-form answers."""

import numpy as np
import pytest

from synthvec.forward.propagate import multislice, propagate, transfer_function

LAM = 1.4484
PIX = 2.5


def test_tilted_plane_wave_gains_the_exact_phase():
    # a plane wave with transverse frequency f on the grid: after dz its phase grows by
    # 2 pi dz (sqrt(1/lam^2 - f^2) - 1/lam), exactly
    n = 64
    fx = 5 / (n * PIX)
    x = np.arange(n) * PIX
    wave = np.exp(2j * np.pi * fx * x)[None, :] * np.ones((n, 1))
    dz = 300.0
    out = propagate(wave, dz, pixel_nm=PIX, wavelength_nm=LAM)
    expected = wave * np.exp(2j * np.pi * dz * (np.sqrt(1 / LAM ** 2 - fx ** 2) - 1 / LAM))
    np.testing.assert_allclose(out, expected, atol=1e-10)


def test_propagation_is_unitary_and_reversible():
    rng = np.random.default_rng(0)
    field = rng.normal(size=(48, 48)) + 1j * rng.normal(size=(48, 48))
    out = propagate(field, 120.0, pixel_nm=PIX, wavelength_nm=LAM)
    assert np.linalg.norm(out) == pytest.approx(np.linalg.norm(field), rel=1e-10)
    back = propagate(out, -120.0, pixel_nm=PIX, wavelength_nm=LAM)
    np.testing.assert_allclose(back, field, atol=1e-10)


def test_transfer_function_composes():
    h1 = transfer_function((16, 16), pixel_nm=PIX, wavelength_nm=LAM, distance_nm=40.0)
    h2 = transfer_function((16, 16), pixel_nm=PIX, wavelength_nm=LAM, distance_nm=60.0)
    h = transfer_function((16, 16), pixel_nm=PIX, wavelength_nm=LAM, distance_nm=100.0)
    np.testing.assert_allclose(h1 * h2, h, atol=1e-12)


def test_multislice_of_uniform_slab_equals_projection():
    t = np.full((10, 32, 32), np.exp(-0.01 - 0.02j))
    psi = multislice(t, np.arange(10) * 10.0 - 45.0, pixel_nm=PIX, wavelength_nm=LAM)
    np.testing.assert_allclose(psi, np.prod(t, axis=0), atol=1e-12)


def test_multislice_converges_to_projection_for_thin_object():
    rng = np.random.default_rng(1)
    smooth = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(64, 64)))
                                  * np.exp(-np.add.outer(np.fft.fftfreq(64) ** 2,
                                                         np.fft.fftfreq(64) ** 2) * 400)))
    obj = np.exp(-0.3 * (smooth - smooth.min()) * (1 + 1j))
    errors = []
    for thickness in (200.0, 20.0, 2.0):
        n = 10
        slab = obj ** (1.0 / n)
        centres = (np.arange(n) + 0.5) * thickness / n - thickness / 2
        psi = multislice(np.broadcast_to(slab, (n, 64, 64)), centres, pixel_nm=PIX,
                         wavelength_nm=LAM)
        errors.append(np.linalg.norm(psi - obj) / np.linalg.norm(obj - 1))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-3
