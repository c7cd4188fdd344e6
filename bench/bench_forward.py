#!/usr/bin/env python3
"""Cost of simulating one diffraction pattern vs one batched forward+inverse FFT (issue 4).

    python bench/bench_forward.py [--repeats 5]

Single thread throughout (scipy.fft workers=1, BLAS limited to 1). For a
0 deg and a 62 deg scan of the quick scenario's volume (300 x 300 x 150 nm,
2.5 nm simulation voxels, N = 64 detector, oversample 2 or ``--oversample``) it times

- ``scan``: everything per scan except the ray integrals and the file write:
  transmission, per-depth probe propagation, exit waves on the fine grid,
  pruned far-field FFT, photon + readout noise, faults;
- ``far field``: the exit-wave products and pruned FFTs alone;
- ``noise``: photon and readout noise alone;
- ``floor``: one batched forward + inverse FFT of (F, N, N) complex64.

Ratios are per pattern and measured in the same run: candidates timed in turn,
process CPU time (one thread, so CPU time is the work; robust to a shared
machine's load), min over repeats. The target is ``scan / floor <= 2``.
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
from synthvec.forward.simulate import beam_model, project_tilt, simulate_scan
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


def best(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--oversample", type=int, default=2)
    args = ap.parse_args()
    truth = quick_volume()
    cfg = SimulateConfig(oversample=args.oversample)
    os_ = cfg.oversample
    n = cfg.detector.n_pixels
    beam = beam_model(cfg, fine_pixel_nm=5.0 / os_, rng=np.random.default_rng(0))
    rows = []
    with threadpool_limits(1):
        for phi, theta in ((0.0, 0.0), (120.0, 62.0)):
            t_proj = best(lambda: project_tilt(truth, phi_deg=phi, theta_deg=theta,
                                               pixel_nm=5.0 / os_), 1)
            proj = project_tilt(truth, phi_deg=phi, theta_deg=theta, pixel_nm=5.0 / os_)

            def scan():
                return simulate_scan(proj, beam, cfg, helicity=1, shift_vu_nm=np.zeros(2),
                                     seed=np.random.SeedSequence(1))

            res = scan()
            f = res["n_frames"]
            rng = np.random.default_rng(0)
            fine = (rng.normal(size=(f, os_ * n, os_ * n)) + 1j).astype(np.complex64)
            coarse = (rng.normal(size=(f, n, n)) + 1j).astype(np.complex64)
            probe = fine[0].copy()
            clean = np.clip(res["data"].astype(float), 0, None)   # realistic count levels
            t = interleaved({
                "scan": scan,
                "far_field": lambda: far_field_intensity(fine * probe[None], n, workers=1),
                "noise": lambda: record_frames(
                    clean, rng=np.random.default_rng(1), background=0.05, readout_noise=0.5,
                    saturation=None, flux_factor=np.ones(f), readout_fault=np.zeros((f, 2), int),
                    readout_fault_counts=0.0, fault_rng=np.random.default_rng(2)),
                "floor": lambda: sfft.ifft2(sfft.fft2(coarse, workers=1), workers=1)},
                args.repeats)
            t_scan, t_ff, t_noise, t_floor = t["scan"], t["far_field"], t["noise"], t["floor"]
            rows.append({"oversample": os_, "phi_deg": phi, "theta_deg": theta, "frames": f,
                         "projection_s": round(t_proj, 4),
                         "scan_us_per_frame": round(t_scan / f * 1e6, 1),
                         "far_field_us_per_frame": round(t_ff / f * 1e6, 1),
                         "noise_us_per_frame": round(t_noise / f * 1e6, 1),
                         "floor_us_per_frame": round(t_floor / f * 1e6, 1),
                         "ratio_scan": round(t_scan / t_floor, 2),
                         "ratio_far_field": round(t_ff / t_floor, 2),
                         "ratio_noise": round(t_noise / t_floor, 2)})
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
