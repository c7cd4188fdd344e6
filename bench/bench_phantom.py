#!/usr/bin/env python3
"""Cost of the ground truth (phantom + texture) of the quick scenario vs a stencil floor (issue 2).

    python bench/bench_phantom.py [--repeats 3] [--seed 0]

Single thread (BLAS/OpenMP limited to 1). With the default configs (the quick
scenario: 300 x 300 x 150 nm, 5 nm voxels, 60 x 60 x 30 grid, 10 + 10 seeds,
1 + 1 virtual) it times

- ``phantom``: :func:`synthvec.phantom.build_phantom` (sphere lattice, sites,
  material / site / void labels);
- ``texture``: :func:`synthvec.phantom.build_texture` (seed placement, string
  construction, pinned-core exchange relaxation with its topology checks);
- ``refine``: :func:`synthvec.phantom.refine_truth` to the simulation grid
  (``supersample`` of the config);
- ``floor``: one pass of the 7-point Laplacian over the (3, Z, Y, X) float32
  field of the reconstruction grid, i.e. one unit of the relaxation's work.

It prints absolute seconds (min over repeats) and each time as a multiple of
the floor measured in the same run, plus the realised-defect metrics, as JSON.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from threadpoolctl import threadpool_limits

from synthvec.phantom import (PhantomConfig, TextureConfig, build_phantom, build_texture,
                              realised_defects, refine_truth)


def best(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def laplacian_pass(m: np.ndarray, out: np.ndarray) -> None:
    """out = 7-point Laplacian of m (zero outside), every component."""
    out[:, :-1] = m[:, 1:]
    out[:, -1] = 0.0
    out[:, 1:] += m[:, :-1]
    out[:, :, 1:] += m[:, :, :-1]
    out[:, :, :-1] += m[:, :, 1:]
    out[:, :, :, 1:] += m[:, :, :, :-1]
    out[:, :, :, :-1] += m[:, :, :, 1:]
    out -= 6.0 * m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    pcfg, tcfg = PhantomConfig(), TextureConfig()
    reps = 50

    def floor(m, out):
        return best(lambda: [laplacian_pass(m, out) for _ in range(reps)], args.repeats)[0] / reps

    with threadpool_limits(limits=1):
        t_ph, ph = best(lambda: build_phantom(pcfg, rng=np.random.default_rng(args.seed)),
                        args.repeats)
        shape = (3,) + ph["material"].shape
        m = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        out = np.empty_like(m)
        floors = [floor(m, out)]  # the floor is measured before and after (shared machines)
        t_tx, (truth, seeds) = best(
            lambda: build_texture(ph, tcfg, rng=np.random.default_rng(args.seed + 1)), args.repeats)
        t_rf, _ = best(lambda: refine_truth(truth, pcfg, pcfg.supersample), args.repeats)
        floors.append(floor(m, out))
        t_fl = min(floors)
    _, metrics = realised_defects(truth, seeds)
    res = {
        "grid": list(truth["material"].shape),
        "floor_laplacian_s": t_fl, "floor_spread": max(floors) / min(floors),
        "phantom_s": t_ph, "texture_s": t_tx, "refine_s": t_rf,
        "truth_total_s": t_ph + t_tx,
        "phantom_ratio": t_ph / t_fl, "texture_ratio": t_tx / t_fl,
        "refine_ratio": t_rf / t_fl, "truth_total_ratio": (t_ph + t_tx) / t_fl,
        "relax_iterations_done": int(truth.attrs["relax_iterations_done"]),
        "placement_attempts": int(truth.attrs["placement_attempts"]),
        **metrics,
    }
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
