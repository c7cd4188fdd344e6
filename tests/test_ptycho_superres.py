"""Super-resolved rPIE (ptycho.upsample): grids, probe transfer, and a known-answer reconstruction.

The data here are made independently of synthvec's ptycho code: a fine
object and a fine probe (pupil inside the detector) on a grid twice finer
than the detector's pixel, positions on odd fine pixels (half a detector
pixel off the coarse grid), frames = the central N x N frequencies of the
2N-point orthonormal FFT of the exit wave (the simulator's convention).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from synthvec.errors import ConfigError
from synthvec.invert.ptycho import PtychoConfig, PtychoData, reconstruct
from synthvec.invert.ptycho.superres import (coarse_from_fine_probe, downsample_object,
                                             fine_probe, upsample_object)

N = 32          # detector pixels
U = 2           # fine grid factor


def _centred_crop(spec_fft_order: np.ndarray, n: int) -> np.ndarray:
    """DC-centred central n x n of an FFT-order spectrum."""
    return np.fft.fftshift(spec_fft_order)[tuple(slice(s // 2 - n // 2, s // 2 + n // 2)
                                                 for s in spec_fft_order.shape[-2:])]


def _fine_probe_direct(rng: np.random.Generator) -> np.ndarray:
    """Annular pupil (radius 6 detector px, inside the N x N detector) with a random
    low-order phase, on the 2N grid; centred probe, sum |P|^2 = 1e6."""
    nf = U * N
    k = np.arange(nf) - nf // 2
    ky, kx = np.meshgrid(k, k, indexing="ij")
    r = np.hypot(ky, kx)
    phase = 0.04 * (ky ** 2 + kx ** 2) + 0.3 * rng.standard_normal() * ky / 6
    pupil = ((r <= 6) & (r >= 2)) * np.exp(1j * phase)
    p = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(pupil)))
    return p * np.sqrt(1e6 / np.sum(np.abs(p) ** 2))


def _fine_object(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Weak absorbing/phase object with sharp-edged discs (content up to the fine Nyquist)."""
    yy, xx = np.indices(shape)
    loga = np.zeros(shape)
    ph = np.zeros(shape)
    for _ in range(shape[0] * shape[1] // 100):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        rad = rng.uniform(2, 6)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= rad ** 2
        loga -= 0.08 * disc
        ph += 0.25 * disc
    return np.exp(loga + 1j * ph)


def _dataset(seed: int = 0):
    rng = np.random.default_rng(seed)
    pf = _fine_probe_direct(rng)
    step = 5                                          # detector px (~6.7 px probe radius)
    grid = np.arange(-3, 4) * step
    pos = np.array([(y, x) for y in grid for x in grid], float) + 0.5   # half a pixel off
    pos += rng.integers(-1, 2, pos.shape) * 0.5       # on fine pixels, mixed parities
    half_f = U * (int(np.abs(pos).max()) + N // 2 + 4)
    obj_f = _fine_object(rng, (2 * half_f, 2 * half_f))
    nf = U * N
    frames = []
    for p in pos:
        r0 = int(round(p[0] * U)) - nf // 2 + half_f
        c0 = int(round(p[1] * U)) - nf // 2 + half_f
        psi = pf * obj_f[r0:r0 + nf, c0:c0 + nf]
        spec = np.fft.fft2(np.fft.ifftshift(psi), norm="ortho")
        frames.append(np.abs(_centred_crop(spec, N)) ** 2)
    # detector-pixel probe with the same detector far field (independent crop)
    spec_p = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(pf), norm="ortho"))
    c = nf // 2
    small = spec_p[c - N // 2:c + N // 2, c - N // 2:c + N // 2]
    probe = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(small), norm="ortho"))
    data = PtychoData(frames=np.asarray(frames, np.float32), positions_px=pos,
                      probe=probe.astype(np.complex64), pixel_nm=5.0, energy_ev=853.0)
    return data, obj_f, half_f, pf


