"""rPIE engine: update sets, exactness of the batched update, convergence, probe refinement."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthvec.invert.ptycho import PtychoConfig, reconstruct, reconstruct_shared
from synthvec.invert.ptycho.probe import defocus_probe
from synthvec.invert.ptycho.rpie import object_grid, prepare_scan, rpie, update_sets

from .test_ptycho_synth import dataset, nrmse

INTERIOR = slice(16, 48)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=1, max_size=40),
       st.integers(2, 20))
def test_update_sets_partition_into_disjoint_windows(corners, win):
    corners = np.array(corners)
    sets = update_sets(corners, (win, win))
    allidx = np.sort(np.concatenate(sets))
    np.testing.assert_array_equal(allidx, np.arange(len(corners)))
    for s in sets:
        for a in s:
            for b in s:
                if a != b:
                    d = np.abs(corners[a] - corners[b])
                    assert d[0] >= win or d[1] >= win


def _slow_rpie(frames, corners, probe, obj, sweeps, alpha, beta, order, probe_update):
    """Published rPIE, one position at a time, numpy FFTs (independent reference)."""
    obj = obj.astype(np.complex128).copy()
    probe = probe.astype(np.complex128).copy()
    n = probe.shape[0]
    amp = np.sqrt(np.fft.ifftshift(frames, axes=(-2, -1)))
    for _ in range(sweeps):
        for j in order:
            r, c = corners[j]
            o = obj[r:r + n, c:c + n].copy()
            psi = probe * o
            f = np.fft.fft2(psi, norm="ortho")
            f = amp[j] * np.exp(1j * np.angle(f))
            d = np.fft.ifft2(f, norm="ortho") - psi
            p2 = np.abs(probe) ** 2
            obj[r:r + n, c:c + n] = o + np.conj(probe) * d / ((1 - alpha) * p2 + alpha * p2.max())
            if probe_update:
                o2 = np.abs(o) ** 2
                probe = probe + np.conj(o) * d / ((1 - beta) * o2 + beta * o2.max())
    return obj, probe


def _start(shape):
    """A non-flat start: a flat object's spectrum is the pupil, zero outside it, where the
    modulus projection takes the phase of round-off (float32 and float64 then differ)."""
    rng = np.random.default_rng(7)
    return (1 + 0.2 * rng.standard_normal(shape) + 0.2j * rng.standard_normal(shape))


def _engine_run(data, cfg):
    grid = object_grid(data.positions_px, data.probe.shape)
    obj = _start(grid.shape).astype(np.complex64)
    scan = prepare_scan(data.frames, grid, obj)
    probe, err, _ = rpie([scan], data.probe, cfg, rng=np.random.default_rng(0))
    return scan, grid, probe, err


def test_batched_object_update_equals_sequential_rpie():
    """Disjoint windows: a set's update is exactly the position-by-position update."""
    data, *_ = dataset(n_scan=9, step=4, noise=True)
    cfg = PtychoConfig(iterations=3, probe_update=False, set_order="fixed", bad_frames="off",
                       probe_update_start=0)
    scan, grid, _, _ = _engine_run(data, cfg)
    sets = update_sets(grid.corners, data.probe.shape)
    assert max(len(s) for s in sets) > 1          # batching really happens
    order = np.concatenate(sets)
    ref, _ = _slow_rpie(data.frames, grid.corners, data.probe, _start(grid.shape), 3,
                        cfg.alpha, cfg.beta, order, False)
    np.testing.assert_allclose(scan.obj, ref, atol=2e-4 * np.abs(ref).max())


def test_probe_update_equals_published_rpie_for_single_position_sets():
    """When every window overlaps every other, sets have one member: published rPIE exactly."""
    data, *_ = dataset(n_obj=48, n_scan=4, step=3, noise=False)
    cfg = PtychoConfig(iterations=2, probe_update=True, probe_update_start=0, set_order="fixed",
                       bad_frames="off", beta=0.3)
    scan, grid, probe, _ = _engine_run(data, cfg)
    assert all(len(s) == 1 for s in update_sets(grid.corners, data.probe.shape))
    ref_o, ref_p = _slow_rpie(data.frames, grid.corners, data.probe, _start(grid.shape), 2,
                              cfg.alpha, cfg.beta, np.arange(len(data.frames)), True)
    np.testing.assert_allclose(probe, ref_p, atol=1e-3 * np.abs(ref_p).max())
    np.testing.assert_allclose(scan.obj, ref_o, atol=1e-3 * np.abs(ref_o).max())


