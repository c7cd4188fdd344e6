"""The report of a sweep: key metrics per grid point, metric-vs-axis figure, time and memory.

:func:`write_sweep_report` reads ``OUT/results.csv`` (the tidy table that
:func:`synthvec.sweep.run_sweep` writes: ``run_id``, one column per axis and
zipped key, ``seed``, ``stage``, ``metric``, ``value``, ``unit``) and writes
``OUT/report.html`` (self-contained), ``OUT/report.md`` and
``OUT/report_files/*.png``:

1. a table of the key metrics per grid point, mean ± std over the seeds
   (NaN values left out of both; a cell says ``(n=k)`` when only ``k`` of its
   runs have a value, ``–`` when none has); one column per axis column that
   takes more than one value;
2. a figure, one panel per key metric, against the first numeric varying
   axis (log x when its values span two decades or more), one line per value
   of the other varying axes, error bars the std over seeds;
3. wall time (stacked by stage) and peak resident memory of every run.

Zipped keys vary together: columns whose values are in one-to-one
correspondence form one axis, so a zip never becomes a line of its own
partner.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..errors import InputError
from .collect import stage_resources
from .figures import png_bytes
from .page import Page, fmt_mean_std, fmt_value

__all__ = ["DEFAULT_METRICS", "TOTAL_WALL", "PEAK_RSS", "run_table", "varying_columns",
           "axis_groups", "sweep_summary", "summary_cells", "fig_sweep_metrics",
           "fig_sweep_resources", "write_sweep_report"]

#: Key metrics of a sweep report, in this order, when results.csv has them.
DEFAULT_METRICS = ("hedgehog_f1", "hedgehog_f1_ideal", "hedgehog_precision",
                   "hedgehog_recall", "m_angular_error_deg_median", "fsc_halfset_resolution_nm",
                   "gev_mu_error_nm_ha", "gev_mu_error_nm_hh", "gev_mu_error_nm_aa",
                   "virtual_agreement", "scalar_nrmse", "vector_r1_final")
#: Per-run columns added by :func:`run_table`: sum of the stages' wall times,
#: largest of their peak resident memories.
TOTAL_WALL = "total_wall_s"
PEAK_RSS = "peak_rss_mb"

_MISSING = fmt_value(float("nan"))
_MAX_LINES = 10


# --------------------------------------------------------------------------- tables


def _stage_resources(results: pd.DataFrame) -> pd.DataFrame:
    """(run_id, stage) rows: :func:`.collect.stage_resources` of each run."""
    if not len(results):
        return pd.DataFrame(columns=["run_id", "stage", "wall_s", "peak_rss_mb"])
    table = results.assign(value=pd.to_numeric(results["value"], errors="coerce"))
    return pd.concat([stage_resources(sub).assign(run_id=rid)
                      for rid, sub in table.groupby("run_id", sort=False)], ignore_index=True)


def run_table(results: pd.DataFrame, columns: Sequence[str], *,
              stage_res: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per run: ``run_id``, the axis columns, ``seed``, one column per metric.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy sweep table (``run_id``, ``columns``, ``seed``, ``stage``,
        ``metric``, ``value``, ``unit``).
    columns : sequence of str
        Axis (and zipped key) columns.
    stage_res : pandas.DataFrame, optional
        Per-run stage resources when the caller already has them.

    Returns
    -------
    pandas.DataFrame
        Runs in order of first appearance; metric columns float (NaN where a
        run lacks the metric), plus :data:`TOTAL_WALL` (sum of the stages'
        ``<stage>_wall_s``) and :data:`PEAK_RSS` (max of ``<stage>_peak_rss_mb``).
    """
    labels = ["run_id", *columns, "seed"]
    runs = results[labels].drop_duplicates("run_id").reset_index(drop=True)
    values = pd.to_numeric(results["value"], errors="coerce")
    wide = (pd.DataFrame({"run_id": results["run_id"], "metric": results["metric"], "v": values})
            .pivot_table(index="run_id", columns="metric", values="v", aggfunc="first",
                         dropna=False, sort=False))
    wide.columns.name = None
    out = runs.merge(wide, left_on="run_id", right_index=True, how="left")
    res = _stage_resources(results) if stage_res is None else stage_res
    tot = res.groupby("run_id", sort=False).agg(**{TOTAL_WALL: ("wall_s", lambda s: s.sum(
        min_count=1)), PEAK_RSS: ("peak_rss_mb", "max")})
    out = out.drop(columns=[c for c in (TOTAL_WALL, PEAK_RSS) if c in out])
    out = out.merge(tot, left_on="run_id", right_index=True, how="left")
    for col in (TOTAL_WALL, PEAK_RSS):
        out[col] = out[col].astype(float) if col in out else np.nan
    return out