def _truth_log_amplitude(obj_f: np.ndarray, half_f: int, x_nm, y_nm, pixel_nm: float):
    """log|O| of the truth band-limited to the detector pixel, on the result's grid."""
    la = np.log(np.abs(obj_f))
    spec = np.fft.fftshift(np.fft.fft2(la))
    n = la.shape[0] // U
    c = la.shape[0] // 2
    small = spec[c - n // 2:c + n // 2, c - n // 2:c + n // 2]
    coarse = np.fft.ifft2(np.fft.ifftshift(small)).real / U ** 2   # index i <-> fine index U i
    rows = np.rint(np.asarray(y_nm) / pixel_nm).astype(int) + half_f // U
    cols = np.rint(np.asarray(x_nm) / pixel_nm).astype(int) + half_f // U
    return coarse[np.ix_(rows, cols)]


def _log_error(res, obj_f, half_f) -> float:
    truth = _truth_log_amplitude(obj_f, half_f, res.object_x_nm, res.object_y_nm, 5.0)
    rec = np.log(np.abs(res.object))
    inner = res.illumination > 0.5
    d = rec - truth
    d = d - np.mean(d[inner])                     # the probe/object scale ambiguity
    t = truth - np.mean(truth[inner])
    return float(np.linalg.norm(d[inner]) / np.linalg.norm(t[inner]))


def test_fine_probe_keeps_the_detector_far_field():
    rng = np.random.default_rng(1)
    p = (rng.standard_normal((N, N)) + 1j * rng.standard_normal((N, N))).astype(np.complex64)
    pf = fine_probe(p, U)
    assert pf.shape == (U * N, U * N)
    far_coarse = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(p), norm="ortho"))
    far_fine = _centred_crop(np.fft.fft2(np.fft.ifftshift(pf), norm="ortho"), N)
    np.testing.assert_allclose(far_fine, far_coarse, atol=2e-5 * np.abs(far_coarse).max())
    np.testing.assert_allclose(np.sum(np.abs(pf) ** 2), np.sum(np.abs(p) ** 2), rtol=1e-5)
    np.testing.assert_allclose(coarse_from_fine_probe(pf, N), p, atol=1e-5 * np.abs(p).max())


def test_object_resampling_round_trip_and_grid_alignment():
    rng = np.random.default_rng(2)
    ny, nx = 20, 24
    la = 0.1 * rng.standard_normal((ny, nx))
    obj = np.exp(la).astype(np.complex64)
    up = upsample_object(obj, U)
    assert up.shape == (U * ny, U * nx)
    # fine index U i lies on coarse index i
    np.testing.assert_allclose(np.log(np.abs(up[::U, ::U])), la, atol=1e-5)
    np.testing.assert_allclose(np.log(np.abs(downsample_object(up, U))), la, atol=1e-5)


def test_superres_beats_detector_pixel_rpie_at_subpixel_positions():
    data, obj_f, half_f, _ = _dataset()
    cfg = PtychoConfig(iterations=30, probe_update=False, bad_frames="off",
                       subpixel_positions=True, defocus_correction="off")
    plain = reconstruct(data, cfg, rng=np.random.default_rng(0))
    sr = reconstruct(data, dataclasses.replace(cfg, upsample=2, upsample_iterations=60),
                     rng=np.random.default_rng(0))
    e_plain, e_sr = _log_error(plain, obj_f, half_f), _log_error(sr, obj_f, half_f)
    assert e_sr < 0.5 * e_plain, (e_sr, e_plain)
    assert e_sr < 0.1, e_sr
    assert sr.error[-1] < 0.2 * plain.error[-1]          # the fine model fits the data
    assert sr.error.shape == (90,)


def test_superres_position_refinement_recovers_position_errors():
    data, obj_f, half_f, _ = _dataset(seed=3)
    rng = np.random.default_rng(4)
    true = data.positions_px.copy()
    err = rng.normal(0, 0.4, true.shape)
    noisy = dataclasses.replace(data, positions_px=true + err)
    cfg = PtychoConfig(iterations=30, probe_update=False, bad_frames="off",
                       subpixel_positions=True, position_refinement=True,
                       position_refinement_start=5, defocus_correction="off", upsample=2,
                       upsample_iterations=40)
    res = reconstruct(noisy, cfg, rng=np.random.default_rng(0))
    e1 = res.positions_px - true
    e1 -= e1.mean(axis=0)
    e0 = err - err.mean(axis=0)
    rms = lambda e: float(np.sqrt(np.mean(np.sum(e ** 2, axis=1))))
    assert rms(e1) < 0.25 * rms(e0), (rms(e1), rms(e0))


def test_momentum_with_upsample_is_refused_naming_the_field():
    with pytest.raises(ConfigError, match="object_momentum"):
        PtychoConfig(upsample=2, object_momentum=0.5)
    with pytest.raises(ConfigError, match="upsample"):
        PtychoConfig(upsample=5)
