"""Far-field intensities, probe downsampling, Poisson statistics and corrupt frames."""

import numpy as np
import pytest

from synthvec.forward.detector import coarse_probe, far_field_intensity, record_frames
from synthvec.forward.scan import draw_corrupt_frames, mid_plane_depth_nm, raster_positions
from synthvec.geometry import rotation


def slow_far_field(psi, n):
    """Full 2D FFT, shift, crop the centre: the test's own implementation."""
    nf = psi.shape[-1]
    full = np.fft.fftshift(np.fft.fft2(psi, norm="ortho"), axes=(-2, -1))
    c = nf // 2
    return np.abs(full[..., c - n // 2:c + n // 2, c - n // 2:c + n // 2]) ** 2


@pytest.mark.parametrize("nf, n", [(128, 64), (64, 64), (96, 32)])
def test_pruned_far_field_equals_full_fft_crop(nf, n):
    rng = np.random.default_rng(0)
    psi = rng.normal(size=(3, nf, nf)) + 1j * rng.normal(size=(3, nf, nf))
    np.testing.assert_allclose(far_field_intensity(psi, n), slow_far_field(psi, n), rtol=1e-10)


def test_band_limited_wave_keeps_all_photons_and_coarse_probe_matches():
    rng = np.random.default_rng(1)
    n, nf = 32, 64
    spec = np.zeros((nf, nf), complex)
    k = np.r_[0:10, nf - 10:nf]
    spec[np.ix_(k, k)] = rng.normal(size=(20, 20)) + 1j * rng.normal(size=(20, 20))
    fine = np.fft.fftshift(np.fft.ifft2(spec, norm="ortho"))
    assert far_field_intensity(fine, n).sum() == pytest.approx(np.sum(np.abs(fine) ** 2))
    small = coarse_probe(fine, n)
    # the coarse probe reproduces the detector's view, and samples the same field
    model = np.abs(np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(small), norm="ortho"))) ** 2
    np.testing.assert_allclose(model, far_field_intensity(np.fft.ifftshift(fine), n), atol=1e-10)
    np.testing.assert_allclose(small, fine[::2, ::2] * 2, atol=1e-10)


def test_frame_totals_follow_poisson_statistics():
    rng = np.random.default_rng(2)
    n_frames, n = 400, 16
    clean = np.full((n_frames, n, n), 2.0)
    clean[:, 8, 8] = 500.0
    data = record_frames(clean, rng=np.random.default_rng(3), background=0.0, readout_noise=0.0,
                         saturation=None, flux_factor=np.ones(n_frames),
                         readout_fault=np.zeros((n_frames, 2), int), readout_fault_counts=0.0,
                         fault_rng=np.random.default_rng(4))
    totals = data.sum(axis=(1, 2))
    mean = clean[0].sum()
    se = np.sqrt(mean / n_frames)
    assert abs(totals.mean() - mean) < 4 * se
    # variance equals the mean (dispersion index within its sampling error)
    assert totals.var(ddof=1) / mean == pytest.approx(1.0, abs=4 * np.sqrt(2 / n_frames))
    assert np.all(data == np.rint(data)) and data.dtype == np.float32
    del rng


def test_flux_drop_thinning_keeps_poisson_statistics():
    clean = np.full((300, 4, 4), 20.0)
    flux = np.full(300, 0.25)
    data = record_frames(clean, rng=np.random.default_rng(8), background=0.0, readout_noise=0.0,
                         saturation=None, flux_factor=flux, readout_fault=np.zeros((300, 2), int),
                         readout_fault_counts=0.0, fault_rng=np.random.default_rng(9))
    # binomial thinning of Poisson(20) by 1/4 is Poisson(5): mean = variance = 5
    assert data.mean() == pytest.approx(5.0, abs=0.15)
    assert data.var() == pytest.approx(5.0, rel=0.08)


def test_saturation_and_readout_fault():
    clean = np.full((2, 8, 8), 100.0)
    rows = np.array([[0, 0], [2, 5]])
    data = record_frames(clean, rng=np.random.default_rng(0), background=0.0, readout_noise=0.0,
                         saturation=150.0, flux_factor=np.ones(2), readout_fault=rows,
                         readout_fault_counts=1000.0, fault_rng=np.random.default_rng(1))
    assert data.max() == 150.0
    assert np.all(data[1, 2:5] == 150.0) and data[0].max() < 150.0


