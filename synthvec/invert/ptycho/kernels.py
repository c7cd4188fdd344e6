"""Compiled kernels of the batched rPIE sweep (numba, with rocket-fft's DUCC0 FFT inside).

Why compiled: on benchmark P1 (289 frames of 64 x 64 in ~74 update sets of ~4
frames) the numpy engine spent about as long on per-set Python overhead and
~13 elementwise passes over each set (gather, multiply, abs, divide, multiply,
subtract, vdot, weight multiply, add, scatter, probe sums) as on the FFTs, and
ran a set's FFTs on one thread (pocketfft's threads only pay from ~8 frames).
Here one call runs many sets: per update set, the members' frames are
processed in parallel (``prange``; their windows are disjoint, so the writes
to the object never meet), each frame in three fused passes around a forward
and an inverse FFT (``rocket_fft.c2c``: DUCC0, the successor of the pocketfft
in ``scipy.fft``; orthonormal scale ``1/sqrt(H W)``):

1. ``psi = O[window] P``;
2. ``Psi <- sqrt(I) Psi / max(|Psi|, 1e-30)`` (modulus projection);
3. ``d = F^-1[Psi] - psi``; error ``+= |d|^2``; probe-step terms
   ``conj(O) d`` and ``|O|^2`` of the member; ``O[window] <- O + w_O d``.

The probe step of a set (sum over its members, rPIE's beta denominator) and
the object weight ``w_O = step conj(P) / ((1 - alpha)|P|^2 + alpha max|P|^2)``
follow serially. The arithmetic is the numpy engine's, in the same float32
precision; rounding differs in the last bits only (DUCC0 instead of
pocketfft, ``|Psi|`` as ``sqrt(re^2 + im^2)`` instead of ``hypot``, the error
summed in float32 rows and float64 totals): P1's NRMSE 0.01517 -> 0.01515.

Threads: ``sweep(..., parallel=False)`` runs on the calling thread and never
touches OpenMP; ``parallel=True`` on ``numba.set_num_threads`` threads (see
:func:`set_threads`, :class:`ThreadChoice`); the FFTs inside are single-threaded.
"""

from __future__ import annotations

import os

import numba
import numpy as np
import rocket_fft  # noqa: F401  (numba overloads of the DUCC0 FFT: rocket_fft.c2c below)
from numba import njit, prange
from rocket_fft import c2c

__all__ = ["set_threads", "parallel_allowed", "ThreadChoice", "object_weight", "sweep"]

_omp_pid: list[int] = []        # the process that started numba's OpenMP threads


def parallel_allowed() -> bool:
    """Whether this process may run the sweep on numba's (OpenMP) threads.

    GNU OpenMP does not survive ``fork``: a child forked from a process that
    used it is killed at its first parallel region ("fork() called from a
    process already using GNU OpenMP"). Such a child runs the sweep serially.
    """
    return not _omp_pid or _omp_pid[0] == os.getpid()


def set_threads(n: int) -> int:
    """Set numba's thread count for this thread to ``n`` (capped at numba's pool size).

    Returns the count set.
    """
    n = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))
    if not _omp_pid:
        _omp_pid.append(os.getpid())
    numba.set_num_threads(n)
    return n


