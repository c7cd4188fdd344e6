"""Regression suite: scenarios x seeds, each metric checked against a committed baseline.

A suite is ``validation/<name>.toml``::

    [suite]
    description = "CI smoke test of every stage"
    scenarios = ["../scenarios/smoke.toml"]   # relative to this file
    seeds = [1]
    # baselines = "smoke_baselines.csv"      # default: <name>_baselines.csv beside it

Its baselines are a CSV with columns ``scenario`` (the scenario's
``run.name``), ``seed``, ``metric``, ``baseline``, ``tolerance`` (absolute,
>= 0) and ``direction``:

- ``higher``: higher is better; pass when ``value >= baseline - tolerance``;
- ``lower``: lower is better; pass when ``value <= baseline + tolerance``;
- ``equal``: pass when ``|value - baseline| <= tolerance``.

A NaN baseline passes only a NaN value; a metric the run no longer produces
fails as ``missing``. Metrics without a baseline row are not checked.

``run_regress(suite, update_baselines=True)`` (``synthvec regress --suite
NAME --update-baselines``) runs the suite and rewrites the CSV with the
current values, keeping each existing row's tolerance and direction; metrics
new to the CSV get a direction and tolerance from :data:`DEFAULT_RULES`
(timing and memory are machine-dependent and are not added). That one
command also creates the CSV of a new suite.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .errors import ConfigError, InputError
from .io import atomic_path
from .scenario import Scenario, parse_scenario
from .batch import RunSpec, execute_runs
from .scenario import read_toml
from .sweep import check_seeds

__all__ = ["Suite", "load_suite", "read_baselines", "check_metrics", "updated_baselines",
           "run_regress", "DEFAULT_RULES", "BASELINE_COLUMNS", "DIRECTIONS"]

BASELINE_COLUMNS = ("scenario", "seed", "metric", "baseline", "tolerance", "direction")
_TABLE_COLUMNS = ("scenario", "seed", "metric", "value", "baseline", "tolerance", "direction",
                  "status")
DIRECTIONS = ("higher", "lower", "equal")

#: (metric glob, direction, relative tolerance, absolute tolerance floor) for metrics new to a
#: baseline file; the first match wins; direction ``None`` = not added (machine-dependent).
DEFAULT_RULES: tuple[tuple[str, str | None, float, float], ...] = (
    ("*_wall_s", None, 0.0, 0.0),
    ("*_peak_rss_mb", None, 0.0, 0.0),
    ("*_cached", None, 0.0, 0.0),
    ("*f1*", "higher", 0.0, 0.05),
    ("*precision*", "higher", 0.0, 0.05),
    ("*recall*", "higher", 0.0, 0.05),
    ("*fraction_detected*", "higher", 0.0, 0.05),
    ("*error*", "lower", 0.10, 1e-9),
    ("*resolution*", "lower", 0.10, 1e-9),
    ("*rmse*", "lower", 0.10, 1e-9),
    ("*_mae", "lower", 0.10, 1e-9),
    ("*agreement*", "higher", 0.0, 0.05),
    ("*", "equal", 0.05, 1e-9),
)


def replace_seed(scn: Scenario, seed: int) -> Scenario:
    """``scn`` with ``run.seed = seed``."""
    return dataclasses.replace(scn, run=dataclasses.replace(scn.run, seed=seed))


@dataclass(frozen=True)
class Suite:
    """A parsed suite file."""

    name: str
    path: Path
    description: str
    scenarios: tuple[Scenario, ...]
    seeds: tuple[int, ...]
    baselines: Path

    def runs(self, work_dir: Path) -> list[RunSpec]:
        """One run per scenario and seed, in ``work_dir/<scenario>-seed<seed>``."""
        return [RunSpec(run_id=f"{s.run.name}-seed{seed}", scenario=replace_seed(s, seed),
                        labels={"scenario": s.run.name}, run_dir=work_dir / f"{s.run.name}-seed{seed}")
                for s in self.scenarios for seed in self.seeds]


def load_suite(name: str, root: str | Path = Path("validation")) -> Suite:
    """Read ``root/<name>.toml`` and its scenarios.

    Raises
    ------
    InputError, ConfigError
        Unknown suite (listing those in ``root``), bad keys, bad scenario files.
    """
    root = Path(root)
    path = root / f"{name}.toml"
    if not path.is_file():
        have = sorted(p.stem for p in root.glob("*.toml")) if root.is_dir() else []
        raise InputError(f"--suite {name}: no suite file {path}; suites: "
                         f"{', '.join(have) or 'none'}")
    doc = read_toml(path, "suite")
    src = str(path)
    if set(doc) != {"suite"} or not isinstance(doc["suite"], dict):
        raise ConfigError("suite", "the file must hold exactly one table [suite]", src)
    sw = doc["suite"]
    allowed = ("description", "scenarios", "seeds", "baselines")
    for key in sw:
        if key not in allowed:
            raise ConfigError(f"suite.{key}", f"unknown key; allowed keys: {', '.join(allowed)}", src)
    files = sw.get("scenarios")
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        raise ConfigError("suite.scenarios", "must be a non-empty list of scenario file paths "
                          f"(relative to the suite file) (got {files!r})", src)
    seeds = check_seeds(sw.get("seeds", [0]), "suite.seeds", src)
    scenarios = []
    for f in files:
        p = path.parent / f
        scenarios.append(parse_scenario(read_toml(p, "scenario"), str(p)))
    names = [s.run.name for s in scenarios]
    if len(set(names)) != len(names):
        raise ConfigError("suite.scenarios", f"scenario names (run.name) must be distinct (got "
                          f"{names})", src)
    baselines = sw.get("baselines", f"{name}_baselines.csv")
    if not isinstance(baselines, str):
        raise ConfigError("suite.baselines", f"must be a CSV file name (got {baselines!r})", src)
    return Suite(name=name, path=path, description=str(sw.get("description", "")),
                 scenarios=tuple(scenarios), seeds=seeds, baselines=path.parent / baselines)


def read_baselines(path: str | Path) -> pd.DataFrame:
    """Read and validate a baseline CSV (columns :data:`BASELINE_COLUMNS`).

    Raises
    ------
    InputError
        Naming the file, the row (1-based, after the header) and the field.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype={"scenario": str, "metric": str, "direction": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"{path}: cannot read baseline CSV ({err})") from None
    missing = [c for c in BASELINE_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; columns must be "
                         f"{', '.join(BASELINE_COLUMNS)}")
    df = df[list(BASELINE_COLUMNS)]
    for col in ("seed", "baseline", "tolerance"):
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna() & (df[col].notna() | (col != "baseline"))  # baseline may be NaN
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise InputError(f"{path}: row {i + 1}: {col} must be a number (got {df[col].iloc[i]!r})")
        df[col] = num
    for i, row in enumerate(df.itertuples()):
        if row.direction not in DIRECTIONS:
            raise InputError(f"{path}: row {i + 1}: direction must be one of "
                             f"{', '.join(DIRECTIONS)} (got {row.direction!r})")
        if row.tolerance < 0:
            raise InputError(f"{path}: row {i + 1}: tolerance must be >= 0 (got {row.tolerance!r})")
    df["seed"] = df["seed"].astype(int)
    dup = df.duplicated(["scenario", "seed", "metric"])
    if dup.any():
        r = df[dup].iloc[0]
        raise InputError(f"{path}: metric {r.metric} of scenario {r.scenario} seed {r.seed} is "
                         "listed twice")
    return df.reset_index(drop=True)


