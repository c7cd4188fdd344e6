"""Fourier shell correlation and PSD known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from synthvec.analysis.fsc import fsc, fsc_resolution, half_bit, radial_psd


def _signal(shape, rng, sigma=1.5):
    return ndimage.gaussian_filter(rng.normal(size=shape), sigma, mode="wrap")


def test_identical_volumes_fsc_one_everywhere():
    rng = np.random.default_rng(0)
    v = _signal((24, 20, 22), rng)
    c = fsc(v, v, voxel_nm=5.0)
    np.testing.assert_allclose(c["fsc"].to_numpy()[1:], 1.0, atol=1e-12)
    assert c["freq_nm_inv"].iloc[-1] <= 0.1 + 1e-12  # up to Nyquist 1/(2*5 nm)
    assert fsc_resolution(c, 0.143) == pytest.approx(10.0, rel=0.05)  # never crosses: Nyquist


def test_vector_components_and_combined():
    rng = np.random.default_rng(1)
    v = np.stack([_signal((16, 16, 16), rng) for _ in range(3)])
    w = v.copy()
    w[1] = -w[1]
    c = fsc(v, w, voxel_nm=2.0)
    np.testing.assert_allclose(c["fsc_x"].to_numpy()[1:], 1.0, atol=1e-12)
    np.testing.assert_allclose(c["fsc_y"].to_numpy()[1:], -1.0, atol=1e-12)
    assert np.all(c["fsc"].to_numpy()[1:] < 1.0)


def test_volume_vs_itself_plus_white_noise_matches_snr_prediction():
    rng = np.random.default_rng(2)
    shape = (48, 48, 48)
    s = _signal(shape, rng, sigma=2.0) * 30.0
    noise_sd = 1.0
    n = rng.normal(scale=noise_sd, size=shape)
    c = fsc(s, s + n, voxel_nm=5.0)
    # independent prediction: FSC(s, s + n) = sqrt(S / (S + N)) per shell, S from numpy's FFT of
    # s (orthonormal), N = noise variance per Fourier coefficient
    F = np.fft.fftn(s, norm="ortho")
    k = np.sqrt(sum(f ** 2 for f in np.meshgrid(*(np.fft.fftfreq(m, 5.0) for m in shape),
                                                 indexing="ij")))
    dk = 1.0 / (48 * 5.0)
    pred = []
    for i in range(len(c)):
        ring = np.abs(k / dk - i) <= 0.5
        S = np.mean(np.abs(F[ring]) ** 2)
        pred.append(np.sqrt(S / (S + noise_sd ** 2)))
    pred = pd.DataFrame({"freq_nm_inv": c["freq_nm_inv"], "fsc": pred, "half_bit": c["half_bit"]})
    r_pred = fsc_resolution(pred, 0.5)
    r_meas = fsc_resolution(c, 0.5)
    assert 15.0 < r_pred < 80.0  # the crossing lies inside the band, not at Nyquist
    assert r_meas == pytest.approx(r_pred, rel=0.05)


def test_half_bit_threshold_limits():
    assert half_bit(np.array([1.0]))[0] == pytest.approx(1.0, abs=1e-3)
    assert half_bit(np.array([1e12]))[0] == pytest.approx(0.2071 / 1.2071, abs=1e-4)


def test_radial_psd_of_a_single_frequency():
    v, u = np.meshgrid(np.arange(64), np.arange(64), indexing="ij")
    img = np.cos(2 * np.pi * 8 * u / 64)  # 8 cycles over 64 px of 2 nm: 0.0625 nm^-1
    p = radial_psd(img, pixel_nm=2.0)
    assert p["freq_nm_inv"].iloc[int(np.argmax(p["psd"]))] == pytest.approx(0.0625)
