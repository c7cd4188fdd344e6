#!/usr/bin/env python3
"""Benchmark T1 for synthvec's scalar tomography (RESIRE), issue 6.

    SYNTHVEC_THREADS=2 python bench/bench_tomo.py [--seeds 0 1 2 3 4] [--repeats 3]
        [--iterations 100] [--data DIR] [--projector real|fourier] [--tv-weight W]
        [--json OUT.json]

For each seed, ``shared/bench/t1.py`` writes 96 exact projections of a 64^3
phantom (cached under --data). The full stage ``reconstruct_scalar`` runs
(pre-alignment, RESIRE, refinement every 10 iterations): the wall time per
iteration includes set-up and alignment amortised over the iterations; the
best of --repeats is kept (the machine is shared), with its process CPU time
(all threads; CPU / wall shows how much of the wall time the threads got on a
loaded machine). NRMSE is over the whole volume against the truth file.
``--tv-weight 0`` runs the paper's plain RESIRE (no TV term) for comparison.

Ratios: to GENFIRE 1.1.11 (0.36 s/it, NRMSE 0.080 after 50 it) and pyxu 1.2
SIRT (0.48 s/it, NRMSE 0.148) as measured on the same 2-core class of machine
(t1.py's docstring), and to a floor measured in this run, interleaved with the
repeats (best of all): one complex 128^3 FFT (the 2x-oversampled 3D transform
a Fourier-slice iteration needs twice).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

GENFIRE_S_PER_IT, PYXU_S_PER_IT = 0.36, 0.48
T1 = Path(os.environ.get("SYNTHVEC_SHARED", "/work/shared")) / "bench" / "t1.py"


def t1_files(data: Path, seed: int) -> tuple[Path, Path]:
    out = data / f"seed{seed}"
    proj, truth = out / "t1_projections.nc", out / "t1_truth.nc"
    if not proj.is_file():
        subprocess.run([sys.executable, str(T1), str(out), "--seed", str(seed)], check=True,
                       stdout=subprocess.DEVNULL)
    return proj, truth


def fft_floor(threads: int, repeats: int) -> float:
    import scipy.fft as sfft

    a = np.random.default_rng(0).standard_normal((128, 128, 128)).astype(np.complex64)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        sfft.fftn(a, workers=threads)
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--projector", choices=["real", "fourier"], default="real")
    ap.add_argument("--tv-weight", type=float, help="override TomoConfig.tv_weight")
    ap.add_argument("--data", type=Path, default=Path("/tmp/synthvec_t1"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    from synthvec.invert.tomo import TomoConfig, read_projection_set, reconstruct_scalar
    from synthvec.io import read_netcdf
    from synthvec.threads import limit_native_pools, n_threads

    threads = n_threads()
    extra = {} if args.tv_weight is None else {"tv_weight": args.tv_weight}
    cfg = TomoConfig(iterations=args.iterations, projector=args.projector, **extra)
    rows = []
    with limit_native_pools(threads):
        floor = fft_floor(threads, 5)
        for seed in args.seeds:
            proj_path, truth_path = t1_files(args.data, seed)
            truth = read_netcdf(truth_path)["density"].values
            best, nrmse, cpu = np.inf, None, None
            for _ in range(args.repeats):
                floor = min(floor, fft_floor(threads, 3))  # the load changes: re-measure
                c0, t0 = time.process_time(), time.perf_counter()
                proj = read_projection_set(proj_path)
                rec = reconstruct_scalar(proj, cfg)
                wall = time.perf_counter() - t0
                if wall < best:
                    best, cpu = wall, time.process_time() - c0
                    x = rec["density"].values
                    nrmse = float(np.linalg.norm(x - truth) / np.linalg.norm(truth))
            s_it = best / args.iterations
            rows.append({"seed": seed, "threads": threads, "iterations": args.iterations,
                         "projector": args.projector, "tv_weight": cfg.tv_weight,
                         "wall_s": best, "s_per_it": s_it, "cpu_s": cpu,
                         "cpu_s_per_it": cpu / args.iterations, "cpu_over_wall": cpu / best,
                         "nrmse": nrmse, "ratio_to_genfire": s_it / GENFIRE_S_PER_IT,
                         "ratio_to_pyxu": s_it / PYXU_S_PER_IT, "fft128_floor_s": floor,
                         "ratio_to_floor": s_it / floor})
            r = rows[-1]
            print(f"seed {seed}: {r['s_per_it']:.4f} s/it (wall {r['wall_s']:.2f} s incl. set-up, "
                  f"{threads} threads; CPU {r['cpu_s_per_it']:.4f} s/it, CPU/wall "
                  f"{r['cpu_over_wall']:.2f}), NRMSE {r['nrmse']:.4f}; "
                  f"x{r['ratio_to_genfire']:.3f} GENFIRE, x{r['ratio_to_pyxu']:.3f} pyxu, "
                  f"x{r['ratio_to_floor']:.2f} FFT-128^3 floor ({floor * 1e3:.1f} ms)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    ok = all(r["nrmse"] <= 0.08 and r["s_per_it"] <= 0.25 for r in rows)
    print("T1 target (NRMSE <= 0.08 in", args.iterations, "it, <= 0.25 s/it):",
          "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
