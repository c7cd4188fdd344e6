"""Compiled rPIE kernels against plain numpy references written here (random data, fixed seeds)."""

from __future__ import annotations

import numpy as np
import pytest
from numba.typed import List

from synthvec.invert.ptycho import kernels as K


def _cplx(rng, shape, scale=1.0):
    return (scale * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))).astype(
        np.complex64)


def _ref_weight(probe, alpha, step):
    p2 = np.abs(probe.astype(np.complex128)) ** 2
    return step * np.conj(probe) / ((1 - alpha) * p2 + alpha * p2.max())


@pytest.mark.parametrize("shape", [(16, 16), (12, 10), (7, 13)])
def test_object_weight_matches_numpy(shape):
    rng = np.random.default_rng(0)
    probe = _cplx(rng, shape, 30.0)
    out = np.empty(shape, np.complex64)
    K.object_weight(probe, 0.05, 0.8, out, np.empty(shape, np.float32))
    np.testing.assert_allclose(out, _ref_weight(probe, 0.05, 0.8), rtol=2e-6, atol=0)


@pytest.mark.parametrize("shape", [(9, 17), (4, 8), (3, 5), (64, 64)])
def test_max2d_is_the_maximum(shape):
    a = np.random.default_rng(1).random(shape).astype(np.float32)
    a[shape[0] - 1, shape[1] - 1] = 2.0          # in the tail lanes
    assert K._max2d(a) == 2.0
    b = np.random.default_rng(2).random(shape).astype(np.float32)
    assert K._max2d(b) == b.max()


def test_projection_matches_numpy_including_underflowing_values():
    """Values whose float32 squares underflow go through hypot: modulus am, phase kept."""
    rng = np.random.default_rng(3)
    f = _cplx(rng, (6, 8), 10.0)
    f[1, 2] = 3e-25 + 4e-25j          # |f|^2 underflows float32
    f[2, 5] = 1e-21j
    f[4, 0] = 0.0                     # the 1e-30 floor: stays 0
    am = rng.random((6, 8)).astype(np.float32)
    g = np.empty_like(f)
    K._project(f, am, g)
    f128 = f.astype(np.complex128)
    ref = am * f128 / np.maximum(np.abs(f128), 1e-30)
    np.testing.assert_allclose(g, ref, rtol=2e-6, atol=1e-30)
    assert abs(g[1, 2]) == pytest.approx(am[1, 2], rel=1e-6)


def _ref_sweep(objs, probe, amps, rows, cols, starts, sched_scan, sched_set, alpha, beta,
               ostep, pstep, upd_probe):
    """Batched rPIE in numpy complex128: each set's members updated from the same probe,
    then one probe step with the sums over the set (rpie.py's module docstring)."""
    objs = [o.astype(np.complex128) for o in objs]
    P = probe.astype(np.complex128)
    h, w = P.shape
    err = np.zeros(len(objs))
    for i, s in zip(sched_scan, sched_set):
        o = objs[i]
        wO = _ref_weight(P, alpha, ostep)
        N = np.zeros((h, w), complex)
        S = np.zeros((h, w))
        for j in range(starts[s], starts[s + 1]):
            win = (slice(rows[j], rows[j] + h), slice(cols[j], cols[j] + w))
            op = o[win].copy()
            psi = op * P
            F = np.fft.fft2(psi, norm="ortho")
            F = amps[j] * F / np.maximum(np.abs(F), 1e-30)
            d = np.fft.ifft2(F, norm="ortho") - psi
            err[i] += np.sum(np.abs(d) ** 2)
            o[win] = op + wO * d
            N += np.conj(op) * d
            S += np.abs(op) ** 2
        if upd_probe:
            P = P + pstep * N / ((1 - beta) * S + beta * S.max())
    return objs, P, err


