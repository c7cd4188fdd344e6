"""Figures of a reconstruction scored against truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["match_map", "fsc_plot"]


def match_map(true: pd.DataFrame, found: pd.DataFrame, matches: pd.DataFrame, path: Path) -> Path:
    """Defects of truth and reconstruction in three orthogonal projections.

    Colour gives the charge (red +1, blue -1); true defects are open circles,
    found ones filled dots when matched and crosses when unmatched.
    """
    matched = np.zeros(len(found), bool)
    matched[matches["found_index"].to_numpy(int)] = True
    fig = Figure(figsize=(12, 4.2))
    views = (("x_nm", "y_nm"), ("x_nm", "z_nm"), ("y_nm", "z_nm"))
    for n, (a, b) in enumerate(views):
        ax = fig.add_subplot(1, 3, n + 1)
        for sign, colour in ((1, "tab:red"), (-1, "tab:blue")):
            t = true[np.sign(true["charge"]) == sign]
            q = "+1" if sign > 0 else "-1"
            ax.scatter(t[a], t[b], s=60, facecolors="none", edgecolors=colour, linewidths=1.2,
                       label=f"true {q}" if n == 0 else None)
            sel = np.sign(found["charge"].to_numpy()) == sign
            f_m, f_u = found[sel & matched], found[sel & ~matched]
            ax.scatter(f_m[a], f_m[b], s=14, c=colour, label=f"found {q}, matched" if n == 0 else None)
            ax.scatter(f_u[a], f_u[b], s=10, c=colour, marker="x", alpha=0.35,
                       label=f"found {q}, unmatched" if n == 0 else None)
        ax.set_xlabel(a.replace("_nm", " (nm)"))
        ax.set_ylabel(b.replace("_nm", " (nm)"))
        ax.set_aspect("equal", adjustable="datalim")
    fig.axes[0].legend(loc="upper right", fontsize=7)
    fig.suptitle(f"{len(true)} true defects, {len(found)} found, {len(matches)} matched "
                 "(red: hedgehog, blue: anti-hedgehog)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return Path(path)


def fsc_plot(curves: dict[str, pd.DataFrame], path: Path, *, thresholds=(0.143, 0.5)) -> Path:
    """FSC curves (tables of :func:`synthvec.analysis.fsc`) against spatial frequency, with thresholds."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot(1, 1, 1)
    for name, c in curves.items():
        ax.plot(c["freq_nm_inv"], c["fsc"], label=name)
    for t in thresholds:
        ax.axhline(t, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("spatial frequency (1/nm)")
    ax.set_ylabel("FSC")
    ax.set_ylim(-0.1, 1.05)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return Path(path)