def test_converges_from_true_probe_noise_free():
    data, obj, _, _ = dataset(noise=False)
    res = reconstruct(data, PtychoConfig(iterations=60, probe_update=False, bad_frames="off"))
    assert res.object.dtype == np.complex64 and res.probe.dtype == np.complex64
    assert nrmse(res.object, obj, INTERIOR) < 0.02
    assert res.error[-1] < 0.01 * res.error[0]
    assert np.all(np.isfinite(res.error)) and len(res.error) == 60


def test_object_coordinates_follow_translation_origin():
    """The translation origin is x = y = 0; a scan centred off-origin keeps its coordinates."""
    data, obj, _, _ = dataset(noise=False)
    shifted = dataclasses.replace(data, positions_px=data.positions_px + np.array([6.0, -10.0]))
    res = reconstruct(shifted, PtychoConfig(iterations=30, probe_update=False, bad_frames="off"))
    # true object pixel (i, j) sits at ((j - 32) - 10, (i - 32) + 6) px from the origin
    iy = np.argmin(np.abs(res.object_y_nm - (40 - 32 + 6) * 5.0))
    ix = np.argmin(np.abs(res.object_x_nm - (40 - 32 - 10) * 5.0))
    patch = res.object[iy - 8:iy + 8, ix - 8:ix + 8]
    truth = obj[32:48, 32:48]
    c = np.vdot(patch, truth)
    err = np.linalg.norm(np.exp(1j * np.angle(c)) * patch - truth) / np.linalg.norm(truth)
    assert err < 0.05
    assert np.isclose(res.object_x_nm[1] - res.object_x_nm[0], 5.0)


def test_probe_update_recovers_from_defocused_nominal_probe():
    data, obj, probe, _ = dataset(noise=True)
    nominal = defocus_probe(probe, dz_nm=300.0, pixel_nm=5.0, wavelength_nm=data.wavelength_nm)
    d2 = dataclasses.replace(data, probe=nominal)
    cfg = PtychoConfig(iterations=60, bad_frames="off")
    fixed = reconstruct(d2, dataclasses.replace(cfg, probe_update=False))
    upd = reconstruct(d2, cfg)
    e_fixed = nrmse(fixed.object, obj, INTERIOR, "complex")
    e_upd = nrmse(upd.object, obj, INTERIOR, "complex")
    assert e_upd < 0.06
    assert e_upd < 0.5 * e_fixed


def test_shared_probe_pair():
    d1, o1, probe, _ = dataset(seed=1, noise=True)
    d2, o2, _, _ = dataset(seed=2, noise=True, probe=probe)
    nominal = defocus_probe(probe, dz_nm=300.0, pixel_nm=5.0, wavelength_nm=d1.wavelength_nm)
    d1, d2 = (dataclasses.replace(d, probe=nominal) for d in (d1, d2))
    r1, r2 = reconstruct_shared([d1, d2], PtychoConfig(iterations=40, bad_frames="off"))
    np.testing.assert_array_equal(r1.probe, r2.probe)
    assert nrmse(r1.object, o1, INTERIOR, "complex") < 0.08
    assert nrmse(r2.object, o2, INTERIOR, "complex") < 0.08


def test_fixed_and_random_order_reach_same_quality():
    data, obj, _, _ = dataset(noise=False)
    errs = []
    for order in ("fixed", "random"):
        res = reconstruct(data, PtychoConfig(iterations=40, probe_update=False, bad_frames="off",
                                             set_order=order), rng=np.random.default_rng(3))
        errs.append(nrmse(res.object, obj, INTERIOR))
    assert max(errs) < 0.05


def test_config_rejects_bad_values():
    from synthvec.errors import ConfigError

    with pytest.raises(ConfigError, match="alpha"):
        PtychoConfig(alpha=0.0)
    with pytest.raises(ConfigError, match="probe_update_start"):
        PtychoConfig(iterations=2, probe_update_start=5)


