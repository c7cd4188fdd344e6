"""Stage cache: reuse, invalidation by config/upstream/seed, atomicity under failure."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from synthvec.pipeline.runner import Stage, run_pipeline, stage_rng
from synthvec.scenario import Scenario

CALLS: list[str] = []


def _first(ctx):
    CALLS.append("first")
    x = ctx.rng.standard_normal(4)
    np.save(ctx.out / "x.npy", x * ctx.scenario.phantom.sphere_diameter_nm)
    return [("first_sum", float(x.sum()), "1")]


def _second(ctx):
    CALLS.append("second")
    x = np.load(ctx.inputs["first"] / "x.npy")
    (ctx.out / "y.txt").write_text(str(x.sum() * ctx.scenario.ptycho.iterations))
    return [("second_value", float(x.sum() * ctx.scenario.ptycho.iterations), "1")]


def _boom(ctx):
    (ctx.out / "half.txt").write_text("partial")
    raise RuntimeError("killed mid-stage")


STAGES = [
    Stage("first", _first, sections=("phantom",), modules=("synthvec.config",), random=True,
          publish=("x.npy",)),
    Stage("second", _second, sections=("ptycho",), modules=("synthvec.config",), upstream=("first",)),
]


@pytest.fixture(autouse=True)
def _reset():
    CALLS.clear()


def test_rerun_is_served_from_cache(tmp_path):
    scn = Scenario()
    r1 = run_pipeline(scn, tmp_path, STAGES, quiet=True)
    assert r1.computed == ["first", "second"] and CALLS == ["first", "second"]
    r2 = run_pipeline(scn, tmp_path, STAGES, quiet=True)
    assert r2.cached == ["first", "second"] and CALLS == ["first", "second"]
    assert r1.flat()["second_value"] == r2.flat()["second_value"]
    flat = json.loads((tmp_path / "metrics.json").read_text())
    assert flat["first_cached"] == 1.0 and "first_wall_s" in flat and "first_peak_rss_mb" in flat
    assert (tmp_path / "x.npy").exists() and (tmp_path / "scenario.toml").exists()


def test_downstream_setting_does_not_rerun_upstream(tmp_path):
    scn = Scenario()
    run_pipeline(scn, tmp_path, STAGES, quiet=True)
    CALLS.clear()
    changed = dataclasses.replace(scn, ptycho=dataclasses.replace(scn.ptycho, iterations=7))
    r = run_pipeline(changed, tmp_path, STAGES, quiet=True)
    assert r.cached == ["first"] and r.computed == ["second"]
    assert float((tmp_path / "stages/second/y.txt").read_text()) == pytest.approx(
        np.load(tmp_path / "stages/first/x.npy").sum() * 7)


def test_upstream_change_reruns_downstream(tmp_path):
    scn = Scenario()
    run_pipeline(scn, tmp_path, STAGES, quiet=True)
    CALLS.clear()
    changed = dataclasses.replace(scn, run=dataclasses.replace(scn.run, seed=5))
    r = run_pipeline(changed, tmp_path, STAGES, quiet=True)
    assert r.computed == ["first", "second"]


def test_same_seed_same_bytes(tmp_path):
    run_pipeline(Scenario(), tmp_path / "a", STAGES, quiet=True)
    run_pipeline(Scenario(), tmp_path / "b", STAGES, quiet=True)
    assert (tmp_path / "a/stages/first/x.npy").read_bytes() == (tmp_path / "b/stages/first/x.npy").read_bytes()


def test_failed_stage_leaves_finished_ones_and_no_partial(tmp_path):
    stages = STAGES[:1] + [Stage("boom", _boom, sections=(), modules=("synthvec.config",),
                                 upstream=("first",))]
    with pytest.raises(RuntimeError):
        run_pipeline(Scenario(), tmp_path, stages, quiet=True)
    assert (tmp_path / "stages/first/stage.json").exists()
    leftovers = [p.name for p in (tmp_path / "stages").iterdir()]
    assert leftovers == ["first"]
    r = run_pipeline(Scenario(), tmp_path, STAGES, quiet=True)
    assert r.cached == ["first"]


def test_stage_folder_without_record_is_not_trusted(tmp_path):
    run_pipeline(Scenario(), tmp_path, STAGES, quiet=True)
    (tmp_path / "stages/second/stage.json").unlink()
    r = run_pipeline(Scenario(), tmp_path, STAGES, quiet=True)
    assert r.computed == ["second"]


def test_stage_streams_independent():
    a = stage_rng(3, "phantom").standard_normal(5)
    b = stage_rng(3, "truth").standard_normal(5)
    assert not np.allclose(a, b)
    assert np.array_equal(a, stage_rng(3, "phantom").standard_normal(5))
