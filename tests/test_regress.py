"""Regression suite: pass on baselines the code reaches, fail naming metric and scenario."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from synthvec.errors import ConfigError, InputError
from synthvec.pipeline.runner import Stage
from synthvec.regress import _passes, load_suite, read_baselines, run_regress

REPO = Path(__file__).resolve().parents[1]


def _score(ctx):
    """Dummy scoring stage with known answers: f1 = 0.75, error = diameter / 10, count = 3."""
    d = ctx.scenario.phantom.sphere_diameter_nm
    return [("score_f1", 0.75, "1"), ("score_position_error_nm", d / 10, "nm"),
            ("score_n_matched", 3.0, "1")]


STAGES = [Stage("score", _score, sections=("phantom",), modules=("synthvec.config",))]


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "validation"
    r.mkdir()
    (tmp_path / "scn").mkdir()
    (tmp_path / "scn/a.toml").write_text('[run]\nname = "alpha"\n[phantom]\nsphere_diameter_nm = 60.0\n')
    (tmp_path / "scn/b.toml").write_text('[run]\nname = "beta"\n[phantom]\nsphere_diameter_nm = 70.0\n')
    (r / "mini.toml").write_text('[suite]\nscenarios = ["../scn/a.toml", "../scn/b.toml"]\n'
                                 'seeds = [1, 2]\n')
    return r


def _regress(root, **kw):
    return run_regress("mini", root=root, stages=STAGES, work_dir=root.parent / "runs", **kw)


def _write(root, rows):
    pd.DataFrame(rows, columns=["scenario", "seed", "metric", "baseline", "tolerance",
                                "direction"]).to_csv(root / "mini_baselines.csv", index=False)


REACHED = [("alpha", 1, "score_f1", 0.70, 0.0, "higher"),
           ("alpha", 1, "score_position_error_nm", 6.5, 0.0, "lower"),
           ("beta", 2, "score_position_error_nm", 7.0, 0.01, "equal"),
           ("beta", 2, "score_n_matched", 3.0, 0.0, "equal")]


def test_passes_on_baselines_the_code_reaches(root):
    _write(root, REACHED)
    code, table = _regress(root)
    assert code == 0
    assert len(table) == 4 and (table["status"] == "pass").all()
    beta = table[(table["scenario"] == "beta") & (table["metric"] == "score_position_error_nm")]
    assert beta["value"].item() == pytest.approx(7.0)


@pytest.mark.parametrize("row", [
    ("alpha", 1, "score_f1", 0.80, 0.04, "higher"),          # needs 0.76, reaches 0.75
    ("beta", 2, "score_position_error_nm", 6.5, 0.4, "lower"),  # needs <= 6.9, reaches 7.0
    ("beta", 1, "score_n_matched", 4.0, 0.5, "equal"),        # needs 3.5..4.5, reaches 3
])
def test_tightened_baseline_fails_naming_metric_and_scenario(root, row):
    _write(root, [r for r in REACHED if r[:3] != row[:3]] + [row])
    code, table = _regress(root)
    assert code == 1
    bad = table[table["status"] == "FAIL"]
    assert len(bad) == 1
    assert (bad["scenario"].item(), bad["seed"].item(), bad["metric"].item()) == row[:3]
    text = table.to_string(index=False)  # what the CLI prints
    assert row[0] in text and row[2] in text and "FAIL" in text
    assert table.iloc[0]["status"] == "FAIL"  # failures listed first


def test_missing_metric_is_a_failure(root):
    _write(root, REACHED + [("alpha", 2, "score_gone", 1.0, 0.1, "equal")])
    code, table = _regress(root)
    assert code == 1
    assert table.set_index("metric").loc["score_gone", "status"] == "missing"


def test_update_writes_current_values_and_keeps_tolerances(root):
    code, table = _regress(root, update_baselines=True)  # creates the CSV: one command
    assert code == 0 and (table["status"] == "updated").all()
    base = read_baselines(root / "mini_baselines.csv")
    # every metric of every scenario x seed, but no machine-dependent timing or memory
    assert len(base) == 2 * 2 * 3
    assert not base["metric"].str.contains("wall_s|rss|cached").any()
    rules = base.set_index(["scenario", "seed", "metric"])
    assert rules.loc[("alpha", 1, "score_f1"), "direction"] == "higher"
    assert rules.loc[("beta", 1, "score_position_error_nm"), "direction"] == "lower"
    assert rules.loc[("beta", 1, "score_position_error_nm"), "baseline"] == pytest.approx(7.0)
    assert _regress(root)[0] == 0

    # hand-edited tolerance/direction survive an update; the baseline follows the code
    base.loc[base["metric"] == "score_f1", ["baseline", "tolerance", "direction"]] = [0.1, 0.2,
                                                                                    "equal"]
    base.to_csv(root / "mini_baselines.csv", index=False)
    assert _regress(root)[0] == 1
    _regress(root, update_baselines=True)
    again = read_baselines(root / "mini_baselines.csv").set_index(["scenario", "seed", "metric"])
    f1 = again.loc[("alpha", 2, "score_f1")]
    assert (f1["baseline"], f1["tolerance"], f1["direction"]) == (0.75, 0.2, "equal")
    assert _regress(root)[0] == 0


def test_second_check_is_served_from_the_cache(root):
    _write(root, REACHED)
    _regress(root)
    runs = sorted(p.name for p in (root.parent / "runs").iterdir())
    assert runs == ["alpha-seed1", "alpha-seed2", "beta-seed1", "beta-seed2"]
    records = sorted((root.parent / "runs").glob("*/stages/score/stage.json"))
    before = [r.read_text() for r in records]
    _regress(root)
    assert [r.read_text() for r in records] == before  # nothing recomputed
    for rid in runs:
        cached = pd.read_csv(root.parent / "runs" / rid / "metrics.csv").set_index("metric")
        assert cached.loc["score_cached", "value"] == 1.0


@pytest.mark.parametrize("value, baseline, tol, direction, ok", [
    (1.0, 1.0, 0.0, "equal", True), (1.1, 1.0, 0.05, "equal", False),
    (0.9, 1.0, 0.1, "higher", True), (0.89, 1.0, 0.1, "higher", False), (5.0, 1.0, 0.0, "higher", True),
    (1.1, 1.0, 0.1, "lower", True), (1.2, 1.0, 0.1, "lower", False), (-5.0, 1.0, 0.0, "lower", True),
    (float("nan"), 1.0, 1.0, "equal", False), (float("nan"), float("nan"), 0.0, "equal", True),
    (1.0, float("nan"), 0.0, "higher", False),
])
def test_pass_rule(value, baseline, tol, direction, ok):
    assert _passes(value, baseline, tol, direction) is ok


def test_errors_name_file_and_fix(root):
    with pytest.raises(InputError, match="--update-baselines"):
        _regress(root)
    with pytest.raises(InputError, match="no suite file .*suites: mini"):
        run_regress("nosuch", root=root, stages=STAGES)
    _write(root, [("alpha", 1, "score_f1", 0.7, 0.0, "bigger")])
    with pytest.raises(InputError, match=r"mini_baselines.csv: row 1: direction must be one of "
                                         "higher, lower, equal"):
        _regress(root)
    _write(root, [("alpha", 1, "score_f1", 0.7, -1.0, "higher")])
    with pytest.raises(InputError, match="row 1: tolerance must be >= 0"):
        _regress(root)
    (root / "mini_baselines.csv").write_text("scenario,seed,metric\nalpha,1,x\n")
    with pytest.raises(InputError, match="missing column.*baseline"):
        _regress(root)
    (root / "bad.toml").write_text('[suite]\nscenarios = ["../scn/a.toml", "../scn/a.toml"]\n')
    with pytest.raises(ConfigError, match="bad.toml: suite.scenarios: scenario names"):
        load_suite("bad", root)


def test_shipped_smoke_suite():
    s = load_suite("smoke", REPO / "validation")
    assert [x.run.name for x in s.scenarios] == ["smoke"] and s.seeds == (1,)
    assert s.baselines == REPO / "validation" / "smoke_baselines.csv"
    assert [r.scenario.run.seed for r in s.runs(Path("w"))] == [1]


def _crash(ctx):
    raise RuntimeError("stage crashed (dummy)")


def test_crashing_run_is_a_regression_and_never_a_baseline(root, capsys):
    _write(root, REACHED)
    before = (root / "mini_baselines.csv").read_text()
    crash = STAGES + [Stage("crash", _crash, sections=(), modules=("synthvec.config",))]
    for update in (False, True):
        code, table = run_regress("mini", root=root, stages=crash, work_dir=root.parent / "runs",
                                  update_baselines=update)
        assert code == 1 and set(table["status"]) == {"error"} and len(table) == 4
        assert table["note"].str.contains("stage crashed").all()
    assert (root / "mini_baselines.csv").read_text() == before
    assert "stage crashed (dummy)" in capsys.readouterr().err
