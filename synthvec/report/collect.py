"""What a run directory holds that a report can show, found by file conventions.

A stage makes something appear in the reports by writing, into its stage
folder (``RUN/stages/<stage>/``, subfolders included):

- ``*.png``: shown as a figure of that stage (caption from the file name;
  e.g. the analysis' defect maps, nearest-neighbour histograms with GEV fits,
  stereographic projections of virtual hedgehogs);
- a curve table ``*convergence*.csv``, ``*fsc*.csv`` or ``*psd*.csv``: first
  column x, every other numeric column one curve (convergence on a log axis;
  FSC with the 0.143 and 0.5 thresholds);
- in ``.nc``/``.h5`` files: numeric variables named ``error``, ``*_error``,
  ``error_*``, ``r1``, ``*residual*`` (convergence, 1-D over iterations or 2-D
  iterations x items, shown as their mean) and 1-D ``fsc*`` / ``psd*``
  variables (x from their dimension's coordinate);
- other ``*.csv`` tables: listed with their size; tables with a ``charge``
  column (defect tables) are summarised by charge.

Nothing is recomputed: the report shows what the stages wrote.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Curve", "RunFiles", "collect_run", "stage_resources", "CURVE_KINDS"]

#: curve kind -> file-name globs of curve tables
CURVE_KINDS = {"convergence": ("*convergence*.csv",), "fsc": ("*fsc*.csv",), "psd": ("*psd*.csv",)}
_ERROR_NAMES = ("error", "*_error", "error_*", "r1", "*residual*")
_MAX_H5_BYTES = 512 * 1024 * 1024  # larger files are not opened (data, not results)


@dataclass
class Curve:
    """One curve: ``y`` (1-D) against ``x``."""

    kind: str
    stage: str
    name: str
    x: np.ndarray
    y: np.ndarray
    xlabel: str


@dataclass
class RunFiles:
    """Everything a report of one run directory can use."""

    run_dir: Path
    name: str = ""
    description: str = ""
    scenario_text: str = ""
    metrics: pd.DataFrame | None = None
    keys: dict[str, str] = field(default_factory=dict)  # stage -> cache key
    images: list[tuple[str, Path]] = field(default_factory=list)  # (stage, png)
    curves: list[Curve] = field(default_factory=list)
    tables: list[tuple[str, Path, pd.DataFrame]] = field(default_factory=list)  # (stage, csv, df)
    notes: list[str] = field(default_factory=list)


def _stage_of(run_dir: Path, path: Path) -> str:
    rel = path.relative_to(run_dir).parts
    return rel[1] if len(rel) > 2 and rel[0] == "stages" else "run"


def _csv_curves(kind: str, stage: str, path: Path, notes: list[str]) -> list[Curve]:
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as err:
        notes.append(f"{path.name}: not read ({err})")
        return []
    num = df.select_dtypes("number")
    if num.shape[1] < 2 or len(num) < 2:
        notes.append(f"{path.name}: a curve table needs a numeric x column and >= 1 curve column")
        return []
    x = num.iloc[:, 0].to_numpy(float)
    return [Curve(kind, stage, f"{path.stem}: {c}", x, num[c].to_numpy(float), num.columns[0])
            for c in num.columns[1:]]


def _array_curves(stage: str, path: Path, notes: list[str]) -> list[Curve]:
    """Error/FSC/PSD variables of a NetCDF or HDF5 file (read with h5py: no big loads)."""
    import h5py

    if path.stat().st_size > _MAX_H5_BYTES:
        return []
    found: list[Curve] = []

    def visit(name: str, obj) -> None:
        if not isinstance(obj, h5py.Dataset) or obj.dtype.kind not in "fiu" or obj.ndim not in (1, 2):
            return
        leaf = name.rsplit("/", 1)[-1].lower()
        if any(fnmatch.fnmatchcase(leaf, p) for p in _ERROR_NAMES):
            kind = "convergence"
        elif leaf.startswith(("fsc", "psd")) and obj.ndim == 1:
            kind = leaf[:3]
        else:
            return
        y = np.asarray(obj[()], dtype=float)
        if y.ndim == 2:
            y = np.nanmean(y, axis=1)
        if y.size < 2:
            return
        x, xlabel = np.arange(y.size, dtype=float), "iteration"
        if kind != "convergence":  # x from the dimension scale (NetCDF coordinate), if any
            xlabel = "index"
            for scale in obj.dims[0].values():
                if scale.shape == y.shape and scale.name != obj.name:
                    x, xlabel = np.asarray(scale[()], dtype=float), scale.name.rsplit("/", 1)[-1]
        label = f"{path.stem}: {name}" + (" (mean over items)" if obj.ndim == 2 else "")
        found.append(Curve(kind, stage, label, x, y, xlabel))

    try:
        with h5py.File(path, "r") as fh:
            fh.visititems(visit)
    except (OSError, ValueError, KeyError) as err:
        notes.append(f"{path.name}: not read ({err})")
    return found


def collect_run(run_dir: str | Path, *, exclude: tuple[str, ...] = ()) -> RunFiles:
    """Scan a run directory (see the module docstring for the conventions).

    Parameters
    ----------
    run_dir : str or Path
    exclude : tuple of str
        Top-level names to skip (a report's own output folder).
    """
    from ..scenario import load_scenario

    run_dir = Path(run_dir)
    rf = RunFiles(run_dir=run_dir, name=run_dir.name)
    scn_path = run_dir / "scenario.toml"
    if scn_path.is_file():
        rf.scenario_text = scn_path.read_text()
        try:
            scn = load_scenario(scn_path)
            rf.name, rf.description = scn.run.name, scn.run.description
        except ValueError as err:  # a scenario of another synthvec version
            rf.notes.append(f"scenario.toml: {err}")
    if (run_dir / "metrics.csv").is_file():
        rf.metrics = pd.read_csv(run_dir / "metrics.csv")
    records = sorted((run_dir / "stages").glob("*/stage.json"))
    if rf.metrics is not None:  # pipeline order
        order = list(dict.fromkeys(rf.metrics["stage"]))
        records.sort(key=lambda r: order.index(r.parent.name) if r.parent.name in order else 1e9)
    for rec in records:
        try:
            rf.keys[rec.parent.name] = json.loads(rec.read_text())["key"]
        except (OSError, ValueError, KeyError):
            pass

    def files(pattern: str) -> list[Path]:
        out = []
        for p in sorted(run_dir.rglob(pattern)):
            rel = p.relative_to(run_dir).parts
            if rel[0] in exclude or any(part.startswith(".") for part in rel):
                continue
            if rel[0] != "stages" and len(rel) > 1:
                continue  # nested folders outside stages/ are not the run's own
            if rel[0] != "stages" and (run_dir / "stages").is_dir() and _published(run_dir, p):
                continue  # a published copy of a stage file: shown under its stage
            out.append(p)
        return out

    for p in files("*.png"):
        rf.images.append((_stage_of(run_dir, p), p))
    curve_files = set()
    for kind, globs in CURVE_KINDS.items():
        for g in globs:
            for p in files(g):
                curve_files.add(p)
                rf.curves += _csv_curves(kind, _stage_of(run_dir, p), p, rf.notes)
    for ext in ("*.nc", "*.h5"):
        for p in files(ext):
            rf.curves += _array_curves(_stage_of(run_dir, p), p, rf.notes)
    for p in files("*.csv"):
        if p in curve_files or p.parent == run_dir and p.name == "metrics.csv":
            continue
        try:
            rf.tables.append((_stage_of(run_dir, p), p, pd.read_csv(p)))
        except (OSError, ValueError) as err:
            rf.notes.append(f"{p.name}: not read ({err})")
    return rf


def _published(run_dir: Path, path: Path) -> bool:
    """True when a top-level file is the same file as one in a stage folder (a hard link)."""
    try:
        st = path.stat()
    except OSError:
        return False
    if st.st_nlink < 2:
        return False
    return any(q.stat().st_ino == st.st_ino for q in (run_dir / "stages").glob(f"*/{path.name}"))


def stage_resources(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per-stage ``stage, wall_s, peak_rss_mb, cached`` from a run's metric table."""
    rows = []
    for stage in dict.fromkeys(metrics["stage"]):
        m = metrics[metrics["stage"] == stage].set_index("metric")["value"]
        rows.append({"stage": stage, "wall_s": m.get(f"{stage}_wall_s", np.nan),
                     "peak_rss_mb": m.get(f"{stage}_peak_rss_mb", np.nan),
                     "cached": bool(m.get(f"{stage}_cached", 0.0))})
    return pd.DataFrame(rows, columns=["stage", "wall_s", "peak_rss_mb", "cached"])
