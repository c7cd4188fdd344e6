"""End-to-end scan simulation on small synthetic volumes."""

import dataclasses

import numpy as np
import pytest

from synthvec.forward import SimulateConfig, projection_error_report, read_cxi, simulate_experiment
from synthvec.forward.config import DetectorConfig, OpticsConfig
from synthvec.geometry import GeometryConfig
from synthvec.io import field_dataset

VOX = 2.5


def small_truth(shape=(24, 48, 48)):
    """A nickel slab with two silica spheres and a uniform magnetization (0, 0.6, 0.8)."""
    nz, ny, nx = shape
    z, y, x = np.meshgrid(*[(np.arange(n) - (n - 1) / 2) * VOX for n in shape], indexing="ij")
    mat = np.full(shape, 2, np.int8)
    for cx in (-28.0, 28.0):
        mat[(x - cx) ** 2 + y ** 2 + z ** 2 <= 25.0 ** 2] = 1
    m = np.zeros((3,) + shape, np.float32)
    m[1][mat == 2] = 0.6
    m[2][mat == 2] = 0.8
    ds = field_dataset(m, voxel_nm=VOX, mask=mat == 2)
    ds["material"] = (("z", "y", "x"), mat)
    return ds


GEO = GeometryConfig(phis_deg=(0.0,), tilt_min_deg=0.0, tilt_max_deg=60.0, tilt_step_deg=60.0)


def config(**det):
    return SimulateConfig(detector=DetectorConfig(n_pixels=32, **det))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("scans")
    df = simulate_experiment(small_truth(), GEO, config(corrupt_rate=0.2), out,
                             rng=np.random.default_rng(7), recon_voxel_nm=5.0)
    return df, out


def test_one_file_per_scan_and_index(run):
    df, out = run
    assert len(df) == 4 and sorted(set(df.helicity)) == [-1, 1]
    for col in ("series", "phi_deg", "theta_deg", "helicity", "path", "n_frames", "n_corrupt"):
        assert col in df
    for row in df.itertuples():
        rec = read_cxi(row.path)
        assert rec.data.shape == (row.n_frames, 32, 32)
        assert rec.helicity == row.helicity and rec.theta_deg == row.theta_deg
        assert len(rec.truth["corrupt_frames"]) == row.n_corrupt
    assert len(list(out.glob("*.cxi"))) == 4


def test_more_frames_at_high_tilt(run):
    df, _ = run
    # the footprint of a 60 nm thick slab widens in v at 60 deg
    assert df[df.theta_deg == 60].n_frames.min() >= df[df.theta_deg == 0].n_frames.max()


def test_nominal_probe_is_not_the_true_probe(run):
    rec = read_cxi(run[0].path[0])
    true = rec.truth["true_probe"][0]
    nominal = rec.probe
    corr = abs(np.vdot(true, nominal)) / (np.linalg.norm(true) * np.linalg.norm(nominal))
    assert corr < 0.98
    # the nominal flux is what the experimenter assumed; the true one is 10 % higher
    assert np.sum(np.abs(true) ** 2) == pytest.approx(1.1 * np.sum(np.abs(nominal) ** 2), rel=1e-3)


def test_positions_truth_vs_nominal(run):
    for path in run[0].path:
        rec = read_cxi(path)
        nominal = rec.translation_m[:, :2] * 1e9
        true = rec.truth["true_translation"][:, :2] * 1e9
        shift = rec.truth["sample_shift_nm"]
        resid = nominal - true - shift
        # position error 3 nm rms + quantisation to the 2.5 nm simulation grid
        assert 0.5 < np.sqrt(np.mean(resid ** 2)) < 6.0


def test_corrupt_frames_are_where_truth_says(tmp_path):
    kw = dict(rng_seed=11)
    clean = simulate_experiment(small_truth(), GEO, config(corrupt_rate=0.0), tmp_path / "a",
                                rng=np.random.default_rng(kw["rng_seed"]), recon_voxel_nm=5.0)
    bad = simulate_experiment(small_truth(), GEO, config(corrupt_rate=0.3), tmp_path / "b",
                              rng=np.random.default_rng(kw["rng_seed"]), recon_voxel_nm=5.0)
    assert bad.n_corrupt.sum() > 0
    for p_clean, p_bad in zip(clean.path, bad.path):
        a, b = read_cxi(p_clean).data, read_cxi(p_bad)
        differs = np.flatnonzero(np.any(a != b.data, axis=(1, 2)))
        np.testing.assert_array_equal(differs, b.truth["corrupt_frames"])


def test_frame_totals_follow_the_dose(tmp_path):
    # a transparent object (all optical constants zero): every frame holds the true flux
    opt = OpticsConfig(ni_delta=0, ni_beta=0, ni_delta_mag=0, ni_beta_mag=0, sio2_delta=0,
                       sio2_beta=0)
    cfg = dataclasses.replace(config(corrupt_rate=0.0, background_counts=0.0,
                                     readout_noise_counts=0.0, photons_per_frame=1e5),
                              optics=opt)
    df = simulate_experiment(small_truth(), GEO, cfg, tmp_path, rng=np.random.default_rng(3),
                             recon_voxel_nm=5.0)
    totals = np.concatenate([read_cxi(p).data.sum(axis=(1, 2)) for p in df.path])
    expected = 1e5 * 1.1
    assert totals.mean() == pytest.approx(expected, rel=0.01)
    assert totals.std() < 3 * np.sqrt(expected)


def test_projection_error_report_keys():
    rep = projection_error_report(small_truth(), GEO, config(), tilts_deg=(0.0, 62.0))
    for t in ("0", "62"):
        for k in ("exit_wave_rel_err", "od_rel_err", "xmcd_rel_err"):
            value = rep[f"{k}_tilt{t}deg"]
            assert 0.0 <= value < 0.5


