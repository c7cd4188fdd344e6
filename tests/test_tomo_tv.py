"""Total-variation term of RESIRE and the shift-consistency rule of its refinement."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthvec.geometry import rotation
from synthvec.invert.tomo import TomoConfig
from synthvec.invert.tomo.regularize import tv_gradient, tv_scales, tv_value
from synthvec.invert.tomo.resire import consistent_shifts, resire
from tests.test_tomo_support import paper_angles

N = 32


def _spheres(rng, n, count=6):
    """Uniform spheres (centre (3,) xyz, radius, density) in voxel units, inside radius 0.4 n."""
    out = []
    for _ in range(count):
        r = rng.uniform(0.08, 0.16) * n
        c = rng.uniform(-1, 1, 3)
        c = c / np.linalg.norm(c) * rng.uniform(0, 0.4 * n - r)
        out.append((c, r, rng.uniform(0.4, 1.0)))
    return out


def _sphere_volume(spheres, n, ss=3):
    """Voxel averages over ss^3 sub-samples, (n, n, n) (z, y, x)."""
    ax = np.arange(n) - (n - 1) / 2
    sub = (np.arange(ss) + 0.5) / ss - 0.5
    vol = np.zeros((n, n, n))
    for dz in sub:
        for dy in sub:
            for dx in sub:
                z, y, x = np.meshgrid(ax + dz, ax + dy, ax + dx, indexing="ij")
                for c, r, rho in spheres:
                    vol += rho * ((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= r * r)
    return vol / ss ** 3


def _sphere_projections(spheres, n, angles, ss=2):
    """Exact chord lengths, averaged over ss x ss sub-pixels, (N, n, n) (angle, v, u)."""
    ax = np.arange(n) - (n - 1) / 2
    sub = (np.arange(ss) + 0.5) / ss - 0.5
    out = np.zeros((len(angles), n, n))
    for i, (p, t) in enumerate(angles):
        rot = rotation(p, t)
        for dv in sub:
            for du in sub:
                v, u = np.meshgrid(ax + dv, ax + du, indexing="ij")
                for c, r, rho in spheres:
                    cr = rot @ c
                    out[i] += 2 * rho * np.sqrt(np.clip(r * r - (u - cr[0]) ** 2
                                                        - (v - cr[1]) ** 2, 0, None))
    return out / ss ** 2


@pytest.fixture(scope="module")
def spheres():
    ang = paper_angles(16)
    sph = _spheres(np.random.default_rng(3), N)
    return _sphere_volume(sph, N), _sphere_projections(sph, N, ang), ang


def nrmse(x, ref):
    return np.linalg.norm(x - ref) / np.linalg.norm(ref)


def test_tv_of_a_step_is_its_jump_area():
    """A jump h across a plane x = const: sqrt(h^2 + eps^2) on the plane's voxels, eps elsewhere."""
    nz, ny, nx, h, eps = 4, 5, 6, 2.0, 0.1
    x = np.zeros((nz, ny, nx))
    x[:, :, 3:] = h
    want = nz * ny * np.sqrt(h * h + eps * eps) + (x.size - nz * ny) * eps
    assert tv_value(x, eps) == pytest.approx(want, rel=1e-12)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2 ** 31), eps=st.floats(0.05, 1.0))
def test_tv_gradient_matches_central_differences(seed, eps):
    x = np.random.default_rng(seed).random((4, 5, 3))
    g = tv_gradient(x, eps)
    h, num = 1e-6, np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = h
        num[i] = (tv_value(x + d, eps) - tv_value(x - d, eps)) / (2 * h)
    np.testing.assert_allclose(g, num, atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2 ** 31), s=st.floats(0.01, 100.0))
def test_tv_gradient_and_scales_follow_the_units(seed, s):
    """Multiplying the density by s scales eps and mu by s and leaves the gradient unchanged."""
    x = np.random.default_rng(seed).random((6, 6, 6))
    np.testing.assert_allclose(tv_gradient(s * x, 0.1 * s), tv_gradient(x, 0.1), rtol=1e-9,
                               atol=1e-12)
    mu, eps = tv_scales(x, 1e-3, 0.01, lipschitz_data=100.0)
    mu_s, eps_s = tv_scales(s * x, 1e-3, 0.01, lipschitz_data=100.0)
    assert mu_s == pytest.approx(s * mu) and eps_s == pytest.approx(s * eps)
    assert tv_gradient(np.full((5, 5, 5), 3.0), 0.1).max() == 0.0
    assert tv_scales(np.zeros((4, 4, 4)), 1e-3, 0.01, lipschitz_data=1.0) == (0.0, 0.0)


def test_resire_with_tv_is_equivariant_to_the_data_scale(spheres):
    _, b, ang = spheres
    cfg = TomoConfig(iterations=20, refine_every=0, precision="float64")
    a = resire(b, ang[:, 0], ang[:, 1], cfg, threads=1).volume
    c = resire(7.0 * b, ang[:, 0], ang[:, 1], cfg, threads=1).volume
    assert nrmse(c, 7.0 * a) < 1e-9


def test_tv_lowers_the_error_of_sharp_spheres_at_limited_tilt():
    """Exact chord projections at +-62 deg, three phantoms: the default TV beats plain RESIRE."""
    ang = paper_angles(16)
    err = {0.0: 0.0, 2.5e-4: 0.0}
    for seed in (3, 4, 5):
        sph = _spheres(np.random.default_rng(seed), N)
        vol, b = _sphere_volume(sph, N), _sphere_projections(sph, N, ang)
        for tv in err:
            cfg = TomoConfig(iterations=60, refine_every=0, tv_weight=tv)
            err[tv] += nrmse(resire(b, ang[:, 0], ang[:, 1], cfg, threads=1).volume, vol)
    assert TomoConfig().tv_weight == 2.5e-4
    assert err[2.5e-4] < 0.88 * err[0.0]


def test_consistent_shifts_known_answers():
    first, pend = consistent_shifts(np.array([[0.2, -1.0]]), None)
    np.testing.assert_array_equal(first, 0.0)  # one measurement alone moves nothing
    # a shrinking transient moves by what both measurements agree on; a persisting shift fully;
    # a sign flip not at all
    got, rest = consistent_shifts(np.array([[0.08, -1.0]]), pend)
    np.testing.assert_allclose(got, [[0.08, -1.0]])
    np.testing.assert_allclose(rest, [[0.0, 0.0]])
    got, rest = consistent_shifts(np.array([[-0.05, 0.3]]), np.array([[0.1, 0.2]]))
    np.testing.assert_allclose(got, [[0.0, 0.2]])
    np.testing.assert_allclose(rest, [[-0.05, 0.1]])


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2 ** 31))
def test_consistent_shifts_never_exceed_either_measurement(seed):
    rng = np.random.default_rng(seed)
    m, p = rng.normal(size=(7, 2)), rng.normal(size=(7, 2))
    got, rest = consistent_shifts(m, p)
    assert np.all(np.abs(got) <= np.minimum(np.abs(m), np.abs(p)) + 1e-15)
    assert np.all(got * m >= 0)
    np.testing.assert_allclose(got + rest, m)


def test_refinement_keeps_exact_data_in_place(spheres):
    """Exact, aligned projections: projection matching must not invent shifts."""
    _, b, ang = spheres
    res = resire(b, ang[:, 0], ang[:, 1], TomoConfig(iterations=60, refine_every=10), threads=1)
    assert np.max(np.abs(res.shifts_px)) < 0.1
