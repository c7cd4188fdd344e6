"""Many pipeline runs as one Dask graph, computing shared upstream stages once.

Sweeps, regression suites and method comparisons all run a list of scenario
variants, each in its own run directory (:class:`RunSpec`). Variants often
differ only downstream (an inversion setting, a method name): their phantom,
texture and simulation stages have the same cache key. :func:`execute_runs`
finds, for every run, the earlier run that shares the longest prefix of
stage keys (:func:`plan_sharing`), computes that prefix once, and fills the
later run's stage cache from it with hard links (:func:`prime_cache`) before
running it. The pipeline still checks every key, so a priming that misses
only costs a recomputation, never a wrong result.

Graph, for a run ``i`` whose provider is ``p`` (shared prefix length ``L``)::

    prefix(p, K_p) ──► full(i)          K_p = longest prefix any run takes from p
          │
          └──────────► full(p)

``prefix(p, K)`` runs the first ``K`` stages of ``p`` (itself primed from
``p``'s own provider); ``full(i)`` primes from ``p`` and runs every stage.
Everything else runs in parallel.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .errors import InputError
from .pipeline.runner import stage_keys  # the keys run_pipeline uses
from .scenario import Scenario
from .threads import limit_native_pools, n_threads

__all__ = ["RunSpec", "run_one", "execute_runs", "stage_keys", "prime_cache", "plan_sharing",
           "LOCAL_SCHEDULERS"]

#: Names of Dask's local schedulers accepted for ``scheduler``.
LOCAL_SCHEDULERS = ("processes", "threads", "sync")


@dataclass(frozen=True)
class RunSpec:
    """One run: a validated scenario variant and the values that define it."""

    run_id: str
    scenario: Scenario
    labels: dict[str, Any]  # axis (or variant) columns of the result table
    run_dir: Path


def run_one(run: RunSpec, stages: Sequence[Any], threads: int | None) -> dict[str, Any]:
    """Run one scenario variant in its run directory (a Dask task).

    Returns
    -------
    dict
        ``run_id``, ``ok``, ``metrics`` (the run's metric table or None),
        ``error`` (one line) and ``traceback``; an exception inside the run
        is reported here, not raised, so the other runs go on.
    """
    from .pipeline import run_pipeline

    try:
        with contextlib.ExitStack() as stack:
            if threads is not None:  # a worker process of the local processes scheduler
                os.environ["SYNTHVEC_THREADS"] = str(threads)
                stack.enter_context(limit_native_pools(threads))
            res = run_pipeline(run.scenario, run.run_dir, list(stages), quiet=True)
        return {"run_id": run.run_id, "ok": True, "metrics": res.metrics, "error": "",
                "traceback": ""}
    except Exception as err:  # noqa: BLE001 - reported per run
        text = "".join(traceback.format_exception_only(type(err), err)).strip()
        return {"run_id": run.run_id, "ok": False, "metrics": None, "error": text,
                "traceback": traceback.format_exc()}


# --------------------------------------------------------------------------- sharing


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def prime_cache(run: RunSpec, sources: Sequence[Path], stages: Sequence[Any]) -> list[str]:
    """Fill ``run``'s stage cache with finished stages of ``sources`` that have the keys it needs.

    Stage folders are hard-linked (copied across file systems) into a
    temporary folder and renamed into place. Returns the stages brought in.
    """
    from .pipeline.cache import StageStore

    try:
        keys = stage_keys(run.scenario, stages)
    except (ImportError, AttributeError, TypeError):  # runner internals changed: no sharing
        return []
    dst = StageStore(run.run_dir)
    brought = []
    for name, key in keys.items():
        if dst.lookup(name, key) is not None:
            continue
        for src_dir in sources:
            src = StageStore(src_dir)
            if src.lookup(name, key) is None:
                continue
            dst.root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=dst.root))
            shutil.copytree(src.path(name), tmp / name, copy_function=_link_or_copy)
            final = dst.path(name)
            if final.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=dst.root))
                os.replace(final, old / name)
                shutil.rmtree(old, ignore_errors=True)
            os.replace(tmp / name, final)
            shutil.rmtree(tmp, ignore_errors=True)
            brought.append(name)
            break
    return brought


def plan_sharing(runs: Sequence[RunSpec], stages: Sequence[Any]) -> tuple[list[int | None],
                                                                           list[int]]:
    """For each run, the earlier run sharing the longest prefix of stage keys, and its length.

    Returns ``(provider, length)``: ``provider[i]`` is an index < i or None.
    """
    n = len(runs)
    try:
        code: dict[tuple[str, ...], str] = {}
        keys = [stage_keys(r.scenario, stages, code=code) for r in runs]
    except (ImportError, AttributeError, TypeError):
        return [None] * n, [0] * n
    names = [s.name for s in stages]
    provider: list[int | None] = []
    length: list[int] = []
    for i in range(n):
        best, best_len = None, 0
        for j in range(i):
            k = 0
            while k < len(names) and keys[i][names[k]] == keys[j][names[k]]:
                k += 1
            if k > best_len:
                best, best_len = j, k
        provider.append(best)
        length.append(best_len)
    return provider, length


def _prefix_task(run: RunSpec, stages: Sequence[Any], threads: int | None, source: Path | None,
                 *after: Any) -> bool:
    if source is not None:
        prime_cache(run, [source], stages)
    return run_one(run, stages, threads)["ok"]


def _full_task(task: Callable, run: RunSpec, stages: Sequence[Any], threads: int | None,
               source: Path | None, *after: Any) -> dict[str, Any]:
    if source is not None:
        prime_cache(run, [source], stages)
    return task(run, stages, threads)


def _graph(runs, stages, threads, task, share: bool) -> list[Any]:
    """One delayed result per run (see the module docstring for the graph)."""
    import dask

    provider, length = plan_sharing(runs, stages) if share else ([None] * len(runs),
                                                                 [0] * len(runs))
    take = [0] * len(runs)  # K_j: longest prefix any run takes from j
    for i, p in enumerate(provider):
        if p is not None:
            take[p] = max(take[p], length[i])
    prefix: dict[int, Any] = {}

    def prefix_of(j: int) -> Any:
        if j not in prefix:
            p = provider[j]
            deps = [prefix_of(p)] if p is not None else []
            src = runs[p].run_dir if p is not None else None
            prefix[j] = dask.delayed(_prefix_task, pure=False)(
                runs[j], list(stages[:take[j]]), threads, src, *deps)
        return prefix[j]

    out = []
    for i, run in enumerate(runs):
        p = provider[i]
        deps = ([prefix_of(p)] if p is not None else []) + ([prefix_of(i)] if take[i] else [])
        src = runs[p].run_dir if p is not None else None
        out.append(dask.delayed(_full_task, pure=False)(task, run, list(stages), threads, src,
                                                        *deps))
    return out


@contextlib.contextmanager
def _scoped_threads(threads: int) -> Iterator[None]:
    """``SYNTHVEC_THREADS`` and native pools limited for the duration of a threaded batch."""
    old = os.environ.get("SYNTHVEC_THREADS")
    os.environ["SYNTHVEC_THREADS"] = str(threads)
    try:
        with limit_native_pools(threads):
            yield
    finally:
        if old is None:
            os.environ.pop("SYNTHVEC_THREADS", None)
        else:
            os.environ["SYNTHVEC_THREADS"] = old


def execute_runs(runs: Sequence[RunSpec], *, stages: Sequence[Any] | None = None,
                 scheduler: str | None = None, progress: bool = True,
                 task: Callable | None = None, share: bool = True) -> list[dict[str, Any]]:
    """Run ``runs`` as one Dask graph; one result dict per run, in order.

    Parameters
    ----------
    runs : sequence of RunSpec
        Distinct run directories. Earlier runs provide shared stages to later ones.
    stages : sequence of Stage, optional
        Pipeline stages (default :data:`synthvec.pipeline.STAGES`).
    scheduler : str, optional
        ``None`` (local processes; synchronous for a single run or a single
        core), ``"processes"``, ``"threads"``, ``"sync"``, or the address of a
        running dask.distributed scheduler (``tcp://host:8786``).
    progress : bool
        Progress bar on stderr.
    task : callable, optional
        ``task(run, stages, threads) -> dict`` as :func:`run_one` (default).
    share : bool
        Compute stages shared between runs once (see the module docstring).

    Raises
    ------
    InputError
        A scheduler address without dask.distributed installed, or one that
        cannot be reached.
    """
    import dask

    from .pipeline import STAGES

    stages = list(STAGES if stages is None else stages)
    task = task or run_one
    n = len(runs)
    if n == 0:
        return []
    total = n_threads()
    if scheduler is None:
        scheduler = "processes" if (n > 1 and total > 1) else "sync"
    if scheduler not in LOCAL_SCHEDULERS:
        return _execute_distributed(_graph(runs, stages, None, task, share), scheduler, progress)
    workers = max(1, min(total, n)) if scheduler != "sync" else 1
    per_run = max(1, total // workers)
    procs = scheduler == "processes"
    graph = _graph(runs, stages, per_run if procs else None, task, share)
    kwargs: dict[str, Any] = {"scheduler": "synchronous" if scheduler == "sync" else scheduler}
    if scheduler != "sync":
        kwargs["num_workers"] = workers
    with contextlib.ExitStack() as stack:
        if not procs:
            stack.enter_context(_scoped_threads(per_run))
        if progress:
            from dask.diagnostics import ProgressBar

            stack.enter_context(ProgressBar(minimum=1.0, dt=0.5, out=sys.stderr))
        return list(dask.compute(*graph, **kwargs))


def _execute_distributed(graph: list[Any], address: str, progress: bool) -> list[dict[str, Any]]:
    try:
        import distributed
    except ImportError:
        raise InputError(f"--scheduler {address}: dask.distributed is not installed "
                         "(pip install distributed); local schedulers: "
                         + ", ".join(LOCAL_SCHEDULERS)) from None
    try:
        client = distributed.Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError) as err:
        raise InputError(f"--scheduler {address}: cannot connect ({err})") from None
    with client:
        futures = client.compute(graph)
        if progress:
            distributed.progress(futures)
        return client.gather(futures)
