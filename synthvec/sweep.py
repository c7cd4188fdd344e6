"""Scenario sweeps: a base scenario over parameter axes and seeds, run as Dask tasks.

A sweep file names a base scenario, the axes (dotted scenario keys, each with
a list of values) and the seeds::

    [sweep]
    base = "../scenarios/quick.toml"   # relative to this file
    seeds = [0, 1]

    [axes]
    "simulate.dose" = [1e5, 1e6]
    "ptycho.iterations" = [20, 50]

    [zip]                              # optional: paired values
    "geometry.tilt_min_deg" = [-44.0, -62.0]
    "geometry.tilt_max_deg" = [44.0, 62.0]

The plain axes form a product. The optional ``[zip]`` table holds dotted keys
whose lists all have the same length; element ``i`` of every zipped list goes
into the same run, so the zip is *one* more axis of the product (above:
2 x 2 x 2 = 8 grid points, each tilt range symmetric). A key is either a
plain axis or zipped, not both. Every zipped key is a column of the result
table and ``runs.csv`` exactly like an axis key (:attr:`SweepSpec.columns`).

Every point of the grid (axes product x zip rows x seeds) is one *run*: a scenario
variant, validated like any scenario file, with its own run directory
``OUT/runs/<run_id>`` where ``run_id`` is a hash of the resolved variant. The
runs are one Dask graph (:func:`synthvec.batch.execute_runs`): stages that
several variants share (same cache key, e.g. the simulation when only an
inversion setting varies) are computed once and hard-linked into the other
run directories. Each run's stage cache makes a killed sweep resume cheaply:
rerunning the same command serves every finished stage of every run from its
run directory and computes only what is missing. The result is one tidy table, one row per run and
metric (``run_id``, one column per axis and zipped key, ``seed``, ``stage``, ``metric``,
``value``, ``unit``), written atomically to ``OUT/results.csv`` (and
``OUT/results.parquet`` when pyarrow is installed).

Schedulers
----------
By default the runs go to Dask's local *processes* scheduler with
:func:`synthvec.threads.n_threads` workers (at most one per run); each worker
limits its own thread pools to ``n_threads() // workers`` so the machine is
not oversubscribed. ``scheduler="threads"`` or ``"sync"`` choose the other
local schedulers. Any other value is the address of a running
``dask.distributed`` scheduler (``tcp://host:8786``); distributed must then be
installed (``pip install distributed``).

Running a sweep on a SLURM cluster with dask-jobqueue
-----------------------------------------------------
Start a scheduler whose workers are SLURM jobs, then point the sweep at it::

    # cluster.py -- keep it running while the sweep runs
    from dask_jobqueue import SLURMCluster
    cluster = SLURMCluster(queue="gpu", cores=8, processes=1, memory="64GB",
                           walltime="04:00:00",
                           job_script_prologue=["source /path/to/venv/bin/activate",
                                                "export SYNTHVEC_THREADS=8"])
    cluster.scale(jobs=10)          # or cluster.adapt(minimum_jobs=0, maximum_jobs=20)
    print(cluster.scheduler_address)  # e.g. tcp://10.0.0.5:8786
    input("press enter to stop the cluster")

    $ synthvec sweep sweep.toml --out /shared/fs/sweep1 --scheduler tcp://10.0.0.5:8786

``--out`` must be on a file system that the workers see (run directories are
written by the workers). One worker process per job with
``SYNTHVEC_THREADS`` equal to the job's cores keeps every run's FFTs and BLAS
calls within its allocation. A job killed by its wall time only loses the
stage it was computing: rerun the same command and the finished stages come
from the cache.
"""

from __future__ import annotations

import copy
import itertools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .batch import LOCAL_SCHEDULERS, RunSpec, execute_runs, run_one
from .errors import ConfigError
from .io import atomic_path
from .scenario import Scenario, parse_scenario, read_toml, scenario_hash

__all__ = ["SweepSpec", "SweepError", "RunSpec", "load_sweep", "read_spec", "apply_overrides",
           "variant_scenario", "check_seeds", "execute_runs", "results_table", "finish_runs",
           "run_sweep", "write_table", "run_one", "RESULT_COLUMNS", "LOCAL_SCHEDULERS"]

#: Columns of the tidy result table after the axis (and zipped key) columns.
RESULT_COLUMNS = ("seed", "stage", "metric", "value", "unit")


