"""Super-resolved rPIE: the object on a grid ``upsample`` times finer than the detector's pixel.

Why
---
The detector records the far field of the exit wave ``psi = P O`` over its
N x N pixels: spatial frequencies up to the detector Nyquist ``1/(2p)`` on
each axis. ``P`` is band-limited to the optic's pupil (radius ``q_p``), so
the recorded frequencies of ``psi`` depend on the object's frequencies up to
``1/(2p) + q_p`` - beyond what an object on the detector's pixel ``p`` can
hold. When every scan position sits on a whole object pixel the loss is
the same for all positions and a p-grid object absorbs it consistently;
at sub-pixel positions (any real scan) no p-grid object reproduces all
frames, and two scans of the same sample at different sub-pixel positions
(the two helicities) are fit with different errors, which their difference
(the XMCD) shows. On a grid ``p / u`` with ``u >= 2`` the model is complete
(``1/(2p) + q_p < u/(2p)`` whenever the pupil lies inside the detector).

This is the super-resolution of Maiden, Humphry et al. (Phys. Rev. A 84,
063820, 2011) restricted to the detector's aperture: the exit wave lives on
an ``uN x uN`` grid; its far field is the ``uN``-point orthonormal FFT,
whose central N x N frequencies are the detector's (the simulator's own
convention, :mod:`synthvec.forward.detector`); the modulus constraint acts
on those, the frequencies the detector does not see keep their current
values (they are not data). Everything else is rPIE as in :mod:`.rpie`
(update sets of disjoint windows, alpha / beta denominators, probe update
summed over a set, probe pupil-support constraint).

Grids
-----
- Fine probe: the nominal probe's spectrum zero-padded from N x N to
  uN x uN (orthonormal FFTs), so ``|FFT_uN(P_f)|^2`` cropped to the detector
  equals ``|FFT_N(P)|^2`` and the frames keep their normalization.
- Positions: multiplied by u and rounded to fine pixels (sub-pixel remainder
  applied as a Fourier shift of the probe with ``subpixel_positions``).
- Output: the object on the detector-pixel grid of :func:`.rpie.object_grid`
  (same coordinates as the plain engine, so post-processing is unchanged):
  ``log|O_f|`` and ``O_f`` Fourier-cropped to the coarse grid (band limit of
  the coarse pixel), ``O = exp(crop(log|O_f|) + i angle(crop(O_f)))``.
  The fine object is kept in the result's ``object_fine`` for diagnostics.

Schedule (``ptycho.upsample > 1``): ``iterations`` of plain rPIE (with
position refinement when on) give the start - object (Fourier-interpolated),
probe and positions - of ``upsample_iterations`` on the fine grid, where
the positions keep being refined (fine-pixel Gauss-Newton steps, as
:func:`.rpie.refine_positions`). Started from a flat object the fine grid
needs ~60 iterations; from the plain result 20 reach the same XMCD.

Measured on one helicity pair of the quick geometry (phi 120, theta 38 deg;
the dose-ladder runs' CXI files reconstructed with each setting, the XMCD
half-difference compared with the exact projection of the truth): XMCD NRMSE full resolution / low-passed
(Gaussian, 1 px), sub-pixel positions refined in all rows:

========================================  ===========  ===========  ===========
setting                                   1e6 photons  1e8          1e9
========================================  ===========  ===========  ===========
plain, 20 iterations (high_dose.toml)     1.17 / 0.52  0.56 / 0.27  0.47 / 0.26
plain, 60 iterations                      1.11 / 0.45  0.45 / 0.19  0.41 / 0.18
plain, 60 it., *true* positions                                     0.40 / 0.15
upsample 2: 60 plain + 20 fine            1.11 / 0.39  0.31 / 0.11  0.30 / 0.10
upsample 2, *true* positions, 60 fine                               0.18 / 0.10
========================================  ===========  ===========  ===========

The plain engine's floor (0.40 / 0.15 even with the true positions) is the
model error described above; on the fine grid it goes. Positions: 0.85 px
rms nominal error -> 0.19 px after 60 plain iterations -> 0.12-0.15 px
after 20 more on the fine grid.

Cost: the FFTs are u^2 (log) times larger, ~4.7x per frame at u = 2
(60 plain + 20 fine iterations: ~12 s per scan of ~100 frames, one thread,
against ~1 s for the quick defaults, before the fine sets were compiled).

Execution: each update set runs :func:`.kernels_superres.sr_set` (numba,
rocket-fft's DUCC0 FFTs inside; a set's members on up to ``n_threads()``
threads, the count picked per call by ``kernels.ThreadChoice`` as in
:mod:`.rpie`; same arithmetic as the numpy set update it replaced, kept as
:func:`_sr_set_numpy` for ``bench/bench_superres.py``). With per-position
probes a member costs four FFTs (``P_j``, forward, inverse, probe step back
through ``conj(K_j)``) and a set two more (``F[P]``, the summed step), against
the floor's two per frame. ``bench/bench_superres.py`` on a high_dose CXI scan
(88 frames, 128 x 128 fine windows in 68 sets, sub-pixel shifts, position
refinement and probe update; one thread, CPU time, 2-core machine shared with
two pipeline runs): numpy 0.131-0.134 s/iteration (6.0-6.3x the batched FFT
floor of 88 frames, 21-22 ms), compiled 0.049-0.050 s (2.0-2.3x); 2.7x faster.
The set loop stays in Python (one compiled call per set, <2 % of the time).
From a flat start the first modulus projections take the phase of
frequencies where ``|Psi|`` is rounding noise, so after 4 iterations the
compiled and numpy objects differ by as much (9 % rms) as the numpy engine
from a start perturbed by 1e-7; set by set they agree to float32 rounding
(``tests/test_superres_kernels.py``).
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np

from ...errors import ConfigError
from . import kernels as _k
from . import kernels_superres as _ksr
from . import rpie as _rp
from .config import PtychoConfig
from .data import PtychoData
from .rpie import (ObjectGrid, fft2, fresnel_kernels, object_grid, refine_positions,
                   shift_kernels, update_sets)

__all__ = ["upsample_object", "refined_positions", "fine_probe", "coarse_from_fine_probe", "measured_indices", "superres_grid",
           "downsample_object", "SRScan", "prepare_sr_scan", "sr_rpie"]


def measured_indices(n_fine: int, n_det: int) -> np.ndarray:
    """FFT-order indices of the uN grid that the detector's DC-centred pixels see, (N,) int."""
    return np.mod(np.arange(-(n_det // 2), n_det - n_det // 2), n_fine)


def fine_probe(probe: np.ndarray, upsample: int) -> np.ndarray:
    """Centred probe on the u-times finer grid with the same detector far field.

    Parameters
    ----------
    probe : (N, N) complex, centred at N // 2
    upsample : int

    Returns
    -------
    (uN, uN) complex64, centred at uN // 2; ``sum |P_f|^2 = sum |P|^2``
    """
    n = probe.shape[-1]
    nf = upsample * n
    spec = np.fft.fft2(np.fft.ifftshift(np.asarray(probe, np.complex128)), norm="ortho")
    idx = np.fft.ifftshift(measured_indices(nf, n))   # FFT order of the N grid -> fine index
    big = np.zeros((nf, nf), np.complex128)
    big[np.ix_(idx, idx)] = spec
    return np.fft.fftshift(np.fft.ifft2(big, norm="ortho")).astype(np.complex64)


def coarse_from_fine_probe(probe_f: np.ndarray, n_det: int) -> np.ndarray:
    """Inverse of :func:`fine_probe`: the detector-pixel probe with the same detector far field."""
    nf = probe_f.shape[-1]
    spec = np.fft.fft2(np.fft.ifftshift(np.asarray(probe_f, np.complex128)), norm="ortho")
    idx = np.fft.ifftshift(measured_indices(nf, n_det))
    small = spec[np.ix_(idx, idx)]
    return np.fft.fftshift(np.fft.ifft2(small, norm="ortho")).astype(np.complex64)


def superres_grid(positions_px: np.ndarray, window: tuple[int, int], upsample: int,
                  pad: int = 0) -> tuple[ObjectGrid, ObjectGrid]:
    """Coarse object grid (as the plain engine) and its u-times finer twin.

    The fine grid's index ``u i`` lies on the coarse grid's index ``i`` (same
    origin), so Fourier cropping maps one onto the other.

    Returns
    -------
    coarse, fine : ObjectGrid (fine corners: top-left of each uN window,
    positions ``u * positions_px`` rounded to fine pixels)
    """
    u = int(upsample)
    coarse = object_grid(positions_px, window, pad + 1)   # one pixel of room for rounding
    pos_f = np.rint(np.asarray(positions_px, float) * u).astype(np.int64)
    origin_f = (coarse.origin[0] * u, coarse.origin[1] * u)
    wf = (window[0] * u, window[1] * u)
    corners = pos_f - np.array([wf[0] // 2, wf[1] // 2]) + np.array(origin_f)
    fine = ObjectGrid(shape=(coarse.shape[0] * u, coarse.shape[1] * u), origin=origin_f,
                      corners=corners)
    if corners.min() < 0 or (corners + np.array(wf)).max(axis=0).max() > max(fine.shape):
        raise AssertionError("fine windows outside the fine grid")   # pragma: no cover
    return coarse, fine


def _resample(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Fourier resampling to ``shape`` (index 0 fixed; Nyquist bins split as scipy.signal does)."""
    from scipy.signal import resample

    return resample(resample(x, shape[0], axis=0), shape[1], axis=1)


def upsample_object(obj: np.ndarray, upsample: int) -> np.ndarray:
    """Detector-pixel object -> u-times finer grid (index ``u i`` on ``i``), band-limited.

    Log-amplitude and the unit phasor are Fourier-interpolated separately
    (both vary smoothly where the transmission does); the result has no
    spectral content beyond the coarse grid's (the start of the fine iterations).

    Returns
    -------
    (u Ny, u Nx) complex64
    """
    u = int(upsample)
    shape = (obj.shape[0] * u, obj.shape[1] * u)
    loga = np.log(np.maximum(np.abs(obj).astype(np.float64), 1e-6))
    unit = np.exp(1j * np.angle(obj.astype(np.complex128)))
    return (np.exp(_resample(loga, shape)) * np.exp(1j * np.angle(_resample(unit, shape)))
            ).astype(np.complex64)


def downsample_object(obj_f: np.ndarray, upsample: int) -> np.ndarray:
    """Fine object -> detector-pixel object (see module docstring), (Ny, Nx) complex64."""
    u = int(upsample)
    shape = (obj_f.shape[0] // u, obj_f.shape[1] // u)
    loga = np.log(np.maximum(np.abs(obj_f).astype(np.float64), 1e-6))
    ph = np.angle(_resample(obj_f.astype(np.complex128), shape))
    return (np.exp(_resample(loga, shape)) * np.exp(1j * ph)).astype(np.complex64)


class SRScan:
    """One scan prepared for super-resolved rPIE (sets, amplitudes on the fine spectrum)."""

    def __init__(self, frames: np.ndarray, grid: ObjectGrid, upsample: int,
                 kernels: np.ndarray | None = None, max_set_size: int = 0,
                 refine_shifts: np.ndarray | None = None, obj: np.ndarray | None = None):
        n = frames.shape[-1]
        nf = upsample * n
        self.obj = (np.ones(grid.shape, np.complex64) if obj is None
                    else np.ascontiguousarray(obj, np.complex64))
        idx = measured_indices(nf, n)
        amp = np.sqrt(np.maximum(frames, 0)).astype(np.float32)
        sets = update_sets(grid.corners, (nf, nf), max_set_size)
        self.amps, self.rows, self.cols, self.kernels = [], [], [], []
        for s in sets:
            a = np.zeros((len(s), nf, nf), np.float32)
            a[:, idx[:, None], idx[None, :]] = amp[s]
            self.amps.append(a)
            self.rows.append(grid.corners[s, 0])
            self.cols.append(grid.corners[s, 1])
            self.kernels.append(None if kernels is None else np.ascontiguousarray(kernels[s]))
        mask = np.zeros((nf, nf), bool)
        mask[idx[:, None], idx[None, :]] = True
        self.measured = mask
        self.norm = float(np.sum(amp.astype(np.float64) ** 2)) or 1.0
        self.sets = sets
        self.window = nf
        self.upsample = upsample
        # position refinement (attributes as rpie's scans, so rpie.refine_positions applies)
        self.base = self.shifts = self.steps = self.weights = None
        if refine_shifts is not None:
            self.base = None if kernels is None else self.kernels
            self.shifts = [np.asarray(refine_shifts, float)[s].copy() for s in sets]
            self.steps = [np.zeros((len(s), 2)) for s in sets]
            self.weights = [np.zeros((len(s), 2)) for s in sets]
            self.kernels = [shift_kernels(sh, (nf, nf)) * (1 if b is None else b)
                            for sh, b in zip(self.shifts, self.base or [None] * len(sets))]


def refined_positions(sc: SRScan, positions_px: np.ndarray) -> np.ndarray:
    """Positions (object px) of a scan's kept frames after its fine-grid refinement."""
    u = sc.upsample
    pos_f = np.rint(np.asarray(positions_px, float) * u)
    if sc.shifts is not None:
        pos_f[np.concatenate(sc.sets)] += np.concatenate(sc.shifts)
    return pos_f / u


def prepare_sr_scan(data: PtychoData, keep: np.ndarray, cfg: PtychoConfig,
                    fresnel_dz_nm: np.ndarray | None = None, *,
                    positions_px: np.ndarray | None = None,
                    start: tuple[np.ndarray, ObjectGrid] | None = None
                    ) -> tuple[SRScan, ObjectGrid, ObjectGrid]:
    """Grids, per-position probe kernels and amplitudes of one scan's kept frames.

    ``positions_px`` (len(keep), 2): positions of the kept frames (default the
    data's); ``start``: a detector-pixel object and its grid to start from
    (placed by their common origin, upsampled; ones elsewhere).
    """
    u = cfg.upsample
    window = data.probe.shape
    pos = data.positions_px[keep] if positions_px is None else np.asarray(positions_px, float)
    coarse, fine = superres_grid(pos, window, u, cfg.object_padding_px)
    obj = None
    if start is not None:
        o0, g0 = start
        big = np.ones(coarse.shape, np.complex64)
        dy, dx = coarse.origin[0] - g0.origin[0], coarse.origin[1] - g0.origin[1]
        ys, xs = slice(max(dy, 0), min(dy + g0.shape[0], coarse.shape[0])), \
            slice(max(dx, 0), min(dx + g0.shape[1], coarse.shape[1]))
        big[ys, xs] = o0[ys.start - dy:ys.stop - dy, xs.start - dx:xs.stop - dx]
        obj = upsample_object(big, u)
    nf = u * window[0]
    kernels = None
    if fresnel_dz_nm is not None:
        kernels = fresnel_kernels(fresnel_dz_nm, (nf, nf), pixel_nm=data.pixel_nm / u,
                                  wavelength_nm=data.wavelength_nm)
    frac = pos * u - np.rint(pos * u)
    refine = None
    if cfg.position_refinement:
        refine = frac if cfg.subpixel_positions else np.zeros_like(frac)
    elif cfg.subpixel_positions and np.abs(frac).max() > 1e-3:
        ramps = shift_kernels(frac, (nf, nf))
        kernels = ramps if kernels is None else kernels * ramps
    return (SRScan(data.frames[keep], fine, u, kernels, cfg.max_set_size, refine, obj),
            coarse, fine)


def sr_rpie(scans: Sequence[SRScan], probe_f: np.ndarray, cfg: PtychoConfig, *,
            rng: np.random.Generator, probe_constraint: Callable | None = None
            ) -> tuple[np.ndarray, np.ndarray, float]:
    """``cfg.iterations`` of super-resolved rPIE on scans sharing one fine probe.

    Parameters
    ----------
    scans : prepared scans (objects updated in place)
    probe_f : (uN, uN) complex64 initial fine probe
    probe_constraint : callable on the fine probe, applied after each
        iteration with probe updates

    Returns
    -------
    probe_f : (uN, uN) complex64
    error : (iterations, len(scans)) float64, ``sum_measured (|Psi| - a)^2 / sum a^2``
    seconds_per_iteration : float
    """
    if cfg.object_momentum or cfg.probe_momentum:
        raise ConfigError("ptycho.upsample", "super-resolution (upsample > 1) does not support "
                          "momentum; set object_momentum and probe_momentum to 0")
    with _rp._running_lock:       # shares n_threads() with the rpie calls running now
        _rp._running[0] += 1
    try:
        return _sr_rpie(scans, probe_f, cfg, rng, probe_constraint, compiled=True)
    finally:
        with _rp._running_lock:
            _rp._running[0] -= 1


def _sr_rpie(scans: Sequence[SRScan], probe_f: np.ndarray, cfg: PtychoConfig,
             rng: np.random.Generator, probe_constraint: Callable | None, *,
             compiled: bool = True) -> tuple[np.ndarray, np.ndarray, float]:
    """:func:`sr_rpie`'s body; ``compiled=False`` runs the numpy sets (:func:`_sr_set_numpy`,
    kept for ``bench/bench_superres.py``)."""
    from ...threads import n_threads

    P = np.array(probe_f, np.complex64, copy=True, order="C")
    errors = np.zeros((cfg.iterations, len(scans)))
    order = [(i, j) for j in range(max(len(s.amps) for s in scans))
             for i, s in enumerate(scans) if j < len(s.amps)]
    if compiled:
        bufs = _buffers(scans, P.shape)
        choice = _k.ThreadChoice(_rp._sweep_threads())
        n_set = 0                   # numba threads last set
    t0 = time.perf_counter()
    for it in range(cfg.iterations):
        upd_probe = cfg.probe_update and it >= cfg.probe_update_start
        refine = cfg.position_refinement and it >= cfg.position_refinement_start
        if cfg.set_order == "random":
            perms = [rng.permutation(len(s.amps)) for s in scans]
            sched = [(i, perms[i][j]) for i, j in order]
        else:
            sched = order
        if compiled:
            choice.limit(_rp._sweep_threads())
            for i, s in sched:
                n_thr = choice.plan()[0]
                if n_thr > 1 and n_thr != n_set:
                    n_set = _k.set_threads(n_thr)
                tc = time.perf_counter()
                errors[it, i] += _sr_set(scans[i], s, P, cfg, upd_probe, refine, bufs,
                                         n_thr > 1)
                choice.done(time.perf_counter() - tc, len(scans[i].rows[s]))
        else:
            workers = n_threads()
            for i, s in sched:
                errors[it, i] += _sr_set_numpy(scans[i], s, P, cfg, upd_probe, workers, refine)
        for sc in scans:
            if refine and sc.steps is not None:
                (_refine_sr if compiled else refine_positions)(
                    sc, max_shift_px=cfg.max_position_shift_px * sc.upsample,
                    gain=cfg.position_gain)
        if upd_probe and probe_constraint is not None:
            P[...] = probe_constraint(P)
        for i, sc in enumerate(scans):
            errors[it, i] /= sc.norm
    spi = (time.perf_counter() - t0) / cfg.iterations
    return P, errors, spi


def _refine_sr(sc: SRScan, *, max_shift_px: float, gain: float = 1.0) -> None:
    """:func:`.rpie.refine_positions` (the same damped, mean-free, clipped step) with the
    members' kernels rebuilt in place (:func:`.kernels_superres.shift_kernels_into`:
    ~5x cheaper than new (k, uN, uN) arrays each iteration)."""
    wmax = np.concatenate(sc.weights).max(axis=0)
    damped = [st * w / (w + 0.1 * wmax + 1e-30) for st, w in zip(sc.steps, sc.weights)]
    mean = np.concatenate(damped).mean(axis=0)
    for sh, st, dm in zip(sc.shifts, sc.steps, damped):
        sh += np.clip(gain * (dm - mean), -0.25, 0.25)
        np.clip(sh, -max_shift_px, max_shift_px, out=sh)
        st[:] = 0.0
    q = np.fft.fftfreq(sc.window)
    for i, sh in enumerate(sc.shifts):
        ry = np.exp(-2j * np.pi * sh[:, 0, None] * q[None, :]).astype(np.complex64)
        rx = np.exp(-2j * np.pi * sh[:, 1, None] * q[None, :]).astype(np.complex64)
        base = sc.base[i] if sc.base is not None else sc.kernels[i]
        _ksr.shift_kernels_into(ry, rx, base, sc.base is not None, sc.kernels[i])


def _buffers(scans: Sequence[SRScan], shape: tuple[int, int]) -> tuple:
    """Work buffers of :func:`.kernels_superres.sr_set` for the largest set of ``scans``:
    pj, psi, f, g, back (complex64), o2, p2 (float32), (kmax, H, W); (kmax, 2) float64
    steps for sets without refinement; a (1, H, W) kernel for sets without kernels."""
    kmax = max(len(r) for sc in scans for r in sc.rows)
    c = [np.empty((kmax, *shape), np.complex64) for _ in range(5)]
    f = [np.empty((kmax, *shape), np.float32) for _ in range(2)]
    return (*c, *f, np.zeros((kmax, 2)), np.ones((1, *shape), np.complex64))


def _sr_set(sc: SRScan, s: int, P: np.ndarray, cfg: PtychoConfig, upd_probe: bool,
            refine: bool, bufs: tuple, parallel: bool) -> float:
    """Update one set in place with :func:`.kernels_superres.sr_set`; returns its
    ``sum_measured (|Psi| - a)^2``. With ``refine`` (and a scan prepared for it) the
    members' Gauss-Newton shift steps go to ``sc.steps[s]`` / ``sc.weights[s]``."""
    k = len(sc.rows[s])
    do_ref = refine and sc.steps is not None
    steps = sc.steps[s] if do_ref else bufs[7][:k]
    weights = sc.weights[s] if do_ref else bufs[7][:k]
    K = sc.kernels[s]
    return _ksr.sr_set(sc.obj, P, bufs[8] if K is None else K, K is not None, sc.amps[s],
                       sc.measured, sc.rows[s], sc.cols[s], cfg.alpha, cfg.beta,
                       cfg.object_step, cfg.probe_step, upd_probe, do_ref, steps, weights,
                       *bufs[:7], parallel)


def _sr_set_numpy(sc: SRScan, s: int, P: np.ndarray, cfg: PtychoConfig, upd_probe: bool,
                  workers: int, refine: bool = False) -> float:
    """Update one set (disjoint fine windows) in place; the probe too when ``upd_probe``
    (the numpy engine the compiled :func:`_sr_set` replaced; kept for the benchmark)."""
    a, b = cfg.alpha, cfg.beta
    w = sc.window
    am = sc.amps[s]
    r, c = sc.rows[s], sc.cols[s]
    K = sc.kernels[s]
    wk = min(workers, len(am)) if len(am) >= 4 else 1
    if K is None:
        Pj = P[None]
    else:
        Pj = fft2(np.ascontiguousarray(fft2(P, workers=1)[None] * K), forward=False,
                  workers=wk)
    ri = r[:, None, None] + np.arange(w)[None, :, None]
    ci = c[:, None, None] + np.arange(w)[None, None, :]
    op = sc.obj[ri, ci]                                   # (k, w, w) gather
    psi = op * Pj
    Psi = fft2(np.ascontiguousarray(psi), workers=wk)
    mag = np.abs(Psi)
    ratio = np.where(sc.measured, am / np.maximum(mag, 1e-30), 1.0).astype(np.float32)
    err = float(np.sum(np.where(sc.measured, (mag - am) ** 2, 0.0), dtype=np.float64))
    Psi *= ratio
    d = fft2(Psi, forward=False, workers=wk)
    d -= psi
    if refine and sc.steps is not None:
        # Gauss-Newton step of each member's shift (fine px): d(psi)/d(shift) = -grad(P_j) O_j
        for ax in (0, 1):
            jac = -np.gradient(Pj, axis=ax + 1) * op
            sc.weights[s][:, ax] = den = np.sum(np.abs(jac) ** 2, axis=(1, 2))
            sc.steps[s][:, ax] = np.real(np.sum(np.conj(jac) * d, axis=(1, 2))) / (den + 1e-30)
    p2 = (np.abs(Pj) ** 2).astype(np.float32)
    pmax = p2.reshape(len(p2), -1).max(axis=1)[:, None, None]
    sc.obj[ri, ci] = op + cfg.object_step * np.conj(Pj) * d / ((1 - a) * p2 + a * pmax)
    if upd_probe:
        o2 = (np.abs(op) ** 2).sum(axis=0)
        g = np.conj(op) * d
        if K is not None:    # back through each member's propagator (adjoint), then sum
            g = fft2(np.ascontiguousarray(fft2(np.ascontiguousarray(g), workers=wk)
                                          * np.conj(K)).sum(axis=0)[None], forward=False,
                     workers=1)
        step = g.sum(axis=0) / ((1 - b) * o2 + b * o2.max())
        P += (cfg.probe_step * step).astype(np.complex64)
    return err
