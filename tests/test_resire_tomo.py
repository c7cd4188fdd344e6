"""RESIRE: convergence on exact projections, constraints, half sets, the paper's projector pair."""

import numpy as np
import pytest

from synthvec.invert.tomo import TomoConfig, halfset_reconstructions, reconstruct_scalar
from synthvec.invert.tomo.resire import resire
from tests.test_tomo_support import (blob_projections, blob_volume, paper_angles, projection_set,
                                     random_blobs)

N = 32


@pytest.fixture(scope="module")
def phantom():
    ang = paper_angles(16)
    blobs = random_blobs(np.random.default_rng(11), N, 5)
    return blob_volume(blobs, N), blob_projections(blobs, N, ang), ang


def nrmse(x, ref):
    return np.linalg.norm(x - ref) / np.linalg.norm(ref)


@pytest.mark.parametrize("accel,iters,target", [("nesterov", 60, 0.08), ("none", 60, 0.15)])
def test_resire_converges_to_truth(phantom, accel, iters, target):
    vol, b, ang = phantom
    cfg = TomoConfig(iterations=iters, acceleration=accel, step=1.0 if accel == "nesterov" else 1.9,
                     refine_every=0)
    res = resire(b, ang[:, 0], ang[:, 1], cfg, threads=1)
    assert nrmse(res.volume, vol) <= target
    r1 = np.asarray(res.r1)
    assert r1[0] == pytest.approx(1.0)  # from zeros, R1 starts at sum|b| / sum|b|
    assert r1[-1] < 0.1 * r1[0]
    assert res.volume.min() >= 0  # positivity


def test_support_is_enforced(phantom):
    vol, b, ang = phantom
    support = np.zeros_like(vol, bool)
    support[4:-4, 4:-4, 4:-4] = True
    res = resire(b, ang[:, 0], ang[:, 1], TomoConfig(iterations=5, refine_every=0),
                 support=support, threads=1)
    assert np.all(res.volume[~support] == 0)
    assert np.any(res.volume[support] > 0)


def test_paper_projector_pair_converges(phantom):
    vol, b, ang = phantom
    cfg = TomoConfig(iterations=40, projector="fourier", refine_every=0)
    res = resire(b, ang[:, 0], ang[:, 1], cfg, threads=1)
    assert nrmse(res.volume, vol) <= 0.15


def test_reconstruct_scalar_dataset_contract(phantom):
    vol, b, ang = phantom
    ds = reconstruct_scalar(projection_set(b, ang, pitch_nm=4.0), TomoConfig(iterations=40))
    assert ds["density"].dims == ("z", "y", "x") and ds["density"].shape == (N,) * 3
    assert ds.attrs["voxel_nm"] == 4.0 and ds["x"].attrs["units"] == "nm"
    np.testing.assert_allclose(ds["x"].values, (np.arange(N) - (N - 1) / 2) * 4.0)
    # values per nm: the projection set holds line integrals in nm of vol / 1 voxel
    assert nrmse(ds["density"].values, vol) <= 0.1
    assert ds["r1"].dims == ("iteration",) and ds.sizes["iteration"] == 40
    assert np.max(np.abs(ds["shift_u_px"].values)) < 0.25
    for v in ("shift_v_px", "phi_refined_deg", "theta_refined_deg"):
        assert ds[v].dims == ("angle",)


def test_series_registration_keeps_aligned_data_aligned(phantom):
    vol, b, ang = phantom
    ds = reconstruct_scalar(projection_set(b, ang),
                            TomoConfig(iterations=30, register_series="translation"))
    assert np.max(np.abs(ds["shift_u_px"].values)) < 0.25
    assert np.max(np.abs(ds["shift_v_px"].values)) < 0.25
    np.testing.assert_array_equal(ds["phi_refined_deg"].values, ang[:, 0])
    assert nrmse(ds["density"].values, vol) <= 0.08


def test_halfsets_use_alternate_projections(phantom):
    vol, b, ang = phantom
    even, odd = halfset_reconstructions(projection_set(b, ang), TomoConfig(iterations=30))
    np.testing.assert_array_equal(even["angle_index"].values, np.arange(0, len(b), 2))
    np.testing.assert_array_equal(odd["angle_index"].values, np.arange(1, len(b), 2))
    a, c = even["density"].values, odd["density"].values
    assert not np.allclose(a, c)  # independent reconstructions
    assert nrmse(a, c) < 0.2


def _fsc(a, b):
    """Fourier shell correlation on integer shells 1 .. n/2 (independent test implementation)."""
    n = a.shape[0]
    fa, fb = np.fft.fftn(a), np.fft.fftn(b)
    k = np.fft.fftfreq(n)
    kz, ky, kx = np.meshgrid(k, k, k, indexing="ij")
    shell = np.round(np.sqrt(kx ** 2 + ky ** 2 + kz ** 2) * n).astype(int)
    out = []
    for s in range(1, n // 2 + 1):
        m = shell == s
        out.append(np.real((fa[m] * fb[m].conj()).sum())
                   / np.sqrt((abs(fa[m]) ** 2).sum() * (abs(fb[m]) ** 2).sum()))
    return np.array(out)


def _resolution_shell(curve, cut=0.143):
    below = np.nonzero(curve < cut)[0]
    return len(curve) if below.size == 0 else int(below[0])


def test_halfset_fsc_reaches_nyquist_and_drops_with_noise():
    """Paper fig. S4A: noise-free half sets agree to Nyquist (0.143); noise lowers it."""
    from tests.test_tomo_support import spread_blobs

    ang = paper_angles(16)
    rng = np.random.default_rng(11)
    blobs = random_blobs(rng, N, 5) + spread_blobs(rng, N, 10)
    b = blob_projections(blobs, N, ang)
    shells, res_nm = [], []
    for noise in (0.0, 0.05):
        bn = b + noise * b.max() * np.random.default_rng(1).standard_normal(b.shape)
        even, odd = halfset_reconstructions(projection_set(bn, ang), TomoConfig(iterations=60))
        a, c = even["density"].values, odd["density"].values
        shells.append(_resolution_shell(_fsc(a, c)))
        try:  # the analysis stage's FSC, where it exists
            from synthvec.analysis.fsc import fsc, fsc_resolution
        except ImportError:  # pragma: no cover
            continue
        res_nm.append(fsc_resolution(fsc(a, c, voxel_nm=5.0), 0.143))
    assert shells[0] == N // 2  # Nyquist
    assert shells[1] < N // 2 - 4
    if res_nm:
        assert res_nm[0] == pytest.approx(2 * 5.0)  # Nyquist: two voxels
        assert res_nm[1] > 1.3 * res_nm[0]


def test_config_rejects_bad_values():
    from synthvec.errors import ConfigError

    with pytest.raises(ConfigError, match="interp_order"):
        TomoConfig(interp_order=2)
    with pytest.raises(ConfigError, match="step"):
        TomoConfig(step=1.5)  # Nesterov needs t <= 1
    assert TomoConfig(step=1.5, acceleration="none").step == 1.5
    with pytest.raises(ConfigError, match="projector"):
        TomoConfig(projector="astra")