class ThreadChoice:
    """Thread count of each compiled sweep call: ``n`` or one, whichever measures faster.

    A sweep meets a barrier per update set (74 per P1 iteration). When other
    processes hold the cores, a descheduled thread stalls every barrier: P1 on
    the 2-core machine under load ran 600 ms/iteration on 2 threads, 17 ms on
    one. So the sets run in calls of ``chunk`` sets, and each count keeps an
    estimate of its seconds per frame: the count in use from its calls (mean
    of the old estimate and the new call, so a stall shows at once), the other
    from a trial call of ``trial`` sets now and then (after 2 calls, then 16,
    32, ... up to 1024 calls after each lost trial). The count with the lower
    estimate is used, one thread to start with. The thread count never changes
    the result: each frame is computed by one thread and the sums over a set
    run in member order.
    """

    def __init__(self, n: int, chunk: int = 8, trial: int = 2):
        self.chunk, self.trial = chunk, trial
        self.n = 0
        self.limit(n)

    def limit(self, n: int) -> None:
        """Start over with at most ``n`` threads when that bound changed."""
        n = max(1, int(n))
        if n != self.n:
            self.n, self.cur, self.other = n, 1, n     # one first: cheap if the cores are held
            self.est = {n: np.inf, 1: np.inf}   # seconds per frame
            self.interval, self.next_trial, self.calls = 16, 2, 0
            self.trying = False

    def plan(self) -> tuple[int, int]:
        """(threads, sets) of the next call; then run it and call :meth:`done`."""
        self.trying = self.cur != self.other and self.calls >= self.next_trial
        if self.trying:
            return self.other, self.trial
        return self.cur, self.chunk

    def done(self, seconds: float, frames: int) -> None:
        """Report the wall time of the call just run and its number of frames."""
        per = seconds / max(frames, 1)
        self.calls += 1
        if self.trying:
            self.est[self.other] = per
            won = per < self.est[self.cur]
            self.interval = 16 if won else min(2 * self.interval, 1024)
            self.next_trial = self.calls + self.interval
        else:
            old = self.est[self.cur]
            self.est[self.cur] = per if not np.isfinite(old) else 0.5 * (old + per)
        if self.est[self.other] < self.est[self.cur]:
            self.cur, self.other = self.other, self.cur


@njit(cache=True, nogil=True, error_model="numpy")
def _max2d(a):
    """Largest element of a (H, W) float32 array without NaN (eight running maxima per
    row: a single running maximum is a serial chain that does not vectorize)."""
    h, w = a.shape
    w8 = w - w % 8
    m = np.full(8, -np.inf, dtype=np.float32)
    for y in range(h):
        row = a[y]
        for x0 in range(0, w8, 8):
            for lane in range(8):
                v = row[x0 + lane]
                m[lane] = v if v > m[lane] else m[lane]
        for x in range(w8, w):
            v = row[x]
            m[0] = v if v > m[0] else m[0]
    best = m[0]
    for lane in range(1, 8):
        if m[lane] > best:
            best = m[lane]
    return best


@njit(cache=True, nogil=True, error_model="numpy")
def object_weight(probe, alpha, step, out, p2):
    """``out = step conj(P) / ((1 - alpha)|P|^2 + alpha max|P|^2)``, float32 arithmetic.

    Parameters
    ----------
    probe : (H, W) complex64
    alpha, step : float
    out : (H, W) complex64, written
    p2 : (H, W) float32, work buffer (``|P|^2`` on return)
    """
    h, w = probe.shape
    for y in range(h):
        prow = probe[y]
        qrow = p2[y]
        for x in range(w):
            p = prow[x]
            qrow[x] = p.real * p.real + p.imag * p.imag
    pmax = _max2d(p2)
    fa = np.float32((1.0 - alpha) / step)
    fb = np.float32(alpha) * pmax / np.float32(step)
    for y in range(h):
        prow = probe[y]
        qrow = p2[y]
        orow = out[y]
        for x in range(w):
            p = prow[x]
            den = qrow[x] * fa + fb
            orow[x] = np.complex64(complex(p.real / den, -p.imag / den))


@njit(cache=True, nogil=True, error_model="numpy")
def _probe_step(probe, num, den, k, beta, step, dsum, nsum):
    """``P += step N / ((1 - beta) S + beta max S)``, ``N = sum_k num_k``, ``S = sum_k den_k``
    (in place; sums in member order, as numpy's ``sum(axis=0)``; ``dsum``, ``nsum``: (H, W)
    work buffers, ``S`` and ``N`` on return)."""
    h, w = probe.shape
    for y in range(h):
        srow = dsum[y]
        nrow = nsum[y]
        d0 = den[0, y]
        n0 = num[0, y]
        for x in range(w):
            srow[x] = d0[x]
            nrow[x] = n0[x]
        for m in range(1, k):
            dm = den[m, y]
            nm = num[m, y]
            for x in range(w):
                srow[x] = srow[x] + dm[x]
                nrow[x] = nrow[x] + nm[x]
    dmax = _max2d(dsum)
    fa = np.float32(1.0 - beta)
    fb = np.float32(beta) * dmax
    fs = np.float32(step)
    for y in range(h):
        srow = dsum[y]
        nrow = nsum[y]
        prow = probe[y]
        for x in range(w):
            g = fs / (srow[x] * fa + fb)
            prow[x] = np.complex64(complex(prow[x].real + nrow[x].real * g,
                                           prow[x].imag + nrow[x].imag * g))