def _problem(seed, h=16, w=12, n_scans=2):
    """Scans of a few sets of disjoint windows on random objects, amplitudes of a perturbed
    object so that the projection does something."""
    rng = np.random.default_rng(seed)
    objs, amps, rows, cols, starts = [], [], [], [], [0]
    set_scan = []
    probe = _cplx(rng, (h, w), 3.0)
    for i in range(n_scans):
        objs.append((1 + 0.3 * _cplx(rng, (3 * h + 6, 3 * w + 6))).astype(np.complex64))
        for s in range(3):                      # 3 sets of 1-4 disjoint windows
            k = int(rng.integers(1, 5))
            slots = rng.choice(9, size=k, replace=False)
            for q in slots:                     # cells of (h + 2) x (w + 2), offsets 0-2
                r = (q // 3) * (h + 2) + int(rng.integers(0, 3))
                c = (q % 3) * (w + 2) + int(rng.integers(0, 3))
                rows.append(r)
                cols.append(c)
                truth = objs[i][r:r + h, c:c + w] * (1 + 0.2 * _cplx(rng, (h, w)))
                amps.append(np.abs(np.fft.fft2(truth * probe, norm="ortho")).astype(np.float32))
            starts.append(starts[-1] + k)
            set_scan.append(i)
    return (objs, probe, np.array(amps), np.array(rows), np.array(cols), np.array(starts),
            np.array(set_scan))


@pytest.mark.parametrize("upd_probe", [False, True])
@pytest.mark.parametrize("parallel", [False, True])
def test_sweep_matches_numpy_reference(upd_probe, parallel):
    objs, probe, amps, rows, cols, starts, set_scan = _problem(4)
    h, w = probe.shape
    for a, b in zip(starts[:-1], starts[1:]):   # the premise: members of a set are disjoint
        for j in range(a, b):
            for i in range(a, j):
                assert abs(rows[i] - rows[j]) >= h or abs(cols[i] - cols[j]) >= w
    order = np.random.default_rng(5).permutation(len(set_scan))
    sched_set = order.astype(np.int64)
    sched_scan = set_scan[order].astype(np.int64)
    alpha, beta, ostep, pstep = 0.05, 0.5, 0.9, 0.7
    ref_objs, ref_P, ref_err = _ref_sweep(objs, probe, amps, rows, cols, starts, sched_scan,
                                          sched_set, alpha, beta, ostep, pstep, upd_probe)
    work = [o.copy() for o in objs]
    P = probe.copy()
    kmax = int(np.diff(starts).max())
    wO = np.empty((h, w), np.complex64)
    dsum = np.empty((h, w), np.float32)
    K.object_weight(P, alpha, ostep, wO, dsum)
    err = np.zeros(len(objs))
    buf = [np.empty((kmax, h, w), np.complex64) for _ in range(4)]
    K.sweep(List(work), P, wO, amps, rows, cols, starts, sched_scan, sched_set, alpha, beta,
            ostep, pstep, upd_probe, *buf, np.empty((kmax, h, w), np.float32), dsum,
            np.empty((h, w), np.complex64), err, parallel)
    for o, r in zip(work, ref_objs):
        np.testing.assert_allclose(o, r, atol=2e-5 * np.abs(r).max())
    np.testing.assert_allclose(P, ref_P, atol=2e-5 * np.abs(ref_P).max())
    np.testing.assert_allclose(err, ref_err, rtol=1e-4)
    if not upd_probe:
        np.testing.assert_array_equal(P, probe)
    # the object weight handed back belongs to the final probe
    np.testing.assert_allclose(wO, _ref_weight(P, alpha, ostep), rtol=1e-5,
                               atol=1e-6 * np.abs(wO).max())


def test_thread_count_does_not_change_the_result():
    """Each frame is computed by one thread and set sums run in member order: bitwise equal
    (serial kernel and two threads)."""
    objs, probe, amps, rows, cols, starts, set_scan = _problem(6)
    h, w = probe.shape
    kmax = int(np.diff(starts).max())
    out = []
    for n in (1, 2):                # serial kernel, then two OpenMP threads
        K.set_threads(n)
        work, P = [o.copy() for o in objs], probe.copy()
        wO, dsum = np.empty((h, w), np.complex64), np.empty((h, w), np.float32)
        K.object_weight(P, 0.05, 1.0, wO, dsum)
        err = np.zeros(len(objs))
        K.sweep(List(work), P, wO, amps, rows, cols, starts, set_scan.astype(np.int64),
                np.arange(len(set_scan), dtype=np.int64), 0.05, 0.5, 1.0, 1.0, True,
                *[np.empty((kmax, h, w), np.complex64) for _ in range(4)],
                np.empty((kmax, h, w), np.float32), dsum, np.empty((h, w), np.complex64), err,
                n > 1)
        out.append((work, P, err))
    K.set_threads(1)
    for a, b in zip(out[0][0], out[1][0]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(out[0][1], out[1][1])
    np.testing.assert_array_equal(out[0][2], out[1][2])


def test_thread_choice_keeps_the_faster_count_and_backs_off():
    c = K.ThreadChoice(2, chunk=8, trial=2)
    plans = []
    for _ in range(200):                    # two threads 3x faster per frame than one
        n, sets = c.plan()
        plans.append(n)
        c.done((1.0 if n == 2 else 3.0) * sets, sets)
    # one thread for 2 calls, a trial of two wins; trials of one 16, 32, 64 calls later
    assert plans[:3] == [1, 1, 2]
    assert [i for i, n in enumerate(plans[3:], 3) if n == 1] == [19, 52, 117]
    assert c.cur == 2
    c = K.ThreadChoice(2)
    for _ in range(30):                     # one thread faster (cores held by others)
        n, sets = c.plan()
        c.done((50.0 if n == 2 else 1.0) * sets, sets)
    assert c.cur == 1 and c.plan()[0] == 1
    c.limit(1)                              # one thread allowed: no trials at all
    assert all(c.plan()[0] == 1 for _ in range(5))


def test_forked_child_runs_the_sweep_serially():
    """GNU OpenMP kills a child forked from a process that used it at its first parallel
    region; the engine's child must not start one (and must still compute)."""
    import os
    import warnings

    K.set_threads(2)                     # this process has used OpenMP threads
    assert K.parallel_allowed()
    r, w = os.pipe()
    with warnings.catch_warnings():      # Python >= 3.12 warns on fork() with threads
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:                         # child: report, never return into pytest
        ok = not K.parallel_allowed()
        try:
            from synthvec.invert.ptycho import PtychoConfig, reconstruct

            from .test_ptycho_synth import dataset
            os.environ["SYNTHVEC_THREADS"] = "2"
            res = reconstruct(dataset(noise=False)[0],
                              PtychoConfig(iterations=2, probe_update=False, bad_frames="off"))
            ok = ok and bool(np.isfinite(res.error).all())
        except BaseException:
            ok = False
        os.write(w, b"1" if ok else b"0")
        os._exit(0)
    os.close(w)
    msg = os.read(r, 1)
    os.waitpid(pid, 0)
    K.set_threads(1)
    assert msg == b"1"


def _ref_tilted_set(obj, P, K, am, rows, cols, alpha, beta, ostep, pstep):
    """One set with per-member probes P_j = F^-1[F[P] K_j], numpy complex128: object update
    with P_j, probe step propagated back by conj(K_j), Gauss-Newton shift steps."""
    obj, P = obj.astype(np.complex128), P.astype(np.complex128)
    h, w = P.shape
    Pj = np.fft.ifft2(np.fft.fft2(P)[None] * K)
    op = np.stack([obj[r:r + h, c:c + w] for r, c in zip(rows, cols)])
    psi = op * Pj
    F = np.fft.fft2(psi, norm="ortho")
    d = np.fft.ifft2(am * F / np.maximum(np.abs(F), 1e-30), norm="ortho") - psi
    steps, weights = np.zeros((len(rows), 2)), np.zeros((len(rows), 2))
    for ax in (0, 1):
        jac = -np.gradient(Pj, axis=ax + 1) * op
        den = np.sum(np.abs(jac) ** 2, axis=(1, 2))
        steps[:, ax] = np.real(np.sum(np.conj(jac) * d, axis=(1, 2))) / (den + 1e-30)
        weights[:, ax] = den
    p2 = np.abs(Pj) ** 2
    pmax = p2.max(axis=(1, 2), keepdims=True)
    new = op + ostep * np.conj(Pj) * d / ((1 - alpha) * p2 + alpha * pmax)
    for m, (r, c) in enumerate(zip(rows, cols)):
        obj[r:r + h, c:c + w] = new[m]
    o2 = np.sum(np.abs(op) ** 2, axis=0)
    back = np.fft.ifft2(np.sum(np.fft.fft2(np.conj(op) * d) * np.conj(K), axis=0))
    P = P + pstep * back / ((1 - beta) * o2 + beta * o2.max())
    return obj, P, np.sum(np.abs(d) ** 2), steps, weights


@pytest.mark.parametrize("parallel", [False, True])
def test_tilted_set_matches_numpy_reference(parallel):
    from synthvec.invert.ptycho.kernels_tilted import tilted_set
    from synthvec.invert.ptycho.rpie import fresnel_kernels, shift_kernels

    objs, probe, amps, rows, cols, starts, _ = _problem(8, n_scans=1)
    h, w = probe.shape
    big = int(np.argmax(np.diff(starts)))            # the largest set
    sl = slice(starts[big], starts[big + 1])
    am, r, c = amps[sl], rows[sl], cols[sl]
    k = len(r)
    assert k > 1
    rng = np.random.default_rng(9)
    K = (fresnel_kernels(rng.uniform(-300, 300, k), (h, w), pixel_nm=5.0, wavelength_nm=1.45)
         * shift_kernels(rng.uniform(-0.5, 0.5, (k, 2)), (h, w)))
    ref = _ref_tilted_set(objs[0], probe, K, am, r, c, 0.05, 0.5, 0.9, 0.7)
    obj, P = objs[0].copy(), probe.copy()
    steps, weights = np.zeros((k, 2)), np.zeros((k, 2))
    bufs = [np.empty((k, h, w), np.complex64) for _ in range(5)]
    bufs += [np.empty((k, h, w), np.float32) for _ in range(2)]
    e = tilted_set(obj, P, K, am, r, c, 0.05, 0.5, 0.9, 0.7, True, True,
                   steps, weights, *bufs, parallel)
    np.testing.assert_allclose(obj, ref[0], atol=2e-5 * np.abs(ref[0]).max())
    np.testing.assert_allclose(P, ref[1], atol=2e-5 * np.abs(ref[1]).max())
    assert e == pytest.approx(ref[2], rel=1e-4)
    np.testing.assert_allclose(steps, ref[3], rtol=1e-3, atol=1e-4 * np.abs(ref[3]).max())
    np.testing.assert_allclose(weights, ref[4], rtol=1e-4)