def test_multislice_frames_close_to_projection_frames(tmp_path):
    # a thin weak object: both propagation models give nearly the same expected patterns
    geo = GeometryConfig(phis_deg=(0.0,), tilt_min_deg=0.0, tilt_max_deg=0.0)
    base = config(corrupt_rate=0.0, background_counts=0.0, readout_noise_counts=0.0,
                  photons_per_frame=1e9)
    truth = small_truth(shape=(4, 48, 48))
    out = {}
    for prop in ("projection", "multislice"):
        cfg = dataclasses.replace(base, propagation=prop, multislice_slab_nm=2.5)
        df = simulate_experiment(truth, geo, cfg, tmp_path / prop, rng=np.random.default_rng(5),
                                 recon_voxel_nm=5.0)
        out[prop] = read_cxi(df.path[0]).data
    a, b = out["projection"], out["multislice"]
    assert np.linalg.norm(a - b) / np.linalg.norm(a) < 0.01


def test_projection_error_vanishes_for_thin_object_and_grows_with_thickness():
    geo = GeometryConfig(phis_deg=(0.0,))
    thin = projection_error_report(small_truth(shape=(2, 48, 48)), geo, config(),
                                   tilts_deg=(0.0,))
    thick = projection_error_report(small_truth(shape=(40, 48, 48)), geo, config(),
                                    tilts_deg=(0.0,))
    assert thin["od_rel_err_tilt0deg"] < 0.01
    assert thick["od_rel_err_tilt0deg"] > 3 * thin["od_rel_err_tilt0deg"]


def test_projection_frames_match_a_slow_reference():
    """Frames chunked in one buffer, probe transfer functions by recurrence, the detector ramp
    folded into the probe and the pruned FFT: equal (float32 rounding) to the plain recipe of
    the test: each frame's window times each mode propagated to its depth bin, full 2D FFT,
    shift, centre crop, mode-weighted sum."""
    from synthvec.forward.optics import transmission, wavelength_nm
    from synthvec.forward.probe import probe_modes
    from synthvec.forward.propagate import propagate
    from synthvec.forward.scan import mid_plane_depth_nm
    from synthvec.forward.simulate import BeamModel, _projection_frames, project_tilt
    from synthvec.forward.config import ProbeConfig

    for os_, n_modes in ((2, 2), (1, 1)):
        n = 16
        cfg = SimulateConfig(oversample=os_, detector=DetectorConfig(n_pixels=n),
                             probe=ProbeConfig(n_modes=n_modes, defocus_bin_nm=25.0,
                                               defocus_um=0.5))
        n_f, pf = n * os_, 5.0 / os_
        lam = wavelength_nm(cfg.energy_ev)
        modes, weights = probe_modes(n_f, pf, n_modes=n_modes, source_sigma_nm=5.0,
                                     rng=np.random.default_rng(1), wavelength_nm=lam,
                                     outer_zone_nm=45.0, central_stop_fraction=0.4,
                                     defocus_nm=500.0, astigmatism_rad=0.3)
        beam = BeamModel(nominal_fine=modes[0], true_fine=modes, weights=weights,
                         true_defocus_nm=500.0, nominal_coarse=None, true_coarse=None)
        proj = project_tilt(small_truth((12, 32, 32)), phi_deg=30.0, theta_deg=55.0,
                            pixel_nm=pf)
        rng = np.random.default_rng(2)
        j = np.stack([rng.integers(proj.v0, proj.v0 + proj.integrals.shape[0], 23),
                      rng.integers(proj.u0, proj.u0 + proj.integrals.shape[1], 23)], axis=1)
        depth = mid_plane_depth_nm(j * pf, proj.rotation)
        bins = np.rint(depth / 25.0)
        assert len(np.unique(bins)) >= 3
        j_lo, j_hi = j.min(axis=0) - n_f // 2, j.max(axis=0) + n_f // 2
        fast = _projection_frames(proj, beam, cfg, j, j_lo, j_hi, depth, helicity=-1,
                                  scale=1e6, chunk=4)
        # the test's own transmission grid and frames
        grid = np.ones(tuple(j_hi - j_lo), complex)
        t = transmission(*np.moveaxis(proj.integrals.astype(float), -1, 0), optics=cfg.optics,
                         energy_ev=cfg.energy_ev, helicity=-1)
        r, c = proj.v0 - j_lo[0], proj.u0 - j_lo[1]
        rr, cc = np.meshgrid(np.arange(t.shape[0]) + r, np.arange(t.shape[1]) + c,
                             indexing="ij")
        inside = (rr >= 0) & (rr < grid.shape[0]) & (cc >= 0) & (cc < grid.shape[1])
        grid[rr[inside], cc[inside]] = t[inside]
        slow = np.zeros((len(j), n, n))
        for i, (jv, ju) in enumerate(j):
            win = grid[jv - n_f // 2 - j_lo[0]:, ju - n_f // 2 - j_lo[1]:][:n_f, :n_f]
            for m in range(n_modes):
                p = propagate(modes[m], bins[i] * 25.0, pixel_nm=pf, wavelength_nm=lam)
                far = np.fft.fftshift(np.fft.fft2(win * p, norm="ortho"))
                crop = far[n_f // 2 - n // 2:n_f // 2 + n // 2, n_f // 2 - n // 2:n_f // 2 + n // 2]
                slow[i] += 1e6 * weights[m] * np.abs(crop) ** 2
        assert fast.shape == slow.shape and fast.dtype == np.float64
        np.testing.assert_allclose(fast, slow, rtol=0, atol=2e-5 * slow.max())