def test_corrupt_frames_leave_other_frames_identical():
    n_frames, n = 60, 16
    clean = np.random.default_rng(4).uniform(0, 50, (n_frames, n, n))
    index, kind, flux, rows = draw_corrupt_frames(n_frames, n, rate=0.2,
                                                  rng=np.random.default_rng(5))
    assert 3 <= index.size <= 25 and set(kind) <= {"readout", "flux"}
    kw = dict(background=0.1, readout_noise=0.5, saturation=None, readout_fault_counts=50.0)

    def run(fl, rw):
        return record_frames(clean, rng=np.random.default_rng(6), flux_factor=fl,
                             readout_fault=rw, fault_rng=np.random.default_rng(7), **kw)

    good = run(np.ones(n_frames), np.zeros((n_frames, 2), int))
    bad = run(flux, rows)
    differs = np.flatnonzero(np.any(good != bad, axis=(1, 2)))
    np.testing.assert_array_equal(differs, index)


def test_raster_covers_support_and_widens_with_tilt():
    pix = 2.5
    small = np.zeros((200, 200), bool)
    small[60:140, 60:140] = True                        # 200 nm square
    wide = np.zeros((200, 200), bool)
    wide[40:160, 60:140] = True                         # taller (tilted) footprint
    a = raster_positions(small, pixel_nm=pix, origin_index=(-100, -100), step_nm=40, margin_nm=20)
    b = raster_positions(wide, pixel_nm=pix, origin_index=(-100, -100), step_nm=40, margin_nm=20)
    assert len(b) > len(a)
    # every support pixel lies within half a diagonal step of a position
    vv, uu = (np.argwhere(small) - 100).T * pix
    d = np.min(np.hypot(vv[:, None] - a[None, :, 0], uu[:, None] - a[None, :, 1]), axis=1)
    assert d.max() <= 40 / np.sqrt(2) + 1e-9
    steps = np.diff(np.unique(a[:, 1]))
    np.testing.assert_allclose(steps, 40.0)


def test_mid_plane_depth_is_v_tan_theta():
    pos = np.array([[100.0, 30.0], [-50.0, 0.0]])
    np.testing.assert_allclose(mid_plane_depth_nm(pos, rotation(0.0, 62.0)),
                               pos[:, 0] * np.tan(np.deg2rad(62.0)))
    np.testing.assert_allclose(mid_plane_depth_nm(pos, rotation(120.0, 0.0)), 0.0, atol=1e-12)


def test_raster_margin_reaches_beyond_the_support_grid():
    """Margin positions are kept by their distance to the sample even when the support array
    ends at the sample's edge (fixed bug: positions off the array were dropped, so the margin
    had no effect and axis-aligned scans saw no free space)."""
    pix, step = 2.5, 40.0
    support = np.ones((40, 40), bool)                       # a 100 x 100 nm sample filling its grid
    inner = raster_positions(support, pixel_nm=pix, origin_index=(-20, -20), step_nm=step,
                             margin_nm=0.0)
    wide = raster_positions(support, pixel_nm=pix, origin_index=(-20, -20), step_nm=step,
                            margin_nm=40.0)
    lo, hi = -20 * pix, 19 * pix
    outside = ((wide < lo) | (wide > hi)).any(axis=1)
    assert outside.any() and len(wide) > len(inner)
    # every kept position lies within margin + step/2 of the sample's pixel-centre box
    d = np.hypot(np.clip(np.maximum(lo - wide, wide - hi), 0, None)[:, 0],
                 np.clip(np.maximum(lo - wide, wide - hi), 0, None)[:, 1])
    assert np.all(d <= 40.0 + step / 2 + 1e-9)


def _chi2_two_sample(a, b):
    """P-value that two integer samples share one distribution (contingency chi-square)."""
    from scipy import stats
    lo = min(a.min(), b.min())
    ca = np.bincount((a - lo).astype(int))
    cb = np.bincount((b - lo).astype(int), minlength=ca.size)
    ca = np.pad(ca, (0, cb.size - ca.size))
    keep = ca + cb > 0
    table = np.array([ca[keep], cb[keep]])
    # merge sparse cells (expected < 5) into their neighbours
    cols, acc = [], np.zeros(2)
    for c in table.T:
        acc = acc + c
        if acc.sum() >= 20:
            cols.append(acc)
            acc = np.zeros(2)
    if acc.sum():
        cols[-1] = cols[-1] + acc
    return stats.chi2_contingency(np.array(cols).T)[1]


@pytest.mark.parametrize("lam, sigma, sat", [(0.3, 0.5, None), (4.0, 1.2, None),
                                             (40.0, 0.5, 42.0), (2.0, 0.0, 3.0)])
