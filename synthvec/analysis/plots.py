"""Figures of the analysis (PNG through matplotlib's Agg canvas; no global backend switch).

* ``defect_map.png``: hedgehogs (red) and anti-hedgehogs (blue) projected on
  the xy, xz and yz planes (Fig. 2A as three views).
* ``nn_histograms.png``: nearest-neighbour distance histograms per pair type
  with their GEV fits and mu (Fig. 3 D-F).
* ``stereographic_<void>.png``: stereographic projection of m on a virtual
  (anti)hedgehog's void surface, arrows (m_x, m_y) coloured by m_z (Fig. 4 C-D).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from ..io import atomic_path
from .gev import PAIR_TYPES, gev_logpdf

__all__ = ["defect_map", "nn_histograms", "stereographic_plot"]

_PAIR_TITLES = {"ha": "hedgehog - anti-hedgehog", "hh": "hedgehog - hedgehog",
                "aa": "anti-hedgehog - anti-hedgehog"}


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


def defect_map(defects: pd.DataFrame, path: Path, *, extent_nm: dict | None = None) -> Path:
    """Three orthogonal projections of the defect positions."""
    fig = Figure(figsize=(12, 4))
    views = (("x_nm", "y_nm"), ("x_nm", "z_nm"), ("y_nm", "z_nm"))
    for n, (a, b) in enumerate(views):
        ax = fig.add_subplot(1, 3, n + 1)
        for sign, colour, name in ((1, "tab:red", "hedgehog"), (-1, "tab:blue", "anti-hedgehog")):
            d = defects[np.sign(defects["charge"]) == sign] if len(defects) else defects
            ax.scatter(d[a] if len(d) else [], d[b] if len(d) else [], s=14, c=colour, label=name)
        if extent_nm:
            ax.set_xlim(extent_nm[a[0]])
            ax.set_ylim(extent_nm[b[0]])
        ax.set_xlabel(a.replace("_nm", " (nm)"))
        ax.set_ylabel(b.replace("_nm", " (nm)"))
        ax.set_aspect("equal", adjustable="box")
    fig.axes[0].legend(loc="upper right", fontsize=8)
    fig.suptitle(f"{int(np.sum(defects['charge'] > 0)) if len(defects) else 0} hedgehogs, "
                 f"{int(np.sum(defects['charge'] < 0)) if len(defects) else 0} anti-hedgehogs")
    return _save(fig, path)


def nn_histograms(pairs: pd.DataFrame, gev: pd.DataFrame, path: Path) -> Path:
    """Nearest-neighbour histograms with GEV fits, one panel per pair type."""
    fig = Figure(figsize=(12, 3.6))
    for n, name in enumerate(PAIR_TYPES):
        ax = fig.add_subplot(1, 3, n + 1)
        d = pairs.loc[pairs["pair"] == name, "distance_nm"].to_numpy(float) if len(pairs) else []
        row = gev.set_index("pair").loc[name]
        if len(d):
            ax.hist(d, bins=max(5, min(20, len(d) // 3)), density=True, color="0.75")
        if np.isfinite(row["mu_nm"]):
            lo, hi = (min(d) * 0.8, max(d) * 1.2) if len(d) else (0, 1)
            x = np.linspace(lo, hi, 300)
            ax.plot(x, np.exp(gev_logpdf(x, row["mu_nm"], row["sigma_nm"], row["xi"])), "k-")
            ax.set_title(f"{_PAIR_TITLES[name]}\nmu = {row['mu_nm']:.1f} +- "
                         f"{row['mu_se_nm']:.1f} nm", fontsize=9)
        else:
            ax.set_title(f"{_PAIR_TITLES[name]}\n{row['note'] or 'no fit'}", fontsize=9)
        ax.set_xlabel("nearest-neighbour distance (nm)")
    return _save(fig, path)


def stereographic_plot(xy: np.ndarray, mv: np.ndarray, path: Path, *, title: str) -> Path:
    """Arrows of (m_x, m_y) at stereographic positions, coloured by m_z (red up, blue down)."""
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot(1, 1, 1)
    keep = np.hypot(xy[:, 0], xy[:, 1]) < 3.0
    if len(xy) > 1500:  # thin out for legibility
        keep &= (np.arange(len(xy)) % (len(xy) // 1500 + 1)) == 0
    ax.quiver(xy[keep, 0], xy[keep, 1], mv[keep, 0], mv[keep, 1], mv[keep, 2], cmap="coolwarm",
              clim=(-1, 1), scale=30)
    ax.add_patch(Circle((0, 0), 1.0, fill=False, ls="--", color="0.5"))  # the equator
    ax.set_aspect("equal")
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.set_title(title)
    return _save(fig, path)