def varying_columns(runs: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The axis columns that take more than one value (NaN counts as a value)."""
    return [c for c in columns if runs[c].nunique(dropna=False) > 1]


def axis_groups(runs: pd.DataFrame, varying: Sequence[str]) -> list[list[str]]:
    """Varying columns grouped into axes: columns in one-to-one correspondence (a zip) share one."""
    groups: list[list[str]] = []
    for col in varying:
        for g in groups:
            n_pairs = len(runs[[g[0], col]].drop_duplicates())
            if n_pairs == runs[g[0]].nunique(dropna=False) == runs[col].nunique(dropna=False):
                g.append(col)
                break
        else:
            groups.append([col])
    return groups


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def sweep_summary(runs: pd.DataFrame, axes: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Mean, std and count over seeds of each metric per grid point.

    Parameters
    ----------
    runs : pandas.DataFrame
        :func:`run_table` output.
    axes : sequence of str
        Columns that define a grid point (the varying ones); empty: one point.
    metrics : sequence of str
        Metric columns; one missing from ``runs`` is all NaN.

    Returns
    -------
    pandas.DataFrame
        Grid points in order of first appearance: the ``axes`` columns,
        ``n_runs``, and per metric ``<m>`` (mean of the finite values),
        ``<m>_std`` (sample std, ddof=1; NaN below two finite values) and
        ``<m>_n`` (number of finite values).
    """
    runs = runs.copy()
    for m in metrics:
        if m not in runs:
            runs[m] = np.nan
    key = list(axes) if axes else (lambda _: 0)
    rows = []
    for point, sub in runs.groupby(key, sort=False, dropna=False):
        point = point if isinstance(point, tuple) else (point,)
        row = dict(zip(axes, point)) if axes else {}
        row["n_runs"] = len(sub)
        for m in metrics:
            v = sub[m].to_numpy(float)
            v = v[np.isfinite(v)]
            row[m] = v.mean() if v.size else np.nan
            row[f"{m}_std"] = v.std(ddof=1) if v.size > 1 else np.nan
            row[f"{m}_n"] = v.size
        rows.append(row)
    cols = [*axes, "n_runs"] + [f"{m}{s}" for m in metrics for s in ("", "_std", "_n")]
    return pd.DataFrame(rows, columns=cols)


def summary_cells(summary: pd.DataFrame, axes: Sequence[str], metrics: Sequence[str], *,
                  seeds: bool) -> pd.DataFrame:
    """Display table: the axes, ``runs`` (when ``seeds``), a 'mean ± std' text cell per metric."""
    out = summary[list(axes)].copy()
    if seeds:
        out["runs"] = summary["n_runs"]
    for m in metrics:
        cells = []
        for mean, std, n, n_runs in zip(summary[m], summary[f"{m}_std"], summary[f"{m}_n"],
                                        summary["n_runs"]):
            if not n:
                cells.append(_MISSING)
                continue
            text = fmt_mean_std(mean, std, n)
            if n < n_runs:
                text += f" (n={n})"
            cells.append(text)
        out[m] = cells
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- figures


def _point_label(row: pd.Series, cols: Sequence[str]) -> str:
    return ", ".join(f"{c.split('.')[-1]}={fmt_value(row[c])}" for c in cols)


def _use_log(x: np.ndarray) -> bool:
    x = x[np.isfinite(x)]
    return bool(x.size > 1 and (x > 0).all() and x.max() / x.min() >= 100.0)


def fig_sweep_metrics(summary: pd.DataFrame, metrics: Sequence[str], *, x: str,
                      lines: Sequence[str] = (), units: dict[str, str] | None = None) -> Figure:
    """One panel per metric against the axis ``x``; one line per value of the ``lines`` columns.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`sweep_summary` output.
    metrics : sequence of str
        One panel each.
    x : str
        Axis column of the abscissa: numeric (log scale when its values are
        positive and span >= 2 decades) or categories (in order of first
        appearance).
    lines : sequence of str
        Columns whose value combinations make the lines (legend).
    units : dict, optional
        Metric -> unit for the panel titles.

    Returns
    -------
    matplotlib.figure.Figure
        Error bars: std over seeds (where two or more seeds have a value).
    """
    units = units or {}
    n = len(metrics)
    ncols = min(3, n)
    nrows = -(-n // ncols)
    fig = Figure(figsize=(4.0 * ncols, 2.9 * nrows + 0.4))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    lines = list(lines)
    groups = (list(summary.groupby(lines, sort=False, dropna=False)) if lines
              else [((), summary)])[:_MAX_LINES]
    numeric = _is_numeric(summary[x])
    if numeric:
        log = _use_log(summary[x].to_numpy(float))
        pos = None
    else:  # categories in order of first appearance
        log = False
        cats = list(dict.fromkeys(summary[x].astype(str)))
        pos = {c: k for k, c in enumerate(cats)}
    for ax, m in zip(axes, metrics):
        for k, (_, sub) in enumerate(groups):
            if numeric:
                sub = sub.sort_values(x)
                xs = sub[x].to_numpy(float)
            else:
                xs = np.array([pos[c] for c in sub[x].astype(str)], float)
            ys = sub[m].to_numpy(float)
            err = sub[f"{m}_std"].to_numpy(float)
            ok = np.isfinite(ys) & np.isfinite(xs)
            if not ok.any():
                continue
            label = _point_label(sub.iloc[0], lines) if lines else None
            ax.errorbar(xs[ok], ys[ok], yerr=np.where(np.isfinite(err[ok]), err[ok], 0.0),
                        fmt="o-", ms=4, lw=1.3, capsize=3, color=f"C{k % 10}", label=label)
        unit = units.get(m, "")
        ax.set_title(m + (f" ({unit})" if unit and unit != "1" else ""), fontsize="small")
        if log:
            ax.set_xscale("log")
        if pos is not None:
            ax.set_xticks(range(len(pos)), list(pos), rotation=30, ha="right", fontsize="x-small")
        ax.set_xlabel(x, fontsize="small")
        ax.grid(alpha=0.3)
        if not ax.has_data():
            ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes,
                    color="grey")
    if lines and any(ax.get_legend_handles_labels()[0] for ax in axes[:n]):
        first = next(ax for ax in axes[:n] if ax.get_legend_handles_labels()[0])
        first.legend(fontsize="x-small")
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def fig_sweep_resources(stage_res: pd.DataFrame, labels: dict[str, str]) -> Figure:
    """Wall time (stacked by stage) and peak resident memory of every run, horizontal bars.

    Parameters
    ----------
    stage_res : pandas.DataFrame
        Rows ``run_id, stage, wall_s, peak_rss_mb``.
    labels : dict
        run_id -> bar label, in display order.
    """
    run_ids = list(labels)
    stages = list(dict.fromkeys(stage_res["stage"]))
    wall = stage_res.pivot_table(index="run_id", columns="stage", values="wall_s",
                                 aggfunc="sum", sort=False).reindex(index=run_ids, columns=stages)
    rss = stage_res.groupby("run_id", sort=False)["peak_rss_mb"].max().reindex(run_ids)
    fig = Figure(figsize=(10, 0.28 * len(run_ids) + 1.6))
    axes = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(run_ids), dtype=float)
    left = np.zeros(len(run_ids))
    for k, st in enumerate(stages):
        w = np.nan_to_num(wall[st].to_numpy(float))
        axes[0].barh(y, w, left=left, height=0.8, color=f"C{k % 10}", label=st)
        left += w
    axes[1].barh(y, rss.to_numpy(float), height=0.8, color="C7")
    axes[0].set_yticks(y, [labels[r] for r in run_ids], fontsize="x-small")
    axes[0].invert_yaxis()
    axes[0].set_xlabel("wall time (s)")
    axes[1].set_xlabel("peak resident memory (MiB)")
    axes[0].set_title("time per run, by stage")
    axes[1].set_title("memory per run (largest stage peak)")
    for ax in axes:
        ax.grid(axis="x", alpha=0.3)
    top = 1.0
    if stages:  # above the panels: inside, it would hide the longest bars
        fig.legend(*axes[0].get_legend_handles_labels(), loc="upper left", fontsize="x-small",
                   ncol=min(len(stages), 8), frameon=False)
        top = 1.0 - 0.35 / fig.get_figheight() * (1 + (len(stages) - 1) // 8)
    fig.tight_layout(rect=(0, 0, 1, top))
    return fig


# --------------------------------------------------------------------------- report


def _read_results(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: no such file (run the sweep first: synthvec sweep SPEC --out "
                         f"{path.parent})")
    table = pd.read_csv(path)
    need = ["run_id", *columns, "seed", "stage", "metric", "value"]
    missing = [c for c in need if c not in table]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; a sweep result table "
                         f"has run_id, the axis columns, seed, stage, metric, value, unit")
    return table


def _failed_runs(out_dir: Path, columns: Sequence[str]) -> pd.DataFrame | None:
    path = out_dir / "runs.csv"
    if not path.is_file():
        return None
    index = pd.read_csv(path)
    if "status" not in index:
        return None
    failed = index[index["status"] != "ok"]
    keep = [c for c in ["run_id", *columns, "seed", "error"] if c in failed]
    return failed[keep] if len(failed) else None


def write_sweep_report(out_dir: str | os.PathLike, *, columns: Sequence[str],
                       metrics: Sequence[str] | None = None) -> Path:
    """Write ``out_dir/report.html``, ``report.md`` and ``report_files/*.png`` from ``results.csv``.

    Parameters
    ----------
    out_dir : str or PathLike
        Sweep output folder (holds ``results.csv``; ``runs.csv`` adds the
        failed runs to the report).
    columns : sequence of str
        Axis and zipped-key columns of the table (:attr:`SweepSpec.columns`).
    metrics : sequence of str, optional
        Key metrics (table columns and figure panels). Default: those of
        :data:`DEFAULT_METRICS` that results.csv holds. :data:`TOTAL_WALL`
        and :data:`PEAK_RSS` are always appended to the table.

    Returns
    -------
    Path
        ``out_dir/report.html``.

    Raises
    ------
    InputError
        ``results.csv`` missing or without the expected columns.
    """
    out_dir = Path(out_dir)
    columns = list(columns)
    results = _read_results(out_dir / "results.csv", columns)
    present = set(results["metric"].astype(str))
    if metrics is None:
        metrics = [m for m in DEFAULT_METRICS if m in present]
    metrics = [m for m in dict.fromkeys(metrics) if m not in (TOTAL_WALL, PEAK_RSS)]
    units = {}
    if "unit" in results:
        units = (results.dropna(subset=["unit"]).drop_duplicates("metric")
                 .set_index("metric")["unit"].astype(str).to_dict())
    units.update({TOTAL_WALL: "s", PEAK_RSS: "MiB"})

    page = Page(f"synthvec sweep: {out_dir.resolve().name}")
    stage_res = _stage_resources(results)
    runs = run_table(results, columns, stage_res=stage_res) if len(results) else None
    failed = _failed_runs(out_dir, columns)
    n_runs = 0 if runs is None else len(runs)
    seeds = [] if runs is None else list(dict.fromkeys(runs["seed"]))
    page.text(f"{n_runs} finished run(s); seeds {', '.join(map(str, seeds)) or '-'}; "
              f"{0 if failed is None else len(failed)} failed. Tables and figures from "
              "results.csv.", note=True)
    if failed is not None:
        page.heading("Failed runs")
        page.table(failed)
    if runs is None:
        page.text("No run finished: nothing to report.", note=True)
        page.links([("all metrics (tidy CSV)", "results.csv")])
        return page.write(out_dir, "report")

    varying = varying_columns(runs, columns)
    fixed = [c for c in columns if c not in varying]
    if fixed:
        page.text("Fixed: " + "; ".join(f"{c} = {fmt_value(runs[c].iloc[0])}" for c in fixed),
                  note=True)
    table_metrics = [*metrics, TOTAL_WALL, PEAK_RSS]
    summary = sweep_summary(runs, varying, table_metrics)
    many = len(seeds) > 1
    page.heading("Key metrics per grid point" + (f" (mean ± std over {len(seeds)} seeds)"
                                                  if many else ""))
    if not metrics:
        page.text("results.csv holds none of the key metrics (did the sweep score?); only time "
                  "and memory below.", note=True)
    page.table(summary_cells(summary, varying, table_metrics, seeds=many))
    page.text(f"{TOTAL_WALL}: sum of the wall times of a run's stages (as when computed: a "
              f"stage shared between runs counts in each); {PEAK_RSS}: the largest peak "
              f"resident memory of its stages. {_MISSING}: no value.", note=True)

    groups = axis_groups(runs, varying)
    x_group = next((g for g in groups if any(_is_numeric(runs[c]) for c in g)),
                   groups[0] if groups else [])
    x = next((c for c in x_group if _is_numeric(runs[c])), x_group[0] if x_group else None)
    lines = [g[0] for g in groups if g is not x_group]
    if metrics and x is not None:
        fig = fig_sweep_metrics(summary, metrics, x=x, lines=lines, units=units)
        by = f", one line per {', '.join(lines)}" if lines else ""
        n_lines = len(summary[lines].drop_duplicates()) if lines else 1
        if n_lines > _MAX_LINES:
            by += f" (the first {_MAX_LINES} of {n_lines} lines)"
        spread = "; error bars: std over seeds" if many else ""
        page.figure(png_bytes(fig), f"Key metrics against {x}{by}{spread}", name="metrics")

    page.heading("Time and memory per run")
    labels = {}
    for _, r in runs.iterrows():
        point = _point_label(r, varying) if varying else "run"
        labels[r["run_id"]] = f"{point}, seed {r['seed']}"
    per_run = runs[["run_id", *varying, "seed", TOTAL_WALL, PEAK_RSS]]
    page.table(per_run)
    if len(stage_res):
        page.figure(png_bytes(fig_sweep_resources(stage_res, labels)),
                    "Wall time of each run, stacked by stage (as when computed: a stage shared "
                    "between runs or served from the cache shows its one computation in each "
                    "run), and the largest peak resident memory of its stages", name="resources")
    links = [("all metrics (tidy CSV)", "results.csv")]
    if (out_dir / "runs.csv").is_file():
        links.append(("runs (status, directory)", "runs.csv"))
    page.links(links)
    return page.write(out_dir, "report")