class SweepError(RuntimeError):
    """Some runs of a sweep failed; the finished ones are in ``table``.

    Rerunning the same sweep resumes: finished stages are served from the
    run directories' caches.
    """

    def __init__(self, message: str, table: pd.DataFrame, failures: pd.DataFrame):
        super().__init__(message)
        self.table = table
        self.failures = failures


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file.

    ``axes`` (dotted key -> values) form a product; ``zipped`` (dotted key ->
    values, all of one length) is one more axis of that product whose point
    ``i`` sets element ``i`` of every zipped list.
    """

    path: Path
    base_path: Path
    base_data: dict[str, Any]
    axes: dict[str, list[Any]]
    seeds: tuple[int, ...]
    zipped: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """Label columns of the result table and ``runs.csv``: axis keys, then zipped keys."""
        return [*self.axes, *self.zipped]

    def zip_rows(self) -> list[dict[str, Any]]:
        """The zip's points, ``[{key: values[i] for each zipped key}, ...]``; ``[{}]`` if none."""
        if not self.zipped:
            return [{}]
        n = len(next(iter(self.zipped.values())))
        return [{k: v[i] for k, v in self.zipped.items()} for i in range(n)]

    def runs(self, out_dir: str | Path) -> list[RunSpec]:
        """Every run of the sweep in grid order (last axis fastest, then the zip, then seeds)."""
        out_dir = Path(out_dir)
        keys = list(self.axes)
        rows = self.zip_rows()
        runs = []
        for combo, row in itertools.product(itertools.product(*(self.axes[k] for k in keys)),
                                            rows):
            overrides = {**dict(zip(keys, combo)), **row}
            for seed in self.seeds:
                scn = variant_scenario(self.base_data, overrides, seed=seed, source=str(self.path))
                rid = scenario_hash(scn)[:12]
                runs.append(RunSpec(run_id=rid, scenario=scn, labels=overrides,
                                    run_dir=out_dir / "runs" / rid))
        return runs


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any], *,
                    source: str | None = None) -> dict[str, Any]:
    """A deep copy of the scenario document ``data`` with dotted keys set.

    Parameters
    ----------
    data : dict
        Parsed scenario TOML (section -> table).
    overrides : dict
        Dotted key (``"simulate.dose"``, ``"ptycho.method"``) -> value.
    source : str, optional
        File the overrides come from, for error messages.

    Raises
    ------
    ConfigError
        A key that is not dotted, or that descends into a non-table value.
    """
    out = copy.deepcopy(data)
    for key, value in overrides.items():
        parts = key.split(".")
        if len(parts) < 2 or not all(parts):
            raise ConfigError(key, "must be a dotted key 'section.key' (e.g. 'ptycho.iterations')",
                              source)
        node = out
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(key, f"'{'.'.join(parts[:i + 1])}' is a value, not a table",
                                  source)
            node = child
        node[parts[-1]] = value
    return out


def variant_scenario(base_data: dict[str, Any], overrides: dict[str, Any], *, seed: int | None,
                     source: str | None = None) -> Scenario:
    """Validate ``base_data`` with ``overrides`` (and ``run.seed = seed``) as a :class:`Scenario`.

    Errors name ``source`` and the dotted key at fault (an unknown key gets a
    suggestion and the list of allowed keys).
    """
    extra = {"run.seed": seed} if seed is not None else {}
    data = apply_overrides(base_data, {**overrides, **extra}, source=source)
    return parse_scenario(data, source)


def check_seeds(seeds: Any, key: str, source: str) -> tuple[int, ...]:
    """A non-empty list of distinct integers >= 0, else a :class:`ConfigError` naming ``key``."""
    if (not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds)
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise ConfigError(key, f"must be a non-empty list of distinct integers >= 0 (got {seeds!r})",
                          source)
    return tuple(seeds)