_TINY = np.float32(1e-30)                      # the modulus projection's floor on |Psi|
_NORMAL = np.float32(np.finfo(np.float32).tiny)  # below: |Psi|^2 lost to underflow


@njit(cache=True, nogil=True, error_model="numpy")
def _exit_wave(obj, probe, r, c, psi):
    """``psi = O[r:r+H, c:c+W] P``."""
    h, w = probe.shape
    for y in range(h):
        orow = obj[r + y, c:c + w]
        prow = probe[y]
        out = psi[y]
        for x in range(w):
            a = orow[x]
            b = prow[x]
            out[x] = np.complex64(complex(a.real * b.real - a.imag * b.imag,
                                          a.real * b.imag + a.imag * b.real))


@njit(cache=True, nogil=True, error_model="numpy")
def _project(f, am, g):
    """``g = am f / max(|f|, 1e-30)`` (modulus projection), ``f`` unchanged.

    ``|f|`` as ``sqrt(re^2 + im^2)`` in float32 (vectorizes; numpy's ``abs``
    is ``hypot``, 8x slower); a row where a square underflows is redone with
    ``hypot``.
    """
    h, w = f.shape
    for y in range(h):
        frow = f[y]
        arow = am[y]
        grow = g[y]
        n_small = 0
        for x in range(w):
            zr = frow[x].real
            zi = frow[x].imag
            m2 = zr * zr + zi * zi
            n_small += 1 if m2 < _NORMAL else 0
            s = arow[x] / max(np.sqrt(m2), _TINY)
            grow[x] = np.complex64(complex(zr * s, zi * s))
        if n_small:
            for x in range(w):
                zr = frow[x].real
                zi = frow[x].imag
                s = arow[x] / max(np.float32(np.hypot(zr, zi)), _TINY)
                grow[x] = np.complex64(complex(zr * s, zi * s))


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _update(obj, w_obj, r, c, psi, back, num, den, upd_probe):
    """``d = back - psi``; ``O[window] += w_O d``; probe terms ``conj(O) d``, ``|O|^2``
    (old ``O``) when ``upd_probe``. Returns ``sum |d|^2`` (float64 over float32 rows;
    ``reassoc`` lets the row sums vectorize)."""
    h, w = psi.shape
    acc = 0.0
    for y in range(h):
        orow = obj[r + y, c:c + w]
        brow = back[y]
        prow = psi[y]
        wrow = w_obj[y]
        a2 = np.float32(0.0)
        if upd_probe:
            nrow = num[y]
            drow = den[y]
            for x in range(w):
                dr = brow[x].real - prow[x].real
                di = brow[x].imag - prow[x].imag
                a2 += dr * dr + di * di
                o = orow[x]
                nrow[x] = np.complex64(complex(o.real * dr + o.imag * di,
                                               o.real * di - o.imag * dr))
                drow[x] = o.real * o.real + o.imag * o.imag
                wr = wrow[x].real
                wi = wrow[x].imag
                orow[x] = np.complex64(complex(o.real + (dr * wr - di * wi),
                                               o.imag + (dr * wi + di * wr)))
        else:
            for x in range(w):
                dr = brow[x].real - prow[x].real
                di = brow[x].imag - prow[x].imag
                a2 += dr * dr + di * di
                o = orow[x]
                wr = wrow[x].real
                wi = wrow[x].imag
                orow[x] = np.complex64(complex(o.real + (dr * wr - di * wi),
                                               o.imag + (dr * wi + di * wr)))
        acc += a2
    return acc