def _passes(value: float, baseline: float, tolerance: float, direction: str) -> bool:
    if math.isnan(baseline):
        return math.isnan(value)
    if math.isnan(value):
        return False
    if direction == "higher":
        return value >= baseline - tolerance
    if direction == "lower":
        return value <= baseline + tolerance
    return abs(value - baseline) <= tolerance


def check_metrics(current: pd.DataFrame, baselines: pd.DataFrame) -> pd.DataFrame:
    """Pass/fail of every baseline row whose scenario and seed were run.

    Parameters
    ----------
    current : pandas.DataFrame
        Columns ``scenario, seed, metric, value``.
    baselines : pandas.DataFrame
        As :func:`read_baselines` returns.

    Returns
    -------
    pandas.DataFrame
        ``scenario, seed, metric, value, baseline, tolerance, direction,
        status`` with status ``pass``, ``FAIL`` or ``missing``; failures first.
    """
    ran = set(zip(current["scenario"], current["seed"]))
    values = {(r.scenario, r.seed, r.metric): float(r.value) for r in current.itertuples()}
    rows = []
    for b in baselines.itertuples():
        if (b.scenario, b.seed) not in ran:
            continue
        key = (b.scenario, b.seed, b.metric)
        if key not in values:
            status, value = "missing", float("nan")
        else:
            value = values[key]
            status = "pass" if _passes(value, float(b.baseline), float(b.tolerance),
                                       b.direction) else "FAIL"
        rows.append({"scenario": b.scenario, "seed": b.seed, "metric": b.metric, "value": value,
                     "baseline": float(b.baseline), "tolerance": float(b.tolerance),
                     "direction": b.direction, "status": status})
    table = pd.DataFrame(rows, columns=list(_TABLE_COLUMNS))
    order = table["status"].map({"FAIL": 0, "missing": 1, "pass": 2})
    return table.assign(_o=order).sort_values("_o", kind="stable").drop(columns="_o") \
        .reset_index(drop=True)


def _default_rule(metric: str) -> tuple[str | None, float, float]:
    for pattern, direction, rel, floor in DEFAULT_RULES:
        if fnmatch.fnmatchcase(metric, pattern):
            return direction, rel, floor
    return "equal", 0.05, 1e-9  # pragma: no cover - DEFAULT_RULES ends with "*"


