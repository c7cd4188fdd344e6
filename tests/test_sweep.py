"""Sweeps: grid x seeds as Dask tasks, one tidy table, resume after a kill or a failure."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthvec.errors import ConfigError, InputError
from synthvec.pipeline.runner import Stage
from synthvec.sweep import SweepError, load_sweep, run_sweep

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "scenarios" / "smoke.toml"
TIMING = ("_wall_s", "_peak_rss_mb")


def _log(name: str, ctx) -> None:
    """Record a stage call (a file, so worker processes can report too)."""
    with open(os.environ["SWEEP_TEST_DIR"] + "/calls.log", "a") as fh:
        ph = ctx.scenario.phantom
        fh.write(f"{name} {ph.sphere_diameter_nm:g} {ctx.scenario.ptycho.iterations} "
                 f"{ctx.scenario.run.seed}\n")
    with open(os.environ["SWEEP_TEST_DIR"] + "/pids.log", "a") as fh:
        fh.write(f"{os.getpid()} {os.environ.get('SYNTHVEC_THREADS')}\n")


def _make(ctx):
    _log("make", ctx)
    x = ctx.rng.standard_normal(4) * ctx.scenario.phantom.sphere_diameter_nm
    np.save(ctx.out / "x.npy", x)
    return [("make_sum", float(x.sum()), "nm")]


def _use(ctx):
    _log("use", ctx)
    scn = ctx.scenario
    trigger = Path(os.environ["SWEEP_TEST_DIR"]) / "trigger"
    if (scn.phantom.sphere_diameter_nm == 70 and scn.ptycho.iterations == 7
            and trigger.exists()):
        kind = trigger.read_text()
        trigger.unlink()  # only the first time
        raise (KeyboardInterrupt() if kind == "kill" else RuntimeError("flux drop in dummy stage"))
    x = np.load(ctx.inputs["make"] / "x.npy")
    return [("use_value", float(x.sum() * scn.ptycho.iterations), "nm"),
            ("use_iterations", float(scn.ptycho.iterations), "1")]


STAGES = [
    Stage("make", _make, sections=("phantom",), modules=("synthvec.config",), random=True),
    Stage("use", _use, sections=("ptycho",), modules=("synthvec.config",), upstream=("make",)),
]


def _spec(tmp_path: Path, axes: str, seeds: str = "[0]", base: Path = SMOKE) -> Path:
    p = tmp_path / "sweep.toml"
    p.write_text(f'[sweep]\nbase = "{base}"\nseeds = {seeds}\n\n[axes]\n{axes}\n')
    return p


GRID = '"phantom.sphere_diameter_nm" = [60.0, 70.0]\n"ptycho.iterations" = [5, 7]\n'


@pytest.fixture
def calls(tmp_path, monkeypatch):
    d = tmp_path / "log"
    d.mkdir()
    monkeypatch.setenv("SWEEP_TEST_DIR", str(d))

    def read() -> list[str]:
        f = d / "calls.log"
        return f.read_text().splitlines() if f.exists() else []
    read.dir = d
    return read


def _stable(table: pd.DataFrame) -> pd.DataFrame:
    """The table without the timing values (which differ between executions)."""
    t = table.copy()
    timing = t["metric"].str.endswith(TIMING)
    t.loc[timing, "value"] = np.nan
    return t.reset_index(drop=True)


def test_table_is_tidy_and_values_follow_the_axes(tmp_path, calls):
    table = run_sweep(_spec(tmp_path, GRID), tmp_path / "out", scheduler="sync", stages=STAGES,
                      progress=False)
    assert list(table.columns) == ["run_id", "phantom.sphere_diameter_nm", "ptycho.iterations",
                                   "seed", "stage", "metric", "value", "unit"]
    assert table["run_id"].nunique() == 4
    # every run: 2 stages x (wall, peak) + make_sum + use_value + use_iterations; no *_cached rows
    assert (table.groupby("run_id").size() == 7).all()
    assert not table["metric"].str.endswith("_cached").any()
    # the axis values reached the stages: use_iterations echoes ptycho.iterations
    it = table[table["metric"] == "use_iterations"]
    assert (it["value"] == it["ptycho.iterations"]).all()
    # make_sum scales with the diameter (same seed -> same normal draws): 70/60 ratio
    ms = table[table["metric"] == "make_sum"].groupby("phantom.sphere_diameter_nm")["value"].first()
    assert ms[70.0] / ms[60.0] == pytest.approx(70 / 60)
    # one run directory per variant, named by its hash; the CSV round-trips
    runs = sorted(p.name for p in (tmp_path / "out/runs").iterdir())
    assert runs == sorted(table["run_id"].unique())
    csv = pd.read_csv(tmp_path / "out/results.csv")
    pd.testing.assert_frame_equal(csv, table, check_dtype=False)
    # each run directory holds its own variant
    from synthvec.scenario import load_scenario
    for rid, grp in table.groupby("run_id"):
        scn = load_scenario(tmp_path / "out/runs" / rid / "scenario.toml")
        assert scn.phantom.sphere_diameter_nm == grp["phantom.sphere_diameter_nm"].iloc[0]
        assert scn.ptycho.iterations == grp["ptycho.iterations"].iloc[0]


def test_shared_upstream_stages_are_computed_once(tmp_path, calls):
    table = run_sweep(_spec(tmp_path, GRID), tmp_path / "out", scheduler="sync", stages=STAGES,
                      progress=False)
    # "make" reads only the phantom section: one per diameter, shared by both iteration counts
    assert sorted(calls()) == sorted(["make 60 5 0", "make 70 5 0", "use 60 5 0", "use 60 7 0",
                                      "use 70 5 0", "use 70 7 0"])
    ms = table[table["metric"] == "make_sum"]
    for d, grp in ms.groupby("phantom.sphere_diameter_nm"):
        assert grp["value"].nunique() == 1  # the same data in both runs
    run_ids = table.loc[table["phantom.sphere_diameter_nm"] == 60, "run_id"].unique()
    a, b = (tmp_path / "out/runs" / r / "stages/make/x.npy" for r in run_ids)
    assert os.path.samefile(a, b)  # hard-linked, not recomputed nor copied
    # without sharing every run computes its own
    (calls.dir / "calls.log").unlink()
    from synthvec.batch import execute_runs
    from synthvec.sweep import load_sweep
    runs = load_sweep(_spec(tmp_path, GRID)).runs(tmp_path / "noshare")
    res = execute_runs(runs, stages=STAGES, scheduler="sync", progress=False, share=False)
    assert all(r["ok"] for r in res) and len(calls()) == 8


def test_seeds_change_random_stages_only(tmp_path, calls):
    spec = _spec(tmp_path, '"ptycho.iterations" = [5]', seeds="[0, 1]")
    table = run_sweep(spec, tmp_path / "out", scheduler="sync", stages=STAGES, progress=False)
    ms = table[table["metric"] == "make_sum"].set_index("seed")["value"]
    assert ms[0] != ms[1]
    assert table["run_id"].nunique() == 2


@pytest.mark.parametrize("kind", ["kill", "error"])
def test_interrupted_sweep_resumes_to_the_same_table(tmp_path, calls, kind):
    spec = _spec(tmp_path, GRID)
    reference = run_sweep(spec, tmp_path / "ref", scheduler="sync", stages=STAGES, progress=False)
    n_ref = len(calls())

    (calls.dir / "calls.log").unlink()
    (calls.dir / "trigger").write_text(kind)
    out = tmp_path / "out"
    expected = KeyboardInterrupt if kind == "kill" else SweepError
    with pytest.raises(expected) as exc:
        run_sweep(spec, out, scheduler="sync", stages=STAGES, progress=False)
    first = calls()
    if kind == "error":
        # the failing run is named; the other three runs finished and are in the table
        assert "flux drop" in str(exc.value) and exc.value.table["run_id"].nunique() == 3
        assert (out / "failures.log").exists()
    else:
        assert not (out / "results.csv").exists()  # a killed sweep writes no table
    assert "use 70 7 0" in first

    resumed = run_sweep(spec, out, scheduler="sync", stages=STAGES, progress=False)
    second = calls()[len(first):]
    # nothing that finished is computed again: only the interrupted stage and the runs the
    # kill stopped from starting
    finished = [c for c in first if c != "use 70 7 0"]
    assert "use 70 7 0" in second and not set(second) & set(finished)
    assert len(first) + len(second) == n_ref + 1
    if kind == "error":
        assert second == ["use 70 7 0"]
    pd.testing.assert_frame_equal(_stable(resumed), _stable(reference))
    assert not (out / "failures.log").exists()
    assert (pd.read_csv(out / "runs.csv")["status"] == "ok").all()


def test_threads_and_processes_schedulers_agree(tmp_path, calls, monkeypatch):
    spec = _spec(tmp_path, '"ptycho.iterations" = [5, 7]')
    monkeypatch.setenv("SYNTHVEC_THREADS", "2")
    monkeypatch.setenv("PYTHONPATH", str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    a = run_sweep(spec, tmp_path / "a", scheduler="sync", stages=STAGES, progress=False)
    b = run_sweep(spec, tmp_path / "b", scheduler="threads", stages=STAGES, progress=False)
    (calls.dir / "pids.log").unlink()
    c = run_sweep(spec, tmp_path / "c", stages=STAGES, progress=True)  # default: processes
    pids = [line.split() for line in (calls.dir / "pids.log").read_text().splitlines()]
    # the runs ran in worker processes, each limited to its share of the 2 threads
    assert all(int(pid) != os.getpid() and threads == "1" for pid, threads in pids)
    assert os.environ["SYNTHVEC_THREADS"] == "2"  # the threaded sweep restored it
    for t in (b, c):
        pd.testing.assert_frame_equal(_stable(t), _stable(a))
    # each sweep: one shared "make" (the axis only reaches "use"), two "use"
    assert sorted(calls()) == sorted(3 * ["make 60 5 0", "use 60 5 0", "use 60 7 0"])


@pytest.mark.parametrize("axes, fragment", [
    ('"simulate.dose_typo" = [1]', "simulate.dose_typo: unknown key"),
    ('"phantom.voxel_nm" = [-1.0]', "phantom.voxel_nm: must be > 0"),
    ('"phantom.voxel_nm" = []', "must be a non-empty list"),
    ('"nosuch.key" = [1]', "nosuch: unknown section"),
    ('"phantom" = [1]', "must be a dotted key"),
    ('"run.seed" = [1, 2]', "seeds are set by [sweep] seeds"),
    ('"ptycho.iterations" = [5, 5]', "same scenario"),
])
def test_bad_axes_name_the_file_and_key(tmp_path, axes, fragment):
    spec = _spec(tmp_path, axes)
    with pytest.raises(ConfigError) as exc:
        load_sweep(spec)
    assert fragment in str(exc.value) and str(spec) in str(exc.value)


def test_bad_sweep_files(tmp_path):
    with pytest.raises(InputError, match="no such sweep file"):
        load_sweep(tmp_path / "none.toml")
    with pytest.raises(InputError, match="no such base scenario file"):
        load_sweep(_spec(tmp_path, GRID, base=tmp_path / "missing.toml"))
    bad = tmp_path / "bad_base.toml"
    bad.write_text("[phantom]\nvoxel_nm = 0.0\n")
    with pytest.raises(ConfigError, match="bad_base.toml: phantom.voxel_nm"):
        load_sweep(_spec(tmp_path, GRID, base=bad))
    with pytest.raises(ConfigError, match="sweep.seeds"):
        load_sweep(_spec(tmp_path, GRID, seeds="[-1]"))


def test_relative_base_and_nested_axis_tables(tmp_path):
    (tmp_path / "scn").mkdir()
    (tmp_path / "scn/base.toml").write_text('[run]\nname = "b"\n')
    p = tmp_path / "s.toml"
    p.write_text('[sweep]\nbase = "scn/base.toml"\n[axes.ptycho]\niterations = [3, 4]\n')
    spec = load_sweep(p)
    assert list(spec.axes) == ["ptycho.iterations"] and spec.seeds == (0,)
    assert [r.scenario.ptycho.iterations for r in spec.runs(tmp_path)] == [3, 4]


def test_scheduler_address_without_distributed(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    with pytest.raises(InputError, match="tcp://127.0.0.1:1.*distributed is not installed"):
        run_sweep(_spec(tmp_path, GRID), tmp_path / "o", scheduler="tcp://127.0.0.1:1",
                  stages=STAGES, progress=False)


def test_parquet_beside_csv_when_pyarrow_is_installed(tmp_path, calls):
    pytest.importorskip("pyarrow")
    table = run_sweep(_spec(tmp_path, '"ptycho.iterations" = [5]'), tmp_path / "o",
                      scheduler="sync", stages=STAGES, progress=False)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "o/results.parquet"), table)


# --------------------------------------------------------------------------- zipped axes

TILT_RANGE = REPO / "scenarios" / "sweeps" / "tilt_range.toml"


def _zip_spec(tmp_path: Path, axes: str, zipped: str, seeds: str = "[0]") -> Path:
    p = tmp_path / "sweep.toml"
    p.write_text(f'[sweep]\nbase = "{SMOKE}"\nseeds = {seeds}\n\n[axes]\n{axes}\n\n'
                 f'[zip]\n{zipped}\n')
    return p


def test_zip_is_one_axis_of_the_product(tmp_path):
    spec = load_sweep(_zip_spec(
        tmp_path, '"ptycho.iterations" = [5, 7]',
        '"geometry.tilt_min_deg" = [-30.0, -45.0, -60.0]\n'
        '"geometry.tilt_max_deg" = [30.0, 45.0, 60.0]\n', seeds="[0, 1]"))
    assert spec.columns == ["ptycho.iterations", "geometry.tilt_min_deg", "geometry.tilt_max_deg"]
    runs = spec.runs(tmp_path)
    assert len(runs) == 2 * 3 * 2 and len({r.run_id for r in runs}) == 12
    got = [(r.scenario.ptycho.iterations, r.scenario.geometry.tilt_min_deg,
            r.scenario.geometry.tilt_max_deg, r.scenario.run.seed) for r in runs]
    # written out by hand: the plain axis slowest, then the zip point, then the seed
    want = [(it, -t, t, s) for it in (5, 7) for t in (30.0, 45.0, 60.0) for s in (0, 1)]
    assert got == want
    for r in runs:  # the labels carry every zipped key, as they carry the axis keys
        assert r.labels == {"ptycho.iterations": r.scenario.ptycho.iterations,
                            "geometry.tilt_min_deg": r.scenario.geometry.tilt_min_deg,
                            "geometry.tilt_max_deg": r.scenario.geometry.tilt_max_deg}


def test_zip_without_axes_and_pairs_valid_only_together(tmp_path):
    # smoke's base range is -60..60: tilt_min 65 alone (with max 60) is invalid, the pair is not
    p = tmp_path / "s.toml"
    p.write_text(f'[sweep]\nbase = "{SMOKE}"\n[zip.geometry]\ntilt_min_deg = [65.0, 70.0]\n'
                 'tilt_max_deg = [75.0, 80.0]\n')
    spec = load_sweep(p)
    assert spec.axes == {} and list(spec.zipped) == ["geometry.tilt_min_deg",
                                                     "geometry.tilt_max_deg"]
    assert [(r.scenario.geometry.tilt_min_deg, r.scenario.geometry.tilt_max_deg)
            for r in spec.runs(tmp_path)] == [(65.0, 75.0), (70.0, 80.0)]
    with pytest.raises(ConfigError, match="tilt_min_deg"):  # as plain axes: a product, invalid
        load_sweep(_spec(tmp_path, '"geometry.tilt_min_deg" = [65.0, 70.0]\n'
                                   '"geometry.tilt_max_deg" = [75.0, 80.0]\n'))


def test_zipped_keys_are_columns_of_the_table_and_the_runs_index(tmp_path, calls):
    spec = _zip_spec(tmp_path, '"run.name" = ["z"]',
                     '"phantom.sphere_diameter_nm" = [60.0, 70.0]\n"ptycho.iterations" = [5, 7]\n')
    table = run_sweep(spec, tmp_path / "out", scheduler="sync", stages=STAGES, progress=False)
    assert list(table.columns) == ["run_id", "run.name", "phantom.sphere_diameter_nm",
                                   "ptycho.iterations", "seed", "stage", "metric", "value", "unit"]
    assert table["run_id"].nunique() == 2
    # paired, not crossed: only (60, 5) and (70, 7) ran, and the stages saw those values
    assert sorted(calls()) == sorted(["make 60 5 0", "make 70 7 0", "use 60 5 0", "use 70 7 0"])
    it = table[table["metric"] == "use_iterations"]
    assert (it["value"] == it["ptycho.iterations"]).all()
    assert set(zip(it["phantom.sphere_diameter_nm"], it["ptycho.iterations"])) == {(60, 5), (70, 7)}
    index = pd.read_csv(tmp_path / "out/runs.csv")
    assert list(index.columns) == ["run_id", "run.name", "phantom.sphere_diameter_nm",
                                   "ptycho.iterations", "seed", "status", "error", "run_dir"]
    pairs = set(zip(index["phantom.sphere_diameter_nm"], index["ptycho.iterations"]))
    assert pairs == {(60, 5), (70, 7)}


@pytest.mark.parametrize("axes, zipped, fragment", [
    ("", '"geometry.tilt_min_deg" = [-30.0, -45.0]\n"geometry.tilt_max_deg" = [30.0, 45.0, 60.0]',
     "zip.geometry.tilt_max_deg: zipped lists must all have the same length "
     "(got zip.geometry.tilt_min_deg: 2, zip.geometry.tilt_max_deg: 3)"),
    ("", '"geometry.tilt_min_deg" = []', "zip.geometry.tilt_min_deg: must be a non-empty list"),
    ("", '"geometry.tilt_min_deg" = -30.0', "zip.geometry.tilt_min_deg: must be a non-empty list"),
    ('"ptycho.iterations" = [5, 7]', '"ptycho.iterations" = [3, 4]',
     "zip.ptycho.iterations: is also in [axes]"),
    ("", '"run.seed" = [1, 2]', "zip.run.seed: seeds are set by [sweep] seeds"),
    ("", '"geometry.tilt_min_deg" = [-30.0, -30.0]\n"geometry.tilt_max_deg" = [30.0, 30.0]',
     "zip: two grid points resolve to the same scenario"),
    ('"ptycho.iterations" = [5, 5]', '"geometry.tilt_min_deg" = [-30.0]',
     "axes.ptycho.iterations: two grid points resolve to the same scenario"),
    ("", '"geometry.tilt_min_deg" = [-30.0, 40.0]\n"geometry.tilt_max_deg" = [30.0, 35.0]',
     "geometry.tilt_max_deg: must be >= tilt_min_deg (40) (got 35) (zip point 1"),
    ("", '"geometry.tilt_typo" = [1.0]', "geometry.tilt_typo: unknown key"),
])
def test_bad_zips_name_the_file_and_key(tmp_path, axes, zipped, fragment):
    spec = _zip_spec(tmp_path, axes, zipped)
    with pytest.raises(ConfigError) as exc:
        load_sweep(spec)
    assert fragment in str(exc.value) and str(spec) in str(exc.value)


def test_zip_must_be_a_table(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(f'zip = [1, 2]\n[sweep]\nbase = "{SMOKE}"\n')
    with pytest.raises(ConfigError, match=r"s.toml: zip: must be a table"):
        load_sweep(p)


def test_tilt_range_sweep_is_three_symmetric_ranges():
    spec = load_sweep(TILT_RANGE)
    runs = spec.runs("out")
    assert len(runs) == 3 and spec.seeds == (0,)
    ranges = [(r.scenario.geometry.tilts_deg.min(), r.scenario.geometry.tilts_deg.max())
              for r in runs]
    assert ranges == [(-44.0, 44.0), (-62.0, 62.0), (-74.0, 74.0)]
    assert {r.scenario.run.name for r in runs} == {"tilt_range"}
    assert spec.columns == ["run.name", "ptycho.upsample", "ptycho.iterations",
                            "geometry.tilt_min_deg", "geometry.tilt_max_deg"]
    # the committed report's engine: plain rPIE, whatever high_dose.toml uses now
    assert {(r.scenario.ptycho.upsample, r.scenario.ptycho.iterations) for r in runs} == {(1, 20)}
