"""Compiled update of one super-resolved rPIE set (:mod:`.superres`): the object on a grid finer
than the detector pixel, the modulus constraint on the detector's measured frequencies only.

One call updates one set of disjoint ``uN x uN`` windows in place, its members in
parallel (``prange``) or on the calling thread, as :mod:`.kernels_tilted` does:

1. ``P_j = F^-1[F[P] K_j]`` when the set has per-position kernels (Fresnel
   propagators and/or sub-pixel Fourier shifts), else ``P_j = P``;
2. ``psi = O[window] P_j``; ``Psi = F[psi]`` (orthonormal, DUCC0 via rocket-fft);
3. on measured frequencies ``Psi <- sqrt(I) Psi / max(|Psi|, 1e-30)`` and the error
   ``+= (|Psi| - sqrt(I))^2``; elsewhere ``Psi`` is kept (not data);
4. ``d = F^-1[Psi] - psi``; with position refinement the Gauss-Newton shift step
   of the member from ``d psi / d shift = -grad(P_j) O`` (``numpy.gradient``);
5. ``O[window] += step conj(P_j) d / ((1 - alpha)|P_j|^2 + alpha max|P_j|^2)``;
   probe terms ``conj(O) d`` (propagated back by ``conj(K_j)``) and ``|O|^2``.

The set's probe step (sum over members in member order, beta denominator) follows
serially. The arithmetic is the numpy ``_sr_set`` it replaces, in float32; rounding
differs in the last bits (DUCC0 instead of pocketfft, ``|Psi|`` as
``sqrt(re^2 + im^2)`` except where a square underflows, sums in float64). Each member
is computed by one thread and the set sums run in member order, so the thread count
does not change the result.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from rocket_fft import c2c

from .kernels import _NORMAL, _TINY, _max2d, _probe_step

__all__ = ["sr_set", "shift_kernels_into"]


@njit(cache=True, nogil=True, error_model="numpy")
def _project_measured(f, am, meas, g):
    """``g = am f / max(|f|, 1e-30)`` where ``meas``, ``g = f`` elsewhere.

    Returns ``sum_meas (|f| - am)^2`` (float32 per row, float64 total). A row where
    a square underflows float32 is redone with ``hypot`` (as :func:`.kernels._project`).
    """
    h, w = f.shape
    tot = 0.0
    for y in range(h):
        frow = f[y]
        arow = am[y]
        mrow = meas[y]
        grow = g[y]
        n_small = 0
        e = np.float32(0.0)
        for x in range(w):
            zr = frow[x].real
            zi = frow[x].imag
            m2 = zr * zr + zi * zi
            mag = np.sqrt(m2)
            on = mrow[x]
            n_small += 1 if (on and m2 < _NORMAL) else 0
            s = arow[x] / max(mag, _TINY) if on else np.float32(1.0)
            dm = mag - arow[x] if on else np.float32(0.0)
            e += dm * dm
            grow[x] = np.complex64(complex(zr * s, zi * s))
        if n_small:
            e = np.float32(0.0)
            for x in range(w):
                zr = frow[x].real
                zi = frow[x].imag
                if mrow[x]:
                    mag = np.float32(np.hypot(zr, zi))
                    s = arow[x] / max(mag, _TINY)
                    dm = mag - arow[x]
                    e += dm * dm
                    grow[x] = np.complex64(complex(zr * s, zi * s))
                else:
                    grow[x] = frow[x]
        tot += e
    return tot


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _grad_row(pa, pb, f, orow, drow, w):
    """``(Re sum conj(J) d, sum |J|^2)`` over one row for ``J = -f (pa - pb) O``
    (float32 sums; ``reassoc`` lets them vectorize)."""
    a = np.float32(0.0)
    b = np.float32(0.0)
    for x in range(w):
        gr = (pa[x].real - pb[x].real) * f
        gi = (pa[x].imag - pb[x].imag) * f
        o = orow[x]
        jr = gi * o.imag - gr * o.real
        ji = -(gr * o.imag + gi * o.real)
        a += jr * drow[x].real + ji * drow[x].imag
        b += jr * jr + ji * ji
    return a, b


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _grad_steps(pj, obj, r, c, d, out):
    """``out = (Re sum conj(J_0) d, sum |J_0|^2, Re sum conj(J_1) d, sum |J_1|^2)`` for
    ``J_ax = -grad_ax(P_j) O`` (``numpy.gradient``: central differences, one-sided at the
    edges); float32 row sums, float64 totals."""
    h, w = pj.shape
    half = np.float32(0.5)
    one = np.float32(1.0)
    n0 = d0 = n1 = d1 = 0.0
    for y in range(h):
        orow = obj[r + y, c:c + w]
        drow = d[y]
        if y == 0:
            a, b = _grad_row(pj[1], pj[0], one, orow, drow, w)
        elif y == h - 1:
            a, b = _grad_row(pj[h - 1], pj[h - 2], one, orow, drow, w)
        else:
            a, b = _grad_row(pj[y + 1], pj[y - 1], half, orow, drow, w)
        n0 += a
        d0 += b
        prow = pj[y]
        a, b = _grad_row(prow[2:], prow[:w - 2], half, orow[1:w - 1], drow[1:w - 1], w - 2)
        a0, b0 = _grad_row(prow[1:2], prow[0:1], one, orow[0:1], drow[0:1], 1)
        a1, b1 = _grad_row(prow[w - 1:w], prow[w - 2:w - 1], one, orow[w - 1:w],
                           drow[w - 1:w], 1)
        n1 += a + a0 + a1
        d1 += b + b0 + b1
    out[0] = n0
    out[1] = d0
    out[2] = n1
    out[3] = d1


@njit(cache=True, nogil=True, error_model="numpy")
def _member(obj, probe, pf, kern, has_kern, am, meas, r, c, pj, psi, f, g, back, o2, alpha,
            ostep, upd_probe, refine, steps, weights, m, axes, scale, p2):
    """One member: its probe, exit wave, projection, update; returns its error."""
    h, w = probe.shape
    if has_kern:
        for y in range(h):
            for x in range(w):
                f[y, x] = pf[y, x] * kern[y, x]
        c2c(f, pj, axes, False, scale, 1)           # P_j
        pp = pj
    else:
        pp = probe
    for y in range(h):
        orow = obj[r + y, c:c + w]
        prow = pp[y]
        out = psi[y]
        for x in range(w):
            out[x] = orow[x] * prow[x]
    c2c(psi, f, axes, True, scale, 1)
    err = _project_measured(f, am, meas, g)
    c2c(g, g, axes, False, scale, 1)
    for y in range(h):                               # d = psi' - psi, into g
        grow = g[y]
        prow = psi[y]
        for x in range(w):
            grow[x] = grow[x] - prow[x]
    if refine:
        gs = np.empty(4)
        _grad_steps(pp, obj, r, c, g, gs)
        for ax in range(2):
            steps[m, ax] = gs[2 * ax] / (gs[2 * ax + 1] + 1e-30)
            weights[m, ax] = gs[2 * ax + 1]
    for y in range(h):
        prow = pp[y]
        qrow = p2[y]
        for x in range(w):
            q = prow[x]
            qrow[x] = q.real * q.real + q.imag * q.imag
    pmax = _max2d(p2)
    fa = np.float32(1.0 - alpha)
    fb = np.float32(alpha) * pmax
    fs = np.float32(ostep)
    for y in range(h):
        orow = obj[r + y, c:c + w]
        prow = pp[y]
        qrow = p2[y]
        drow = g[y]
        brow = back[y]
        o2row = o2[y]
        for x in range(w):
            o = orow[x]
            dd = drow[x]
            if upd_probe:
                brow[x] = o.conjugate() * dd
                o2row[x] = o.real * o.real + o.imag * o.imag
            orow[x] = o + prow[x].conjugate() * dd * (fs / (qrow[x] * fa + fb))
    if upd_probe and has_kern:                       # back through the adjoint of K_j
        c2c(back, f, axes, True, scale, 1)
        for y in range(h):
            for x in range(w):
                back[y, x] = f[y, x] * kern[y, x].conjugate()
    return err


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _members_parallel(obj, probe, pf, kern, has_kern, am, meas, rows, cols, pj, psi, f, g,
                      back, o2, alpha, ostep, upd_probe, refine, steps, weights, axes, scale,
                      p2, e):
    for m in prange(len(rows)):     # disjoint windows: the members' writes never meet
        km = kern[m] if has_kern else kern[0]
        e[m] = _member(obj, probe, pf, km, has_kern, am[m], meas, rows[m], cols[m], pj[m],
                       psi[m], f[m], g[m], back[m], o2[m], alpha, ostep, upd_probe, refine,
                       steps, weights, m, axes, scale, p2[m])


@njit(cache=True, nogil=True, error_model="numpy")
def _members_serial(obj, probe, pf, kern, has_kern, am, meas, rows, cols, pj, psi, f, g,
                    back, o2, alpha, ostep, upd_probe, refine, steps, weights, axes, scale,
                    p2, e):
    for m in range(len(rows)):
        km = kern[m] if has_kern else kern[0]
        e[m] = _member(obj, probe, pf, km, has_kern, am[m], meas, rows[m], cols[m], pj[m],
                       psi[m], f[m], g[m], back[m], o2[m], alpha, ostep, upd_probe, refine,
                       steps, weights, m, axes, scale, p2[m])


@njit(cache=True, nogil=True, error_model="numpy")
def sr_set(obj, probe, kern, has_kern, am, meas, rows, cols, alpha, beta, ostep, pstep,
           upd_probe, refine, steps, weights, pj, psi, f, g, back, o2, p2, parallel):
    """Update one super-resolved set (``k`` members) in place; returns its error.

    Parameters
    ----------
    obj : (Ny, Nx) complex64
        Fine object, updated.
    probe : (H, W) complex64
        Fine probe, updated when ``upd_probe``.
    kern : (k, H, W) complex64
        Each member's kernel ``K_j`` (FFT order); with ``has_kern`` False any
        (>= 1, H, W) complex64 array (unused).
    has_kern : bool
    am : (k, H, W) float32
        ``sqrt(I)`` on the measured frequencies, FFT order.
    meas : (H, W) bool
        The frequencies the detector measures (FFT order).
    rows, cols : (k,) int64
        Window corners on the fine grid.
    alpha, beta, ostep, pstep : float
        rPIE's object / probe regularization and step sizes.
    upd_probe, refine : bool
    steps, weights : (k, 2) float64
        With ``refine``: each member's Gauss-Newton shift step (fine px) and its curvature
        ``sum |J|^2``, written.
    pj, psi, f, g, back : (kmax, H, W) complex64
        Work buffers.
    o2, p2 : (kmax, H, W) float32
        Work buffers.
    parallel : bool
        Members on numba's threads (see :func:`.kernels.parallel_allowed`), else on the
        calling thread.

    Returns
    -------
    float : ``sum_measured (|Psi| - sqrt(I))^2`` over the members
    """
    h, w = probe.shape
    k = len(rows)
    axes = np.arange(2)
    scale = 1.0 / np.sqrt(h * w)
    pf = np.empty((h, w), np.complex64)
    if has_kern:
        c2c(probe, pf, axes, True, scale, 1)
    e = np.zeros(k)
    if parallel:
        _members_parallel(obj, probe, pf, kern, has_kern, am, meas, rows, cols, pj, psi, f, g,
                          back, o2, alpha, ostep, upd_probe, refine, steps, weights, axes,
                          scale, p2, e)
    else:
        _members_serial(obj, probe, pf, kern, has_kern, am, meas, rows, cols, pj, psi, f, g,
                        back, o2, alpha, ostep, upd_probe, refine, steps, weights, axes,
                        scale, p2, e)
    if upd_probe:
        s = back[0].copy()
        d2 = o2[0].copy()
        for m in range(1, k):
            s += back[m]
            d2 += o2[m]
        if has_kern:
            num = np.empty((h, w), np.complex64)
            c2c(s, num, axes, False, scale, 1)
        else:
            num = s
        _probe_step(probe, num.reshape((1, h, w)), d2.reshape((1, h, w)), 1, beta, pstep,
                    np.empty_like(d2), np.empty_like(num))
    tot = 0.0
    for m in range(k):
        tot += e[m]
    return tot


@njit(cache=True, nogil=True, error_model="numpy")
def shift_kernels_into(ry, rx, base, has_base, out):
    """``out[m] = ry[m][:, None] rx[m][None, :]`` (times ``base[m]`` when ``has_base``), in place.

    The members' Fourier-shift kernels (``rpie.shift_kernels``: separable ramps) rebuilt in
    their buffers after a position update, without allocating (k, H, W) arrays anew.

    Parameters
    ----------
    ry : (k, H) complex64
    rx : (k, W) complex64
    base : (k, H, W) complex64 (any (>= 1, H, W) array when not ``has_base``)
    has_base : bool
    out : (k, H, W) complex64, written
    """
    k, h, w = out.shape
    for m in range(k):
        for y in range(h):
            a = ry[m, y]
            orow = out[m, y]
            xrow = rx[m]
            if has_base:
                brow = base[m, y]
                for x in range(w):
                    orow[x] = a * xrow[x] * brow[x]
            else:
                for x in range(w):
                    orow[x] = a * xrow[x]
