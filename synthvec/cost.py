"""What a scenario will cost before it runs: scans, frames, bytes, peak memory, time.

:func:`estimate_cost` counts the scans and frames exactly as the simulator
lays its rasters (:func:`synthvec.forward.scan.raster_positions` rule: a
square raster of pitch ``step_nm`` over the bounding box of the projected
sample grown by ``margin_nm``, positions farther than ``margin_nm + step_nm / 2``
from the projected sample dropped), with the projected sample taken as the
exact projection of the slab box (nickel fills the slab around the spheres,
so the whole box projects). Per-scan sample shifts and angle errors of the
truth are ignored (they move a raster by a few nm).

Time model
----------
Each stage costs ``a + c * W`` seconds of wall time on a 2-core machine with
both cores busy (``SYNTHVEC_THREADS=2``), with ``W`` the stage's work units:

=============== ===========================================================
stage           W
=============== ===========================================================
phantom         reconstruction voxels
truth           reconstruction voxels x relaxation iterations
truth_analysis  reconstruction voxels
simulate        frames x (detector edge x oversample)^2 x probe modes
ptycho          frames x detector pixels x (iterations + 2 upsample^2 upsample_iterations)
tomo            voxels x projections x iterations (full set + two halves)
vector          voxels x projections x iterations
analysis        reconstruction voxels x (1 + (analysis.upsample^3 - 1) / 7)
score           reconstruction voxels x (1 + 0.6 analysis.upsample^3)
=============== ===========================================================

The analysis and score factors are the measured cost of the subdivided hedgehog search
(``analysis.upsample``; score analyses the ideal reconstruction too): quick scenario, upsample 2,
analysis 8 -> 16 s and score 2 -> 9 s.

The constants ``a`` (s) and ``c`` (s per unit) in :data:`TIME_MODEL` were
measured with ``bench/bench_cost.py`` on this project's 2-core machine
(2026-11-28, shared with other jobs, so +-30 % and more). The fixed costs ``a``
come from its two-point fit on the smoke scenario (18,000 voxels, 730 frames)
and a larger smoke variant (72,000 voxels, 3,180 frames, 3x the iterations);
at that size per-projection overheads inflate the per-unit costs (tomography
3.8x), so the ``c`` are those of a quick-scenario run on the same machine
(``--from-run``: 108,000 voxels, 96 projections, 15,910 frames, ptycho 30
iterations; stage times 0.4 / 1.9 / 7.1 / 23.6 / 90.5 / 47.9 / 64.0 / 14.5 /
2.0 s, 252 s in all). The truth stage was also timed at the paper's size (9.1 M
voxels x 300 relaxation steps: 251 s, peak RSS 3.9 GiB; phantom stage 6.3 s,
1.2 GiB): its per-unit cost there was 1.8x the quick figure (cache misses on
large volumes), and the table holds the paper-size value. The other stages
were not timed at that size; read their paper-size estimates as lower bounds.

Memory model
------------
Bytes per unit of each stage's largest arrays, counted from the code
(``float32`` = 4 B, ``complex64`` = 8 B) or, for the phantom and truth stages,
measured at the paper's size (120 and 440 B per voxel): the fine truth of the simulator
and its material channels (one per concurrent tilt task), the batched exit
waves of one scan per thread, all diffraction frames held by the ptycho stage
(it reads every CXI file before reconstructing), the projection stacks and
volume copies of the tomography stages and the analysis' per-voxel fields.
The peak is the largest stage plus :data:`BASE_BYTES` for the interpreter,
libraries and what earlier stages leave resident (fitted to the quick run's
measured peak RSS, 797 MiB; the smoke run's phantom stage alone: ~180 MiB).
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial import ConvexHull

from .geometry import rotation
from .scenario import Scenario

__all__ = ["CostEstimate", "estimate_cost", "check_fits", "frames_per_scan", "work_units",
           "TIME_MODEL", "BASE_BYTES"]

#: stage -> (a overhead s, c s per work unit), from bench/bench_cost.py (2 threads).
TIME_MODEL: dict[str, tuple[float, float]] = {
    "phantom": (0.26, 1.16e-06),
    "truth": (0.24, 9.2e-08),         # paper size (2.7e9 units); quick: 5.0e-08
    "truth_analysis": (0.19, 6.44e-05),
    "simulate": (0.39, 8.86e-08),
    "ptycho": (0.22, 4.6e-08),
    "tomo": (0.51, 4.57e-08),
    "vector": (0.0, 6.18e-08),
    "analysis": (0.43, 1.3e-04),
    "score": (0.49, 1.4e-05),
}

#: Resident memory besides the largest stage's arrays: interpreter, libraries and what earlier
#: stages leave resident (quick run: peak RSS 797 MiB, largest stage estimated 278 MiB), bytes.
BASE_BYTES = 512 * 2**20


@dataclass(frozen=True)
class CostEstimate:
    """Size, memory and time of a scenario (see the module docstring for the models).

    Attributes
    ----------
    n_scans : int
        CXI files (series x tilts x 2 helicities).
    n_frames : int
        Diffraction frames of all scans.
    detector_pixels : int
        Pixels per frame (N x N).
    data_bytes : int
        Diffraction data as float32, uncompressed (what the ptycho stage holds in memory;
        on disk gzip makes it smaller).
    peak_bytes : int
        Peak resident memory of the largest stage, bytes.
    peak_stage : str
        That stage.
    cpu_seconds : float
        Wall seconds on a 2-core machine with both cores busy (= CPU seconds / 2).
    stage_seconds, stage_bytes : dict
        Per stage.
    disk_bytes : int
        Bytes the run directory needs (data plus volumes), an upper bound.
    """

    n_scans: int
    n_frames: int
    detector_pixels: int
    data_bytes: int
    peak_bytes: int
    peak_stage: str
    cpu_seconds: float
    disk_bytes: int
    stage_seconds: dict[str, float] = field(default_factory=dict)
    stage_bytes: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: scans, frames, data, memory and time."""
        return (f"{self.n_scans} scans, {self.n_frames:,} frames of {self.detector_pixels:,} px, "
                f"{_fmt_bytes(self.data_bytes)} of diffraction data, peak memory "
                f"~{_fmt_bytes(self.peak_bytes)} ({self.peak_stage}), "
                f"~{_fmt_seconds(self.cpu_seconds)} on 2 cores")


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def _fmt_seconds(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def _grid(scn: Scenario) -> tuple[int, int]:
    """(nxy, nz) of the reconstruction grid, as the phantom builds it."""
    ph = scn.phantom
    nxy = max(2, int(round(ph.lateral_extent_nm / ph.voxel_nm)))
    nz = max(2, int(round((ph.slab_thickness_nm + 2 * ph.vacuum_margin_nm) / ph.voxel_nm)))
    return nxy, nz


def _point_polygon_distance(pts: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Distance of points (P, 2) to a convex polygon (K, 2) counter-clockwise; 0 inside."""
    a = poly
    b = np.roll(poly, -1, axis=0)
    e = b - a                                                     # (K, 2)
    d = pts[:, None, :] - a[None]                                 # (P, K, 2)
    cross = e[None, :, 0] * d[..., 1] - e[None, :, 1] * d[..., 0]
    inside = (cross >= -1e-9).all(axis=1)
    t = np.clip((d * e[None]).sum(-1) / np.maximum((e * e).sum(-1), 1e-30)[None], 0.0, 1.0)
    near = d - t[..., None] * e[None]
    dist = np.sqrt((near ** 2).sum(-1)).min(axis=1)
    return np.where(inside, 0.0, dist)


def frames_per_scan(scn: Scenario, phi_deg: float, theta_deg: float) -> int:
    """Frames of one scan at nominal (phi, theta): the simulator's raster rule on the slab box.

    As in :func:`synthvec.forward.scan.raster_positions` called by
    :func:`synthvec.forward.simulate.simulate_scan`: positions within
    ``margin_nm + step_nm / 2`` of the projected sample.
    """
    ph, sc = scn.phantom, scn.simulate.scan
    nxy, nz = _grid(scn)
    pf = ph.voxel_nm / scn.simulate.oversample
    rot = rotation(phi_deg, theta_deg)
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    slab = signs * (0.5 * np.array([nxy * ph.voxel_nm, nxy * ph.voxel_nm, ph.slab_thickness_nm]))
    uv = (slab @ rot.T)[:, :2]                                    # (u, v) of the slab corners
    hull = uv[ConvexHull(uv).vertices]                            # counter-clockwise
    lo = np.ceil(hull.min(axis=0) / pf - 1e-6) * pf               # outermost support pixel
    hi = np.floor(hull.max(axis=0) / pf + 1e-6) * pf              # centres, (u, v)

    def axis(a, b):
        n = int(np.ceil((b - a + 2 * sc.margin_nm) / sc.step_nm)) + 1
        return 0.5 * (a + b) + (np.arange(n) - (n - 1) / 2.0) * sc.step_nm

    uu, vv = np.meshgrid(axis(lo[0], hi[0]), axis(lo[1], hi[1]), indexing="ij")
    pts = np.stack([uu.ravel(), vv.ravel()], axis=1)
    keep = 0
    for chunk in np.array_split(pts, max(1, len(pts) // 20000)):
        keep += int((_point_polygon_distance(chunk, hull) <= sc.margin_nm + 0.5 * sc.step_nm).sum())
    return keep


def work_units(scn: Scenario) -> dict[str, float]:
    """Work units ``W`` of every stage (see the module docstring) and the sizes behind them.

    Returns
    -------
    dict
        Stage name -> W, plus ``"_frames"``, ``"_scans"``, ``"_voxels"``,
        ``"_fine_voxels"``, ``"_projections"``, ``"_max_frames_per_scan"``.
    """
    g, det = scn.geometry, scn.simulate.detector
    nxy, nz = _grid(scn)
    n_vox = nxy * nxy * nz
    s = scn.phantom.supersample
    per_tilt = [frames_per_scan(scn, p, t) for p in g.phis_deg for t in g.tilts_deg]
    n_proj = len(per_tilt)
    frames = 2 * sum(per_tilt)
    n_pix = det.n_pixels ** 2
    n_fine_px = (det.n_pixels * scn.simulate.oversample) ** 2
    return {
        "phantom": float(n_vox),
        "truth": float(n_vox) * scn.texture.relax_iterations,
        "truth_analysis": float(n_vox),
        "simulate": float(frames) * n_fine_px * scn.simulate.probe.n_modes,
        # super-resolved iterations: u^2 pixels per frame, and a probe per position (2x FFTs)
        "ptycho": float(frames) * n_pix * (scn.ptycho.iterations + (
            2.0 * scn.ptycho.upsample ** 2 * scn.ptycho.upsample_iterations
            if scn.ptycho.upsample > 1 else 0.0)),
        "tomo": float(n_vox) * n_proj * scn.tomo.iterations,
        "vector": float(n_vox) * n_proj * scn.vector.iterations,
        "analysis": float(n_vox) * (1 + (scn.analysis.upsample ** 3 - 1) / 7),
        "score": float(n_vox) * (1 + 0.6 * scn.analysis.upsample ** 3),
        "_frames": float(frames), "_scans": float(2 * n_proj), "_voxels": float(n_vox),
        "_fine_voxels": float(n_vox * s ** 3), "_projections": float(n_proj),
        "_max_frames_per_scan": float(max(per_tilt)), "_nxy": float(nxy), "_nz": float(nz),
    }


def _stage_bytes(scn: Scenario, w: dict[str, float], threads: int) -> dict[str, float]:
    """Largest arrays of each stage, bytes (counts in the module docstring)."""
    det, sim = scn.simulate.detector, scn.simulate
    n_vox, fine = w["_voxels"], w["_fine_voxels"]
    n_pix = det.n_pixels ** 2
    n_fpix = (det.n_pixels * sim.oversample) ** 2
    modes = sim.probe.n_modes
    f_scan = w["_max_frames_per_scan"]
    # projection grid: the widest footprint (u and v up to the box diagonal plus thickness)
    side = math.hypot(w["_nxy"], w["_nxy"]) + w["_nz"]
    proj_px = side * side
    # fine truth: labels built as by the phantom stage (120 B per voxel, measured), m and its
    # nearest-nickel extension and trilinear interpolation (~60 B); one (Z, Y, X, 3) float32
    # channel stack per concurrent tilt task
    sim_bytes = fine * (120 + 60) + min(threads, w["_projections"]) * fine * 12
    # per thread one scan: windows and modes (8 B), FFT rows and spectra (8 B each),
    # expected counts float64, Poisson int64, counts float32
    sim_bytes += threads * f_scan * (n_fpix * 8 * (1 + 3 * modes) + n_pix * 20)
    return {
        "phantom": n_vox * 120.0,                    # measured at paper size
        "truth": n_vox * 440.0,                      # measured at paper size (relaxation)
        "truth_analysis": n_vox * 120.0,
        "simulate": sim_bytes,
        # every frame float32 + per thread: amplitudes, masks and a set of exit waves
        "ptycho": w["_frames"] * n_pix * 4 + threads * f_scan * n_pix * (4 + 1 + 16),
        # projections, residuals and back-projection (3 stacks) + ~8 volume copies
        "tomo": 3 * w["_projections"] * proj_px * 4 + 8 * n_vox * 4,
        "vector": 3 * 2 * w["_projections"] * proj_px * 4 + 3 * 8 * n_vox * 4,
        # the subdivided search's fields on the reconstruction cube (~6.5 phantom-grid voxels
        # each): quick at upsample 2 measured +0.7 GiB over upsample 1; score runs it again
        "analysis": n_vox * (120.0 + 850.0 * scn.analysis.upsample ** 3),
        "score": n_vox * (60.0 + 850.0 * scn.analysis.upsample ** 3),
    }


def estimate_cost(scn: Scenario, *, threads: int = 2, until: str | None = None) -> CostEstimate:
    """Scans, frames, bytes, peak memory and 2-core time of a scenario, without running it.

    Parameters
    ----------
    scn : Scenario
        The resolved scenario.
    threads : int
        Concurrent tasks assumed in the simulate and ptycho stages (memory only).
    until : str, optional
        Last stage run (as ``synthvec run --until``); time and memory of the later
        stages are left out. Scans, frames and data bytes are always the full run's.

    Returns
    -------
    CostEstimate
    """
    w = work_units(scn)
    stages = list(TIME_MODEL)
    if until is not None:
        if until not in stages:
            raise ValueError(f"until: unknown stage {until!r}; stages: {', '.join(stages)}")
        stages = stages[: stages.index(until) + 1]
    secs = {st: a + c * w[st] for st, (a, c) in TIME_MODEL.items() if st in stages}
    mem = {k: v for k, v in _stage_bytes(scn, w, max(1, threads)).items() if k in stages}
    peak_stage = max(mem, key=mem.get)
    n_pix = scn.simulate.detector.n_pixels ** 2
    data = int(w["_frames"] * n_pix * 4)
    disk = data + int(w["_voxels"] * 4 * 20)        # volumes: truth, projections, reconstructions
    return CostEstimate(n_scans=int(w["_scans"]), n_frames=int(w["_frames"]),
                        detector_pixels=n_pix, data_bytes=data,
                        peak_bytes=int(mem[peak_stage] + BASE_BYTES), peak_stage=peak_stage,
                        cpu_seconds=float(sum(secs.values())), disk_bytes=disk,
                        stage_seconds=secs, stage_bytes={k: int(v) for k, v in mem.items()})


def check_fits(est: CostEstimate, *, memory_bytes: int | None = None,
               disk_bytes: int | None = None, run_dir: str | Path = ".",
               max_seconds: float | None = None) -> str | None:
    """Why this machine cannot hold the run, or ``None`` when it can.

    Parameters
    ----------
    est : CostEstimate
    memory_bytes : int, optional
        Memory available; default total RAM (``os.sysconf``).
    disk_bytes : int, optional
        Disk available; default free space of the file system of ``run_dir``
        (its nearest existing parent).
    run_dir : path
        Where the run will write.
    max_seconds : float, optional
        Longest acceptable run (2-core wall seconds); ``None``: no limit.

    Returns
    -------
    str or None
        One line naming the resource that does not suffice.
    """
    if memory_bytes is None:
        memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if est.peak_bytes > memory_bytes:
        return (f"needs ~{_fmt_bytes(est.peak_bytes)} of memory ({est.peak_stage} stage), "
                f"this machine has {_fmt_bytes(memory_bytes)}")
    if disk_bytes is None:
        where = Path(run_dir).absolute()
        while not where.exists():
            where = where.parent
        disk_bytes = shutil.disk_usage(where).free
    if est.disk_bytes > disk_bytes:
        return (f"needs ~{_fmt_bytes(est.disk_bytes)} of disk, {_fmt_bytes(disk_bytes)} free "
                f"under {run_dir}")
    if max_seconds is not None and est.cpu_seconds > max_seconds:
        return (f"needs ~{_fmt_seconds(est.cpu_seconds)} on 2 cores, more than the limit of "
                f"{_fmt_seconds(max_seconds)}")
    return None
