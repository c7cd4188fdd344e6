"""One-page report of one run directory: ``RUN/report.html`` (self-contained) and ``RUN/report.md``."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pandas as pd

from ..errors import InputError
from .collect import Curve, RunFiles, collect_run, stage_resources
from .figures import fig_curves, fig_stage_resources, png_bytes
from .page import Page

__all__ = ["write_run_report", "add_curves", "add_images", "add_tables", "metric_rows",
           "RESOURCE_SUFFIXES"]

#: metric-name endings of the pipeline's bookkeeping rows (time, memory, cache use)
RESOURCE_SUFFIXES = ("_wall_s", "_peak_rss_mb", "_cached")

_CURVE_TITLES = {"convergence": "convergence", "fsc": "Fourier shell correlation",
                 "psd": "power spectral density"}


def metric_rows(metrics: pd.DataFrame) -> pd.DataFrame:
    """The result metrics of a metric table (bookkeeping rows removed)."""
    return metrics[~metrics["metric"].str.endswith(RESOURCE_SUFFIXES)].reset_index(drop=True)


def _caption(stage: str, path: Path, run_dir: Path) -> str:
    words = path.stem.replace("_", " ").replace("-", " ")
    return f"{stage}: {words} ({path.relative_to(run_dir)})"


def add_images(page: Page, images: list[tuple[str, Path]], run_dir: Path, *,
               stages: set[str] | None = None, prefix: str = "") -> int:
    """Embed the PNGs stages wrote (only those of ``stages`` when given), grouped by stage."""
    n = 0
    by_stage: dict[str, list[Path]] = defaultdict(list)
    for stage, p in images:
        if stages is None or stage in stages:
            by_stage[stage].append(p)
    for stage, paths in by_stage.items():
        page.heading(f"{prefix}{stage}", 3)
        for p in paths:
            page.figure(p.read_bytes(), _caption(stage, p, run_dir), name=f"{prefix}{stage}-{p.stem}")
            n += 1
    return n


def add_curves(page: Page, groups: list[tuple[str, list[Curve]]], *, prefix: str = "") -> int:
    """One figure per (curve kind, stage), overlaying the groups (runs or variants)."""
    keys = list(dict.fromkeys((c.kind, c.stage) for _, cs in groups for c in cs))
    for kind, stage in keys:
        sel = [(label, [c for c in cs if c.kind == kind and c.stage == stage]) for label, cs in groups]
        sel = [(label, cs) for label, cs in sel if cs]
        title = f"{stage}: {_CURVE_TITLES[kind]}"
        page.figure(png_bytes(fig_curves(sel, title=title)), f"{prefix}{title}",
                    name=f"{prefix}{kind}-{stage}")
    return len(keys)


def add_tables(page: Page, tables: list[tuple[str, Path, pd.DataFrame]], run_dir: Path) -> None:
    """List the CSV tables the stages wrote; defect tables (``charge`` column) by charge."""
    rows = []
    for stage, p, df in tables:
        row = {"stage": stage, "file": str(p.relative_to(run_dir)), "rows": len(df),
               "columns": ", ".join(map(str, df.columns[:8])) + (" ..." if df.shape[1] > 8 else "")}
        if "charge" in df.columns:
            q = pd.to_numeric(df["charge"], errors="coerce")
            row["charge +"] = int((q > 0).sum())
            row["charge −"] = int((q < 0).sum())
        rows.append(row)
    if rows:
        page.table(pd.DataFrame(rows).astype(object).fillna(""))


def write_run_report(run_dir: str | Path) -> Path:
    """Write ``report.html`` and ``report.md`` (+ ``report_files/``) into a run directory.

    Built from whatever the run directory holds (see :mod:`synthvec.report.collect`):
    the metric table, time and memory per stage, convergence / FSC / PSD
    curves, the figures stages wrote, the CSV tables, the resolved scenario.

    Parameters
    ----------
    run_dir : str or Path
        A run directory of :func:`synthvec.pipeline.run_pipeline`.

    Returns
    -------
    Path
        ``run_dir/report.html``.

    Raises
    ------
    InputError
        ``run_dir`` is not a directory.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: no such run directory")
    rf = collect_run(run_dir, exclude=("report_files",))
    page = Page(f"synthvec run: {rf.name}")
    if rf.description:
        page.text(rf.description)
    page.text(f"Run directory {run_dir}; stages: {', '.join(rf.keys) or 'none finished'}.", note=True)
    _run_body(page, rf)
    return page.write(run_dir, "report")


def _run_body(page: Page, rf: RunFiles) -> None:
    run_dir = rf.run_dir
    page.heading("Metrics")
    if rf.metrics is None or rf.metrics.empty:
        page.text("No metric table (metrics.csv) yet: the run has not finished a stage.", note=True)
    else:
        page.table(metric_rows(rf.metrics)[["stage", "metric", "value", "unit"]])
        page.heading("Time and memory per stage")
        res = stage_resources(rf.metrics)
        page.figure(png_bytes(fig_stage_resources(res)), "Wall time (when computed) and peak "
                    "resident memory of each stage", name="stage-resources")
        page.table(res)
    if rf.curves:
        page.heading("Curves")
        add_curves(page, [(rf.name, rf.curves)])
    if rf.images:
        page.heading("Figures written by the stages")
        add_images(page, rf.images, run_dir)
    if rf.tables:
        page.heading("Tables")
        add_tables(page, rf.tables, run_dir)
    if rf.notes:
        page.heading("Notes")
        for note in rf.notes:
            page.text(note, note=True)
    if rf.scenario_text:
        page.code(rf.scenario_text, "Resolved scenario (scenario.toml)")