def test_pixel_counts_follow_poisson_plus_rounded_gaussian(lam, sigma, sat):
    """Each pixel is rint(min(Poisson(lam + bg) + N(0, sigma^2), sat)): against the test's own
    law (Poisson pmf convolved with the normal's mass per unit cell, saturation lumped)."""
    from scipy import stats
    bg, n_frames, n = 0.05, 50, 64
    data = record_frames(np.full((n_frames, n, n), lam), rng=np.random.default_rng(12),
                         background=bg, readout_noise=sigma, saturation=sat,
                         flux_factor=np.ones(n_frames), readout_fault=np.zeros((n_frames, 2), int),
                         readout_fault_counts=0.0, fault_rng=np.random.default_rng(13))
    x = data.ravel().astype(np.int64)
    k = np.arange(0, int(lam + 20 * np.sqrt(lam) + 30))
    half = int(np.ceil(8 * sigma + 2))
    d = np.arange(-half, half + 1)
    nd = (stats.norm.cdf(-np.abs(d) + 0.5, scale=sigma) - stats.norm.cdf(-np.abs(d) - 0.5,
                                                                       scale=sigma)
          if sigma > 0 else (d == 0).astype(float))
    values = (k[:, None] + d[None, :]).ravel()
    probs = (stats.poisson.pmf(k, lam + bg)[:, None] * nd[None, :]).ravel()
    if sat is not None:
        values = np.minimum(values, int(np.rint(sat)))
    lo = values.min()
    pmf = np.bincount(values - lo, weights=probs)
    obs = np.bincount(x - lo, minlength=pmf.size)
    assert obs.size == pmf.size
    keep = pmf > 0
    assert obs[~keep].sum() == 0
    exp = pmf[keep] * x.size
    # merge cells with small expectations, then Pearson
    o_c, e_c, oa, ea = [], [], 0.0, 0.0
    for o, e in zip(obs[keep], exp):
        oa, ea = oa + o, ea + e
        if ea >= 5:
            o_c.append(oa)
            e_c.append(ea)
            oa = ea = 0.0
    o_c[-1] += oa
    e_c[-1] += ea
    e_c = np.array(e_c) * sum(o_c) / sum(e_c)
    assert stats.chisquare(o_c, e_c).pvalue > 1e-4


def test_readout_fault_rows_match_a_direct_simulation():
    """Faulty rows hold rint(min(k + e + c (1 + U), sat)) with a continuous Gaussian e: compared
    with that formula sampled directly by numpy (two-sample chi-square)."""
    lam, sigma, c, sat, n_frames, n = 3.0, 0.8, 0.7, 9.0, 400, 16
    rows = np.tile([0, n], (n_frames, 1))          # every row of every frame is faulty
    data = record_frames(np.full((n_frames, n, n), lam), rng=np.random.default_rng(20),
                         background=0.0, readout_noise=sigma, saturation=sat,
                         flux_factor=np.ones(n_frames), readout_fault=rows,
                         readout_fault_counts=c, fault_rng=np.random.default_rng(21))
    ref_rng = np.random.default_rng(22)
    size = data.size
    ref = np.rint(np.minimum(ref_rng.poisson(lam, size) + ref_rng.normal(0, sigma, size)
                             + c * (1 + ref_rng.random(size)), sat))
    assert _chi2_two_sample(data.ravel(), ref) > 1e-4
    assert data.mean() == pytest.approx(ref.mean(), abs=5 * ref.std() * np.sqrt(2 / size))


def test_flux_drop_with_readout_noise_is_thinned_photons_plus_noise():
    lam, f, sigma, n_frames = 20.0, 0.3, 0.6, 300
    data = record_frames(np.full((n_frames, 8, 8), lam), rng=np.random.default_rng(30),
                         background=0.0, readout_noise=sigma, saturation=None,
                         flux_factor=np.full(n_frames, f),
                         readout_fault=np.zeros((n_frames, 2), int), readout_fault_counts=0.0,
                         fault_rng=np.random.default_rng(31))
    ref_rng = np.random.default_rng(32)
    ref = np.rint(ref_rng.poisson(lam * f, data.size) + ref_rng.normal(0, sigma, data.size))
    assert _chi2_two_sample(data.ravel(), ref) > 1e-4


@pytest.mark.parametrize("nf, n", [(128, 64), (32, 32), (96, 32), (48, 16)])
def test_ramped_far_field_is_the_detector_corner(nf, n):
    """A wave times detector_ramp has the detector's DC-centred frequencies as its first N:
    the ramped path (no reordering) equals the plain one; overwrite_x may reuse the input."""
    from synthvec.forward.detector import detector_ramp
    rng = np.random.default_rng(nf + n)
    psi = (rng.normal(size=(4, nf, nf)) + 1j * rng.normal(size=(4, nf, nf)))
    ramp = detector_ramp(nf, n)
    assert np.allclose(np.abs(ramp), 1.0)
    ramped = (psi * ramp).astype(np.complex64)
    expect = slow_far_field(psi, n)
    np.testing.assert_allclose(far_field_intensity(ramped, n, ramped=True), expect,
                               rtol=0, atol=1e-5 * expect.max())
    scratch = psi.astype(np.complex64)
    got = far_field_intensity(scratch, n, overwrite_x=True)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expect, rtol=0, atol=1e-5 * expect.max())
