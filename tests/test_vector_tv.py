"""Vectorial total variation in vector tomography: value, gradient, off-switch, hedgehog recovery."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthvec.analysis import find_defects, lattice_charge
from synthvec.errors import ConfigError
from synthvec.geometry import beam_direction
from synthvec.invert.tomo import VectorConfig
from synthvec.invert.tomo.regularize import tv_gradient, tv_scales, tv_value
from synthvec.invert.tomo.resire import make_projector
from synthvec.invert.tomo.vector import vector_gd
from tests.test_tomo_support import paper_angles
from tests.test_vector_tomo import angular_error_deg, xmcd_projections


def _slow_vector_tv(m, eps, mask=None):
    """sum over voxels sqrt(sum_c sum_axes (forward difference)^2 + eps^2), loop by loop."""
    _, nz, ny, nx = m.shape
    inside = np.ones((nz, ny, nx), bool) if mask is None else mask
    total = 0.0
    for k in range(nz):
        for j in range(ny):
            for i in range(nx):
                s = eps * eps
                for dk, dj, di in ((1, 0, 0), (0, 1, 0), (0, 0, 1)):
                    k2, j2, i2 = k + dk, j + dj, i + di
                    if k2 < nz and j2 < ny and i2 < nx and inside[k, j, i] and inside[k2, j2, i2]:
                        s += float(np.sum((m[:, k2, j2, i2] - m[:, k, j, i]) ** 2))
                total += np.sqrt(s)
    return total


def test_vector_tv_of_linear_ramps_known_answer():
    """m_x = a i, m_y = b j: each voxel has |Dm|^2 = a^2 (if i < nx-1) + b^2 (if j < ny-1)."""
    nz, ny, nx, a, b, eps = 3, 4, 5, 0.7, -1.3, 0.2
    k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    m = np.stack([a * i, b * j, np.full(i.shape, 2.0)]).astype(float)
    want = 0.0
    for jj in range(ny):
        for ii in range(nx):
            want += nz * np.sqrt(a * a * (ii < nx - 1) + b * b * (jj < ny - 1) + eps * eps)
    assert tv_value(m, eps) == pytest.approx(want, rel=1e-12)
    # coupling: one square root per voxel, less than the sum of the per-component TVs
    assert tv_value(m, eps) < sum(tv_value(m[c], eps) for c in range(3))


def test_vector_tv_one_component_is_the_scalar_tv():
    x = np.random.default_rng(1).random((5, 4, 6))
    assert tv_value(x[None], 0.3) == pytest.approx(tv_value(x, 0.3), rel=1e-12)
    np.testing.assert_array_equal(tv_gradient(x[None], 0.3)[0], tv_gradient(x, 0.3))


def test_mask_drops_the_support_edge():
    """A field constant inside a mask and zero outside has no TV beyond eps per voxel."""
    mask = np.zeros((6, 6, 6), bool)
    mask[1:5, 2:5, 1:4] = True
    m = np.array([0.3, -0.5, 0.8])[:, None, None, None] * mask
    assert tv_value(m, 0.1, mask=mask) == pytest.approx(m[0].size * 0.1, rel=1e-12)
    assert np.max(np.abs(tv_gradient(m, 0.1, mask=mask))) == 0.0
    assert tv_value(m, 0.1) > tv_value(m, 0.1, mask=mask)  # without the mask the edge counts


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2 ** 31), eps=st.floats(0.05, 1.0), masked=st.booleans())
def test_vector_tv_value_and_gradient_against_slow_loops(seed, eps, masked):
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(3, 4, 3, 5))
    mask = rng.random((4, 3, 5)) < 0.7 if masked else None
    assert tv_value(m, eps, mask=mask) == pytest.approx(_slow_vector_tv(m, eps, mask), rel=1e-12)
    g = tv_gradient(m, eps, mask=mask)
    h, num = 1e-6, np.zeros_like(m)
    for idx in np.ndindex(m.shape):
        d = np.zeros_like(m)
        d[idx] = h
        num[idx] = (_slow_vector_tv(m + d, eps, mask) - _slow_vector_tv(m - d, eps, mask)) / (2 * h)
    np.testing.assert_allclose(g, num, atol=1e-6)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2 ** 31), eps=st.floats(0.05, 1.0))
def test_vector_tv_gradient_is_lipschitz_within_12_over_eps(seed, eps):
    """||grad TV(a) - grad TV(b)|| <= 12 / eps ||a - b|| (the bound the step is shrunk by)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(3, 5, 5, 5))
    b = a + rng.normal(scale=0.05, size=a.shape)
    lhs = np.linalg.norm(tv_gradient(a, eps) - tv_gradient(b, eps))
    assert lhs <= 12.0 / eps * np.linalg.norm(a - b)


