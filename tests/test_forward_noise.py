"""Exact noise samplers: chi-square tests against scipy's Poisson and normal distributions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from synthvec.forward.noise import (POISSON_INVERSION_MAX, noisy_counts, normal_in_cell,
                                    poisson_counts, rounded_normal, rounded_normal_pmf)

P_MIN = 1e-4       # fixed seeds: a failure at this level means a wrong distribution


def chi_square_p(observed: np.ndarray, expected: np.ndarray) -> float:
    """P-value of Pearson's chi-square, cells with expected < 5 merged into their neighbour."""
    obs, exp = [], []
    o_acc = e_acc = 0.0
    for o, e in zip(observed, expected):
        o_acc += o
        e_acc += e
        if e_acc >= 5:
            obs.append(o_acc)
            exp.append(e_acc)
            o_acc = e_acc = 0.0
    if obs:
        obs[-1] += o_acc
        exp[-1] += e_acc
    obs, exp = np.array(obs), np.array(exp)
    if len(obs) < 2:
        return 1.0
    return float(stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue)


def counts_vs_pmf(x: np.ndarray, pmf: np.ndarray, lo: int) -> float:
    """Chi-square p-value of integer samples x against pmf over lo..lo+len(pmf)-1 (+ tails)."""
    hi = lo + len(pmf)
    assert x.min() >= lo - 1 and x.max() <= hi, "samples outside the tested support"
    obs = np.bincount(np.clip(x - lo + 1, 0, len(pmf) + 1), minlength=len(pmf) + 2)
    tail_lo = max(0.0, 1.0 - pmf.sum())          # the support is wide: tails ~0
    exp = np.concatenate([[tail_lo / 2], pmf, [tail_lo / 2]]) * x.size
    return chi_square_p(obs, exp)


@pytest.mark.parametrize("lam", [0.0, 1e-3, 0.07, 0.9, 4.0, POISSON_INVERSION_MAX - 1e-9,
                                 POISSON_INVERSION_MAX + 1e-9, 40.0, 2500.0])
def test_poisson_counts_match_scipy_poisson(lam):
    n = 200_000
    k = poisson_counts(np.full(n, lam), rng=np.random.default_rng(int(lam * 1000) + 1))
    assert k.dtype == np.int64 and k.shape == (n,)
    if lam == 0:
        assert not k.any()
        return
    lo = int(stats.poisson.ppf(1e-12, lam))
    hi = int(stats.poisson.isf(1e-12, lam)) + 1
    support = np.arange(lo, hi)
    assert counts_vs_pmf(k, stats.poisson.pmf(support, lam), lo) > P_MIN
    assert k.mean() == pytest.approx(lam, abs=5 * np.sqrt(lam / n))
    assert k.var() == pytest.approx(lam, rel=5 * np.sqrt(2 / n) + 5 / (n * lam) ** 0.5)


def test_inversion_is_exact_for_large_means_too():
    """The inversion branch itself, forced on means of 30 (threshold raised)."""
    n = 100_000
    k = poisson_counts(np.full(n, 30.0), rng=np.random.default_rng(5), threshold=100.0)
    support = np.arange(0, 90)
    assert counts_vs_pmf(k, stats.poisson.pmf(support, 30.0), 0) > P_MIN


def test_poisson_mixed_means_keep_each_elements_law():
    """A mix of tiny, medium and large means in one array: each element follows its own mean."""
    rng = np.random.default_rng(6)
    means = np.array([0.02, 0.5, 3.0, 11.0, 13.0, 200.0])
    lam = np.tile(means, 30_000)
    rng.shuffle(lam)
    k = poisson_counts(lam.reshape(300, 600), rng=np.random.default_rng(7)).ravel()
    for m in means:
        x = k[lam == m]
        lo, hi = int(stats.poisson.ppf(1e-12, m)), int(stats.poisson.isf(1e-12, m)) + 1
        assert counts_vs_pmf(x, stats.poisson.pmf(np.arange(lo, hi), m), lo) > P_MIN


