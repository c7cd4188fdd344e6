"""The compiled super-resolved set update against the numpy engine it replaced
(``superres._sr_set_numpy``, kept there for the benchmark), on random data with fixed seeds."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np
import pytest

from synthvec.invert.ptycho import kernels as K_
from synthvec.invert.ptycho import superres as sr
from synthvec.invert.ptycho.kernels_superres import _project_measured

N = 12          # detector pixels
U = 2
NF = U * N
CFG = SimpleNamespace(alpha=0.05, beta=0.5, object_step=0.9, probe_step=0.7)


#: the numpy engine the compiled kernel replaced (kept in superres for the benchmark): the reference
_ref_sr_set = sr._sr_set_numpy


def _scan(kernels: bool, refine: bool, seed: int = 0):
    """A random scan (5 x 5 positions, sets of disjoint fine windows), its probe, and the
    indices of its sets."""
    rng = np.random.default_rng(seed)
    pos = np.array([(y, x) for y in range(-8, 9, 4) for x in range(-8, 9, 4)], float)
    pos += rng.uniform(-0.6, 0.6, pos.shape)
    _, fine = sr.superres_grid(pos, (N, N), U)
    frames = (rng.random((len(pos), N, N)) * 50).astype(np.float32)
    obj = np.exp(0.2 * rng.standard_normal(fine.shape)
                 + 1j * rng.standard_normal(fine.shape)).astype(np.complex64)
    kern = None
    if kernels:      # unit-modulus Fresnel-like phases
        kern = np.exp(1j * rng.uniform(-1, 1, (len(pos), 1, 1))
                      * np.fft.fftfreq(NF)[:, None] ** 2 * 40).astype(np.complex64)
        kern = np.ascontiguousarray(np.broadcast_to(kern, (len(pos), NF, NF)))
    shifts = pos * U - np.rint(pos * U) if refine else None
    sc = sr.SRScan(frames, fine, U, kern, 0, shifts, obj)
    probe = (rng.standard_normal((NF, NF)) + 1j * rng.standard_normal((NF, NF))).astype(
        np.complex64) * 3
    return sc, probe


def _close(a, b, rel):
    np.testing.assert_allclose(a, b, rtol=0, atol=rel * np.abs(b).max())


@pytest.mark.parametrize("kernels,refine", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("upd_probe", [False, True])
@pytest.mark.parametrize("parallel", [False, True])
def test_sr_set_matches_numpy_reference(kernels, refine, upd_probe, parallel):
    """Every set of a scan in turn (the object and probe carried over), compiled vs numpy
    from the same state (the reference starts each set from the compiled state: errors of
    earlier sets are not carried into later ones)."""
    sc, probe = _scan(kernels, refine)
    P = probe.copy()
    bufs = sr._buffers([sc], P.shape)
    if parallel:
        K_.set_threads(2)
    assert len(sc.amps) > 2 and max(len(a) for a in sc.amps) >= 3
    for s in range(len(sc.amps)):
        ref, Pr = copy.deepcopy(sc), P.copy()
        e = sr._sr_set(sc, s, P, CFG, upd_probe, refine, bufs, parallel)
        er = _ref_sr_set(ref, s, Pr, CFG, upd_probe, 1, refine)
        assert e == pytest.approx(er, rel=2e-5)
        _close(sc.obj, ref.obj, 2e-5)
        _close(P, Pr, 2e-5)
        if refine:
            np.testing.assert_allclose(sc.weights[s], ref.weights[s], rtol=2e-5)
            _close(sc.steps[s], ref.steps[s], 1e-4)
            assert np.abs(ref.steps[s]).max() > 0
    K_.set_threads(1)
    if not upd_probe:
        np.testing.assert_array_equal(P, probe)
    assert np.abs(sc.obj - copy.deepcopy(_scan(kernels, refine)[0]).obj).max() > 0.1


def test_refinement_without_kernels_matches_reference():
    """A scan with refinement state but one probe for all positions (K None)."""
    sc, probe = _scan(False, False, seed=1)
    sc.steps = [np.zeros((len(r), 2)) for r in sc.rows]
    sc.weights = [np.zeros((len(r), 2)) for r in sc.rows]
    P = probe.copy()
    bufs = sr._buffers([sc], P.shape)
    for s in range(len(sc.amps)):
        ref, Pr = copy.deepcopy(sc), P.copy()
        sr._sr_set(sc, s, P, CFG, True, True, bufs, False)
        _ref_sr_set(ref, s, Pr, CFG, True, 1, True)
        np.testing.assert_allclose(sc.weights[s], ref.weights[s], rtol=2e-5)
        _close(sc.steps[s], ref.steps[s], 1e-4)
        _close(sc.obj, ref.obj, 2e-5)
        _close(P, Pr, 2e-5)


@pytest.mark.parametrize("kernels", [False, True])
def test_thread_count_does_not_change_the_result(kernels):
    """Serial kernel, one and two OpenMP threads: bitwise equal."""
    out = []
    for n, par in ((1, False), (1, True), (2, True)):
        sc, P = _scan(kernels, kernels, seed=2)
        bufs = sr._buffers([sc], P.shape)
        K_.set_threads(n)
        e = [sr._sr_set(sc, s, P, CFG, True, kernels, bufs, par) for s in range(len(sc.amps))]
        out.append((sc.obj, P, e, sc.steps))
    K_.set_threads(1)
    for o in out[1:]:
        np.testing.assert_array_equal(o[0], out[0][0])
        np.testing.assert_array_equal(o[1], out[0][1])
        assert o[2] == out[0][2]
        if kernels:
            for a, b in zip(o[3], out[0][3]):
                np.testing.assert_array_equal(a, b)


def test_projection_keeps_unmeasured_frequencies_and_handles_underflow():
    rng = np.random.default_rng(5)
    f = ((rng.standard_normal((6, 8)) + 1j * rng.standard_normal((6, 8))) * 10).astype(
        np.complex64)
    f[1, 2] = 3e-25 + 4e-25j          # |f|^2 underflows float32
    f[4, 0] = 0.0                     # the 1e-30 floor: stays 0
    meas = rng.random((6, 8)) < 0.6
    meas[1, 2] = meas[4, 0] = True
    am = rng.random((6, 8)).astype(np.float32)
    g = np.empty_like(f)
    e = _project_measured(f, am, meas, g)
    f128 = f.astype(np.complex128)
    mag = np.abs(f128)
    ref = np.where(meas, am * f128 / np.maximum(mag, 1e-30), f128)
    np.testing.assert_allclose(g, ref, rtol=2e-6, atol=1e-30)
    np.testing.assert_array_equal(g[~meas], f[~meas])
    assert abs(g[1, 2]) == pytest.approx(am[1, 2], rel=1e-6)
    assert e == pytest.approx(np.sum(np.where(meas, (mag - am) ** 2, 0)), rel=1e-6)


def test_iterations_compiled_match_numpy_engine():
    """Whole super-resolved iterations (probe update, refinement between iterations):
    compiled vs the numpy engine kept in superres."""
    from synthvec.invert.ptycho import PtychoConfig

    cfg = PtychoConfig(iterations=3, upsample=2, probe_update=True, position_refinement=True,
                       subpixel_positions=True, position_refinement_start=0,
                       probe_update_start=0, set_order="random")
    sc, probe = _scan(True, True, seed=3)
    sc2 = copy.deepcopy(sc)
    P1, e1, _ = sr._sr_rpie([sc], probe, cfg, np.random.default_rng(0), None, compiled=True)
    P2, e2, _ = sr._sr_rpie([sc2], probe, cfg, np.random.default_rng(0), None, compiled=False)
    np.testing.assert_allclose(e1, e2, rtol=1e-4)
    _close(sc.obj, sc2.obj, 1e-4)
    _close(P1, P2, 1e-4)
    _close(np.concatenate(sc.shifts), np.concatenate(sc2.shifts), 1e-3)


@pytest.mark.parametrize("fresnel", [False, True])
def test_refinement_step_and_kernels_as_rpie(fresnel):
    """superres._refine_sr (kernels rebuilt in place) against rpie.refine_positions."""
    from synthvec.invert.ptycho.rpie import refine_positions

    sc, _ = _scan(fresnel, True, seed=4)
    if fresnel:     # SRScan keeps the Fresnel part as base when it refines positions
        assert sc.base is not None
    rng = np.random.default_rng(6)
    for st, w in zip(sc.steps, sc.weights):
        st[...] = rng.normal(0, 0.3, st.shape)
        w[...] = rng.uniform(0.1, 2.0, w.shape)
    ref = copy.deepcopy(sc)
    bufs = [k for k in sc.kernels]
    sr._refine_sr(sc, max_shift_px=0.6, gain=0.8)
    refine_positions(ref, max_shift_px=0.6, gain=0.8)
    for i in range(len(sc.sets)):
        assert sc.kernels[i] is bufs[i]                        # in place
        np.testing.assert_array_equal(sc.shifts[i], ref.shifts[i])
        np.testing.assert_array_equal(sc.steps[i], 0.0)
        np.testing.assert_allclose(sc.kernels[i], ref.kernels[i], rtol=0, atol=1e-6)
    assert np.abs(np.concatenate(sc.shifts) - np.concatenate(_scan(fresnel, True, 4)[0].shifts)
                  ).max() > 0.05
