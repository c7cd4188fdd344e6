#!/usr/bin/env python3
"""Cost of simulating one diffraction pattern vs one batched forward+inverse FFT (issue 4).

    python bench/bench_forward.py [--repeats 5] [--oversample 2 [1 ...]]

Single thread throughout (scipy.fft workers=1, BLAS limited to 1). For a
0 deg and a 62 deg scan of the quick scenario's volume (300 x 300 x 150 nm,
5 nm object pixel, N = 64 detector; exit waves on the os N grid, 2.5 nm at the
default oversample os = 2) it times

- ``scan``: everything per scan except the ray integrals and the file write
  (``simulate_scan``): transmission, per-depth probe propagation, exit waves
  on the os N grid, pruned far-field FFT, photon + readout noise, faults;
- ``frames``: the expected intensities alone (``scan`` without the noise);
- ``far_field``: the exit-wave products and pruned FFTs alone;
- ``noise``: photon and readout noise alone (``record_frames`` on this scan's
  expected intensities);
- ``floor_N``: one batched forward + inverse FFT of (F, N, N) complex64, the
  size of the recorded pattern;
- ``floor_osN``: the same of (F, os N, os N), the size of the exit waves.

Ratios are per pattern and measured in the same run: candidates timed in turn,
process CPU time (one thread, so CPU time is the work; robust to a shared
machine's load), min over repeats.

The issue's target is ``scan <= 2 x`` one forward+inverse FFT "of that size".
At os = 1 both floors are the same and the target applies as written. At
os = 2 the exit waves are 4x the pattern: the pruned (os N)^2 FFT with the
exit-wave products alone costs ~2.5-3x ``floor_N`` with scipy's pocketfft, so
``scan / floor_N <= 2`` cannot be met there; ``scan / floor_osN`` is the ratio
at the exit-wave size. The printed table says which ratios are <= 2.

Measured (2026-11-28, 2 shared cores under load ~4, ``--repeats 9
--oversample 2 1``; scan us per frame, then ratios)::

     os theta  scan  floor_N floor_osN  scan/N scan/osN far_field/N noise/N
      2     0   277     45.8     233.1    6.04     1.19        2.92    2.30
      2    62   264     42.1     236.9    6.27     1.11        3.02    1.87
      1     0   155     40.6      39.7    3.83     3.92        0.91    2.45
      1    62   138     41.5      42.0    3.33     3.29        0.90    1.86

Before this bench's noise and far-field work the same scans cost (same
machine, back to back): os 2: scan/N 7.8-10, scan/osN 1.6-2.0; os 1:
scan/N 4.7-7.2. So the target is met against the exit-wave-size floor at the
default os = 2 (1.1-1.2), and not against the pattern-size floor (os 2: ~6;
os 1: ~3.3-3.8, where exact photon + readout noise alone is ~2x the floor:
one table lookup, a comparison and a scatter per pixel plus exact Poisson
draws for the ~20-30 % of pixels with photons, in numpy).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import scipy.fft as sfft
from threadpoolctl import threadpool_limits

from synthvec.forward import SimulateConfig
from synthvec.forward.detector import far_field_intensity, record_frames
from synthvec.forward.scan import mid_plane_depth_nm, raster_positions
from synthvec.forward.simulate import _projection_frames, beam_model, project_tilt, simulate_scan
from synthvec.io import field_dataset

VOX = 2.5


def quick_volume(shape=(60, 120, 120)):
    """Nickel slab with an fcc-like layer of 60 nm silica spheres, swirling m."""
    z, y, x = np.meshgrid(*[(np.arange(n) - (n - 1) / 2) * VOX for n in shape], indexing="ij")
    mat = np.full(shape, 2, np.int8)
    for cz in (-37.5, 37.5):
        off = 0.0 if cz < 0 else 35.0
        for cx in np.arange(-140, 141, 70.0):
            for cy in np.arange(-140, 141, 70.0):
                mat[(x - cx - off) ** 2 + (y - cy - off) ** 2 + (z - cz) ** 2 <= 30.0 ** 2] = 1
    m = np.stack([-np.sin(np.arctan2(y, x)), np.cos(np.arctan2(y, x)), 0.3 * np.ones_like(x)])
    m = (m / np.linalg.norm(m, axis=0)).astype(np.float32)
    m[:, mat != 2] = 0
    ds = field_dataset(m, voxel_nm=VOX, mask=mat == 2)
    ds["material"] = (("z", "y", "x"), mat)
    return ds




def interleaved(fns: dict, repeats: int) -> dict:
    """Min time of each function, the candidates timed in turn (a shared machine's load
    then affects them alike)."""
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.process_time()
            fn()
            times[k].append(time.process_time() - t0)
    return {k: min(v) for k, v in times.items()}


def expected_frames(proj, beam, cfg):
    """The scan's positions (no jitter) and its expected photons per pixel, (F, N, N)."""
    os_, n = cfg.oversample, cfg.detector.n_pixels
    n_f, pf = n * os_, proj.pixel_nm
    support = proj.integrals[..., 0] + proj.integrals[..., 1] > 0
    raster = raster_positions(support, pixel_nm=pf, origin_index=(proj.v0, proj.u0),
                              step_nm=cfg.scan.step_nm, margin_nm=cfg.scan.margin_nm)
    j = np.rint(raster / pf).astype(np.int64)
    depth = mid_plane_depth_nm(j * pf, proj.rotation)
    j_lo, j_hi = j.min(axis=0) - n_f // 2, j.max(axis=0) + n_f // 2
    photons = cfg.detector.photons_per_frame * (1.0 + cfg.detector.flux_error)
    return lambda: _projection_frames(proj, beam, cfg, j, j_lo, j_hi, depth, helicity=1,
                                      scale=photons)


