#!/usr/bin/env python3
"""Super-resolved rPIE iterations (``ptycho.upsample = 2``): numpy engine vs compiled kernels.

    python bench/bench_superres.py [--cxi FILE.cxi | --synthetic] [--iterations 4] [--repeats 3]

One thread (``SYNTHVEC_THREADS=1`` set here; the compiled sets run serially)
and process CPU time, so that other processes on the cores change little. The
scan: one simulated CXI file (default the first of the high_dose run's
``/tmp/s3/hd_final/stages/simulate/cxi/`` when present; else a synthetic scan
of 64 x 64 frames made here, see :func:`synthetic`) prepared as the pipeline
does for the fine stage of ``scenarios/high_dose.toml``: sub-pixel positions,
position refinement and probe update from the first iteration, the tilted-plane
probe per position when the geometry asks for it, the probe constraint, from a
flat object and the nominal probe (the synthetic scan: probe updates from the
third iteration). Rows: CPU (and wall) seconds per iteration,
and the ratio to the floor: one batched forward + inverse FFT of the same number
of ``uN x uN`` complex64 frames (``scipy.fft``, one worker), CPU time, best of
many, measured in this run. The last line compares the objects after the timed
iterations: compiled against numpy, and numpy against itself from a start perturbed
at float32 rounding level (from a flat start the first modulus projections take the
phase of frequencies where ``|Psi|`` is rounding noise, so any two FFT implementations
part by about as much as this).
"""

from __future__ import annotations

import os