def read_spec(path: Path, what: str, table: str, sections: tuple[str, ...],
              keys: tuple[str, ...]) -> tuple[dict, dict, Path, dict, Any, tuple[int, ...]]:
    """Read a spec file built on a base scenario (sweep, comparison) and check its head table.

    Returns the document, its ``[table]``, the base scenario's path, parsed TOML and
    resolved Scenario, and the seeds (default: the base scenario's seed).
    """
    src = str(path)
    doc = read_toml(path, what)
    for key in doc:
        if key not in sections:
            raise ConfigError(key, f"unknown section; allowed sections: {', '.join(sections)}", src)
    head = doc.get(table)
    if not isinstance(head, dict):
        raise ConfigError(table, f"missing table [{table}] with base = \"SCENARIO.toml\"", src)
    for key in head:
        if key not in keys:
            raise ConfigError(f"{table}.{key}", f"unknown key; allowed keys: {', '.join(keys)}",
                              src)
    base = head.get("base")
    if not isinstance(base, str):
        raise ConfigError(f"{table}.base", "must be the path of a scenario file, relative to the "
                          f"{what} file (got {base!r})", src)
    base_path = path.parent / base
    base_data = read_toml(base_path, "base scenario")
    base_scn = parse_scenario(base_data, str(base_path))  # errors name the base file
    seeds = check_seeds(head.get("seeds", [base_scn.run.seed]), f"{table}.seeds", src)
    return doc, head, base_path, base_data, base_scn, seeds


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file (every variant is validated here, before anything runs).

    Raises
    ------
    InputError, ConfigError
        Naming the sweep file (or the base scenario file) and the key at fault.
    """
    path = Path(path)
    src = str(path)
    doc, _, base_path, base_data, _, seeds = read_spec(path, "sweep", "sweep",
                                                       ("sweep", "axes", "zip"), ("base", "seeds"))
    axes = _value_lists(doc, "axes", src)
    for key, values in axes.items():
        for v in values:  # each value on its own: the error names the key and the value
            variant_scenario(base_data, {key: v}, seed=None, source=src)
    zipped = _value_lists(doc, "zip", src)
    for key in zipped:
        if key in axes:
            raise ConfigError(f"zip.{key}", "is also in [axes]; a key is either a plain axis or "
                              "zipped, not both", src)
    lengths = {key: len(values) for key, values in zipped.items()}
    if len(set(lengths.values())) > 1:
        first = next(iter(lengths))
        odd = next(k for k, n in lengths.items() if n != lengths[first])
        raise ConfigError(f"zip.{odd}", "zipped lists must all have the same length (got "
                          + ", ".join(f"zip.{k}: {n}" for k, n in lengths.items()) + ")", src)
    spec = SweepSpec(path=path, base_path=base_path, base_data=base_data, axes=axes, seeds=seeds,
                     zipped=zipped)
    for i, row in enumerate(spec.zip_rows()):  # a zip point as a whole (pairs may depend)
        try:
            variant_scenario(base_data, row, seed=None, source=src)
        except ConfigError as err:
            raise ConfigError(err.key, f"{err.message} (zip point {i}: {row})",
                              err.source) from None
    runs = spec.runs(".")
    seen: dict[str, RunSpec] = {}
    for run in runs:
        other = seen.setdefault(run.run_id, run)
        if other is not run:
            raise ConfigError(_duplicate_key(spec, other.labels, run.labels),
                              "two grid points resolve to the same scenario (repeated or "
                              f"equivalent values on an axis): {other.labels} and {run.labels}",
                              src)
    return spec


def _duplicate_key(spec: SweepSpec, a: dict[str, Any], b: dict[str, Any]) -> str:
    """The key to blame for two grid points ``a``, ``b`` with one scenario."""
    differ = [k for k in spec.columns if a[k] != b[k]]
    if differ:  # equivalent values
        if all(k in spec.zipped for k in differ):
            return "zip"
        return f"axes.{differ[0]}" if len(differ) == 1 else "axes"
    for key, values in spec.axes.items():  # the same values twice
        if any(v == w for i, v in enumerate(values) for w in values[i + 1:]):
            return f"axes.{key}"
    return "zip"


def _value_lists(doc: dict[str, Any], table: str, src: str) -> dict[str, list[Any]]:
    """``[axes]`` or ``[zip]`` as dotted key -> non-empty list, else a :class:`ConfigError`."""
    sub = doc.get(table, {})
    if not isinstance(sub, dict):
        raise ConfigError(table, "must be a table of dotted keys -> lists of values", src)
    out = {}
    for key, values in _flatten_axes(sub).items():
        if key == "run.seed":
            raise ConfigError(f"{table}.run.seed", "seeds are set by [sweep] seeds, not an axis",
                              src)
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{table}.{key}", "must be a non-empty list of values "
                              f"(got {values!r})", src)
        out[key] = values
    return out


def _flatten_axes(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"simulate.dose": [...]}`` or ``{"simulate": {"dose": [...]}}`` -> dotted keys."""
    out = {}
    for key, value in doc.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten_axes(value, full + "."))
        else:
            out[full] = value
    return out


# --------------------------------------------------------------------------- results


def _label_value(v: Any) -> Any:
    """Axis values in table cells: lists as JSON text (CSV-safe, hashable)."""
    return json.dumps(v) if isinstance(v, (list, tuple, dict)) else v


