"""Measure the constants of synthvec.cost's time model: seconds per work unit of each stage.

Runs two small scenarios through the pipeline (the smoke scenario and a larger
variant with more voxels, tilts, frames and iterations) in a temporary
directory, reads each stage's wall time from the run's metrics, and fits
``t = a + c W`` per stage through the two points (``W`` from
:func:`synthvec.cost.work_units`): ``c`` is the marginal cost per unit, ``a``
the fixed cost. It also prints the ratio of the estimated to the measured frame
count and the measured peak RSS. Paste the printed table into
``synthvec.cost.TIME_MODEL``.

Small stages carry per-projection and per-call overheads that larger runs
amortise, so with ``--from-run DIR ...`` the script instead reads finished run
directories (``scenario.toml`` and ``metrics.json`` of ``synthvec run``, e.g. a
quick-scenario run made on the same machine) and prints, per stage, the cost
per unit of the run with the most work units, ``c = (t - a) / W`` with ``a``
from :data:`synthvec.cost.TIME_MODEL`.

Usage (thread count explicit; the estimate is for a 2-core machine)::

    SYNTHVEC_THREADS=2 OMP_NUM_THREADS=2 python bench/bench_cost.py
    python bench/bench_cost.py --from-run runs/quick
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("SYNTHVEC_THREADS", "2")
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, os.environ["SYNTHVEC_THREADS"])

from synthvec.cost import TIME_MODEL, estimate_cost, work_units  # noqa: E402
from synthvec.pipeline import run_scenario  # noqa: E402
from synthvec.scenario import load_scenario  # noqa: E402
from synthvec.sweep import apply_overrides, read_toml, variant_scenario  # noqa: E402

SMOKE = Path(__file__).resolve().parents[1] / "scenarios" / "smoke.toml"
COMMON = {"tomo.refine_every": 10}
LARGER = {"phantom.lateral_extent_nm": 300.0, "geometry.tilt_step_deg": 20.0,
          "texture.relax_iterations": 300, "ptycho.iterations": 24, "tomo.iterations": 30,
          "vector.iterations": 30}


def _run(scn, out: Path) -> dict[str, float]:
    res = run_scenario(scn, out, quiet=True)
    flat = res.flat()
    return {st: flat[f"{st}_wall_s"] for st in TIME_MODEL}, flat


def from_runs(dirs: list[str]) -> int:
    """Per-unit costs from finished run directories (largest W per stage wins)."""
    best: dict[str, tuple[float, float, str]] = {}
    for d in dirs:
        scn = load_scenario(Path(d) / "scenario.toml")
        flat = json.loads((Path(d) / "metrics.json").read_text())
        w = work_units(scn)
        print(f"{d}: {flat.get('simulate_n_frames', 0):.0f} frames simulated, "
              f"{estimate_cost(scn).n_frames} estimated")
        for st, (a, _) in TIME_MODEL.items():
            t = flat.get(f"{st}_wall_s")
            if t is None or flat.get(f"{st}_cached", 0.0) or w[st] <= 0:
                continue
            if st not in best or w[st] > best[st][0]:
                best[st] = (w[st], max(t - a, 0.0) / w[st], d)
    print("TIME_MODEL = {")
    for st, (a, c) in TIME_MODEL.items():
        if st in best:
            w, c_new, d = best[st]
            print(f'    "{st}": ({a:.2g}, {c_new:.3g}),  # W = {w:.3g} in {d}')
        else:
            print(f'    "{st}": ({a:.2g}, {c:.3g}),  # unchanged')
    print("}")
    return 0


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--from-run":
        return from_runs(sys.argv[2:])
    base = read_toml(SMOKE, "scenario")
    small = variant_scenario(base, COMMON, seed=None, source=str(SMOKE))
    large = variant_scenario(apply_overrides(base, COMMON), LARGER, seed=None, source="bench")
    print(f"threads: {os.environ['SYNTHVEC_THREADS']}")
    with tempfile.TemporaryDirectory() as tmp:
        t_s, f_s = _run(small, Path(tmp) / "small")
        t_l, f_l = _run(large, Path(tmp) / "large")
    w_s, w_l = work_units(small), work_units(large)
    print(f"{'stage':16s} {'W small':>10s} {'W large':>10s} {'t small':>8s} {'t large':>8s} "
          f"{'a (s)':>8s} {'c (s/unit)':>11s}")
    fitted = {}
    for st in TIME_MODEL:
        dw = w_l[st] - w_s[st]
        c = (t_l[st] - t_s[st]) / dw if dw > 0 else 0.0
        note = ""
        if c <= 0.0:  # timing noise swamps the difference: all of t_large as marginal cost
            c, note = t_l[st] / w_l[st], " (c = t large / W large: noise)"
        a = max(t_s[st] - c * w_s[st], 0.0)
        fitted[st] = (a, c)
        print(f"{st:16s} {w_s[st]:10.3g} {w_l[st]:10.3g} {t_s[st]:8.2f} {t_l[st]:8.2f} "
              f"{a:8.2f} {c:11.3g}{note}")
    for name, scn, flat in (("small", small, f_s), ("large", large, f_l)):
        est = estimate_cost(scn)
        frames = flat["simulate_n_frames"]
        peak = max(v for k, v in flat.items() if k.endswith("_peak_rss_mb"))
        print(f"{name}: frames estimated {est.n_frames} / simulated {frames:.0f} = "
              f"{est.n_frames / frames:.3f}; peak RSS measured {peak:.0f} MiB, "
              f"estimated {est.peak_bytes / 2**20:.0f} MiB ({est.peak_stage})")
    print("TIME_MODEL = {")
    for st, (a, c) in fitted.items():
        print(f'    "{st}": ({a:.2g}, {c:.3g}),')
    print("}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