def test_poisson_reproducible_and_rejects_bad_means():
    lam = np.random.default_rng(0).exponential(2.0, (5, 7))
    a = poisson_counts(lam, rng=np.random.default_rng(3))
    b = poisson_counts(lam, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (5, 7)
    for bad in (-1.0, np.nan):
        with pytest.raises(ValueError):
            poisson_counts(np.array([1.0, bad]), rng=np.random.default_rng(0))


def exact_rounded_normal_pmf(d, sigma):
    """The test's own: the normal's mass on [d - 1/2, d + 1/2) (lower half, mirrored)."""
    a = -np.abs(np.asarray(d, float))
    return stats.norm.cdf(a + 0.5, scale=sigma) - stats.norm.cdf(a - 0.5, scale=sigma)


@pytest.mark.parametrize("sigma", [0.05, 0.5, 1.3, 6.0])
def test_rounded_normal_pmf_and_samples(sigma):
    half = int(np.ceil(8 * sigma + 2))
    d = np.arange(-half, half + 1)
    pmf = rounded_normal_pmf(d, sigma)
    np.testing.assert_allclose(pmf, exact_rounded_normal_pmf(d, sigma), rtol=1e-9, atol=1e-300)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
    x = rounded_normal((400, 500), sigma, rng=np.random.default_rng(int(sigma * 100)))
    assert x.shape == (400, 500) and x.dtype == np.int32
    assert counts_vs_pmf(x.ravel(), pmf, -half) > P_MIN
    # the rounded variable's variance: sigma^2 + 1/12 for wide noise (Sheppard)
    if sigma >= 1:
        assert x.var() == pytest.approx(sigma ** 2 + 1 / 12, rel=0.02)


def test_rounded_normal_sigma_zero_draws_nothing():
    rng = np.random.default_rng(1)
    state = rng.bit_generator.state
    assert not rounded_normal((3, 4), 0.0, rng=rng).any()
    assert rng.bit_generator.state == state
    assert rounded_normal_pmf(np.array([-1, 0, 2]), 0.0).tolist() == [0.0, 1.0, 0.0]


@pytest.mark.parametrize("lam, sigma", [(0.3, 0.5), (2.5, 0.5), (0.05, 2.0), (9.0, 1.0),
                                        (POISSON_INVERSION_MAX + 2.0, 0.7), (6.0, 0.0)])
def test_noisy_counts_joint_law_is_the_product(lam, sigma):
    """(k, rint(e)) drawn together: chi-square of the 2D table vs the product pmf."""
    n = 300_000
    counts, idx, k = noisy_counts(np.full(n, lam), sigma, rng=np.random.default_rng(11))
    assert counts.dtype == np.float32 and counts.shape == (n,)
    photons = np.zeros(n, np.int64)
    photons[idx] = k
    d = (counts - photons).astype(np.int64)
    assert np.all(counts == np.rint(counts))
    klo, khi = int(stats.poisson.ppf(1e-10, lam)), int(stats.poisson.isf(1e-10, lam)) + 1
    half = int(np.ceil(7 * sigma + 1))
    ks, ds = np.arange(klo, khi), np.arange(-half, half + 1)
    assert photons.min() >= klo and photons.max() < khi and np.abs(d).max() <= half
    joint = np.outer(stats.poisson.pmf(ks, lam), exact_rounded_normal_pmf(ds, sigma)
                     if sigma > 0 else (ds == 0).astype(float))
    table = np.zeros(joint.shape)
    np.add.at(table, (photons - klo, d + half), 1)
    keep = joint.ravel() > 0
    assert table.ravel()[~keep].sum() == 0
    assert chi_square_p(table.ravel()[keep], joint.ravel()[keep] * n) > P_MIN
    if sigma > 0:       # independence: no correlation between the photon count and the noise
        assert abs(np.corrcoef(photons, d)[0, 1]) < 5 / np.sqrt(n)


def test_normal_in_cell_rebuilds_the_continuous_normal():
    sigma = 0.8
    d = rounded_normal(200_000, sigma, rng=np.random.default_rng(2))
    e = normal_in_cell(d, sigma, rng=np.random.default_rng(3))
    assert np.all(np.abs(e - d) <= 0.5)
    assert stats.kstest(e, stats.norm(scale=sigma).cdf).pvalue > P_MIN
    np.testing.assert_array_equal(normal_in_cell(np.array([2, -1]), 0.0,
                                                 rng=np.random.default_rng(0)), [2.0, -1.0])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.0, 50.0), min_size=1, max_size=40),
       st.floats(0.0, 3.0), st.integers(0, 2**32 - 1))