def test_subpixel_positions_are_modelled():
    """Frames made with the probe at fractional positions: modelling the fraction helps."""
    from synthvec.invert.ptycho.rpie import shift_kernels

    data, obj, probe, corners = dataset(seed=5, noise=False)
    frac = np.random.default_rng(9).uniform(-0.5, 0.5, size=(len(corners), 2))
    shifted = np.fft.ifft2(np.fft.fft2(probe)[None] * shift_kernels(frac, probe.shape))
    patches = np.stack([obj[r:r + 32, c:c + 32] for r, c in corners])
    frames = np.fft.fftshift(np.abs(np.fft.fft2(shifted * patches, norm="ortho")) ** 2,
                             axes=(-2, -1)).astype(np.float32)
    d = dataclasses.replace(data, frames=frames, positions_px=data.positions_px + frac)
    cfg = PtychoConfig(iterations=40, probe_update=False, bad_frames="off",
                       subpixel_positions=True)
    exact = reconstruct(d, cfg)
    rounded = reconstruct(d, dataclasses.replace(cfg, subpixel_positions=False))
    e_exact = nrmse(exact.object, obj, INTERIOR)
    e_round = nrmse(rounded.object, obj, INTERIOR)
    assert e_exact < 0.03
    assert e_exact < 0.5 * e_round


def test_shift_kernel_moves_a_probe_by_whole_pixels():
    from synthvec.invert.ptycho.rpie import shift_kernels

    p = np.zeros((16, 16), complex)
    p[5, 7] = 1.0
    moved = np.fft.ifft2(np.fft.fft2(p) * shift_kernels(np.array([[2.0, -3.0]]), p.shape)[0])
    assert np.unravel_index(np.argmax(np.abs(moved)), p.shape) == (7, 4)


@pytest.mark.parametrize("shape", [(3, 16, 16), (16, 8), (2, 12, 10)])
def test_engine_fft_is_scipy_ortho_fft(shape):
    from synthvec.invert.ptycho.rpie import fft2

    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    np.testing.assert_allclose(fft2(x), np.fft.fft2(x, norm="ortho"), atol=1e-5)
    np.testing.assert_allclose(fft2(x, forward=False), np.fft.ifft2(x, norm="ortho"), atol=1e-5)
    assert fft2(x).dtype == np.complex64
    xs = x[..., ::2]            # non-contiguous input goes through scipy.fft
    np.testing.assert_allclose(fft2(xs), np.fft.fft2(xs, norm="ortho"), atol=1e-5)


def test_position_refinement_recovers_position_errors():
    """Frames recorded at positions off the nominal ones by ~0.6 px rms: refinement finds
    the offsets (up to their common mean) and improves the object."""
    from synthvec.invert.ptycho.rpie import shift_kernels

    data, obj, probe, corners = dataset(seed=6, noise=False)
    err = np.clip(np.random.default_rng(4).normal(0.0, 0.6, size=(len(corners), 2)), -1.2, 1.2)
    shifted = np.fft.ifft2(np.fft.fft2(probe)[None] * shift_kernels(err, probe.shape))
    patches = np.stack([obj[r:r + 32, c:c + 32] for r, c in corners])
    frames = np.fft.fftshift(np.abs(np.fft.fft2(shifted * patches, norm="ortho")) ** 2,
                             axes=(-2, -1)).astype(np.float32)
    d = dataclasses.replace(data, frames=frames)          # nominal = whole-pixel positions
    cfg = PtychoConfig(iterations=60, probe_update=False, bad_frames="off")
    plain = reconstruct(d, cfg)
    refined = reconstruct(d, dataclasses.replace(cfg, position_refinement=True,
                                                 position_refinement_start=5))
    found = refined.positions_px - data.positions_px
    resid = (found - found.mean(0)) - (err - err.mean(0))
    assert np.sqrt(np.mean(resid ** 2)) < 0.4 * np.sqrt(np.mean((err - err.mean(0)) ** 2))
    assert nrmse(refined.object, obj, INTERIOR) < 0.7 * nrmse(plain.object, obj, INTERIOR)


def test_concurrent_reconstructions_compute_the_same(monkeypatch):
    """The pipeline runs scans as Dask thread tasks: two rpie calls at once (each then takes
    n_threads() // 2 compiled-sweep threads) give what each gives alone."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("SYNTHVEC_THREADS", "2")
    cfg = PtychoConfig(iterations=6, probe_update_start=2, bad_frames="off")
    datas = [dataset(seed=s, noise=True)[0] for s in (11, 12)]
    alone = [reconstruct(d, cfg) for d in datas]
    with ThreadPoolExecutor(max_workers=2) as ex:
        both = list(ex.map(lambda d: reconstruct(d, cfg), datas))
    for a, b in zip(alone, both):
        np.testing.assert_array_equal(a.object, b.object)
        np.testing.assert_array_equal(a.probe, b.probe)
        np.testing.assert_array_equal(a.error, b.error)
