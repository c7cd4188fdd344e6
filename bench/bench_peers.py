#!/usr/bin/env python3
"""Benchmark P1 for the peer engine: PtyLab's rPIE beside synthvec's, same data, same run.

    SYNTHVEC_THREADS=2 python bench/bench_peers.py [--p1 /tmp/p1] [--repeats 3] [--quick]

Both engines run through the same engine signature (``ENGINES`` of
``synthvec.invert.ptycho``; PtyLab through ``peers.ptylab_engine``) on P1
(``shared/bench/p1.py``: 289 frames of 64 x 64, Poisson noise), 100
iterations, flat start, bad-frame detection off. Rows:

- ``true-probe a=...``: from the true probe without probe update (P1's anchor
  setting; NRMSE in P1's "phase" mode), at synthvec's default alpha 0.05 and
  at the peers' 0.1;
- ``nominal+probe``: from the true probe defocused by 300 nm (about 1.9 rad at
  the pupil edge), probe update (NRMSE in "complex" mode); the synthvec row
  ``set=1`` updates one position at a time as PtyLab does (the published
  order), which isolates the effect of the update order on the probe;
- ``sim quick`` (with ``--sim FILE.cxi``, default a scan of the quick
  scenario's simulation in /tmp/ptycho_data when present): one simulated scan
  with the default PtychoConfig (nominal probe, bad-frame detection, probe
  update and pupil support); no truth object on the grid, so the column NRMSE
  is empty and ``last err`` (the Fourier error of the last iteration) compares.

``--quick`` keeps only the true-probe rows.

Time is the engine's own ``seconds_per_iteration`` (wall time of the
iterations alone), best of ``--repeats`` for synthvec and of
``--peer-repeats`` (default 1: ~17 s a run) for PtyLab, and its ratio to the
FFT floor (one batched forward + inverse FFT of the frames used, complex64,
``scipy.fft``, ``workers=n_threads()``) measured in this run. PtyLab computes
with ``numpy.fft`` on one thread whatever ``SYNTHVEC_THREADS`` is; synthvec
uses ``n_threads()``. The issue's anchors (2-core machine, alpha 0.1, true
probe): PtyLab 0.3.7 0.168 s/iteration, NRMSE 0.0205.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import numpy as np

from synthvec.invert.ptycho import PtychoConfig, read_cxi, reconstruct
from synthvec.invert.ptycho.peers import ptylab_available, ptylab_engine
from synthvec.invert.ptycho.probe import defocus_probe
from synthvec.threads import n_threads

BENCH = Path("/work/shared/bench")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rpie import fft_floor  # noqa: E402  (the same floor as bench_rpie's rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p1", default="/tmp/p1")
    ap.add_argument("--repeats", type=int, default=3, help="synthvec runs per row (best time)")
    ap.add_argument("--peer-repeats", type=int, default=1, help="PtyLab runs per row")
    ap.add_argument("--quick", action="store_true", help="only the true-probe rows")
    ap.add_argument("--sim", default="/tmp/ptycho_data/cxi/scan_s1_t08_p.cxi",
                    help="a simulated CXI scan for the 'sim quick' rows (skipped if absent)")
    a = ap.parse_args()
    if not ptylab_available():
        print("PtyLab is not installed (pip install ptylab): nothing to compare")
        return 1
    sys.path.insert(0, str(BENCH))
    import p1  # noqa: E402  (the benchmark's own scorer)

    cxi = Path(a.p1) / "p1.cxi"
    if not cxi.exists():
        p1.write(a.p1)
    data = read_cxi(cxi)
    truth = np.load(Path(a.p1) / "p1_truth.npz")
    print(f"threads={n_threads()} frames={data.frames.shape} "
          f"SYNTHVEC_THREADS={os.environ.get('SYNTHVEC_THREADS')}")
    floors: dict[int, float] = {}   # frames -> best batched FFT floor
    rows = []

    def floor_of(n, shape):
        floors[n] = min(floors.get(n, np.inf), fft_floor(n, shape))
        return floors[n]

    def run(name, engine, d, cfg, mode, repeats):
        best, res = np.inf, None
        for i in range(repeats):
            floor_of(len(d.frames), d.frames.shape[1:])
            res = (reconstruct(d, cfg) if engine == "synthvec"
                   else ptylab_engine([d], cfg, rng=np.random.default_rng(i))[0])
            best = min(best, res.seconds_per_iteration)
        n_used = len(d.frames) - len(res.dropped_frames)
        err = p1.nrmse(res.object, truth["object"], mode) if mode else float("nan")
        rows.append((name, engine, best, err, mode or "-", float(res.error[-1]), n_used,
                     d.frames.shape[1:]))

    base = PtychoConfig(iterations=100, probe_update=False, bad_frames="off")
    true_d = dataclasses.replace(data, probe=truth["probe"])
    for alpha in (0.05, 0.1):
        cfg = dataclasses.replace(base, alpha=alpha)
        run(f"true-probe a={alpha}", "synthvec", true_d, cfg, "phase", a.repeats)
        run(f"true-probe a={alpha}", "PtyLab", true_d, cfg, "phase", a.peer_repeats)
    if not a.quick:
        nominal = defocus_probe(truth["probe"], dz_nm=300.0, pixel_nm=data.pixel_nm,
                                wavelength_nm=data.wavelength_nm)
        nom_d = dataclasses.replace(data, probe=nominal)
        upd = dataclasses.replace(base, probe_update=True)
        run("nominal+probe", "synthvec", nom_d, upd, "complex", a.repeats)
        run("nominal+probe, set=1", "synthvec", nom_d, dataclasses.replace(upd, max_set_size=1),
            "complex", a.repeats)
        run("nominal+probe", "PtyLab", nom_d, upd, "complex", a.peer_repeats)
        if a.sim and Path(a.sim).exists():
            sim = read_cxi(a.sim)
            cfg = PtychoConfig(defocus_correction="off")   # PtyLab has no tilted plane
            run("sim quick, defaults", "synthvec", sim, cfg, None, a.repeats)
            run("sim quick, defaults", "PtyLab", sim, cfg, None, a.peer_repeats)
    for *_, n_used, shape in rows:
        floor_of(n_used, shape)
    print("FFT floor: one batched fwd+inv FFT of the frames used, complex64, best of many: "
          + ", ".join(f"{n} frames {f * 1e3:.2f} ms" for n, f in sorted(floors.items())))
    print(f"{'run':22s} {'engine':9s} {'s/iter':>8s} {'ratio':>7s} {'NRMSE':>8s} mode     "
          f"{'last err':>9s} frames")
    for name, engine, spi, err, mode, last, n_used, _ in rows:
        print(f"{name:22s} {engine:9s} {spi:8.4f} {spi / floors[n_used]:7.2f} {err:8.4f} "
              f"{mode:8s} {last:9.2e} {n_used}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
