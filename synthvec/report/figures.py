"""Report figures (matplotlib, object API: no pyplot state) returned as PNG bytes.

Only figures *about runs* live here (time and memory per stage, curves that
stages wrote, metric spread over seeds); figures of a field or a defect
table belong to the analysis package, and reports embed the PNGs it writes.
"""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .collect import Curve

__all__ = ["png_bytes", "fig_stage_resources", "fig_curves", "fig_metric_spread"]

_DPI = 100


def png_bytes(fig: Figure) -> bytes:
    """Render ``fig`` to PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()


def fig_stage_resources(table: pd.DataFrame) -> Figure:
    """Wall time and peak memory per stage.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``stage``, ``wall_s``, ``peak_rss_mb`` and optionally
        ``variant`` (grouped bars) and ``wall_s_std`` / ``peak_rss_mb_std``
        (error bars, e.g. the spread over seeds).
    """
    stages = list(dict.fromkeys(table["stage"]))
    variants = list(dict.fromkeys(table["variant"])) if "variant" in table else [None]
    fig = Figure(figsize=(10, 0.45 * len(stages) * max(1, len(variants) / 2) + 1.4))
    axes = fig.subplots(1, 2, sharey=True)
    height = 0.8 / len(variants)
    y0 = np.arange(len(stages), dtype=float)
    for k, var in enumerate(variants):
        sub = table if var is None else table[table["variant"] == var]
        sub = sub.set_index("stage").reindex(stages)
        ys = y0 - 0.4 + height * (k + 0.5)
        for ax, col in zip(axes, ("wall_s", "peak_rss_mb")):
            err = sub[f"{col}_std"].to_numpy(float) if f"{col}_std" in sub else None
            ax.barh(ys, sub[col].to_numpy(float), height=height * 0.95, xerr=err,
                    label=var if var is not None else None, color=f"C{k % 10}",
                    error_kw={"elinewidth": 1, "capsize": 2})
    axes[0].set_yticks(y0, stages)
    axes[0].invert_yaxis()
    axes[0].set_xlabel("wall time (s)")
    axes[1].set_xlabel("peak resident memory (MiB)")
    axes[0].set_title("time per stage")
    axes[1].set_title("memory per stage (process peak)")
    for ax in axes:
        ax.grid(axis="x", alpha=0.3)
    if variants != [None]:
        axes[1].legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    return fig


def fig_curves(groups: Sequence[tuple[str, Sequence[Curve]]], *, title: str) -> Figure:
    """Curves of one kind, one colour per group (variant or run), all seeds of a group alike.

    Parameters
    ----------
    groups : sequence of (label, curves)
        Curves of one kind; a group's curves share colour and legend entry.
    title : str
        Axes title.
    """
    kind = next(c.kind for _, cs in groups for c in cs)
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    styles = ["-", "--", ":", "-."]
    for k, (label, curves) in enumerate(groups):
        names = list(dict.fromkeys(c.name for c in curves))
        seen: set[str] = set()
        for c in curves:  # one legend entry per (group, curve name); seeds share it
            i = names.index(c.name)
            lab = None
            if c.name not in seen:
                lab = label if len(names) == 1 else f"{label}: {c.name}"
                seen.add(c.name)
            y = np.abs(c.y) if kind == "convergence" else c.y
            ax.plot(c.x, y, styles[i % len(styles)], color=f"C{k % 10}", lw=1.3, label=lab)
    xlabel = next(c.xlabel for _, cs in groups for c in cs)
    ax.set_xlabel(xlabel)
    if kind == "convergence":
        ax.set_yscale("log")
        ax.set_ylabel("error")
    elif kind == "fsc":
        for thr, txt in ((0.143, "0.143 (half-sets)"), (0.5, "0.5 (vs truth)")):
            ax.axhline(thr, color="grey", lw=0.8, ls="--")
            ax.text(ax.get_xlim()[1], thr, txt, ha="right", va="bottom", fontsize="x-small",
                    color="grey")
        ax.set_ylim(min(-0.05, ax.get_ylim()[0]), 1.05)
        ax.set_ylabel("Fourier shell correlation")
    else:
        ax.set_yscale("log")
        ax.set_ylabel("power spectral density")
    ax.set_title(title, fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small")
    fig.tight_layout()
    return fig


def fig_metric_spread(summary: pd.DataFrame, metrics: Sequence[str]) -> Figure:
    """Small multiples: one panel per metric, mean ± std over seeds per variant, seeds as dots.

    Parameters
    ----------
    summary : pandas.DataFrame
        Tidy rows ``variant, seed, metric, value, unit``.
    metrics : sequence of str
        Metrics to show, one panel each.
    """
    variants = list(dict.fromkeys(summary["variant"]))
    n = len(metrics)
    cols = min(3, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(3.6 * cols, 2.6 * rows + 0.3))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    x = np.arange(len(variants))
    for ax, metric in zip(axes, metrics):
        sub = summary[summary["metric"] == metric]
        unit = sub["unit"].iloc[0] if len(sub) else ""
        for k, var in enumerate(variants):
            vals = sub.loc[sub["variant"] == var, "value"].to_numpy(float)
            vals = vals[np.isfinite(vals)]
            if not vals.size:
                continue
            std = vals.std(ddof=1) if vals.size > 1 else 0.0
            ax.bar(k, vals.mean(), yerr=std, color=f"C{k % 10}", alpha=0.75, capsize=3)
            ax.plot(np.full(vals.size, k), vals, "k.", ms=4)
        ax.set_xticks(x, variants, rotation=30, ha="right", fontsize="small")
        ax.set_title(metric + (f" ({unit})" if unit and unit != "1" else ""), fontsize="small")
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
