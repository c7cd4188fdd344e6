"""End-to-end simulation of the vector-ptychography experiment: one CXI file per scan.

Per (series, tilt) one Dask task integrates the fine truth volume along the
true beam (:mod:`.project`); per helicity one task builds the transmission,
scans the true probe over it and writes the CXI file. Exit waves are formed on
the simulation pixel (object pixel / ``oversample``) either in the projection
approximation with the probe propagated per position to the local depth of the
tilted sample (default), or by multislice through slabs at their true depths
(``cfg.propagation = "multislice"``); the detector crops the far field to N x N. Tasks run on Dask's
local threaded scheduler with :func:`synthvec.threads.n_threads` workers; every
FFT inside a task uses ``workers=1``.

What the experimenter knows (nominal, in the CXI fields): energy, detector,
nominal angles, recorded positions, the nominal probe (zone plate at the
nominal defocus, nominal flux). What only the truth group holds: the true
angles (angle errors), the sample shift, the position errors, the true probe
(defocus error, astigmatism, partial coherence, flux error), depth offsets of
the tilted sample, and the corrupt frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import scipy.fft as sfft
import xarray as xr

from ..errors import InputError
from ..geometry import GeometryConfig, beam_direction, rotation
from ..threads import n_threads
from .config import SimulateConfig
from .cxi import ScanRecord, write_cxi
from .detector import coarse_probe, far_field_intensity, record_frames
from .optics import transmission, wavelength_nm
from .probe import probe_modes, zone_plate_probe
from .project import footprint_bounds_nm, material_channels, ray_integrals
from .propagate import axial_phase_per_nm, multislice
from .scan import draw_corrupt_frames, mid_plane_depth_nm, raster_positions

__all__ = ["simulate_experiment", "project_tilt", "TiltProjection", "BeamModel", "beam_model",
           "simulate_scan", "check_truth"]


@dataclass
class TiltProjection:
    """Ray integrals of one (series, tilt) on the fine detector grid (pitch ``pixel_nm``).

    Element (i, j) of ``integrals`` is at ``v = (v0 + i) pixel_nm``, ``u = (u0 + j) pixel_nm``.
    """

    integrals: np.ndarray      # (V, U, 3) float32: path Ni, path silica, integral k.m (nm)
    u0: int
    v0: int
    pixel_nm: float
    rotation: np.ndarray       # true sample-to-lab rotation
    slabs: np.ndarray | None = None         # (S, V, U, 3) float32, multislice only
    slab_centres_nm: np.ndarray | None = None


@dataclass
class BeamModel:
    """Nominal and true probes on the fine grid (rotation-centre plane)."""

    nominal_fine: np.ndarray   # (N_f, N_f), sum |P|^2 = 1
    true_fine: np.ndarray      # (M, N_f, N_f), each sum |P|^2 = 1
    weights: np.ndarray        # (M,)
    true_defocus_nm: float
    nominal_coarse: np.ndarray  # (N, N) on the object pixel, sum |P|^2 = nominal photons
    true_coarse: np.ndarray     # (M, N, N) on the object pixel, sum |P_m|^2 = true photons w_m


def check_truth(truth: xr.Dataset) -> float:
    """Validate the truth volume against the shared contract; return its voxel (nm)."""
    for name in ("material", "m"):
        if name not in truth:
            raise InputError(f"truth: variable '{name}' is missing (shared contract)")
    if tuple(truth["m"].dims) != ("comp", "z", "y", "x"):
        raise InputError(f"truth: m must have dims (comp, z, y, x) (got {truth['m'].dims})")
    voxel = float(truth.attrs.get("voxel_nm", 0.0))
    if voxel <= 0:
        raise InputError("truth: attrs voxel_nm must be > 0")
    return voxel


def project_tilt(truth: xr.Dataset, *, phi_deg: float, theta_deg: float,
                 pixel_nm: float, slab_nm: float | None = None) -> TiltProjection:
    """Integrate the truth along the beam of (phi, theta) on the fine detector grid.

    With ``slab_nm`` the integrals are also split into slabs of that
    thickness along the beam (for multislice frames).
    """
    voxel = check_truth(truth)
    rot = rotation(phi_deg, theta_deg)
    k = beam_direction(phi_deg, theta_deg)
    ch = material_channels(truth, k)
    shape = truth["material"].shape
    u_lo, u_hi, v_lo, v_hi = footprint_bounds_nm(shape, voxel, rot)
    u0, u1 = int(np.floor(u_lo / pixel_nm)) - 1, int(np.ceil(u_hi / pixel_nm)) + 1
    v0, v1 = int(np.floor(v_lo / pixel_nm)) - 1, int(np.ceil(v_hi / pixel_nm)) + 1
    u = np.arange(u0, u1 + 1) * pixel_nm
    v = np.arange(v0, v1 + 1) * pixel_nm
    if slab_nm is None:
        integ = ray_integrals(ch, voxel_nm=voxel, rotation=rot, u_nm=u, v_nm=v)
        return TiltProjection(integrals=integ.astype(np.float32), u0=u0, v0=v0,
                              pixel_nm=pixel_nm, rotation=rot)
    lo, hi = depth_range_nm(shape, voxel, rot)
    n_slab = max(1, int(np.ceil((hi - lo) / slab_nm)))
    edges = np.linspace(lo - 1e-6, hi + 1e-6, n_slab + 1)
    slabs = ray_integrals(ch, voxel_nm=voxel, rotation=rot, u_nm=u, v_nm=v,
                          slab_edges_nm=edges).astype(np.float32)
    return TiltProjection(integrals=slabs.sum(axis=0), u0=u0, v0=v0, pixel_nm=pixel_nm,
                          rotation=rot, slabs=slabs,
                          slab_centres_nm=0.5 * (edges[:-1] + edges[1:]))


def depth_range_nm(shape_zyx: tuple[int, int, int], voxel_nm: float,
                   rotation_: np.ndarray) -> tuple[float, float]:
    """Range of lab depth s (along the beam) covered by the volume box, nm."""
    nz, ny, nx = shape_zyx
    half = 0.5 * voxel_nm * np.array([nx, ny, nz], dtype=float)
    corners = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)]) * half
    depth = corners @ np.asarray(rotation_)[2]
    return float(depth.min()), float(depth.max())


def beam_model(cfg: SimulateConfig, *, fine_pixel_nm: float, rng: np.random.Generator
               ) -> BeamModel:
    """Nominal probe and true probe modes at the rotation-centre plane (fine grid)."""
    lam = wavelength_nm(cfg.energy_ev)
    pc = cfg.probe
    n_f = cfg.detector.n_pixels * cfg.oversample
    common = {"wavelength_nm": lam, "outer_zone_nm": pc.outer_zone_nm,
              "central_stop_fraction": pc.central_stop_fraction}
    nominal = zone_plate_probe(n_f, fine_pixel_nm, defocus_nm=pc.defocus_um * 1e3, **common)
    true_defocus = pc.defocus_um * 1e3 + pc.defocus_error_nm
    modes, weights = probe_modes(n_f, fine_pixel_nm, n_modes=pc.n_modes,
                                 source_sigma_nm=pc.source_sigma_nm, rng=rng,
                                 defocus_nm=true_defocus, astigmatism_rad=pc.astigmatism_rad,
                                 **common)
    n = cfg.detector.n_pixels
    photons_true = cfg.detector.photons_per_frame * (1.0 + cfg.detector.flux_error)
    nominal_coarse = coarse_probe(nominal, n) * np.sqrt(cfg.detector.photons_per_frame)
    true_coarse = coarse_probe(modes, n) * np.sqrt(photons_true * weights)[:, None, None]
    return BeamModel(nominal_fine=nominal, true_fine=modes, weights=weights,
                     true_defocus_nm=true_defocus, nominal_coarse=nominal_coarse,
                     true_coarse=true_coarse)


def _transmission_grid(integrals: np.ndarray, proj: TiltProjection, j_lo: np.ndarray,
                       j_hi: np.ndarray, *, cfg: SimulateConfig, helicity: int) -> np.ndarray:
    """Complex transmission on fine-grid rows j_lo[0]..j_hi[0], cols j_lo[1]..j_hi[1] (excl.).

    ``integrals`` is ``proj.integrals`` (V, U, 3) or ``proj.slabs`` (S, V, U, 3).
    """
    lead = integrals.shape[:-3]
    t = np.ones(lead + (j_hi[0] - j_lo[0], j_hi[1] - j_lo[1]), np.complex64)
    nv, nu = integrals.shape[-3:-1]
    r0, c0 = proj.v0 - j_lo[0], proj.u0 - j_lo[1]
    rs = slice(max(r0, 0), min(r0 + nv, t.shape[-2]))
    cs = slice(max(c0, 0), min(c0 + nu, t.shape[-1]))
    sub = integrals[..., rs.start - r0:rs.stop - r0, cs.start - c0:cs.stop - c0, :]
    t[..., rs, cs] = transmission(sub[..., 0], sub[..., 1], sub[..., 2], optics=cfg.optics,
                                  energy_ev=cfg.energy_ev, helicity=helicity)
    return t


def _windows(grid: np.ndarray, j: np.ndarray, j_lo: np.ndarray, n_f: int) -> np.ndarray:
    """Stack the (..., n_f, n_f) windows of ``grid`` centred on fine-grid positions j."""
    r0 = j[:, 0] - n_f // 2 - j_lo[0]
    c0 = j[:, 1] - n_f // 2 - j_lo[1]
    return np.stack([grid[..., r:r + n_f, c:c + n_f] for r, c in zip(r0, c0)], axis=-3)


def _mode_weighted(inten: np.ndarray, weights: np.ndarray, scale: float,
                   out: np.ndarray) -> np.ndarray:
    """``out = scale * sum_m w_m I_m`` of (F, M, N, N) intensities; out (F, N, N) float64."""
    if len(weights) == 1:
        np.copyto(out, inten[:, 0])                 # widen first: mixed-type loops are slow
        out *= scale * weights[0]
        return out
    return np.einsum("fmij,m->fij", inten, np.asarray(weights, np.float64) * scale, out=out)


@lru_cache(maxsize=8)
def _bin_transfer(n_f: int, n_det: int, pixel_nm: float, wavelength_nm_: float,
                  bin_nm: float) -> tuple[np.ndarray, np.ndarray]:
    """Rolled spectral factors of the defocused probe: the propagating mask and the transfer
    function of one depth bin, both ``np.roll(., N // 2)`` in both axes (read-only, complex128).

    Why rolled: for even N_f, ``fftshift(ifft2(Z)) = ifft2(Z (-1)^(kx + ky))`` and
    ``detector_ramp * ifft2(Z) = ifft2(np.roll(Z, N // 2))`` (DFT shift theorems, exact), so
    the centred probe times the ramp is one inverse FFT of rolled, signed spectra.
    """
    phase, prop = axial_phase_per_nm((n_f, n_f), pixel_nm=pixel_nm,
                                     wavelength_nm=wavelength_nm_)
    h = n_det // 2
    mask = np.roll(prop.astype(np.complex128), (h, h), axis=(0, 1))
    step = np.roll(np.exp(1j * bin_nm * phase) * prop, (h, h), axis=(0, 1))
    mask.flags.writeable = False
    step.flags.writeable = False
    return mask, step


def _unit_power(base: np.ndarray, start: np.ndarray, exponent: int) -> np.ndarray:
    """``start * base^|exponent|`` (conj(base) for a negative exponent) by repeated squaring;
    ``base`` has entries of modulus 1 or 0 (float64 rounding)."""
    out = start.copy()
    base = np.conj(base) if exponent < 0 else base.copy()
    e = abs(int(exponent))
    while e:
        if e & 1:
            out *= base
        e >>= 1
        if e:
            base *= base
    return out


def _defocused_modes(fine_modes: np.ndarray, n_det: int, pixel_nm: float,
                     wavelength_nm_: float, bins: np.ndarray, bin_nm: float):
    """True probe modes propagated by ``bins * bin_nm`` (angular spectrum), centred, times
    :func:`~.detector.detector_ramp`, per depth bin (``bins`` sorted ascending).

    The transfer function of a bin is that of the previous one times that of
    one bin (a complex multiply per frequency instead of a complex exponential).

    Yields
    ------
    ndarray, (M, N_f, N_f) complex64, per bin
    """
    n_f = fine_modes.shape[-1]
    mask, step = _bin_transfer(n_f, n_det, float(pixel_nm), float(wavelength_nm_),
                               float(bin_nm))
    k = np.arange(n_f)
    sign = np.where((k[:, None] + k[None, :]) % 2, -1.0, 1.0)          # (-1)^(kx + ky)
    spec = sfft.fft2(sfft.ifftshift(fine_modes, axes=(-2, -1)), workers=1) * sign
    spec = np.roll(spec, (n_det // 2, n_det // 2), axis=(-2, -1))
    h, last = None, None
    buf = np.empty(spec.shape, np.complex64)
    for b in bins:
        h = h * step if last is not None and b - last == 1 else _unit_power(step, mask, b)
        last = b
        np.multiply(spec, h, out=buf, casting="same_kind")
        yield sfft.ifft2(buf, workers=1)


def _projection_frames(proj, beam, cfg, j, j_lo, j_hi, depth, *, helicity, scale=1.0, chunk=16):
    """Expected intensities (times ``scale``): projection approximation, probe defocused by depth.

    Frames are formed in chunks of ``chunk`` in one scratch buffer: each exit
    wave is the product of its transmission window and the defocused modes
    (which carry the detector ramp, so the detector is the FFT's corner),
    written in place, then transformed in place.
    """
    n = cfg.detector.n_pixels
    n_f, pf = n * cfg.oversample, proj.pixel_nm
    lam = wavelength_nm(cfg.energy_ev)
    tgrid = _transmission_grid(proj.integrals, proj, j_lo, j_hi, cfg=cfg, helicity=helicity)
    bin_nm = cfg.probe.defocus_bin_nm
    bins = np.rint(depth / bin_nm).astype(np.int64)
    order = np.argsort(bins, kind="stable")             # frames of one bin are contiguous
    ubins, starts = np.unique(bins[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    r0 = j[:, 0] - n_f // 2 - j_lo[0]
    c0 = j[:, 1] - n_f // 2 - j_lo[1]
    buf = np.empty((chunk,) + beam.true_fine.shape, np.complex64)
    clean = np.empty((len(j), n, n))                    # in the order of ``order``
    modes_per_bin = _defocused_modes(beam.true_fine, n, pf, lam, ubins, bin_nm)
    for b0, b1, modes in zip(starts, ends, modes_per_bin):
        for start in range(b0, b1, chunk):
            stop = min(start + chunk, b1)
            psi = buf[:stop - start]
            for q, i in enumerate(order[start:stop]):
                np.multiply(tgrid[r0[i]:r0[i] + n_f, c0[i]:c0[i] + n_f], modes, out=psi[q])
            inten = far_field_intensity(psi, n, workers=1, overwrite_x=True, ramped=True)
            _mode_weighted(inten, beam.weights, scale, out=clean[start:stop])
    out = np.empty_like(clean)
    out[order] = clean
    return out


def _multislice_frames(proj, beam, cfg, j, j_lo, j_hi, *, helicity, scale=1.0, chunk=8):
    """Expected intensities (times ``scale``): multislice through the slabs at their true depths."""
    n = cfg.detector.n_pixels
    n_f, pf = n * cfg.oversample, proj.pixel_nm
    lam = wavelength_nm(cfg.energy_ev)
    tslabs = _transmission_grid(proj.slabs, proj, j_lo, j_hi, cfg=cfg, helicity=helicity)
    clean = np.empty((len(j), n, n))
    modes = beam.true_fine.astype(np.complex64)
    for start in range(0, len(j), chunk):
        sel = slice(start, min(start + chunk, len(j)))
        win = _windows(tslabs, j[sel], j_lo, n_f)                # (S, F, n_f, n_f)
        psi = multislice(win[:, :, None], proj.slab_centres_nm, pixel_nm=pf,
                         wavelength_nm=lam, incident=modes[None], workers=1)
        inten = far_field_intensity(psi, n, workers=1, overwrite_x=True)
        _mode_weighted(inten, beam.weights, scale, out=clean[sel])
    return clean


def simulate_scan(proj: TiltProjection, beam: BeamModel, cfg: SimulateConfig, *,
                  helicity: int, shift_vu_nm: np.ndarray, seed: np.random.SeedSequence) -> dict:
    """Simulate one scan's frames; return the CXI content (nominal + truth) as a dict."""
    sc, dc = cfg.scan, cfg.detector
    os_, n = cfg.oversample, dc.n_pixels
    n_f, pf = n * os_, proj.pixel_nm
    s_pos, s_corrupt, s_frames = seed.spawn(3)
    rng_pos = np.random.default_rng(s_pos)
    support = proj.integrals[..., 0] + proj.integrals[..., 1] > 0
    raster = raster_positions(support, pixel_nm=pf, origin_index=(proj.v0, proj.u0),
                              step_nm=sc.step_nm, margin_nm=sc.margin_nm)
    nominal = raster + rng_pos.normal(0.0, sc.jitter_nm, raster.shape)
    true = nominal + rng_pos.normal(0.0, sc.position_error_nm, raster.shape) - shift_vu_nm
    j = np.rint(true / pf).astype(np.int64)
    true = j * pf                               # the simulated positions, exactly
    n_frames = len(j)
    depth = mid_plane_depth_nm(true, proj.rotation)
    j_lo = j.min(axis=0) - n_f // 2
    j_hi = j.max(axis=0) + n_f // 2
    photons_true = dc.photons_per_frame * (1.0 + dc.flux_error)
    if proj.slabs is not None:
        clean = _multislice_frames(proj, beam, cfg, j, j_lo, j_hi, helicity=helicity,
                                   scale=photons_true)
    else:
        clean = _projection_frames(proj, beam, cfg, j, j_lo, j_hi, depth, helicity=helicity,
                                   scale=photons_true)
    index, kind, flux, rows = draw_corrupt_frames(n_frames, n, rate=dc.corrupt_rate,
                                                  rng=np.random.default_rng(s_corrupt))
    data = record_frames(clean, rng=np.random.default_rng(s_frames),
                         background=dc.background_counts, readout_noise=dc.readout_noise_counts,
                         saturation=dc.saturation_counts, flux_factor=flux, readout_fault=rows,
                         readout_fault_counts=dc.readout_fault_counts,
                         fault_rng=np.random.default_rng(s_corrupt.spawn(1)[0]))
    truth = {"corrupt_frames": index, "corrupt_kind": kind,
             "true_translation": _translation_m(true),
             "true_probe": beam.true_coarse.astype(np.complex64),
             "mode_weights": beam.weights, "true_defocus_nm": np.float64(beam.true_defocus_nm),
             "sample_shift_nm": np.asarray(shift_vu_nm[::-1], float),
             "depth_offset_nm": depth, "flux_factor": flux * (1.0 + dc.flux_error),
             "true_rotation": proj.rotation}
    return {"data": data, "translation_m": _translation_m(nominal), "truth": truth,
            "n_frames": n_frames, "n_corrupt": int(index.size)}


def _translation_m(pos_vu_nm: np.ndarray) -> np.ndarray:
    """(v, u) nm -> CXI translation (x = u, y = v, 0) in metres."""
    out = np.zeros((len(pos_vu_nm), 3))
    out[:, 0] = pos_vu_nm[:, 1] * 1e-9
    out[:, 1] = pos_vu_nm[:, 0] * 1e-9
    return out


def _scan_task(proj, beam, cfg, meta, path):
    res = simulate_scan(proj, beam, cfg, helicity=meta["helicity"], shift_vu_nm=meta["shift"],
                        seed=meta["seed"])
    n = cfg.detector.n_pixels
    lam_m = wavelength_nm(cfg.energy_ev) * 1e-9
    pixel_m = cfg.detector.pixel_um * 1e-6
    obj_m = meta["pixel_nm"] * 1e-9
    probe = beam.nominal_coarse
    truth = dict(res["truth"], true_phi_deg=np.float64(meta["true_phi"]),
                 true_theta_deg=np.float64(meta["true_theta"]))
    rec = ScanRecord(data=res["data"], translation_m=res["translation_m"], probe=probe,
                     energy_ev=cfg.energy_ev, distance_m=obj_m * n * pixel_m / lam_m,
                     pixel_m=pixel_m, helicity=meta["helicity"], phi_deg=meta["phi"],
                     theta_deg=meta["theta"], series=meta["series"], tilt_index=meta["tilt_index"],
                     object_pixel_m=obj_m, nominal_photons=cfg.detector.photons_per_frame,
                     saturation=cfg.detector.saturation_counts, truth=truth)
    write_cxi(path, rec)
    return {"series": meta["series"], "tilt_index": meta["tilt_index"], "phi_deg": meta["phi"],
            "theta_deg": meta["theta"], "helicity": meta["helicity"], "path": str(path),
            "n_frames": res["n_frames"], "n_corrupt": res["n_corrupt"],
            "true_phi_deg": meta["true_phi"], "true_theta_deg": meta["true_theta"],
            "shift_u_nm": float(meta["shift"][1]), "shift_v_nm": float(meta["shift"][0])}


def simulate_experiment(truth: xr.Dataset, geometry: GeometryConfig, cfg: SimulateConfig,
                        out_dir: Path, *, rng: np.random.Generator,
                        recon_voxel_nm: float) -> pd.DataFrame:
    """Simulate every scan (series x tilt x helicity) and write one CXI file each.

    Parameters
    ----------
    truth : xarray.Dataset
        Ground truth on the simulation grid (shared contract: ``material``,
        ``m``, attrs ``voxel_nm``), finer than the reconstruction grid.
    geometry : GeometryConfig
        Nominal tilt series.
    cfg : SimulateConfig
        Optics, probe, scan, detector and error options.
    out_dir : Path
        Folder of the CXI files (created); each is written atomically.
    rng : numpy.random.Generator
        Source of every random draw (angle errors, shifts, modes, positions, noise).
    recon_voxel_nm : float
        Object pixel ``lambda z / (N p)`` of the data = reconstruction voxel, nm.

    Returns
    -------
    pandas.DataFrame
        One row per file: series, tilt_index, phi_deg, theta_deg, helicity, path,
        n_frames, n_corrupt, true_phi_deg, true_theta_deg, shift_u_nm, shift_v_nm.
    """
    check_truth(truth)
    if recon_voxel_nm <= 0:
        raise InputError(f"recon_voxel_nm must be > 0 (got {recon_voxel_nm})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fine = recon_voxel_nm / cfg.oversample
    if cfg.probe.outer_zone_nm <= fine:
        raise InputError(f"simulate.probe.outer_zone_nm must exceed the simulation pixel "
                         f"{fine:g} nm (got {cfg.probe.outer_zone_nm:g})")
    root = np.random.SeedSequence(int(rng.integers(2**63)))
    s_beam, s_scans = root.spawn(2)
    beam = beam_model(cfg, fine_pixel_nm=fine, rng=np.random.default_rng(s_beam))
    err = cfg.errors

    # closures keep the big objects out of Dask's argument traversal and hashing
    slab_nm = cfg.multislice_slab_nm if cfg.propagation == "multislice" else None

    def proj_task(phi_deg, theta_deg):
        return project_tilt(truth, phi_deg=phi_deg, theta_deg=theta_deg, pixel_nm=fine,
                            slab_nm=slab_nm)

    def scan_task(proj, meta, path):
        return _scan_task(proj, beam, cfg, meta, path)

    tasks = []
    scan_seeds = iter(s_scans.spawn(len(geometry.phis_deg) * len(geometry.tilts_deg) * 2))
    for si, phi in enumerate(geometry.phis_deg):
        for ti, theta in enumerate(geometry.tilts_deg):
            dphi, dtheta = rng.normal(0.0, err.angle_error_deg, 2)
            tphi, ttheta = float(phi + dphi), float(theta + dtheta)
            proj = dask.delayed(proj_task, pure=False)(tphi, ttheta)
            for h in (1, -1):
                meta = {"series": si, "tilt_index": ti, "phi": float(phi), "theta": float(theta),
                        "helicity": h, "true_phi": tphi, "true_theta": ttheta,
                        "shift": rng.normal(0.0, err.shift_nm, 2), "seed": next(scan_seeds),
                        "pixel_nm": float(recon_voxel_nm)}
                name = f"scan_s{si}_t{ti:02d}_{'p' if h > 0 else 'm'}.cxi"
                tasks.append(dask.delayed(scan_task, pure=False)(proj, meta, out_dir / name))
    rows = dask.compute(*tasks, scheduler="threads", num_workers=n_threads())
    return pd.DataFrame(list(rows))
