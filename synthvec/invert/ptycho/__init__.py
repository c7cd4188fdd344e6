"""Ptychographic inversion: the paper's chain for each scan.

Bad-frame removal (:mod:`.badframes`), batched rPIE with probe update
(:mod:`.rpie`), the probe phase constraint against defocus (:mod:`.probe`),
then optical density, helicity registration and Laplace background
(:mod:`.postprocess`). Sees only instrument data: never imports the phantom,
truth files or scoring.

Public calls
------------
``read_cxi(path) -> PtychoData``
``reconstruct(data, cfg, *, rng=None) -> PtychoResult``
``reconstruct_shared(datasets, cfg, *, rng=None) -> list[PtychoResult]`` (one probe;
use it for a helicity pair when ``cfg.shared_probe``)
``run_ptycho(cxi_path, out_path, *, iterations=None, probe_update=True, cfg=PtychoConfig())``
``projection_set(results, *, phi_deg, theta_deg, helicity, cfg) -> xr.Dataset``
``defocus_mode(cfg, data) -> str`` (what ``defocus_correction='auto'`` resolves to)
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Sequence

import numpy as np

from ...errors import InputError
from .badframes import detect_bad_frames, detection_scores
from .config import PtychoConfig
from .data import PtychoData, PtychoResult, read_cxi, write_result, zone_plate_probe
from .peers import ptylab_engine
from .postprocess import projection_set
from .probe import pupil_phase_constraint, pupil_support_constraint, pupil_support_mask
from .superres import (coarse_from_fine_probe, downsample_object, fine_probe, prepare_sr_scan,
                       refined_positions, sr_rpie)
from .rpie import (fresnel_kernels, illumination, object_grid, prepare_scan, rpie,
                   shift_kernels, update_sets)

__all__ = ["PtychoConfig", "PtychoData", "PtychoResult", "read_cxi", "reconstruct", "defocus_mode",
           "reconstruct_shared", "run_ptycho", "projection_set", "detect_bad_frames",
           "detection_scores", "zone_plate_probe", "ENGINES"]


def _constraint(cfg: PtychoConfig, nominal_probe: np.ndarray) -> Callable | None:
    """Probe constraint applied after each iteration with probe updates (or None).

    Pupil support first (what the optic can make), then the paper's pupil-phase
    constraint when ``defocus_correction='pupil_phase'``.
    """
    steps = []
    if cfg.probe_support:
        mask = pupil_support_mask(nominal_probe, threshold=cfg.probe_support_threshold,
                                  dilate_px=cfg.probe_support_dilate_px)
        steps.append(lambda p: pupil_support_constraint(p, mask))
    if cfg.defocus_correction == "pupil_phase":
        steps.append(lambda p: pupil_phase_constraint(p, order=cfg.pupil_order,
                                                      support=cfg.pupil_support))
    if not steps:
        return None

    def apply(p: np.ndarray) -> np.ndarray:
        for f in steps:
            p = f(p)
        return p
    return apply


def defocus_phase_rad(data: PtychoData) -> float:
    """Largest Fresnel phase ``pi wavelength |dz| q99^2`` the tilted plane puts on the probe.

    ``dz`` is each position's depth ``y tan(theta)`` (see :func:`tilted_plane_depth_nm`),
    ``q99`` the spatial frequency radius holding 99 % of the nominal probe's spectral
    energy (its pupil edge). Below ~1 rad the probe barely changes over the scan.
    """
    if not data.theta_deg:
        return 0.0
    h, w = data.probe.shape
    spec = np.abs(np.fft.fft2(data.probe)) ** 2
    qy = np.fft.fftfreq(h, d=data.pixel_nm)
    qx = np.fft.fftfreq(w, d=data.pixel_nm)
    q = np.hypot(qy[:, None], qx[None, :]).ravel()
    order = np.argsort(q)
    cum = np.cumsum(spec.ravel()[order])
    q99 = q[order][min(int(np.searchsorted(cum, 0.99 * cum[-1])), q.size - 1)]
    dz = np.abs(tilted_plane_depth_nm(data)).max()
    return float(np.pi * data.wavelength_nm * dz * q99 ** 2)


def defocus_mode(cfg: PtychoConfig, data: PtychoData) -> str:
    """The defocus correction used for ``data``.

    'auto' resolves to 'tilted_plane' when the data carry a non-zero ``theta_deg``
    and the tilted plane's largest Fresnel phase on the probe
    (:func:`defocus_phase_rad`) exceeds ``cfg.defocus_auto_phase_rad``, else 'off'.
    """
    if cfg.defocus_correction != "auto":
        return cfg.defocus_correction
    if not data.theta_deg:
        return "off"
    return ("tilted_plane" if defocus_phase_rad(data) > cfg.defocus_auto_phase_rad
            else "off")


def tilted_plane_depth_nm(data: PtychoData) -> np.ndarray:
    """Depth of each scan position on the tilted sample plane, ``y tan(theta)`` (nm).

    Tilt theta is about the lab x axis (``geometry``: R = Rx(theta) Rz(phi)); a
    sample point at lab height y (rows, detector v) then sits ``y tan(theta)``
    downstream of the rotation centre, where the probe is focused.
    """
    if data.theta_deg is None:
        raise InputError(f"{data.source or 'data'}: defocus_correction='tilted_plane' needs "
                         "theta_deg (synthvec group of the CXI file)")
    return data.positions_px[:, 0] * data.pixel_nm * np.tan(np.deg2rad(data.theta_deg))


def _bad_frames(d: PtychoData, cfg: PtychoConfig) -> np.ndarray:
    """Indices of the frames dropped as corrupt (empty when detection is off)."""
    if cfg.bad_frames != "detect":
        return np.zeros(0, np.int64)
    return detect_bad_frames(d.frames, d.positions_px, q_min=cfg.bad_frame_q_min,
                             threshold=cfg.bad_frame_threshold, flux_map=cfg.bad_frame_flux_map)


def _superres_engine(datasets: Sequence[PtychoData], cfg: PtychoConfig, *,
                     rng: np.random.Generator) -> list[PtychoResult]:
    """Super-resolved rPIE (``cfg.upsample > 1``, :mod:`.superres`), output on the coarse grid.

    Two stages: ``cfg.iterations`` of plain rPIE (bad frames, probe, position
    refinement as configured) give the start - object, probe and positions -
    of ``cfg.upsample_iterations`` on the fine grid (probe updates and position
    refinement from its first iteration when they are on).
    """
    u = cfg.upsample
    window = datasets[0].probe.shape
    first = _rpie_engine(datasets, dataclasses.replace(cfg, upsample=1), rng=rng)
    fine_cfg = dataclasses.replace(cfg, iterations=cfg.upsample_iterations, probe_update_start=0,
                                   position_refinement_start=0)
    scans, grids, kept = [], [], []
    for d, r in zip(datasets, first):
        keep = np.setdiff1d(np.arange(len(d.frames)), r.dropped_frames)
        dz = (tilted_plane_depth_nm(d)[keep] if defocus_mode(cfg, d) == "tilted_plane"
              else None)
        g0 = object_grid(d.positions_px[keep], window, cfg.object_padding_px)  # as stage 1
        sc, coarse, _ = prepare_sr_scan(d, keep, fine_cfg, dz, positions_px=r.positions_px,
                                        start=(r.object, g0))
        scans.append(sc)
        grids.append(coarse)
        kept.append(keep)
    pf0 = fine_probe(first[0].probe, u)
    pf, err, spi = sr_rpie(scans, pf0, fine_cfg, rng=rng,
                           probe_constraint=_constraint(fine_cfg, fine_probe(
                               np.mean([d.probe for d in datasets], axis=0), u)))
    probe = coarse_from_fine_probe(pf, window[0])
    n1 = cfg.iterations
    spi = (spi * cfg.upsample_iterations + first[0].seconds_per_iteration * n1) / (
        n1 + cfg.upsample_iterations)
    out = []
    for i, (d, r) in enumerate(zip(datasets, first)):
        x_nm, y_nm = grids[i].coords_nm(d.pixel_nm)
        out.append(PtychoResult(object=downsample_object(scans[i].obj, u), probe=probe,
                                error=np.r_[r.error, err[:, i]], object_x_nm=x_nm,
                                object_y_nm=y_nm, seconds_per_iteration=spi,
                                dropped_frames=r.dropped_frames, pixel_nm=d.pixel_nm,
                                illumination=illumination(grids[i], probe),
                                positions_px=refined_positions(scans[i], r.positions_px),
                                helicity=d.helicity, phi_deg=d.phi_deg, theta_deg=d.theta_deg))
    return out


def _rpie_engine(datasets: Sequence[PtychoData], cfg: PtychoConfig, *,
                 rng: np.random.Generator) -> list[PtychoResult]:
    """rPIE on scans sharing one probe (one scan: the ordinary reconstruction);
    super-resolved (:mod:`.superres`) when ``cfg.upsample > 1``."""
    if cfg.upsample > 1:
        return _superres_engine(datasets, cfg, rng=rng)
    window = datasets[0].probe.shape
    scans, grids, kept, dropped = [], [], [], []
    for d in datasets:
        if d.probe.shape != window:
            raise ValueError("scans sharing a probe need the same frame shape")
        bad = _bad_frames(d, cfg)
        keep = np.setdiff1d(np.arange(len(d.frames)), bad)
        grid = object_grid(d.positions_px[keep], window, cfg.object_padding_px)
        obj = np.ones(grid.shape, np.complex64)
        kernels = None
        if defocus_mode(cfg, d) == "tilted_plane":
            kernels = fresnel_kernels(tilted_plane_depth_nm(d)[keep], window,
                                      pixel_nm=d.pixel_nm, wavelength_nm=d.wavelength_nm)
        frac = d.positions_px[keep] - np.rint(d.positions_px[keep])
        refine = None
        if cfg.position_refinement:
            refine = frac if cfg.subpixel_positions else np.zeros_like(frac)
        elif cfg.subpixel_positions and np.abs(frac).max() > 1e-3:
            ramps = shift_kernels(frac, window)
            kernels = ramps if kernels is None else kernels * ramps
        scans.append(prepare_scan(d.frames[keep], grid, obj, kernels, cfg.max_set_size,
                                  refine_shifts=refine))
        grids.append(grid)
        kept.append(keep)
        dropped.append(bad)
    probe0 = (np.mean([d.probe for d in datasets], axis=0) if len(datasets) > 1
              else datasets[0].probe)
    probe, err, spi = rpie(scans, probe0, cfg, rng=rng, probe_constraint=_constraint(cfg, probe0))
    out = []
    for i, d in enumerate(datasets):
        x_nm, y_nm = grids[i].coords_nm(d.pixel_nm)
        pos = d.positions_px[kept[i]].astype(float)
        if scans[i].shifts is not None:   # refined: whole-pixel placement + refined shift
            order = np.concatenate(update_sets(grids[i].corners, window, cfg.max_set_size))
            pos = np.rint(pos)
            pos[order] += np.concatenate(scans[i].shifts)
        out.append(PtychoResult(object=scans[i].obj, probe=probe, error=err[:, i],
                                object_x_nm=x_nm, object_y_nm=y_nm, seconds_per_iteration=spi,
                                dropped_frames=dropped[i], pixel_nm=d.pixel_nm,
                                illumination=illumination(grids[i], probe),
                                positions_px=pos,
                                helicity=d.helicity, phi_deg=d.phi_deg, theta_deg=d.theta_deg))
    return out


#: Engines by name (scenario ``ptycho.method``); one signature each.
ENGINES: dict[str, Callable[..., list[PtychoResult]]] = {"rpie": _rpie_engine,
                                                        "ptylab": ptylab_engine}


def reconstruct(data: PtychoData, cfg: PtychoConfig = PtychoConfig(), *,
                rng: np.random.Generator | None = None) -> PtychoResult:
    """Reconstruct one scan (bad-frame removal, rPIE, optional probe constraint).

    Parameters
    ----------
    data : PtychoData
    cfg : PtychoConfig
    rng : numpy.random.Generator, optional
        Drives the random set order; default ``default_rng(0)`` (reproducible).

    Returns
    -------
    PtychoResult
    """
    rng = np.random.default_rng(0) if rng is None else rng
    return ENGINES[cfg.method]([data], cfg, rng=rng)[0]


def reconstruct_shared(datasets: Sequence[PtychoData], cfg: PtychoConfig = PtychoConfig(), *,
                       rng: np.random.Generator | None = None) -> list[PtychoResult]:
    """Reconstruct scans of the same beam (a helicity pair) with one shared probe.

    The update sets of the scans are interleaved, so the probe sees both
    scans' updates in every sweep. Returns one result per scan (same probe).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    return ENGINES[cfg.method](list(datasets), cfg, rng=rng)


def run_ptycho(cxi_path: str | os.PathLike, out_path: str | os.PathLike, *,
               iterations: int | None = None, probe_update: bool = True,
               cfg: PtychoConfig = PtychoConfig()) -> PtychoResult:
    """``synthvec ptycho``: read a CXI file, reconstruct, write HDF5 (atomically).

    The output holds ``object`` (complex64, rows x cols), ``object_x_nm``,
    ``object_y_nm``, ``probe``, ``error`` and attrs ``iterations``,
    ``seconds_per_iteration``.
    """
    changes: dict = {"probe_update": bool(probe_update)}
    if iterations is not None:
        changes["iterations"] = int(iterations)
    n_it = changes.get("iterations", cfg.iterations)
    if cfg.probe_update_start >= n_it:
        changes["probe_update_start"] = 0
    cfg = dataclasses.replace(cfg, **changes)
    res = reconstruct(read_cxi(cxi_path), cfg)
    write_result(res, out_path, iterations=cfg.iterations)
    return res
