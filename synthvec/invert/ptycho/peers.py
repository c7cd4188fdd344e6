"""Peer codes as alternative engines: PtyLab's rPIE beside synthvec's on the same data.

``ptylab_engine(datasets, cfg, *, rng) -> list[PtychoResult]`` has the
signature of every ptycho engine (``ENGINES`` in :mod:`synthvec.invert.ptycho`),
so a scenario can name ``method = "ptylab"`` and a method-comparison report
can put PtyLab (Loetgering et al., Opt. Express 31, 13763, 2023,
doi:10.1364/OE.485370; package ``ptylab``, import name ``PtyLab``) beside
synthvec's batched rPIE. Only the engine differs: bad frames are removed by
synthvec's :func:`~.badframes.detect_bad_frames` (as ``_rpie_engine`` does),
the object starts flat (ones) and the probe from the data's nominal probe,
and the result sits on synthvec's object grid (:func:`~.rpie.object_grid`,
:meth:`~.rpie.ObjectGrid.coords_nm`), so ``projection_set`` works unchanged.

Which PtyLab engine
-------------------
PtyLab 0.3.7 has no engine named rPIE; its ``mPIE`` is rPIE (Maiden, Johnson
& Li, Optica 4, 736, 2017, eqs. 5-6: denominators ``alpha max|P|^2 + (1 -
alpha)|P|^2`` and ``alpha max|O_j|^2 + (1 - alpha)|O_j|^2``) plus momentum,
applied at random positions with probability 0.05. The adapter runs
``mPIE`` with the momentum feedback ``feedbackM = 0`` (the momentum step is
then the identity), i.e. PtyLab's own position-by-position rPIE code:

=======================  =============================================
synthvec (PtychoConfig)  PtyLab (mPIE attribute / Params)
=======================  =============================================
``alpha``                ``alphaObject``
``beta``                 ``alphaProbe`` (PtyLab's probe regulariser)
``object_step``          ``betaObject`` (1 = rPIE as published)
``probe_step``           ``betaProbe``; 0 in iterations without probe
                         update (``probe_update`` off, or before
                         ``probe_update_start``; PtyLab 0.3.7 never
                         reads its own ``Params.probeUpdateStart``)
``iterations``           ``numIterations``
``set_order``            position order: 'random' = a fresh
                         permutation of all frames per iteration from
                         ``rng``; 'fixed' = frame order (PtyLab's
                         'sequential')
=======================  =============================================

Two hooks of PtyLab's engine are replaced by a subclass, neither touching
an update: the position order (drawn from ``rng``, not from numpy's global
generator) and the per-position error (``getRMSD``), which records
synthvec's amplitude error ``sum (|Psi| - sqrt I)^2`` of each frame before
its update instead of PtyLab's ``sum |I - |Psi|^2|``; the per-iteration
``error`` of the result is then normalized by the scan's ``sum I`` exactly
as synthvec's. synthvec's probe constraints (pupil support, the paper's
pupil-phase constraint) are applied to PtyLab's probe after each iteration
with probe updates, as in ``_rpie_engine``. PtyLab's ``mPIE`` still draws
from numpy's global generator for its (here inert) momentum trigger; that
state is saved before and restored after the runs (:func:`_ptylab_session`),
so calling the engine leaves no trace there.

Conventions (PtyLab vs synthvec)
--------------------------------
- Arrays: PtyLab holds the object as (nlambda, nosm, npsm, nslice, No, No)
  and the probe as (nlambda, nosm, npsm, nslice, Np, Np), one mode each here;
  the object is square, so the scans' object grids (synthvec's, possibly
  rectangular) are laid side by side along columns in one square array
  (several scans: their windows never overlap, and all frames update one
  shared probe, which is ``reconstruct_shared``'s shared probe) and cut out
  afterwards.
- Positions: PtyLab's ``encoder`` is (row, col) = (y, x) in metres; the
  top-left corner of a frame's window is ``round(encoder / dxo) + No // 2 -
  Np // 2``. synthvec's window corner is ``rint(positions_px) - H // 2 +
  origin``; the adapter passes ``encoder = (corner + block offset - No // 2 +
  Np // 2) dxo`` with integer pixels, so both codes place every window on the
  same object pixels (whole pixels, like ``_rpie_engine`` without
  ``subpixel_positions``).
- Units: PtyLab's object pixel is ``dxo = dxp = wavelength zo / (Nd dxd)``
  (metres). ``wavelength`` is the data's, ``dxd`` a nominal 10 um, and ``zo``
  is chosen so that ``dxo`` is the data's ``pixel_nm``; the Fraunhofer
  propagator uses none of them (only the encoder conversion does).
- FFT: PtyLab's Fraunhofer propagator is the orthonormal FFT; with
  ``fftshiftSwitch = True`` (its fast path, set here) it shifts the
  DC-centred ptychogram to FFT order once and then uses plain
  ``numpy.fft.fft2(., norm="ortho")``; the probe stays centred at index
  ``Np // 2`` in real space. |FFT_ortho(P O)|^2 is synthvec's intensity
  model, so probe and object need no rescaling or shift (the same nominal
  probe, with the normalization of the frames, enters both codes).
- Threads: PtyLab computes with numpy, one position at a time: ``numpy.fft``
  (single-threaded) and element-wise operations; on P1 its CPU time equals
  its wall time (2.34 s vs 2.34 s for 10 iterations) with OpenBLAS left at
  2 threads. BLAS and OpenMP pools are nevertheless limited to one thread
  (threadpoolctl) while PtyLab runs. CPU only (``gpuSwitch`` off).
- Precision: complex64 object and probe, float32 frames (as synthvec's).
- Negative counts (read noise) are clipped at 0 before PtyLab sees them, as
  synthvec's engine does when it takes amplitudes; PtyLab's modulus
  projection ``sqrt(I / I_est)`` would otherwise make NaNs.

Not available with PtyLab (ConfigError): position refinement, sub-pixel
positions (when the positions are not whole pixels), object/probe momentum
(PtyLab's momentum is a different scheme), explicit ``defocus_correction =
'tilted_plane'`` (a propagated probe per position), ``upsample > 1``.
``defocus_correction='auto'`` is 'off' here. ``max_set_size`` and
``thread_mode`` are scheduling options of synthvec's engine and do not
apply (PtyLab updates one position at a time, as ``max_set_size = 1``).

PtyLab's progress bars and messages (stdout, per thread) are dropped; several
runs may go on at once in threads (:func:`_ptylab_session`).

Measured (``bench/bench_peers.py``, P1, 100 iterations, same run)
-----------------------------------------------------------------
From the true probe at alpha 0.1 PtyLab reaches NRMSE 0.0205, the issue's
anchor for PtyLab 0.3.7 (synthvec 0.0204); at alpha 0.05 both 0.0152. With
probe update from a 300 nm defocused probe PtyLab gives complex NRMSE 0.0279,
synthvec's one-position-at-a-time order (``max_set_size=1``) 0.0283 (same last
Fourier error, 1.03e-3), its batched default 0.0255. PtyLab costs 0.14-0.24
s/iteration on P1 (12-20x the batched FFT floor; shared 2-core machine),
synthvec 0.022-0.025 (about 2x).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections import Counter
from typing import Iterator, Sequence

import numpy as np

from ...errors import ConfigError, InputError
from .badframes import detect_bad_frames
from .config import PtychoConfig
from .data import PtychoData, PtychoResult
from .rpie import ObjectGrid, illumination, object_grid

__all__ = ["ptylab_engine", "ptylab_available", "PTYLAB_HINT"]

PTYLAB_HINT = ("ptycho.method='ptylab' needs the PtyLab package: pip install ptylab "
               "(tested with 0.3.7)")
_DXD_M = 10e-6   # nominal detector pixel handed to PtyLab (the Fraunhofer model ignores it)


def ptylab_available() -> bool:
    """True when PtyLab can be imported."""
    try:
        import PtyLab  # noqa: F401
    except ImportError:
        return False
    return True


def _import_ptylab():
    try:
        from PtyLab.Engines.mPIE import mPIE
        from PtyLab.ExperimentalData.ExperimentalData import ExperimentalData
        from PtyLab.Monitor.Monitor import DummyMonitor
        from PtyLab.Params.Params import Params
        from PtyLab.Reconstruction.Reconstruction import Reconstruction
    except ImportError:
        raise InputError(PTYLAB_HINT) from None
    return mPIE, ExperimentalData, DummyMonitor, Params, Reconstruction


class _MutedStdout:
    """``sys.stdout`` stand-in that drops what threads running PtyLab write, forwards the rest."""

    def __init__(self, target):
        self._target = target
        self.muted: Counter = Counter()

    def write(self, text: str) -> int:
        if self.muted[threading.get_ident()]:
            return len(text)
        return self._target.write(text)

    def flush(self) -> None:
        if not self.muted[threading.get_ident()]:
            self._target.flush()

    def __getattr__(self, name):
        return getattr(self._target, name)


class _Session:
    """Process-wide resources of the PtyLab runs in progress (bookkeeping, guarded by lock)."""

    lock = threading.Lock()
    depth = 0
    stdout = proxy = rng_state = limits = None


@contextlib.contextmanager
def _ptylab_session() -> Iterator[None]:
    """Around one PtyLab run; safe when several run at once in threads (the pipeline runs
    scans as Dask tasks on threads).

    While any run is in progress: ``sys.stdout`` is a proxy that drops what the
    running threads print (PtyLab's messages and tqdm bars; other threads'
    output passes), and BLAS/OpenMP pools are limited to one thread. When the
    last run ends, the pools, ``sys.stdout`` and numpy's global random state
    (which mPIE draws from) are restored as they were before the first began.
    """
    from threadpoolctl import threadpool_limits

    me = threading.get_ident()
    with _Session.lock:
        if _Session.depth == 0:
            _Session.stdout = sys.stdout
            _Session.proxy = _MutedStdout(sys.stdout)
            sys.stdout = _Session.proxy
            _Session.rng_state = np.random.get_state()
            _Session.limits = threadpool_limits(limits=1)
        _Session.depth += 1
        _Session.proxy.muted[me] += 1
    try:
        yield
    finally:
        with _Session.lock:
            _Session.proxy.muted[me] -= 1
            _Session.depth -= 1
            if _Session.depth == 0:
                _Session.limits.restore_original_limits()
                np.random.set_state(_Session.rng_state)
                if sys.stdout is _Session.proxy:
                    sys.stdout = _Session.stdout
                _Session.stdout = _Session.proxy = _Session.rng_state = _Session.limits = None


def _check_supported(cfg: PtychoConfig, datasets: Sequence[PtychoData]) -> None:
    """ConfigError for options that PtyLab's rPIE cannot reproduce (module docstring)."""
    if cfg.position_refinement:
        raise ConfigError("position_refinement", "is not available with method='ptylab' "
                          "(PtyLab places positions on whole pixels); set it false")
    if cfg.object_momentum or cfg.probe_momentum:
        raise ConfigError("object_momentum" if cfg.object_momentum else "probe_momentum",
                          "must be 0 with method='ptylab' (the adapter runs PtyLab's "
                          "rPIE without momentum)")
    if cfg.defocus_correction == "tilted_plane":
        raise ConfigError("defocus_correction", "'tilted_plane' is not available with "
                          "method='ptylab'; use 'off', 'auto' (= off there) or 'pupil_phase'")
    if getattr(cfg, "upsample", 1) > 1:
        raise ConfigError("upsample", "must be 1 with method='ptylab'")
    if cfg.subpixel_positions:
        for d in datasets:
            frac = d.positions_px - np.rint(d.positions_px)
            if np.abs(frac).max() > 1e-3:
                raise ConfigError("subpixel_positions", "is not available with "
                                  "method='ptylab' (whole-pixel positions only); set it false")
    for d in datasets:
        h, w = d.probe.shape
        if h != w:
            raise InputError(f"{d.source or 'data'}: frames of {h} x {w} pixels; "
                             "method='ptylab' needs square frames")