def _plain_gd(b, ang, iterations, support):
    """Eq. 5-6 with Nesterov momentum, written out per component (the method without priors)."""
    nproj, n, _ = b.shape
    op = make_projector(n, ang[:, 0], ang[:, 1], dtype=np.float64, threads=1)
    k = beam_direction(ang[:, 0], ang[:, 1])
    x = np.zeros((3, n, n, n))
    y, tk = x.copy(), 1.0
    for _ in range(iterations):
        resid = sum(k[:, c, None, None] * op.fwd(y[c]) for c in range(3)) - b
        grad = np.stack([op.adj(k[:, c, None, None] * resid) for c in range(3)])
        xn = y - grad / (nproj * n)
        xn[:, ~support] = 0
        tn = 0.5 * (1 + np.sqrt(1 + 4 * tk * tk))
        y = xn + (tk - 1) / tn * (xn - x)
        x, tk = xn, tn
    return x


def _twisted_hedgehog(n):
    """Charge +1 point at an off-grid centre, its radial field turned 72 deg about z, in a ball.

    A pure hedgehog r/|r| is (nearly) a gradient field with a potential constant on the
    ball's surface, invisible to XMCD projections; the twist gives it a visible curl.
    """
    ax = np.arange(n) - (n - 1) / 2
    z, y, x = np.meshgrid(ax, ax, ax, indexing="ij")
    rx, ry, rz = x - 0.3, y + 0.2, z - 0.25
    m = np.stack([rx - 3 * ry, ry + 3 * rx, rz])
    mask = x ** 2 + y ** 2 + z ** 2 < (0.4 * n) ** 2
    return m / np.linalg.norm(m, axis=0) * mask, mask


@pytest.fixture(scope="module")
def hedgehog():
    n = 24
    m, mask = _twisted_hedgehog(n)
    ang = paper_angles(12)
    b = xmcd_projections(m, ang)
    noisy = b + np.random.default_rng(0).normal(0, 0.15 * np.abs(b).max(), b.shape)
    return m, mask, ang, noisy


def test_tv_zero_is_the_plain_method(hedgehog):
    _, mask, ang, b = hedgehog
    cfg = VectorConfig(iterations=15, precision="float64")
    assert VectorConfig().tv_weight == 0.0
    rec, _ = vector_gd(b, ang[:, 0], ang[:, 1], cfg, support=mask, threads=1)
    np.testing.assert_allclose(rec, _plain_gd(b, ang, 15, mask), rtol=1e-10, atol=1e-12)


def test_tv_config_bounds():
    with pytest.raises(ConfigError, match="tv_weight"):
        VectorConfig(tv_weight=-1e-3)
    with pytest.raises(ConfigError, match="tv_smoothing"):
        VectorConfig(tv_smoothing=0.0)


def test_tv_is_equivariant_to_the_data_scale(hedgehog):
    """mu and eps follow the amplitude read off the iterate: 7x the data gives 7x the field."""
    _, mask, ang, b = hedgehog
    cfg = VectorConfig(iterations=20, tv_weight=4e-3, precision="float64")
    a, _ = vector_gd(b, ang[:, 0], ang[:, 1], cfg, support=mask, threads=1)
    c, _ = vector_gd(7.0 * b, ang[:, 0], ang[:, 1], cfg, support=mask, threads=1)
    np.testing.assert_allclose(c, 7.0 * a, rtol=1e-8, atol=1e-10 * np.abs(c).max())
    amp = np.linalg.norm(a, axis=0)[mask]
    assert tv_scales(7.0 * amp, 4e-3, 0.01, lipschitz_data=1.0)[1] == pytest.approx(
        7.0 * tv_scales(amp, 4e-3, 0.01, lipschitz_data=1.0)[1])


def test_tv_beats_plain_gd_on_a_noisy_hedgehog_and_keeps_its_charge(hedgehog):
    """Noise at 15 % of the projections' peak: plain GD scatters +- pairs over the ball, TV
    lowers the angular error and leaves exactly the +1 point, in the cube at its centre."""
    m, mask, ang, b = hedgehog
    err, found = {}, {}
    for tv in (0.0, 4e-3):
        rec, r1 = vector_gd(b, ang[:, 0], ang[:, 1], VectorConfig(iterations=60, tv_weight=tv),
                            support=mask, threads=1)
        assert np.all(np.isfinite(rec)) and r1[-1] < r1[0]
        err[tv] = np.median(angular_error_deg(rec, m, mask))
        found[tv] = find_defects(rec, mask=mask, sigma_vox=0.0).defects
    assert err[4e-3] < 0.8 * err[0.0]
    assert len(found[0.0]) > 1  # the noise makes spurious defects without the prior
    d = found[4e-3]
    assert len(d) == 1 and int(d["charge"].iloc[0]) == 1
    # the true point (11.5 + (0.25, -0.2, 0.3) in z, y, x) lies in cube (11, 11, 11) of the truth
    assert np.nansum(lattice_charge(m[:, 10:14, 10:14, 10:14])) == 1.0
    assert [abs(int(d[c].iloc[0]) - 11) <= 1 for c in "kji"] == [True] * 3