def bench_oversample(truth, os_, repeats):
    cfg = SimulateConfig(oversample=os_)
    n = cfg.detector.n_pixels
    dc = cfg.detector
    beam = beam_model(cfg, fine_pixel_nm=5.0 / os_, rng=np.random.default_rng(0))
    rows = []
    for phi, theta in ((0.0, 0.0), (120.0, 62.0)):
        t0 = time.process_time()
        proj = project_tilt(truth, phi_deg=phi, theta_deg=theta, pixel_nm=5.0 / os_)
        t_proj = time.process_time() - t0

        def scan():
            return simulate_scan(proj, beam, cfg, helicity=1, shift_vu_nm=np.zeros(2),
                                 seed=np.random.SeedSequence(1))

        f = scan()["n_frames"]
        frames = expected_frames(proj, beam, cfg)
        clean = frames()
        rng = np.random.default_rng(0)
        fine = (rng.normal(size=(f, os_ * n, os_ * n)) + 1j).astype(np.complex64)
        coarse = fine[:, :n, :n].copy()
        probe = fine[0].copy()
        scratch = np.empty_like(fine)

        def far_field():
            np.multiply(fine, probe, out=scratch)
            return far_field_intensity(scratch, n, workers=1, overwrite_x=True)

        t = interleaved({
            "scan": scan,
            "frames": frames,
            "far_field": far_field,
            "noise": lambda: record_frames(
                clean, rng=np.random.default_rng(1), background=dc.background_counts,
                readout_noise=dc.readout_noise_counts, saturation=None, flux_factor=np.ones(f),
                readout_fault=np.zeros((f, 2), int), readout_fault_counts=0.0,
                fault_rng=np.random.default_rng(2)),
            "floor_N": lambda: sfft.ifft2(sfft.fft2(coarse, workers=1), workers=1),
            "floor_osN": lambda: sfft.ifft2(sfft.fft2(fine, workers=1), workers=1)},
            repeats)
        row = {"oversample": os_, "phi_deg": phi, "theta_deg": theta, "frames": f,
               "projection_s": round(t_proj, 4)}
        for k, v in t.items():
            row[f"{k}_us_per_frame"] = round(v / f * 1e6, 1)
        for k in ("scan", "frames", "far_field", "noise"):
            row[f"ratio_{k}"] = round(t[k] / t["floor_N"], 2)
        row["ratio_scan_osN"] = round(t["scan"] / t["floor_osN"], 2)
        rows.append(row)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--oversample", type=int, nargs="+", default=[2])
    args = ap.parse_args()
    truth = quick_volume()
    rows = []
    with threadpool_limits(1):
        for os_ in args.oversample:
            rows += bench_oversample(truth, os_, args.repeats)
    for r in rows:
        print(json.dumps(r))
    print(f"{'os':>3} {'theta':>6} {'F':>4} {'scan us':>8} {'floor_N':>8} {'floor_osN':>9} "
          f"{'scan/N':>7} {'scan/osN':>8}  far_field/N  noise/N  <= 2 at")
    for r in rows:
        ok = [name for name, key in (("N", "ratio_scan"), ("osN", "ratio_scan_osN"))
              if r[key] <= 2.0]
        print(f"{r['oversample']:>3} {r['theta_deg']:>6.0f} {r['frames']:>4} "
              f"{r['scan_us_per_frame']:>8.1f} {r['floor_N_us_per_frame']:>8.1f} "
              f"{r['floor_osN_us_per_frame']:>9.1f} {r['ratio_scan']:>7.2f} "
              f"{r['ratio_scan_osN']:>8.2f}  {r['ratio_far_field']:>11.2f}  "
              f"{r['ratio_noise']:>7.2f}  {', '.join(ok) or 'none'}")


if __name__ == "__main__":
    main()
