"""Run a scenario stage by stage, reusing finished stages from the cache."""

from __future__ import annotations

import json
import math
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..config import section_to_dict
from ..io import atomic_path, provenance
from ..scenario import Scenario, scenario_hash, scenario_to_toml
from .cache import StageStore, source_hash, stage_key
from .monitor import Monitor

Metric = tuple[str, float, str]  # (metric, value, unit)

__all__ = ["Stage", "StageContext", "RunResult", "run_pipeline", "stage_keys", "stage_rng", "Metric"]


def stage_rng(seed: int, stage: str) -> np.random.Generator:
    """The random stream of one stage: independent of every other stage's draws."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(zlib.crc32(stage.encode()),)))


@dataclass
class StageContext:
    """What a stage function gets: the scenario, its upstream folders and an output folder."""

    scenario: Scenario
    out: Path
    inputs: dict[str, Path]
    rng: np.random.Generator | None
    scenario_hash: str
    stage: str

    def attrs(self, method: str = "") -> dict:
        """Provenance attrs for this stage's NetCDF outputs."""
        return provenance(stage=self.stage, method=method, seed=self.scenario.run.seed,
                          scenario_hash=self.scenario_hash)


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: a function of the scenario sections and upstream results.

    ``run(ctx) -> list[Metric]`` writes its files into ``ctx.out``.
    """

    name: str
    run: Callable[[StageContext], list[Metric]]
    sections: tuple[str, ...]
    modules: tuple[str, ...]
    upstream: tuple[str, ...] = ()
    random: bool = False
    publish: tuple[str, ...] = ()
    description: str = ""


@dataclass
class RunResult:
    """Outcome of :func:`run_pipeline`."""

    run_dir: Path
    metrics: pd.DataFrame  # stage, metric, value, unit
    cached: list[str] = field(default_factory=list)
    computed: list[str] = field(default_factory=list)

    def flat(self) -> dict[str, float]:
        return {r.metric: r.value for r in self.metrics.itertuples()}


def _section_config(scn: Scenario, sections: Sequence[str]) -> dict:
    out = {}
    for name in sections:
        obj = scn
        for part in name.split("."):
            obj = getattr(obj, part)
        out[name] = section_to_dict(obj) if hasattr(obj, "__dataclass_fields__") else obj
    return out


def stage_keys(scn: Scenario, stages: Sequence[Stage], *,
               code: dict[tuple[str, ...], str] | None = None) -> dict[str, str]:
    """The cache key of every stage for ``scn`` (stage name -> key), in pipeline order.

    ``code`` memoises source hashes across calls (module tuple -> hash).
    """
    code = {} if code is None else code
    keys: dict[str, str] = {}
    for st in stages:
        if st.modules not in code:
            code[st.modules] = source_hash(st.modules)
        keys[st.name] = stage_key(st.name, code=code[st.modules],
                                  config=_section_config(scn, st.sections),
                                  upstream={u: keys[u] for u in st.upstream},
                                  seed=scn.run.seed if st.random else None)
    return keys


def run_pipeline(scn: Scenario, run_dir: str | Path, stages: Sequence[Stage], *,
                 force: bool = False, quiet: bool = False,
                 log: Callable[[str], None] | None = None) -> RunResult:
    """Run ``stages`` in order for scenario ``scn`` in ``run_dir``.

    Finished stages whose key is unchanged are served from ``run_dir/stages``;
    ``force`` recomputes everything. Writes ``scenario.toml``,
    ``metrics.json`` (name -> number) and ``metrics.csv`` (stage, metric,
    value, unit), including wall time, peak memory and cache use per stage.
    """
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if quiet:
        say = lambda msg: None  # noqa: E731
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    store = StageStore(run_dir)
    store.clean_partial()
    shash = scenario_hash(scn)
    with atomic_path(run_dir / "scenario.toml") as tmp:
        tmp.write_text(scenario_to_toml(scn))

    keys = stage_keys(scn, stages)
    rows: list[dict] = []
    result = RunResult(run_dir=run_dir, metrics=pd.DataFrame())
    for i, st in enumerate(stages, 1):
        key = keys[st.name]
        rec = None if force else store.lookup(st.name, key)
        head = f"[{i}/{len(stages)}] {st.name:<15}"
        if rec is not None:
            result.cached.append(st.name)
            say(f"{head} cached ({rec['wall_s']:.1f} s when computed)")
        else:
            say(f"{head} running ...")
            tmp = store.begin(st.name)
            ctx = StageContext(scenario=scn, out=tmp, inputs={u: store.path(u) for u in st.upstream},
                               rng=stage_rng(scn.run.seed, st.name) if st.random else None,
                               scenario_hash=shash, stage=st.name)
            try:
                with Monitor() as mon:
                    metrics = st.run(ctx)
            except BaseException:
                store.abandon(tmp)
                raise
            rec = {"key": key, "stage": st.name, "wall_s": mon.wall_s, "peak_rss_mb": mon.peak_mb,
                   "metrics": [list(m) for m in metrics]}
            store.commit(st.name, tmp, rec)
            result.computed.append(st.name)
            say(f"{head} done in {mon.wall_s:.1f} s (peak {mon.peak_mb:.0f} MiB)")
        store.publish(st.name, st.publish)
        rows.append({"stage": st.name, "metric": f"{st.name}_wall_s", "value": rec["wall_s"],
                     "unit": "s"})
        rows.append({"stage": st.name, "metric": f"{st.name}_peak_rss_mb",
                     "value": rec["peak_rss_mb"], "unit": "MiB"})
        rows.append({"stage": st.name, "metric": f"{st.name}_cached",
                     "value": float(st.name in result.cached), "unit": "1"})
        for metric, value, unit in rec["metrics"]:
            rows.append({"stage": st.name, "metric": metric, "value": float(value), "unit": unit})

    table = pd.DataFrame(rows, columns=["stage", "metric", "value", "unit"])
    result.metrics = table
    flat = {r.metric: (None if not math.isfinite(r.value) else r.value) for r in table.itertuples()}
    with atomic_path(run_dir / "metrics.json") as tmp:
        tmp.write_text(json.dumps(flat, indent=1))
    with atomic_path(run_dir / "metrics.csv") as tmp:
        table.to_csv(tmp, index=False)
    return result
