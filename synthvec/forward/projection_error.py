"""How much the projection approximation errs for a scenario: multislice reference.

At 856 eV (lambda = 1.45 nm) and 5 nm pixels the depth of field
``~ 2 p^2 / lambda`` is tens of nm, far less than the 150-320 nm path through
the tilted slab, so diffraction inside the sample is not negligible in
principle. The reference is a multislice exit wave (slabs of
``cfg.multislice_slab_nm`` along the beam, angular-spectrum propagation
between them, referred back to the rotation-centre plane), compared with the
projection approximation of the same ray integrals, under plane-wave
illumination, on the simulation grid.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..geometry import GeometryConfig, beam_direction, rotation
from ..threads import n_threads
from .config import SimulateConfig
from .optics import optical_density, transmission, wavelength_nm
from .project import footprint_bounds_nm, material_channels, ray_integrals
from .propagate import multislice
from .simulate import check_truth

__all__ = ["projection_error_report", "exit_waves_both_ways", "band_limit"]


def exit_waves_both_ways(truth: xr.Dataset, cfg: SimulateConfig, *, phi_deg: float,
                         theta_deg: float, pad_px: int = 32
                         ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Plane-wave exit waves by projection approximation and by multislice.

    Returns
    -------
    dict
        helicity -> (projection-approximation wave, multislice wave), each
        (V, U) complex128 on the simulation pixel, plus key 0 -> (support,
        support) bool (where the sample projects).
    """
    voxel = check_truth(truth)
    rot = rotation(phi_deg, theta_deg)
    ch = material_channels(truth, beam_direction(phi_deg, theta_deg))
    shape = truth["material"].shape
    u_lo, u_hi, v_lo, v_hi = footprint_bounds_nm(shape, voxel, rot)
    u = (np.arange(int(np.floor(u_lo / voxel)) - pad_px, int(np.ceil(u_hi / voxel)) + pad_px)
         * voxel)
    v = (np.arange(int(np.floor(v_lo / voxel)) - pad_px, int(np.ceil(v_hi / voxel)) + pad_px)
         * voxel)
    nz, ny, nx = shape
    half = 0.5 * voxel * np.array([nx, ny, nz])
    corners = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)]) * half
    depth = corners @ rot[2]
    n_slab = max(1, int(np.ceil((depth.max() - depth.min()) / cfg.multislice_slab_nm)))
    edges = np.linspace(depth.min() - 1e-6, depth.max() + 1e-6, n_slab + 1)
    slabs = ray_integrals(ch, voxel_nm=voxel, rotation=rot, u_nm=u, v_nm=v, slab_edges_nm=edges)
    total = slabs.sum(axis=0)
    lam = wavelength_nm(cfg.energy_ev)
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for h in (1, -1):
        t_pa = transmission(total[..., 0], total[..., 1], total[..., 2], optics=cfg.optics,
                            energy_ev=cfg.energy_ev, helicity=h)
        t_slabs = transmission(slabs[..., 0], slabs[..., 1], slabs[..., 2], optics=cfg.optics,
                               energy_ev=cfg.energy_ev, helicity=h)
        psi = multislice(t_slabs, 0.5 * (edges[:-1] + edges[1:]), pixel_nm=voxel,
                         wavelength_nm=lam, workers=n_threads())
        out[h] = (t_pa, psi)
    support = (total[..., 0] + total[..., 1]) > 0
    out[0] = (support, support)
    return out


def band_limit(field: np.ndarray, *, pixel_nm: float, object_pixel_nm: float) -> np.ndarray:
    """Keep the spatial frequencies a detector of object pixel ``object_pixel_nm`` records.

    The detector crop is the square ``|f_x|, |f_y| <= 1 / (2 object_pixel_nm)``.
    """
    fy = np.fft.fftfreq(field.shape[0], d=pixel_nm)
    fx = np.fft.fftfreq(field.shape[1], d=pixel_nm)
    f_max = 0.5 / object_pixel_nm
    keep = (np.abs(fy)[:, None] <= f_max) & (np.abs(fx)[None, :] <= f_max)
    return np.fft.ifft2(np.fft.fft2(field) * keep)


def projection_error_report(truth: xr.Dataset, geometry: GeometryConfig, cfg: SimulateConfig, *,
                            tilts_deg: tuple[float, ...] = (0.0, 62.0),
                            recon_voxel_nm: float | None = None) -> dict[str, float]:
    """Projection approximation vs multislice for the scenario, at the given tilts.

    Both exit waves are first band-limited to what the detector records
    (object pixel ``recon_voxel_nm``, default ``cfg.oversample`` times the
    truth voxel), since finer detail never reaches the data.
    Uses the first in-plane rotation of ``geometry``. For each tilt T (degrees,
    formatted with ``%g``) the keys are

    - ``exit_wave_rel_err_tilt{T}deg``: ``||psi_ms - psi_pa|| / ||psi_pa - 1||``
      over the sample footprint (helicity +1): error relative to the object's
      own effect on the wave;
    - ``od_rel_err_tilt{T}deg``: relative L2 error of the helicity-mean optical
      density (the scalar tomography input);
    - ``xmcd_rel_err_tilt{T}deg``: relative L2 error of (OD+ - OD-) / 2 (the
      vector tomography input);
    - ``slab_nm``, ``object_pixel_nm``: slab thickness and band limit used.
    """
    phi = float(geometry.phis_deg[0])
    voxel = check_truth(truth)
    obj_px = float(recon_voxel_nm) if recon_voxel_nm else cfg.oversample * voxel
    report: dict[str, float] = {"slab_nm": float(cfg.multislice_slab_nm),
                                "object_pixel_nm": obj_px}
    for tilt in tilts_deg:
        waves = exit_waves_both_ways(truth, cfg, phi_deg=phi, theta_deg=float(tilt))
        sup = waves[0][0]
        tp, mp, tm, mm = (band_limit(w, pixel_nm=voxel, object_pixel_nm=obj_px)
                          for w in (*waves[1], *waves[-1]))
        od = {k: (optical_density(a), optical_density(b)) for k, (a, b) in
              ((1, (tp, mp)), (-1, (tm, mm)))}
        mean_pa = 0.5 * (od[1][0] + od[-1][0])
        mean_ms = 0.5 * (od[1][1] + od[-1][1])
        x_pa = 0.5 * (od[1][0] - od[-1][0])
        x_ms = 0.5 * (od[1][1] - od[-1][1])

        def rel(err, ref):
            den = np.linalg.norm(ref[sup])
            return float(np.linalg.norm(err[sup]) / den) if den > 0 else float("nan")

        tag = f"tilt{tilt:g}deg"
        report[f"exit_wave_rel_err_{tag}"] = rel(mp - tp, tp - 1.0)
        report[f"od_rel_err_{tag}"] = rel(mean_ms - mean_pa, mean_pa)
        report[f"xmcd_rel_err_{tag}"] = rel(x_ms - x_pa, x_pa)
    return report
