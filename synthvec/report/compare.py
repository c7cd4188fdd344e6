"""Method comparison: several methods on the same upstream data and seeds, one report.

A comparison spec names a base scenario, the seeds and the variants, each a
set of dotted-key overrides (``ptycho.method``, ``tomo.method``,
``ptycho.bad_frames``, ...)::

    [compare]
    title = "RESIRE with and without Nesterov acceleration"
    base = "../scenarios/smoke.toml"   # relative to this file
    seeds = [1, 2]
    # metrics = ["score_f1", "score_position_error_nm"]   # panels of the spread figure

    [variants.nesterov]
    "tomo.acceleration" = "nesterov"

    [variants.plain]
    "tomo.acceleration" = "none"

Runs go to ``OUT/runs/<variant>-seed<seed>``, as one Dask graph
(:func:`synthvec.batch.execute_runs`): the stages whose cache key the
variants share (phantom, truth, simulation, ...) are computed once per seed
and hard-linked into every variant's run directory, so every method sees the
same data; what differs runs in parallel. The report (``OUT/report.html``, self-contained, and
``OUT/report.md``) holds the metrics table with the spread over seeds
(mean ± std), the spread figure, time and memory per stage, the convergence /
FSC / PSD curves the stages wrote (variants overlaid), and the figures the
analysis and scoring wrote (defect maps, nearest-neighbour histograms with
GEV fits, stereographic projections): once for stages that all variants
share, per variant for the others. Each run also gets its own report.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..batch import RunSpec, execute_runs, run_one
from ..errors import ConfigError
from ..io import atomic_path
from ..scenario import scenario_hash
from ..sweep import read_spec, results_table, variant_scenario, write_table
from .collect import RunFiles, collect_run, stage_resources
from .figures import fig_metric_spread, fig_stage_resources, png_bytes
from .page import Page, fmt_mean_std
from .run import add_curves, add_images, metric_rows, write_run_report

__all__ = ["CompareSpec", "load_compare", "run_compare"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_MAX_PANELS = 12


@dataclass(frozen=True)
class CompareSpec:
    """A parsed comparison spec."""

    path: Path
    title: str
    description: str
    base_path: Path
    base_data: dict[str, Any]
    seeds: tuple[int, ...]
    variants: dict[str, dict[str, Any]]
    metrics: tuple[str, ...]

    def runs_by_seed(self, out_dir: str | Path) -> list[list[RunSpec]]:
        """For each seed, the runs of every variant (in spec order)."""
        out = []
        for seed in self.seeds:
            group = []
            for name, overrides in self.variants.items():
                scn = variant_scenario(self.base_data, overrides, seed=seed, source=str(self.path))
                rid = f"{name}-seed{seed}"
                group.append(RunSpec(run_id=rid, scenario=scn, labels={"variant": name},
                                     run_dir=Path(out_dir) / "runs" / rid))
            out.append(group)
        return out


def load_compare(path: str | Path) -> CompareSpec:
    """Read and validate a comparison spec (every variant and seed is validated here).

    Raises
    ------
    InputError, ConfigError
        Naming the spec (or base scenario) file and the key at fault.
    """
    path = Path(path)
    src = str(path)
    doc, cp, base_path, base_data, base_scn, seeds = read_spec(
        path, "comparison spec", "compare", ("compare", "variants"),
        ("title", "description", "base", "seeds", "metrics"))
    metrics = cp.get("metrics", [])
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise ConfigError("compare.metrics", f"must be a list of metric names (got {metrics!r})", src)
    variants = doc.get("variants")
    if not isinstance(variants, dict) or not variants:
        raise ConfigError("variants", "needs at least one table [variants.NAME] of dotted-key "
                          "overrides, e.g. \"ptycho.method\" = \"rpie\"", src)
    seen: dict[str, str] = {}
    for name, overrides in variants.items():
        if not _NAME.match(name):
            raise ConfigError(f"variants.{name}", "variant names may hold letters, digits and "
                              "_ . + - (they name run directories)", src)
        if not isinstance(overrides, dict):
            raise ConfigError(f"variants.{name}", f"must be a table of dotted keys (got "
                              f"{overrides!r})", src)
        bad = [k for k, v in overrides.items() if isinstance(v, dict)]
        if bad:
            raise ConfigError(f"variants.{name}.{bad[0]}", "quote dotted keys: "
                              f"\"{bad[0]}.KEY\" = VALUE", src)
        h = scenario_hash(variant_scenario(base_data, overrides, seed=0, source=src))
        if h in seen:
            raise ConfigError(f"variants.{name}", f"resolves to the same scenario as variant "
                              f"{seen[h]}", src)
        seen[h] = name
    return CompareSpec(path=path, title=str(cp.get("title", path.stem)),
                       description=str(cp.get("description", "")), base_path=base_path,
                       base_data=base_data, seeds=seeds, variants=variants,
                       metrics=tuple(metrics))


# --------------------------------------------------------------------------- runs


class _RunWithReport:
    """Dask task: one run, then (optionally) its own report."""

    def __init__(self, run_reports: bool):
        self.run_reports = run_reports

    def __call__(self, run: RunSpec, stages, threads) -> dict[str, Any]:
        res = run_one(run, stages, threads)
        if res["ok"] and self.run_reports:
            try:
                write_run_report(run.run_dir)
            except Exception as err:  # noqa: BLE001 - a report must not lose the run
                res["report_error"] = str(err)
        return res


# --------------------------------------------------------------------------- report


def _spread_table(table: pd.DataFrame, variants: list[str]) -> pd.DataFrame:
    """(stage, metric, unit) x variant cells 'mean ± std' over seeds."""
    g = table.groupby(["stage", "metric", "unit", "variant"], sort=False)["value"]
    agg = g.agg(["mean", "std", "count"]).reset_index()

    agg["cell"] = [fmt_mean_std(m, s, n) for m, s, n in zip(agg["mean"], agg["std"], agg["count"])]
    wide = agg.pivot(index=["stage", "metric", "unit"], columns="variant", values="cell")
    order = list(dict.fromkeys(zip(table["stage"], table["metric"], table["unit"])))
    wide = wide.reindex(order)[[v for v in variants if v in wide.columns]].fillna("–")
    wide.columns.name = None
    return wide.reset_index()


def _differing(table: pd.DataFrame) -> list[str]:
    """Metrics whose mean differs between variants (stage order)."""
    means = table.groupby(["metric", "variant"], sort=False)["value"].mean().unstack()
    out = []
    for metric in dict.fromkeys(table["metric"]):
        row = means.loc[metric].to_numpy(float)
        fin = row[np.isfinite(row)]
        if fin.size > 1 and np.ptp(fin) > 1e-12 * max(1.0, np.abs(fin).max()):
            out.append(metric)
    return out


def _resources(table: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (variant, seed), sub in table.groupby(["variant", "seed"], sort=False):
        res = stage_resources(sub).assign(variant=variant, seed=seed)
        rows.append(res)
    res = pd.concat(rows, ignore_index=True)
    agg = res.groupby(["variant", "stage"], sort=False).agg(
        wall_s=("wall_s", "mean"), wall_s_std=("wall_s", "std"),
        peak_rss_mb=("peak_rss_mb", "mean"), peak_rss_mb_std=("peak_rss_mb", "std")).reset_index()
    return agg.fillna({"wall_s_std": 0.0, "peak_rss_mb_std": 0.0})


def _write_report(spec: CompareSpec, out_dir: Path, runs: list[RunSpec], results: list[dict],
                  table: pd.DataFrame) -> Path:
    variants = list(spec.variants)
    page = Page(f"synthvec compare: {spec.title}")
    if spec.description:
        page.text(spec.description)
    page.text(f"Base scenario {spec.base_path.name}; seeds {', '.join(map(str, spec.seeds))}; "
              f"spec {spec.path.name}. Every variant of a seed uses the same upstream data "
              "(stages with equal cache keys are computed once).", note=True)
    page.table(pd.DataFrame({"variant": variants, "overrides": [
        ", ".join(f"{k} = {v!r}" for k, v in spec.variants[v].items()) or "(base scenario)"
        for v in variants]}))

    ok = [(r, res) for r, res in zip(runs, results) if res["ok"]]
    failed = [(r, res) for r, res in zip(runs, results) if not res["ok"]]
    if failed:
        page.heading("Failed runs")
        page.table(pd.DataFrame({"run": [r.run_id for r, _ in failed],
                                 "error": [res["error"] for _, res in failed]}))
    if table.empty:
        page.text("No run finished: nothing to compare.", note=True)
        return page.write(out_dir, "report")

    results_only = metric_rows(table)
    page.heading(f"Metrics (mean ± std over {len(spec.seeds)} seed(s))")
    page.table(_spread_table(results_only, variants))
    panels = [m for m in spec.metrics if m in set(results_only["metric"])] or \
        _differing(results_only)[:_MAX_PANELS]
    if panels:
        page.figure(png_bytes(fig_metric_spread(results_only, panels)),
                    "Metrics that differ between variants: bars mean ± std over seeds, dots "
                    "single seeds", name="metric-spread")
    else:
        page.text("All variants reach the same value of every metric.", note=True)

    page.heading("Time and memory per stage")
    res = _resources(table)
    page.figure(png_bytes(fig_stage_resources(res)), "Wall time when computed (mean ± std over "
                "seeds; stages shared between variants show the one computation) and peak "
                "resident memory", name="stage-resources")

    files: dict[str, RunFiles] = {r.run_id: collect_run(r.run_dir, exclude=("report_files",))
                                  for r, _ in ok}
    groups = []
    for v in variants:
        curves = [c for r, _ in ok if r.labels["variant"] == v for c in files[r.run_id].curves]
        if curves:
            groups.append((v, curves))
    if groups:
        page.heading("Curves")
        add_curves(page, groups)

    first = {}
    for r, _ in ok:
        first.setdefault(r.labels["variant"], r)
    shown = {v: files[r.run_id] for v, r in first.items()}
    stage_names = list(dict.fromkeys(s for rf in shown.values() for s in rf.keys))
    shared = {s for s in stage_names
              if len({rf.keys.get(s) for rf in shown.values()}) == 1 and len(shown) == len(variants)}
    if any(rf.images for rf in shown.values()):
        page.heading("Figures written by the stages")
        seed_note = f"seed {spec.seeds[0]}" if len(spec.seeds) == 1 else \
            "first seed that finished"
        any_rf = next(iter(shown.values()))
        if shared and any(s in shared for s, _ in any_rf.images):
            page.text(f"Shared by every variant (same data), {seed_note}:", note=True)
            add_images(page, any_rf.images, any_rf.run_dir, stages=shared)
        for v, rf in shown.items():
            own = {s for s, _ in rf.images} - shared
            if own:
                page.text(f"Variant {v}, {seed_note}:", note=True)
                add_images(page, rf.images, rf.run_dir, stages=own, prefix=f"{v} / ")

    page.heading("Runs")
    page.links([(f"{r.run_id}: report", os.path.relpath(r.run_dir / "report.html", out_dir))
                for r, _ in ok if (r.run_dir / "report.html").is_file()]
               + [("all metrics (tidy CSV)", "results.csv")])
    return page.write(out_dir, "report")


def run_compare(spec_path: str | Path, out_dir: str | Path, *, stages: Sequence[Any] | None = None,
                scheduler: str | None = None, progress: bool = False,
                run_reports: bool = True) -> Path:
    """Run every variant x seed of a comparison spec and write ``OUT/report.html`` and ``report.md``.

    Parameters
    ----------
    spec_path : str or Path
        Comparison spec TOML (see the module docstring).
    out_dir : str or Path
        Output folder: ``report.html``, ``report.md``, ``report_files/``,
        ``results.csv`` (run_id, variant, seed, stage, metric, value, unit),
        ``runs/<variant>-seed<seed>/`` run directories (each with its own report).
    stages : sequence of Stage, optional
        Pipeline stages (default :data:`synthvec.pipeline.STAGES`).
    scheduler : str, optional
        Dask scheduler for the seeds (see :func:`synthvec.sweep.execute_runs`).
    progress : bool
        Dask progress bar on stderr.
    run_reports : bool
        Also write each run's own report (:func:`write_run_report`), linked
        from the comparison.

    Returns
    -------
    Path
        ``out_dir/report.html``. A run that fails is listed in the report's
        "Failed runs" section (and on stderr); the others are compared.

    Raises
    ------
    InputError, ConfigError
        Bad spec (naming the file and key) or scheduler.
    """
    spec = load_compare(spec_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "compare.toml") as tmp:
        tmp.write_bytes(spec.path.read_bytes())
    runs = [r for group in spec.runs_by_seed(out_dir) for r in group]  # seed-major: the first
    results = execute_runs(runs, stages=stages, scheduler=scheduler,  # variant of a seed provides
                           progress=progress, task=_RunWithReport(run_reports))  # its upstream
    table = results_table(runs, results, ["variant"])
    write_table(table, out_dir / "results.csv")
    for r, res in zip(runs, results):
        if not res["ok"]:
            print(f"synthvec compare: run {r.run_id} failed: {res['error']}", file=sys.stderr)
    return _write_report(spec, out_dir, runs, results, table)