def test_noisy_counts_invariants(means, sigma, seed):
    lam = np.array(means)
    a = noisy_counts(lam, sigma, rng=np.random.default_rng(seed))
    b = noisy_counts(lam, sigma, rng=np.random.default_rng(seed))
    np.testing.assert_array_equal(a[0], b[0])
    counts, idx, k = a
    assert np.all(k > 0) and np.unique(idx).size == idx.size
    assert np.all(lam[idx] > 0)                   # no photon where none is expected
    assert np.all(counts == np.rint(counts))
    if sigma == 0:
        photons = np.zeros(lam.size)
        photons[idx] = k
        np.testing.assert_array_equal(counts, photons)


class _Scripted:
    """A stand-in Generator whose ``random`` returns scripted values (counts the draws)."""

    def __init__(self, values):
        self.values = list(values)
        self.drawn = 0

    def random(self, size):
        out = np.array(self.values[self.drawn:self.drawn + size], float)
        assert out.size == size, "more uniforms drawn than scripted"
        self.drawn += size
        return out

    def poisson(self, lam):
        assert np.size(lam) == 0, "no mean above the threshold here"
        return np.zeros(0, np.int64)


def test_cell_refinement_decides_exactly_at_exp_minus_lambda():
    """A 16-bit cell holding exp(-lambda) is refined with the rest of the uniform: U just
    below exp(-lambda) gives k = 0, just above k = 1; cells wholly below or above decide
    without a draw (below: k = 0; above: a candidate, refined)."""
    from synthvec.forward.noise import _poisson_sparse
    lam = 0.3
    m = 2 ** 16
    c = int(np.floor(np.exp(-lam) * m))          # the cell holding exp(-lam)
    v_star = np.exp(-lam) * m - c                 # U = (c + V) / m equals exp(-lam) here
    cells = np.array([c - 1, c, c, c + 1], np.uint16)
    rng = _Scripted([v_star - 1e-6, v_star + 1e-6, 0.5])
    idx, k = _poisson_sparse(np.full(4, lam), cells, rng=rng, threshold=12.0)
    got = np.zeros(4, int)
    got[idx] = k
    assert got.tolist() == [0, 0, 1, 1]
    assert rng.drawn == 3                         # the first cell needed no draw


def test_rounded_normal_cells_straddling_a_step_are_refined():
    """The CDF step between d = -1 and d = 0 (Phi(-1/2 / sigma)) falls inside one 16-bit cell:
    the refined uniform decides on which side; other cells are read from the table."""
    from synthvec.forward.noise import _rounded_normal_from_cells
    sigma, m = 0.5, 2 ** 16
    step = stats.norm.cdf(-0.5 / sigma)
    c = int(np.floor(step * m))
    v_star = step * m - c
    cells = np.array([c - 1, c, c, c + 1], np.uint16)
    rng = _Scripted([v_star - 1e-6, v_star + 1e-6])
    d = _rounded_normal_from_cells(cells, sigma, rng)
    assert d.tolist() == [-1, -1, 0, 0]
    assert rng.drawn == 2