@njit(cache=True, nogil=True, error_model="numpy")
def _frame(obj, probe, w_obj, am, r, c, psi, f, g, num, den, upd_probe, axes, scale):
    """One member of a set: exit wave, FFT, projection, inverse FFT, update. Returns
    its ``sum |psi' - psi|^2``."""
    _exit_wave(obj, probe, r, c, psi)
    c2c(psi, f, axes, True, scale, 1)
    _project(f, am, g)
    c2c(g, g, axes, False, scale, 1)
    return _update(obj, w_obj, r, c, psi, g, num, den, upd_probe)


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _members_parallel(obj, probe, w_obj, amps, rows, cols, j0, k, psi, fbuf, gbuf, num, den,
                      upd_probe, axes, scale, e):
    """The ``k`` members of a set from frame ``j0`` on the numba threads; errors into ``e``."""
    for m in prange(k):     # disjoint windows: the members' writes never meet
        e[m] = _frame(obj, probe, w_obj, amps[j0 + m], rows[j0 + m], cols[j0 + m], psi[m],
                      fbuf[m], gbuf[m], num[m], den[m], upd_probe, axes, scale)


@njit(cache=True, nogil=True, error_model="numpy")
def _members_serial(obj, probe, w_obj, amps, rows, cols, j0, k, psi, fbuf, gbuf, num, den,
                    upd_probe, axes, scale, e):
    """:func:`_members_parallel` on the calling thread (no OpenMP)."""
    for m in range(k):
        e[m] = _frame(obj, probe, w_obj, amps[j0 + m], rows[j0 + m], cols[j0 + m], psi[m],
                      fbuf[m], gbuf[m], num[m], den[m], upd_probe, axes, scale)


@njit(cache=True, nogil=True, error_model="numpy")
def sweep(objs, probe, w_obj, amps, rows, cols, starts, sched_scan, sched_set, alpha, beta,
          object_step, probe_step, upd_probe, psi, fbuf, gbuf, num, den, dsum, nsum, err,
          parallel):
    """Run the update sets ``sched_set`` (of scans ``sched_scan``) in order, in place.

    Parameters
    ----------
    objs : numba.typed.List of (Ny, Nx) complex64
        Objects of the scans, updated in place.
    probe : (H, W) complex64
        Updated in place when ``upd_probe``.
    w_obj : (H, W) complex64
        Object weight of ``probe`` (:func:`object_weight`); kept current.
    amps : (n, H, W) float32
        ``sqrt(I)`` of every frame of every scan, FFT order, grouped by set.
    rows, cols : (n,) int64
        Window corners of those frames.
    starts : (n_sets + 1,) int64
        Set ``s`` is frames ``starts[s]:starts[s + 1]``.
    sched_scan, sched_set : (m,) int64
        The schedule: scan and (global) set index of each step.
    psi, fbuf, gbuf, num : (kmax, H, W) complex64
        Work buffers (kmax = largest set).
    den : (kmax, H, W) float32
    dsum : (H, W) float32
    nsum : (H, W) complex64
    err : (n_scans,) float64
        ``sum |psi' - psi|^2`` of each scan is added here.
    parallel : bool
        Members of a set on numba's threads (OpenMP; see :func:`parallel_allowed`), else on
        the calling thread.
    """
    h, w = probe.shape
    e = np.zeros(psi.shape[0])
    axes = np.arange(2)
    scale = 1.0 / np.sqrt(h * w)       # orthonormal
    for t in range(len(sched_set)):
        obj = objs[sched_scan[t]]
        j0 = starts[sched_set[t]]
        k = starts[sched_set[t] + 1] - j0
        if parallel:
            _members_parallel(obj, probe, w_obj, amps, rows, cols, j0, k, psi, fbuf, gbuf, num,
                              den, upd_probe, axes, scale, e)
        else:
            _members_serial(obj, probe, w_obj, amps, rows, cols, j0, k, psi, fbuf, gbuf, num,
                            den, upd_probe, axes, scale, e)
        tot = 0.0
        for m in range(k):
            tot += e[m]
        err[sched_scan[t]] += tot
        if upd_probe:
            _probe_step(probe, num, den, k, beta, probe_step, dsum, nsum)
            object_weight(probe, alpha, object_step, w_obj, dsum)