def updated_baselines(current: pd.DataFrame, old: pd.DataFrame | None) -> pd.DataFrame:
    """New baseline rows from ``current``, keeping ``old``'s tolerances and directions.

    Rows of ``old`` for scenario/seed pairs that were not run are kept as
    they are; rows whose metric the run no longer produces are dropped.
    """
    old = old if old is not None else pd.DataFrame(columns=list(BASELINE_COLUMNS))
    kept = {(r.scenario, r.seed, r.metric): (r.tolerance, r.direction) for r in old.itertuples()}
    ran = set(zip(current["scenario"], current["seed"]))
    rows = [dict(zip(BASELINE_COLUMNS, (r.scenario, r.seed, r.metric, r.baseline, r.tolerance,
                                        r.direction)))
            for r in old.itertuples() if (r.scenario, r.seed) not in ran]
    for r in current.itertuples():
        key = (r.scenario, r.seed, r.metric)
        value = float(r.value)
        if key in kept:
            tol, direction = kept[key]
        else:
            direction, rel, floor = _default_rule(r.metric)
            if direction is None:
                continue
            tol = max(rel * abs(value), floor) if math.isfinite(value) else 0.0
        rows.append({"scenario": r.scenario, "seed": int(r.seed), "metric": r.metric,
                     "baseline": value, "tolerance": float(tol), "direction": direction})
    return pd.DataFrame(rows, columns=list(BASELINE_COLUMNS))


def run_regress(suite: str = "smoke", *, update_baselines: bool = False,
                root: str | Path = Path("validation"), stages: Sequence[Any] | None = None,
                work_dir: str | Path | None = None, scheduler: str | None = "sync",
                progress: bool = False) -> tuple[int, pd.DataFrame]:
    """Run a suite and compare its metrics with the baselines.

    Parameters
    ----------
    suite : str
        Suite name: ``root/<suite>.toml``.
    update_baselines : bool
        Rewrite the baseline CSV from this run (tolerances and directions kept).
    root : str or Path
        Folder of the suites and baselines.
    stages : sequence of Stage, optional
        Pipeline stages (default :data:`synthvec.pipeline.STAGES`).
    work_dir : str or Path, optional
        Run directories (default ``runs/regress/<suite>``); their stage cache
        makes a second check of unchanged code nearly free.
    scheduler : str, optional
        Dask scheduler for the runs (see :func:`synthvec.batch.execute_runs`).
    progress : bool
        Dask progress bar.

    Returns
    -------
    (int, pandas.DataFrame)
        Exit code (0 pass, 1 regression or missing metric) and the table of
        :func:`check_metrics` (after an update: the new baselines, status
        ``updated``).

    Raises
    ------
    InputError
        Bad suite or baseline file, or no baseline file (the message gives
        the command that creates it).

    A run that fails (an exception in a stage) is a regression: exit code 1,
    one ``status = "error"`` row per failed run with the error in ``note``
    (traceback on stderr); baselines are not updated then.
    """
    s = load_suite(suite, root)
    if not update_baselines and not s.baselines.is_file():
        raise InputError(f"{s.baselines}: no baselines for suite {suite}; create them with "
                         f"`synthvec regress --suite {suite} --update-baselines`")
    old = read_baselines(s.baselines) if s.baselines.is_file() else None
    work = Path(work_dir) if work_dir is not None else Path("runs") / "regress" / suite
    runs = s.runs(work)
    results = execute_runs(runs, stages=stages, scheduler=scheduler, progress=progress)
    failed = pd.DataFrame([{"scenario": r.labels["scenario"], "seed": r.scenario.run.seed,
                            "metric": "(run failed)", "value": float("nan"),
                            "baseline": float("nan"), "tolerance": float("nan"), "direction": "",
                            "status": "error", "note": f"{res['error']} (see {r.run_dir})"}
                           for r, res in zip(runs, results) if not res["ok"]],
                          columns=[*_TABLE_COLUMNS, "note"])
    if len(failed):  # a crash is a regression; baselines are never written from a failed run
        for r, res in zip(runs, results):
            if not res["ok"]:
                print(f"synthvec regress: {r.run_id} failed:\n{res['traceback']}", file=sys.stderr)
        return 1, failed
    frames = [res["metrics"].assign(scenario=r.labels["scenario"], seed=r.scenario.run.seed)
              for r, res in zip(runs, results)]
    current = pd.concat(frames, ignore_index=True)
    if update_baselines:
        new = updated_baselines(current, old)
        with atomic_path(s.baselines) as tmp:
            new.to_csv(tmp, index=False)
        return 0, new.assign(status="updated")
    table = check_metrics(current, old)
    return (1 if (table["status"] != "pass").any() else 0), table

