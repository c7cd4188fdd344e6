"""Compiled update of one set with a probe per position (tilted-plane defocus, sub-pixel shifts).

Position ``j`` sees ``P_j = F^-1[F[P] K_j]`` (``K_j``: its Fresnel propagator
and/or Fourier shift). The object update uses ``P_j`` in the rPIE formula; the
probe step of each member is propagated back by ``conj(K_j)`` (the adjoint of
the unitary propagation) before the members are summed. Per member four
FFTs instead of two (``P_j``, forward, inverse, back-propagation), plus two per
set (``F[P]`` and the summed step). With position refinement each member also
gets the Gauss-Newton step of its probe shift from ``d psi / d shift =
-grad(P_j) O_j`` (``grad`` as ``numpy.gradient``: central differences, one-sided
at the edges) and the residual ``psi' - psi``.

Same arithmetic as the numpy engine it replaces (float32; rounding differs in
the last bits), members of a set in parallel as in :mod:`.kernels`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from rocket_fft import c2c

from .kernels import _max2d, _probe_step, _project

__all__ = ["tilted_set"]


@njit(cache=True, nogil=True, error_model="numpy")
def _grad_step(pj, obj, r, c, d, ax):
    """``(Re sum conj(J) d, sum |J|^2)`` for ``J = -grad_ax(P_j) O`` (numpy.gradient)."""
    h, w = pj.shape
    num = 0.0
    den = 0.0
    for y in range(h):
        for x in range(w):
            if ax == 0:
                if y == 0:
                    g = pj[1, x] - pj[0, x]
                elif y == h - 1:
                    g = pj[h - 1, x] - pj[h - 2, x]
                else:
                    g = (pj[y + 1, x] - pj[y - 1, x]) * np.float32(0.5)
            else:
                if x == 0:
                    g = pj[y, 1] - pj[y, 0]
                elif x == w - 1:
                    g = pj[y, w - 1] - pj[y, w - 2]
                else:
                    g = (pj[y, x + 1] - pj[y, x - 1]) * np.float32(0.5)
            jac = -g * obj[r + y, c + x]
            num += (jac.real * d[y, x].real + jac.imag * d[y, x].imag)
            den += jac.real * jac.real + jac.imag * jac.imag
    return num, den


@njit(cache=True, nogil=True, error_model="numpy")
def _member(obj, pf, kern, am, r, c, pj, psi, f, g, back, o2, alpha, ostep, upd_probe,
            refine, steps, weights, m, axes, scale, p2):
    """One member: its probe, exit wave, projection, update; returns ``sum |d|^2``."""
    h, w = pj.shape
    for y in range(h):
        for x in range(w):
            f[y, x] = pf[y, x] * kern[y, x]
    c2c(f, pj, axes, False, scale, 1)               # P_j
    for y in range(h):
        for x in range(w):
            psi[y, x] = obj[r + y, c + x] * pj[y, x]
    c2c(psi, f, axes, True, scale, 1)
    _project(f, am, g)
    c2c(g, g, axes, False, scale, 1)
    err = 0.0
    for y in range(h):                               # d = psi' - psi, into g
        for x in range(w):
            dd = g[y, x] - psi[y, x]
            g[y, x] = dd
            err += dd.real * dd.real + dd.imag * dd.imag
    if refine:
        for ax in range(2):
            num, den = _grad_step(pj, obj, r, c, g, ax)
            steps[m, ax] = num / (den + 1e-30)
            weights[m, ax] = den
    for y in range(h):
        for x in range(w):
            q = pj[y, x]
            p2[y, x] = q.real * q.real + q.imag * q.imag
    pmax = _max2d(p2)
    fa = np.float32(1.0 - alpha)
    fb = np.float32(alpha) * pmax
    fs = np.float32(ostep)
    for y in range(h):
        for x in range(w):
            o = obj[r + y, c + x]
            dd = g[y, x]
            if upd_probe:
                back[y, x] = o.conjugate() * dd
                o2[y, x] = o.real * o.real + o.imag * o.imag
            obj[r + y, c + x] = o + pj[y, x].conjugate() * dd * (fs / (p2[y, x] * fa + fb))
    if upd_probe:
        c2c(back, f, axes, True, scale, 1)
        for y in range(h):
            for x in range(w):
                back[y, x] = f[y, x] * kern[y, x].conjugate()
    return err


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _members_parallel(obj, pf, kern, am, rows, cols, pj, psi, f, g, back, o2, alpha, ostep,
                      upd_probe, refine, steps, weights, axes, scale, p2, e):
    for m in prange(len(rows)):
        e[m] = _member(obj, pf, kern[m], am[m], rows[m], cols[m], pj[m], psi[m], f[m], g[m],
                       back[m], o2[m], alpha, ostep, upd_probe, refine, steps, weights, m,
                       axes, scale, p2[m])


@njit(cache=True, nogil=True, error_model="numpy")
def _members_serial(obj, pf, kern, am, rows, cols, pj, psi, f, g, back, o2, alpha, ostep,
                    upd_probe, refine, steps, weights, axes, scale, p2, e):
    for m in range(len(rows)):
        e[m] = _member(obj, pf, kern[m], am[m], rows[m], cols[m], pj[m], psi[m], f[m], g[m],
                       back[m], o2[m], alpha, ostep, upd_probe, refine, steps, weights, m,
                       axes, scale, p2[m])


@njit(cache=True, nogil=True, error_model="numpy")
def tilted_set(obj, probe, kern, am, rows, cols, alpha, beta, ostep, pstep, upd_probe, refine,
               steps, weights, pj, psi, f, g, back, o2, p2, parallel):
    """Update one set (``k`` members, per-member probe kernels) in place; returns its error.

    Parameters
    ----------
    obj : (Ny, Nx) complex64, updated
    probe : (H, W) complex64, updated when ``upd_probe``
    kern : (k, H, W) complex64
        Each member's kernel ``K_j`` (FFT order).
    am : (k, H, W) float32
        ``sqrt(I)``, FFT order.
    rows, cols : (k,) int64
    steps, weights : (k, 2) float64
        With ``refine``: each member's Gauss-Newton shift step (px) and its curvature.
    pj, psi, f, g, back : (kmax, H, W) complex64
        Work buffers.
    o2, p2 : (kmax, H, W) float32
    parallel : bool
        Members on numba's threads, else on the calling thread.

    Returns
    -------
    float : ``sum |psi' - psi|^2`` over the members
    """
    h, w = probe.shape
    k = len(rows)
    axes = np.arange(2)
    scale = 1.0 / np.sqrt(h * w)
    pf = np.empty((h, w), np.complex64)
    c2c(probe, pf, axes, True, scale, 1)            # orthonormal both ways: P_j = F^-1[F[P] K_j]
    e = np.zeros(k)
    if parallel:
        _members_parallel(obj, pf, kern, am, rows, cols, pj, psi, f, g, back, o2, alpha, ostep,
                          upd_probe, refine, steps, weights, axes, scale, p2, e)
    else:
        _members_serial(obj, pf, kern, am, rows, cols, pj, psi, f, g, back, o2, alpha, ostep,
                        upd_probe, refine, steps, weights, axes, scale, p2, e)
    if upd_probe:
        s = back[0].copy()
        d2 = o2[0].copy()
        for m in range(1, k):
            s += back[m]
            d2 += o2[m]
        num = np.empty((h, w), np.complex64)
        c2c(s, num, axes, False, scale, 1)
        _probe_step(probe, num.reshape((1, h, w)), d2.reshape((1, h, w)), 1, beta, pstep,
                    np.empty_like(d2), np.empty_like(num))
    tot = 0.0
    for m in range(k):
        tot += e[m]
    return tot
