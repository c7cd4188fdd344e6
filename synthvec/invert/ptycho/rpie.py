"""rPIE (Maiden, Johnson & Li, Optica 4, 736, 2017, doi:10.1364/OPTICA.4.000736), batched.

Update order and why it is exact
--------------------------------
Published rPIE visits positions one at a time. For position j with exit wave
``psi = P O_j`` and its modulus-projected ``psi'``:

    O_j <- O_j + conj(P) (psi' - psi) / ((1 - alpha)|P|^2 + alpha max|P|^2)
    P   <- P   + conj(O_j) (psi' - psi) / ((1 - beta)|O_j|^2 + beta max|O_j|^2)

Here the positions are split once into *update sets* whose probe windows are
mutually disjoint (greedy colouring of the window-overlap graph). A set is
processed together: one batched FFT, one batched inverse FFT, one object
update. Because the windows of a set share no object pixel, the object update
of a set is *identical* to visiting its positions one after another; only the
probe update differs: a set contributes one probe step with the sums over its
members,

    P <- P + sum_k conj(O_k) dpsi_k / ((1 - beta) S + beta max S),  S = sum_k |O_k|^2,

which is the published update when the set has one member. Within an
iteration the sets run in a fresh random order (``set_order='random'``,
default) or in colouring order (``'fixed'``, consecutive sets are neighbours
shifted by one scan step: a raster sweep).

Effect on convergence, measured on P1 (``bench/bench_rpie.py``, 100
iterations): from the true probe both orders reach NRMSE 0.0153 (alpha
0.05; 0.0206 at alpha 0.1, the peers' 0.0205 with the same alpha), so the
order of the disjoint sets does not matter there. With probe update from a
defocused nominal probe the batched probe steps (one per set, ~78 per
sweep) reach complex NRMSE 0.026, the published one-position-at-a-time
order (``max_set_size=1``, 289 probe steps per sweep) 0.028 (untested
explanation: one step per set averages the Poisson noise of its members,
where each single-position step follows one frame's noise).

Positions are placed on whole object pixels; with ``subpixel_positions``
the remainder is applied to the probe as a Fourier shift per position (the
same per-position probe path as the tilted-plane defocus, about twice the
FFTs). Position refinement (option) takes, per member of a set, the
Gauss-Newton step of its probe shift from ``d psi / d shift = -grad(P_j) O_j``
and the residual ``psi' - psi``, applies the steps (times a gain, less their
mean) after each sweep, and rebuilds the shift kernels; on P1-like data with
0.6 px rms position errors it recovers them to 0.15 px rms in 60 iterations
(tests). On the simulator's scans (partial coherence, defocus error, scans
reaching over vacuum) it lowers the data error but moves positions *away*
from the truth (1.06 px rms vs 0.60 nominal, one -30 deg scan): positions
then absorb other model errors, so it stays off by default.

On the simulator's quick scenario (192 scans of 56-95 frames, probe rings
filling the 64 x 64 window, 40 nm steps = 8 px) the windows of almost all
positions overlap, so update sets hold 1-2 positions: a set's frames hardly
split over two threads, and one scan costs 2.7x the batched (2-worker) FFT
floor of the same frames with one probe, 6.3-6.7x with a probe per position
(sub-pixel shifts or tilted-plane defocus: 4 FFTs per frame instead of 2;
``bench_rpie.py`` 'sim quick' rows, idle machine). The pipeline runs
``n_threads()`` scans at once, one thread each. Probe-disc colouring
does not help there: 1 % of the nominal probe's energy lies beyond 32 px.
The first pipeline run (100 iterations, sub-pixel shifts, beta 0.1) cost
~2.7 s CPU per scan; the defaults now (20 iterations, whole-pixel positions,
beta 0.5) ~0.35 s, with a lower OD error against the truth (0.22 vs 0.37).

The error of an iteration is ``sum ||psi' - psi||^2`` over its frames (by
Parseval, ``sum (|Psi| - sqrt I)^2``), normalized by ``sum I``.

Execution: scans with one probe for all positions run in the compiled sweep of
:mod:`.kernels` (numba; a set's frames on up to ``n_threads()`` threads, FFTs
by rocket-fft's DUCC0 inside, three fused passes per frame, the set's probe
step and object weight in place; the thread count is picked per call by
measurement, see ``kernels.ThreadChoice``); sets with a probe per position
(tilted-plane defocus, sub-pixel shifts, position refinement) run
:func:`.kernels_tilted.tilted_set` (4 FFTs per frame; P1 at 60 deg with
tilted_plane, one thread: 58 ms/iteration in numpy, 32 ms compiled).

Speed on P1 (``bench/bench_rpie.py``, idle 2-core machine, three runs,
ratio to the batched scipy.fft floor of the same run, 4.8-5.8 ms; the numpy
engine in two runs minutes apart, same floor): numpy engine 16-18
ms/iteration (3.2x) from the true probe, 23-28 ms (4.7-4.9x) with probe
update; compiled sweep 6.9-7.8 ms (1.3-1.5x) and 7.9-9.5 ms
(1.6-1.9x), on one thread 9.6-11.4 ms (2.0-2.2x); NRMSE unchanged (0.0151 /
0.0255). Where one thread's time goes:
578 DUCC0 64 x 64 FFTs 7.9 ms, the fused passes 2.0 ms, probe steps 1.2 ms.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from numba.typed import List as _TypedList

from ...threads import n_threads
from . import kernels as _k
from . import kernels_tilted as _kt
from .config import PtychoConfig

try:  # scipy.fft's own pocketfft kernel, without the ~15-40 us of argument handling per call
    from scipy.fft._pocketfft.pypocketfft import c2c as _c2c
except ImportError:  # pragma: no cover - other scipy layouts
    _c2c = None

__all__ = ["update_sets", "ObjectGrid", "object_grid", "rpie"]

_running = [0]                  # rpie calls running in this process (e.g. Dask thread workers)
_running_lock = threading.Lock()


def _sweep_threads() -> int:
    """Threads of one compiled sweep: ``n_threads()`` shared by the rpie calls running now.

    The pipeline runs scans as Dask thread tasks, ``n_threads()`` at a time; each sweep then
    takes one thread instead of oversubscribing the cores (a set's frames are split over
    its threads with a barrier per set: a descheduled thread stalls them all). One in a
    process forked from one that used numba's OpenMP threads (see
    ``kernels.parallel_allowed``).
    """
    if not _k.parallel_allowed():
        return 1
    return max(1, n_threads() // max(1, _running[0]))


def fft2(x: np.ndarray, *, forward: bool = True, workers: int = 1) -> np.ndarray:
    """Orthonormal 2D FFT over the last two axes (scipy.fft's pocketfft).

    The engine calls this ~150 times per iteration on a few frames each, so
    for C-contiguous complex64 input it calls scipy's compiled kernel
    directly (same code, same result as ``scipy.fft.fft2(x, norm="ortho")``);
    anything else goes through ``scipy.fft``.
    """
    if _c2c is not None and x.dtype == np.complex64 and x.flags.c_contiguous and x.ndim >= 2:
        return _c2c(x, (x.ndim - 2, x.ndim - 1), forward, 1, None, workers)
    f = sfft.fft2 if forward else sfft.ifft2
    return f(x, norm="ortho", workers=workers)


def update_sets(corners: np.ndarray, window: tuple[int, int], max_size: int = 0
                ) -> list[np.ndarray]:
    """Split positions into sets whose probe windows are mutually disjoint.

    Parameters
    ----------
    corners : (n, 2) int
        Top-left (row, col) of each probe window in the object array.
    window : (H, W)
    max_size : int
        Split larger sets into chunks of at most this many (0: no limit; 1:
        the published one-position-at-a-time rPIE).

    Returns
    -------
    list of (k,) int64 index arrays covering ``range(n)`` once each (greedy
    colouring, largest degree first: each position gets the first set it fits;
    members of a set in increasing index order).
    """
    corners = np.asarray(corners, dtype=np.int64)
    n = len(corners)
    d = np.abs(corners[:, None, :] - corners[None, :, :])
    conflict = (d[..., 0] < window[0]) & (d[..., 1] < window[1])
    colour = np.full(n, -1, dtype=np.int64)
    # largest-first: most-conflicted positions first (P1: 74 sets instead of 78 in scan order)
    for i in np.argsort(-conflict.sum(axis=1), kind="stable"):
        used = np.zeros(n + 1, dtype=bool)
        used[colour[conflict[i] & (colour >= 0)]] = True
        colour[i] = int(np.argmin(used))
    sets = [np.nonzero(colour == c)[0] for c in range(colour.max() + 1)]
    if max_size:
        sets = [s[i:i + max_size] for s in sets for i in range(0, len(s), max_size)]
    return sets


@dataclass(frozen=True)
class ObjectGrid:
    """Object array geometry: shape and the index of the translation origin."""

    shape: tuple[int, int]
    origin: tuple[int, int]
    corners: np.ndarray  # (n, 2) int64 top-left of each window

    def coords_nm(self, pixel_nm: float) -> tuple[np.ndarray, np.ndarray]:
        """(x_nm over columns, y_nm over rows) relative to the translation origin."""
        y = (np.arange(self.shape[0]) - self.origin[0]) * pixel_nm
        x = (np.arange(self.shape[1]) - self.origin[1]) * pixel_nm
        return x, y


def object_grid(positions_px: np.ndarray, window: tuple[int, int], pad: int = 0) -> ObjectGrid:
    """Smallest even, origin-centred object array holding every probe window.

    The origin sits at index ``N // 2`` on each axis (as in P1), so the array
    is symmetric about the translation origin.
    """
    pos = np.rint(np.asarray(positions_px, dtype=float)).astype(np.int64)
    shape, origin = [], []
    for ax in (0, 1):
        h = window[ax]
        half = max(h // 2 - pos[:, ax].min(), pos[:, ax].max() + h - h // 2, h // 2 + 1) + pad
        shape.append(2 * int(half))
        origin.append(int(half))
    corners = pos - np.array([window[0] // 2, window[1] // 2]) + np.array(origin)
    return ObjectGrid(shape=(shape[0], shape[1]), origin=(origin[0], origin[1]), corners=corners)


@dataclass
class _Scan:
    """One scan prepared for the sweep: per-set amplitudes and window corners."""

    obj: np.ndarray          # (Ny, Nx) complex64, updated in place
    amps: list[np.ndarray]   # per set (k, H, W) float32 sqrt(I), FFT order (views of amp_flat)
    rows: list[np.ndarray]
    cols: list[np.ndarray]
    norm: float              # sum of intensities (error normalization)
    amp_flat: np.ndarray     # (n, H, W) float32 sqrt(I) by set (set s: starts[s]:starts[s + 1])
    rows_flat: np.ndarray    # (n,) int64 window corners in the same order
    cols_flat: np.ndarray
    starts: np.ndarray       # (n_sets + 1,) int64
    kernels: list[np.ndarray] | None = None  # per set (k, H, W) probe kernels, FFT order
    base: list[np.ndarray] | None = None     # per set Fresnel part of the kernels (or None)
    shifts: list[np.ndarray] | None = None   # per set (k, 2) sub-pixel probe shifts, px
    steps: list[np.ndarray] | None = None    # per set (k, 2) pending refinement steps, px
    weights: list[np.ndarray] | None = None  # per set (k, 2) curvature of each step


def illumination(grid: ObjectGrid, probe: np.ndarray) -> np.ndarray:
    """Sum of |P|^2 over the windows of ``grid``, normalized to max 1, (Ny, Nx) float32."""
    out = np.zeros(grid.shape, np.float32)
    p2 = (np.abs(probe) ** 2).astype(np.float32)
    h, w = p2.shape
    for r, c in grid.corners:
        out[r:r + h, c:c + w] += p2
    return out / max(float(out.max()), 1e-30)


def fresnel_kernels(dz_nm: np.ndarray, shape: tuple[int, int], *, pixel_nm: float,
                    wavelength_nm: float) -> np.ndarray:
    """Paraxial propagators ``exp(-i pi wavelength dz |q|^2)`` in FFT order, (n, H, W) complex64."""
    qy = np.fft.fftfreq(shape[0], d=pixel_nm)
    qx = np.fft.fftfreq(shape[1], d=pixel_nm)
    q2 = qy[:, None] ** 2 + qx[None, :] ** 2
    dz = np.asarray(dz_nm, dtype=float)[:, None, None]
    return np.exp(-1j * np.pi * wavelength_nm * dz * q2).astype(np.complex64)


def shift_kernels(shift_px: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Fourier shift ramps ``exp(-2 pi i q . shift)`` in FFT order, (n, H, W) complex64.

    Multiplying the probe's spectrum by one moves the probe by ``shift_px``
    (row, col): the sub-pixel part of a scan position that the integer
    window placement leaves out.
    """
    qy = np.fft.fftfreq(shape[0])
    qx = np.fft.fftfreq(shape[1])
    s = np.asarray(shift_px, dtype=float)
    # separable: H + W complex exponentials per position instead of H W
    ry = np.exp(-2j * np.pi * s[:, 0, None] * qy[None, :]).astype(np.complex64)
    rx = np.exp(-2j * np.pi * s[:, 1, None] * qx[None, :]).astype(np.complex64)
    return ry[:, :, None] * rx[:, None, :]


def prepare_scan(frames: np.ndarray, grid: ObjectGrid, obj: np.ndarray,
                 kernels: np.ndarray | None = None, max_set_size: int = 0,
                 refine_shifts: np.ndarray | None = None) -> _Scan:
    """Arrange one scan's amplitudes by update set (DC moved to the corner once).

    ``kernels`` (n, H, W): per-position propagators of the probe (tilted-plane
    defocus), or None for one probe at every position. ``refine_shifts``
    (n, 2): starting sub-pixel shifts of positions to refine (then
    ``kernels`` holds only the Fresnel part, or None).
    """
    h, w = frames.shape[1:]
    amp = np.sqrt(np.maximum(np.fft.ifftshift(frames, axes=(-2, -1)), 0)).astype(np.float32)
    sets = update_sets(grid.corners, (h, w), max_set_size)
    idx = np.concatenate(sets)
    starts = np.concatenate([[0], np.cumsum([len(s) for s in sets])]).astype(np.int64)
    amp_flat = np.ascontiguousarray(amp[idx])
    rows_flat = np.ascontiguousarray(grid.corners[idx, 0], dtype=np.int64)
    cols_flat = np.ascontiguousarray(grid.corners[idx, 1], dtype=np.int64)
    scan = _Scan(obj=obj,
                 amps=[amp_flat[a:b] for a, b in zip(starts[:-1], starts[1:])],
                 rows=[rows_flat[a:b] for a, b in zip(starts[:-1], starts[1:])],
                 cols=[cols_flat[a:b] for a, b in zip(starts[:-1], starts[1:])],
                 norm=float(np.sum(amp.astype(np.float64) ** 2)) or 1.0,
                 amp_flat=amp_flat, rows_flat=rows_flat, cols_flat=cols_flat, starts=starts,
                 kernels=None if kernels is None else [np.ascontiguousarray(kernels[s])
                                                       for s in sets])
    if refine_shifts is not None:
        scan.base = scan.kernels
        scan.shifts = [np.asarray(refine_shifts, float)[s].copy() for s in sets]
        scan.steps = [np.zeros((len(s), 2)) for s in sets]
        scan.weights = [np.zeros((len(s), 2)) for s in sets]
        _apply_shifts(scan)
    return scan


def _apply_shifts(scan: _Scan) -> None:
    """Kernels = Fresnel part x Fourier shift of each member's current sub-pixel shift."""
    h, w = scan.amps[0].shape[1:]
    scan.kernels = [shift_kernels(sh, (h, w)) * (1 if scan.base is None else scan.base[i])
                    for i, sh in enumerate(scan.shifts)]


def refine_positions(scan: _Scan, *, max_shift_px: float, gain: float = 1.0) -> None:
    """Apply the pending Gauss-Newton steps, less their mean (a common shift of all
    positions is the object's own shift, not a position error), clipped to
    ``max_shift_px`` of total shift."""
    # Levenberg damping: positions whose window sees little structure (small curvature,
    # e.g. over vacuum) take proportionally smaller steps; at most 0.25 px per sweep
    wmax = np.concatenate(scan.weights).max(axis=0)
    damped = [st * w / (w + 0.1 * wmax + 1e-30) for st, w in zip(scan.steps, scan.weights)]
    mean = np.concatenate(damped).mean(axis=0)
    for sh, st, dm in zip(scan.shifts, scan.steps, damped):
        sh += np.clip(gain * (dm - mean), -0.25, 0.25)
        np.clip(sh, -max_shift_px, max_shift_px, out=sh)
        st[:] = 0.0
    _apply_shifts(scan)


def rpie(scans: list[_Scan], probe: np.ndarray, cfg: PtychoConfig, *,
         rng: np.random.Generator, probe_constraint=None) -> tuple[np.ndarray, np.ndarray, float]:
    """Run ``cfg.iterations`` of batched rPIE on one or more scans sharing one probe.

    Parameters
    ----------
    scans : list of prepared scans (their objects are updated in place)
    probe : (H, W) complex64 initial probe (copied)
    probe_constraint : callable (H, W) complex64 -> same, optional
        Applied to the probe after each iteration with probe updates
        (the defocus constraint).

    Returns
    -------
    probe : (H, W) complex64
    error : (iterations, len(scans)) float64
    seconds_per_iteration : float
    """
    with _running_lock:
        _running[0] += 1
    try:
        return _rpie(scans, probe, cfg, rng, probe_constraint)
    finally:
        with _running_lock:
            _running[0] -= 1


def _rpie(scans, probe, cfg, rng, probe_constraint):
    """:func:`rpie`'s body."""
    P = np.array(probe, dtype=np.complex64, copy=True, order="C")
    h, w = P.shape
    kmax = max(len(a) for s in scans for a in s.amps)
    psi_b = np.empty((kmax, h, w), np.complex64)
    f_b, g_b, num_b = np.empty_like(psi_b), np.empty_like(psi_b), np.empty_like(psi_b)
    den_b = np.empty((kmax, h, w), np.float32)
    dsum, nsum = np.empty((h, w), np.float32), np.empty((h, w), np.complex64)
    a = cfg.alpha
    wO = np.empty((h, w), np.complex64)
    # the compiled sweep sees all scans' frames as one array, sets numbered globally
    objs = _TypedList([sc.obj for sc in scans])
    if len(scans) == 1:
        amps, rows, cols, starts = (scans[0].amp_flat, scans[0].rows_flat, scans[0].cols_flat,
                                    scans[0].starts)
    else:
        amps = np.concatenate([sc.amp_flat for sc in scans])
        rows = np.concatenate([sc.rows_flat for sc in scans])
        cols = np.concatenate([sc.cols_flat for sc in scans])
        f_off = np.cumsum([0] + [len(sc.amp_flat) for sc in scans])
        starts = np.concatenate([[0]] + [sc.starts[1:] + f_off[i]
                                         for i, sc in enumerate(scans)]).astype(np.int64)
    set_off = np.cumsum([0] + [len(sc.amps) for sc in scans])
    n_frames = np.diff(starts)
    tilted = np.array([sc.kernels is not None for sc in scans])
    any_tilted = bool(tilted.any())
    if any_tilted:      # pj, psi, f, g, back, o2, p2, unused (k, 2) steps
        t_bufs = (np.empty_like(psi_b), psi_b, f_b, g_b, num_b, den_b, np.empty_like(den_b),
                  np.zeros((kmax, 2)))
    n_set = 0                       # numba threads last set
    errors = np.zeros((cfg.iterations, len(scans)))
    order = [(i, j) for j in range(max(len(s.amps) for s in scans))
             for i, s in enumerate(scans) if j < len(s.amps)]
    mom_o, mom_p = cfg.object_momentum, cfg.probe_momentum
    if mom_o > 0:
        obj_prev = [sc.obj.copy() for sc in scans]
        obj_vel = [np.zeros_like(sc.obj) for sc in scans]
    P_prev, P_vel = P.copy(), np.zeros_like(P)
    last_err = np.inf
    choice = _k.ThreadChoice(_sweep_threads())
    t0 = time.perf_counter()
    for it in range(cfg.iterations):
        upd_probe = cfg.probe_update and it >= cfg.probe_update_start
        refine = cfg.position_refinement and it >= cfg.position_refinement_start
        choice.limit(_sweep_threads())                  # fewer when more rpie calls run
        if cfg.set_order == "random":
            perms = [rng.permutation(len(s.amps)) for s in scans]
            sched = [(i, perms[i][j]) for i, j in order]
        else:
            sched = order
        sched_scan = np.array([i for i, _ in sched], dtype=np.int64)
        sched_set = np.array([set_off[i] + s for i, s in sched], dtype=np.int64)
        fr_cum = np.concatenate([[0], np.cumsum(n_frames[sched_set])])
        _k.object_weight(P, a, cfg.object_step, wO, dsum)
        err = errors[it]
        t = 0
        while t < len(sched):
            if tilted[sched_scan[t]]:
                i, s = sched[t]
                n_thr = choice.plan()[0]
                if n_thr > 1 and n_thr != n_set:
                    n_set = _k.set_threads(n_thr)
                tc = time.perf_counter()
                err[i] += _tilted_set(scans[i], s, P, cfg, upd_probe, refine, t_bufs, n_thr > 1)
                choice.done(time.perf_counter() - tc, len(scans[i].rows[s]))
                if upd_probe:
                    _k.object_weight(P, a, cfg.object_step, wO, dsum)
                t += 1
                continue
            n_thr, n_sets = choice.plan()   # a run of plain sets: compiled calls
            t1 = min(len(sched), t + n_sets)
            if any_tilted:
                t1 = t + 1 + int(np.argmax(np.append(tilted[sched_scan[t + 1:t1]], True)))
            if n_thr > 1 and n_thr != n_set:
                n_set = _k.set_threads(n_thr)
            tc = time.perf_counter()
            _k.sweep(objs, P, wO, amps, rows, cols, starts, sched_scan[t:t1], sched_set[t:t1],
                     a, cfg.beta, cfg.object_step, cfg.probe_step, upd_probe,
                     psi_b, f_b, g_b, num_b, den_b, dsum, nsum, err, n_thr > 1)
            choice.done(time.perf_counter() - tc, int(fr_cum[t1] - fr_cum[t]))
            t = t1
        for sc in scans:
            if refine and sc.steps is not None:
                refine_positions(sc, max_shift_px=cfg.max_position_shift_px,
                                 gain=cfg.position_gain)
        if upd_probe and probe_constraint is not None:
            P = np.ascontiguousarray(probe_constraint(P), dtype=np.complex64)
        for i, sc in enumerate(scans):
            err[i] /= sc.norm
        # epoch momentum (mPIE, Maiden et al. 2017): v <- eta v + (x - x_prev), x <- x + eta v;
        # restarted (v = 0) when the Fourier error rises (adaptive restart)
        restart = err.sum() > last_err
        last_err = err.sum()
        if mom_o > 0:
            for sc, o0, v in zip(scans, obj_prev, obj_vel):
                _momentum_step(sc.obj, o0, v, mom_o, restart)
        if upd_probe and mom_p > 0:
            _momentum_step(P, P_prev, P_vel, mom_p, restart)
            if not restart and probe_constraint is not None:
                P = np.ascontiguousarray(probe_constraint(P), dtype=np.complex64)
        P_prev[...] = P
    spi = (time.perf_counter() - t0) / cfg.iterations
    return P, errors, spi


def _momentum_step(x: np.ndarray, prev: np.ndarray, vel: np.ndarray, eta: float,
                   restart: bool) -> None:
    """Epoch momentum in place: ``v <- eta v + (x - prev)``, ``x <- x + eta v``; ``v = 0`` on restart.

    ``prev`` becomes ``x`` (the start of the next epoch).
    """
    if restart:
        vel[...] = 0
    else:
        vel *= eta
        vel += x - prev
        x += eta * vel
    prev[...] = x


def _tilted_set(sc: _Scan, s: int, P: np.ndarray, cfg: PtychoConfig, upd_probe: bool,
                refine: bool, bufs: tuple, parallel: bool) -> float:
    """One update set with a propagated probe per position (tilted-plane defocus, sub-pixel
    shifts, position refinement): :func:`.kernels_tilted.tilted_set`, in place.

    Returns the set's ``sum |psi' - psi|^2``; with ``refine`` (and a scan prepared for it)
    the members' Gauss-Newton shift steps go to ``sc.steps[s]`` / ``sc.weights[s]``.
    """
    k = len(sc.rows[s])
    do_ref = refine and sc.steps is not None
    steps = sc.steps[s] if do_ref else bufs[-1][:k]
    weights = sc.weights[s] if do_ref else bufs[-1][:k]
    return _kt.tilted_set(sc.obj, P, sc.kernels[s], sc.amps[s], sc.rows[s], sc.cols[s],
                          cfg.alpha, cfg.beta, cfg.object_step, cfg.probe_step, upd_probe,
                          do_ref, steps, weights, *bufs[:-1], parallel)