def results_table(runs: Sequence[RunSpec], results: Sequence[dict[str, Any]],
                  label_columns: Sequence[str]) -> pd.DataFrame:
    """Tidy table (``run_id``, labels, seed, stage, metric, value, unit) of the finished runs.

    The ``<stage>_cached`` rows of the pipeline are left out: they describe
    one invocation, not the run's result.
    """
    frames = []
    for run, res in zip(runs, results):
        if not res["ok"]:
            continue
        m = res["metrics"]
        m = m[~m["metric"].str.endswith("_cached")].reset_index(drop=True)
        df = pd.DataFrame({"run_id": run.run_id}, index=m.index)
        for col in label_columns:
            df[col] = _label_value(run.labels.get(col))
        df["seed"] = run.scenario.run.seed
        for col in ("stage", "metric", "value", "unit"):
            df[col] = m[col]
        frames.append(df)
    cols = ["run_id", *label_columns, *RESULT_COLUMNS]
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)[cols]


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write ``table`` as CSV atomically; also ``.parquet`` beside it when pyarrow is installed."""
    path = Path(path)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return path
    with atomic_path(path.with_suffix(".parquet")) as tmp:
        table.to_parquet(tmp, index=False)
    return path


def _runs_index(runs: Sequence[RunSpec], results: Sequence[dict[str, Any]],
                label_columns: Sequence[str]) -> pd.DataFrame:
    rows = []
    for run, res in zip(runs, results):
        row = {"run_id": run.run_id}
        row.update({c: _label_value(run.labels.get(c)) for c in label_columns})
        row.update(seed=run.scenario.run.seed, status="ok" if res["ok"] else "failed",
                   error=res["error"], run_dir=str(run.run_dir))
        rows.append(row)
    return pd.DataFrame(rows)


def finish_runs(runs: Sequence[RunSpec], results: Sequence[dict[str, Any]],
                label_columns: Sequence[str], out_dir: Path) -> pd.DataFrame:
    """Write ``results.csv`` and ``runs.csv`` into ``out_dir``; raise :class:`SweepError` on failures."""
    table = results_table(runs, results, label_columns)
    write_table(table, out_dir / "results.csv")
    index = _runs_index(runs, results, label_columns)
    with atomic_path(out_dir / "runs.csv") as tmp:
        index.to_csv(tmp, index=False)
    failed = index[index["status"] != "ok"]
    log = out_dir / "failures.log"
    if len(failed):
        with atomic_path(log) as tmp:
            tmp.write_text("\n\n".join(f"== {res['run_id']} ({run.run_dir})\n{res['traceback']}"
                                       for run, res in zip(runs, results) if not res["ok"]))
        first = failed.iloc[0]
        raise SweepError(f"{len(failed)} of {len(runs)} runs failed (first: {first['run_id']}: "
                         f"{first['error']}); tracebacks in {log}; rerun the same command to "
                         "resume (finished stages come from the cache)", table, failed)
    if log.exists():
        log.unlink()
    return table


def run_sweep(spec_path: str | Path, out_dir: str | Path, *, scheduler: str | None = None,
              stages: Sequence[Any] | None = None, progress: bool = True) -> pd.DataFrame:
    """Run every variant of a sweep file and collect one tidy metric table.

    Parameters
    ----------
    spec_path : str or Path
        Sweep TOML file (see the module docstring).
    out_dir : str or Path
        Output folder: ``runs/<run_id>/`` per run, ``results.csv`` (and
        ``results.parquet`` with pyarrow), ``runs.csv`` (run id, axis and
        zipped values, seed, status, run directory), ``sweep.toml`` (a copy of the spec),
        ``report.html`` + ``report.md`` + ``report_files/``
        (:func:`synthvec.report.write_sweep_report`).
    scheduler : str, optional
        See :func:`synthvec.batch.execute_runs`; ``None`` is the local
        processes scheduler.
    stages : sequence of Stage, optional
        Pipeline stages (default :data:`synthvec.pipeline.STAGES`).
    progress : bool
        Dask progress bar on stderr.

    Returns
    -------
    pandas.DataFrame
        One row per run and metric: ``run_id``, one column per axis, then
        one per zipped key (dotted key; list values as JSON text), ``seed``, ``stage``, ``metric``,
        ``value`` (float), ``unit``.

    Raises
    ------
    InputError, ConfigError
        Bad sweep file (naming the file and key) or scheduler address.
    SweepError
        Some runs failed; ``results.csv`` then holds the finished runs and a
        rerun resumes.
    """
    spec = load_sweep(spec_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "sweep.toml") as tmp:
        tmp.write_bytes(spec.path.read_bytes())
    runs = spec.runs(out_dir)
    results = execute_runs(runs, stages=stages, scheduler=scheduler, progress=progress)
    try:
        return finish_runs(runs, results, spec.columns, out_dir)
    finally:  # also when some runs failed: the report lists them beside the finished ones
        _write_report(out_dir, spec.columns)


def _write_report(out_dir: Path, columns: Sequence[str]) -> None:
    """The sweep's report; one that fails is said on stderr and loses none of the results."""
    from .report.sweep import write_sweep_report  # lazy: the report imports matplotlib

    try:
        write_sweep_report(out_dir, columns=columns)
    except Exception as err:  # noqa: BLE001 - results.csv is written; the report can be redone
        print(f"synthvec sweep: report not written ({type(err).__name__}: {err})",
              file=sys.stderr)