def _engine_class(mPIE):
    """PtyLab's mPIE with two hooks replaced: position order from ``rng`` and
    synthvec's amplitude error per frame (no update is changed)."""

    class _SynthvecRPIE(mPIE):
        def setPositionOrder(self):
            n = self.experimentalData.numFrames
            self.positionIndices = (self._sv_rng.permutation(n) if self._sv_random
                                    else np.arange(n))

        def getRMSD(self, positionIndex):
            est = np.sqrt(self.reconstruction.Iestimated, dtype=np.float64)
            meas = np.sqrt(np.maximum(self.reconstruction.Imeasured, 0), dtype=np.float64)
            self._sv_err[positionIndex] = np.sum((est - meas) ** 2)

        def _prepareReconstruction(self):
            super()._prepareReconstruction()
            self._sv_t0 = time.perf_counter()

    return _SynthvecRPIE


def _layout(grids: list[ObjectGrid], window: int) -> tuple[int, list[tuple[int, int]]]:
    """Side of the square PtyLab object and each scan's (row, col) block offset."""
    offsets, col = [], 0
    for g in grids:
        offsets.append((0, col))
        col += g.shape[1]
    side = max(col, max(g.shape[0] for g in grids), window)
    return side + side % 2, offsets


def _setup(frames: Sequence[np.ndarray], grids: Sequence[ObjectGrid], probe0: np.ndarray, *,
           pixel_nm: float, wavelength_nm: float):
    """PtyLab's data, parameters and reconstruction state for scans on synthvec's grids.

    Parameters
    ----------
    frames : per scan (n_i, H, H) float32, DC-centred (the frames kept; negatives clipped)
    grids : per scan ObjectGrid of those frames
    probe0 : (H, H) complex64 initial probe

    Returns
    -------
    exp, params, rec : PtyLab ``ExperimentalData``, ``Params``, ``Reconstruction``
        (object ones, probe ``probe0``; all scans' frames in order, scan after scan)
    offsets : list of (row, col)
        Where each scan's grid sits in PtyLab's square object.
    """
    _, ExperimentalData, _, Params, Reconstruction = _import_ptylab()
    npx = probe0.shape[0]
    side, offsets = _layout(list(grids), npx)
    pixel_m, wavelength_m = pixel_nm * 1e-9, wavelength_nm * 1e-9
    corners = np.concatenate([g.corners + np.array(off) for g, off in zip(grids, offsets)])

    exp = ExperimentalData(None, "CPM")
    # negative counts (read noise) clipped as synthvec's engine does (sqrt(max(I, 0))): PtyLab
    # takes sqrt(I_measured / I_estimated) unclipped, and one NaN then spreads over the object
    exp.ptychogram = np.maximum(np.concatenate(list(frames)), 0).astype(np.float32)
    exp.wavelength = wavelength_m
    exp.encoder = (corners - side // 2 + npx // 2).astype(np.float64) * pixel_m
    exp.dxd = _DXD_M
    exp.zo = pixel_m * npx * _DXD_M / wavelength_m
    exp.entrancePupilDiameter = exp.spectralDensity = exp.theta = exp.emptyBeam = None
    exp._setData()

    params = Params()
    params.gpuSwitch = False
    params.fftshiftSwitch = True
    params.propagatorType = "Fraunhofer"
    params.positionOrder = "sequential"   # replaced by the rng order (setPositionOrder)

    rec = Reconstruction(exp, params)
    rec.No = side
    rec.initialGuessObject = np.ones((1, 1, 1, 1, side, side), np.complex64)
    rec.initialGuessProbe = np.asarray(probe0, np.complex64).reshape(1, 1, 1, 1, npx, npx).copy()
    rec.object = rec.initialGuessObject.copy()
    rec.probe = rec.initialGuessProbe.copy()
    placed = np.asarray(rec.positions)
    if not np.array_equal(placed, corners):   # the conventions above, checked on every call
        raise RuntimeError("PtyLab placed the windows off synthvec's grid "
                           f"(first corner {placed[0]} vs {corners[0]})")
    return exp, params, rec, offsets


def ptylab_engine(datasets: Sequence[PtychoData], cfg: PtychoConfig, *,
                  rng: np.random.Generator) -> list[PtychoResult]:
    """PtyLab's rPIE (``mPIE`` without momentum) on scans sharing one probe.

    Parameters
    ----------
    datasets : sequence of PtychoData
        One scan (ordinary reconstruction) or several of the same beam (one
        shared probe). Frames (n, H, H) float32 DC-centred; positions (row,
        col) in object pixels relative to the translation origin.
    cfg : PtychoConfig
        Mapped as in the module docstring; options PtyLab cannot reproduce
        raise ConfigError.
    rng : numpy.random.Generator
        Drives the position order (``set_order='random'``).

    Returns
    -------
    list of PtychoResult, one per scan: ``object`` (Ny, Nx) complex64 on
    synthvec's object grid of the frames kept, ``probe`` (H, H) complex64
    (shared), ``error`` (iterations,) float64 (synthvec's amplitude error),
    ``seconds_per_iteration`` (wall time of PtyLab's iterations, including its
    per-iteration bookkeeping and the probe constraint).

    Raises
    ------
    InputError
        PtyLab not importable (message says ``pip install ptylab``), or
        non-square frames.
    ConfigError
        An option PtyLab's rPIE cannot reproduce.
    """
    mPIE, _, DummyMonitor, _, _ = _import_ptylab()

    from . import _constraint   # late: this module is imported by the package itself

    datasets = list(datasets)
    _check_supported(cfg, datasets)
    window = datasets[0].probe.shape
    if any(d.probe.shape != window for d in datasets):
        raise ValueError("scans sharing a probe need the same frame shape")
    grids, kept, dropped = [], [], []
    for d in datasets:
        bad = (detect_bad_frames(d.frames, d.positions_px, q_min=cfg.bad_frame_q_min,
                                 threshold=cfg.bad_frame_threshold,
                                 flux_map=cfg.bad_frame_flux_map)
               if cfg.bad_frames == "detect" else np.zeros(0, np.int64))
        keep = np.setdiff1d(np.arange(len(d.frames)), bad)
        grids.append(object_grid(d.positions_px[keep], window, cfg.object_padding_px))
        kept.append(keep)
        dropped.append(bad)
    probe0 = (np.mean([d.probe for d in datasets], axis=0) if len(datasets) > 1
              else datasets[0].probe).astype(np.complex64)
    exp, params, rec, offsets = _setup(
        [d.frames[k] for d, k in zip(datasets, kept)], grids, probe0,
        pixel_nm=datasets[0].pixel_nm, wavelength_nm=datasets[0].wavelength_nm)
    scan_of = np.concatenate([np.full(len(k), i) for i, k in enumerate(kept)])
    norms = np.array([max(float(np.sum(np.maximum(d.frames[k], 0), dtype=np.float64)),
                          1e-30) for d, k in zip(datasets, kept)])
    npx = window[0]

    engine = _engine_class(mPIE)(rec, exp, params, DummyMonitor())
    engine._sv_rng = rng
    engine._sv_random = cfg.set_order == "random"
    engine._sv_err = np.zeros(len(scan_of))
    engine.numIterations = cfg.iterations
    engine.alphaObject = cfg.alpha
    engine.alphaProbe = cfg.beta
    engine.betaObject = cfg.object_step
    engine.feedbackM = 0.0                 # no momentum: plain rPIE
    engine.frictionM = 0.0

    def probe_on(it: int) -> bool:
        return cfg.probe_update and it >= cfg.probe_update_start

    engine.betaProbe = cfg.probe_step if probe_on(0) else 0.0
    constraint = _constraint(cfg, probe0) if cfg.probe_update else None
    errors = np.zeros((cfg.iterations, len(datasets)))
    t_end = [0.0]

    def after_iteration(loop, reconstruction):
        errors[loop] = np.bincount(scan_of, weights=engine._sv_err,
                                   minlength=len(datasets)) / norms
        engine._sv_err[:] = 0.0
        if probe_on(loop) and constraint is not None:
            p = constraint(np.asarray(reconstruction.probe[0, 0, 0, 0]))
            reconstruction.probe = np.asarray(p, np.complex64).reshape(1, 1, 1, 1, npx, npx)
        engine.betaProbe = cfg.probe_step if probe_on(loop + 1) else 0.0
        t_end[0] = time.perf_counter()

    with _ptylab_session():
        engine.reconstruct(vis_after_each_iteration=after_iteration)
    spi = (t_end[0] - engine._sv_t0) / cfg.iterations
    obj = np.asarray(rec.object[0, 0, 0, 0])
    probe = np.asarray(rec.probe[0, 0, 0, 0]).astype(np.complex64)
    out = []
    for i, d in enumerate(datasets):
        g, (r0, c0) = grids[i], offsets[i]
        x_nm, y_nm = g.coords_nm(d.pixel_nm)
        out.append(PtychoResult(
            object=obj[r0:r0 + g.shape[0], c0:c0 + g.shape[1]].astype(np.complex64),
            probe=probe, error=errors[:, i], object_x_nm=x_nm, object_y_nm=y_nm,
            seconds_per_iteration=spi, dropped_frames=dropped[i], pixel_nm=d.pixel_nm,
            illumination=illumination(g, probe),
            positions_px=d.positions_px[kept[i]].astype(float),
            helicity=d.helicity, phi_deg=d.phi_deg, theta_deg=d.theta_deg))
    return out