os.environ["SYNTHVEC_THREADS"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import copy  # noqa: E402
import dataclasses  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.fft as sfft  # noqa: E402

from synthvec.invert.ptycho import (PtychoConfig, PtychoData, defocus_mode, read_cxi,  # noqa: E402
                                    tilted_plane_depth_nm)
from synthvec.invert.ptycho import _constraint  # noqa: E402
from synthvec.invert.ptycho import superres as sr  # noqa: E402

CXI_DIR = Path("/tmp/s3/hd_final/stages/simulate/cxi")


def synthetic(n: int = 64, *, rng: np.random.Generator) -> PtychoData:
    """A 9 x 9 raster (step 5 px, random sub-pixel offsets) over a smooth random object,
    frames from the 2n-grid exit wave's central n x n frequencies (the simulator's
    convention), annular pupil of radius 6 detector px with some defocus (the known-answer
    data set of tests/test_ptycho_superres.py at n = 64)."""
    from scipy.ndimage import gaussian_filter

    nf = 2 * n
    k = np.fft.fftfreq(nf) * nf
    r = np.hypot(k[:, None], k[None, :])
    pupil = ((r <= 6) & (r >= 2)) * np.exp(0.04j * r ** 2)
    pf = np.fft.fftshift(np.fft.ifft2(pupil))
    pf *= np.sqrt(1e8 / np.sum(np.abs(pf) ** 2))
    pos = np.array([(y, x) for y in range(-4, 5) for x in range(-4, 5)], float) * 5.0
    pos += rng.uniform(-0.5, 0.5, pos.shape)
    half = int(2 * (np.abs(pos).max() + n // 2 + 4))
    shape = (2 * half, 2 * half)
    obj = np.exp(gaussian_filter(rng.standard_normal(shape), 2) * (-0.3 + 1j))
    idx = sr.measured_indices(nf, n)
    frames = []
    for p in pos:
        r0, c0 = (int(round(2 * v)) - nf // 2 + half for v in p)
        spec = np.fft.fft2(np.fft.ifftshift(pf * obj[r0:r0 + nf, c0:c0 + nf]), norm="ortho")
        frames.append(np.fft.fftshift(np.abs(spec[np.ix_(idx, idx)]) ** 2))
    probe = sr.coarse_from_fine_probe(pf.astype(np.complex64), n)
    return PtychoData(frames=np.asarray(frames, np.float32), positions_px=pos, probe=probe,
                      pixel_nm=5.0, energy_ev=707.0)


def fft_floor(n_frames: int, n: int, reps: int = 20) -> float:
    """CPU seconds of one batched fwd + inv FFT of ``n_frames`` (n x n) complex64, best of reps."""
    x = (np.random.default_rng(0).standard_normal((n_frames, n, n)) + 1j).astype(np.complex64)
    best = np.inf
    for _ in range(reps):
        c0 = time.process_time()
        y = sfft.ifft2(sfft.fft2(x, norm="ortho", workers=1), norm="ortho", workers=1)
        best = min(best, time.process_time() - c0)
    del y
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cxi", type=Path, default=None)
    ap.add_argument("--iterations", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--synthetic", action="store_true", help="the synthetic scan even when "
                    "a CXI file is at hand")
    args = ap.parse_args()
    path = args.cxi or (min(CXI_DIR.glob("*.cxi")) if CXI_DIR.is_dir()
                        and any(CXI_DIR.glob("*.cxi")) else None)
    path = None if args.synthetic else path
    data = read_cxi(path) if path else synthetic(rng=np.random.default_rng(0))
    cfg = PtychoConfig(subpixel_positions=True, position_refinement=True, upsample=2,
                       iterations=args.iterations, probe_update_start=0,
                       position_refinement_start=0)
    if path is None:    # from a flat start, a probe update (with its pupil-support
        # constraint) in the first iteration throws the synthetic scan off (both engines)
        cfg = dataclasses.replace(cfg, probe_update_start=2)
    keep = np.arange(len(data.frames))
    dz = tilted_plane_depth_nm(data) if defocus_mode(cfg, data) == "tilted_plane" else None
    scan, _, _ = sr.prepare_sr_scan(data, keep, cfg, dz)
    pf0 = sr.fine_probe(data.probe, cfg.upsample)
    constraint = _constraint(cfg, pf0)
    n = data.probe.shape[0]
    nf = cfg.upsample * n
    n_fr = len(keep)
    print(f"scan: {path or 'synthetic'}; {n_fr} frames of {n} x {n} -> fine {nf} x {nf}, "
          f"{len(scan.sets)} sets, per-position probes: {scan.kernels[0] is not None}, "
          f"defocus: {'tilted_plane' if dz is not None else 'off/pupil'}")

    def run(compiled: bool, iterations: int, eps: float = 0.0):
        sc = copy.deepcopy(scan)
        if eps:     # the start perturbed at float32 rounding level
            sc.obj *= (1 + eps * np.random.default_rng(1).standard_normal(sc.obj.shape)
                       ).astype(np.float32)
        c = dataclasses.replace(cfg, iterations=iterations,
                                probe_update_start=min(cfg.probe_update_start, iterations - 1))
        c0, w0 = time.process_time(), time.perf_counter()
        _, err, _ = sr._sr_rpie([sc], pf0, c, np.random.default_rng(0), constraint,
                                compiled=compiled)
        return ((time.process_time() - c0) / iterations, (time.perf_counter() - w0) / iterations,
                err[:, 0], sc.obj)

    run(True, 1)                                     # compile / load the numba cache
    rows = {}
    for name, compiled in (("numpy engine", False), ("compiled", True)):
        best = None
        for _ in range(args.repeats):
            r = run(compiled, args.iterations)
            best = r if best is None or r[0] < best[0] else best
        rows[name] = best
    perturbed = run(False, args.iterations, 1e-7)
    floor = fft_floor(n_fr, nf)
    print(f"FFT floor ({n_fr} x fwd+inv {nf} x {nf}, 1 worker, CPU): {floor * 1e3:.1f} ms")
    print(f"{'engine':22s} {'cpu/iter':>9s} {'wall/iter':>9s} {'ratio':>7s}  error per iteration")
    for name, (cpu, wall, err, _) in [*rows.items(), ("numpy, start perturbed", perturbed)]:
        print(f"{name:22s} {cpu:9.3f} {wall:9.3f} {cpu / floor:7.2f}  "
              + " ".join(f"{e:.5f}" for e in err))
    print(f"speed-up (CPU time) {rows['numpy engine'][0] / rows['compiled'][0]:.2f}x")
    o_np, o_c = rows["numpy engine"][3], rows["compiled"][3]
    rel = lambda a, b: np.linalg.norm(a - b) / np.linalg.norm(b - 1)   # noqa: E731
    print(f"after {args.iterations} iterations, ||O - O_numpy|| / ||O_numpy - 1||: compiled "
          f"{rel(o_c, o_np):.2e}; numpy engine from a start x (1 + 1e-7 N(0, 1)) "
          f"{rel(perturbed[3], o_np):.2e} (the iteration's own sensitivity to float32 rounding)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
