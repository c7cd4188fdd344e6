"""The scenario library (issue 7 item 1): every scenario and sweep file loads, says what question
it answers in a leading comment block, and is named after its file."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthvec.cli import main
from synthvec.scenario import load_scenario
from synthvec.sweep import load_sweep

ROOT = Path(__file__).resolve().parents[1] / "scenarios"
SCENARIOS = sorted(ROOT.glob("*.toml"))
SWEEPS = sorted((ROOT / "sweeps").glob("*.toml"))
LIBRARY = {"paper", "control_noise_free", "tilt_range_45", "tilt_range_75", "one_series",
           "high_tilt_defocus_off", "position_errors", "corrupt_frames_5pct", "quick", "smoke",
           "high_dose"}


def _leading_comments(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    head = []
    for line in lines:
        if not line.startswith("#"):
            break
        head.append(line.lstrip("# ").strip())
    return head


def test_library_is_complete():
    assert LIBRARY <= {p.stem for p in SCENARIOS}
    assert {"dose_ladder", "tilt_range", "corrupt_rate"} <= {p.stem for p in SWEEPS}


@pytest.mark.parametrize("path", SCENARIOS + SWEEPS, ids=lambda p: p.stem)
def test_leading_comment_block_states_the_question(path):
    head = _leading_comments(path)
    assert len(head) >= 2, f"{path.name}: needs a leading comment block"
    text = " ".join(head)
    # the block opens with the file's name and asks (or states) what the scenario is for
    assert head[0].startswith(path.stem), head[0]
    if path.stem != "quick":  # quick's block describes the defaults every other file overrides
        assert "?" in text, f"{path.name}: the block should ask its question: {text}"


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_loads_and_is_named_after_its_file(path, capsys):
    assert main(["show", str(path), "--bare"]) == 0
    assert f'name = "{path.stem}"' in capsys.readouterr().out
    assert load_scenario(path).run.name == path.stem


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_sweep_loads_and_names_its_runs_after_its_file(path):
    spec = load_sweep(path)
    runs = spec.runs("out")
    assert len(runs) >= 3
    assert {r.scenario.run.name for r in runs} == {path.stem}
    assert len({r.run_id for r in runs}) == len(runs)


def test_overrides_do_what_the_files_say():
    """Spot checks that the files change the intended keys relative to the defaults."""
    quick = load_scenario(None)
    t45 = load_scenario(ROOT / "tilt_range_45.toml").geometry
    t75 = load_scenario(ROOT / "tilt_range_75.toml").geometry
    assert (t45.tilts_deg.min(), t45.tilts_deg.max()) == (-44.0, 44.0)
    assert (t75.tilts_deg.min(), t75.tilts_deg.max()) == (-74.0, 74.0)
    assert t45.tilt_step_deg == t75.tilt_step_deg == quick.geometry.tilt_step_deg
    assert load_scenario(ROOT / "one_series.toml").geometry.phis_deg == (0.0,)
    ctl = load_scenario(ROOT / "control_noise_free.toml")
    assert ctl.phantom.supersample == 1 and ctl.simulate.oversample == 1
    d = ctl.simulate.detector
    assert d.corrupt_rate == 0 and d.background_counts == 0 and d.readout_noise_counts == 0
    assert d.flux_error == 0
    p = ctl.simulate.probe
    assert p.defocus_error_nm == 0 and p.astigmatism_rad == 0 and p.n_modes == 1
    assert ctl.simulate.scan.position_error_nm == 0 and ctl.simulate.errors.shift_nm == 0
    assert ctl.simulate.errors.angle_error_deg == 0
    hd = load_scenario(ROOT / "high_dose.toml")
    assert hd.simulate.detector.photons_per_frame == 100 * quick.simulate.detector.photons_per_frame
    assert hd.ptycho.position_refinement and hd.ptycho.subpixel_positions
    tilt_runs = load_sweep(ROOT / "sweeps" / "tilt_range.toml").runs("o")
    assert {r.scenario.simulate.detector.photons_per_frame for r in tilt_runs} == {1e8}
    assert sorted(r.scenario.geometry.tilt_max_deg for r in tilt_runs) == [44.0, 62.0, 74.0]
    # inversion untouched: the control differs from quick in the simulator only
    assert ctl.ptycho == quick.ptycho and ctl.tomo == quick.tomo and ctl.vector == quick.vector
    paper = load_scenario(ROOT / "paper.toml")
    assert paper.phantom.slab_thickness_nm == 150.0 and len(paper.geometry.tilts_deg) == 32
    assert len(paper.geometry.phis_deg) == 3 and paper.simulate.scan.step_nm == 40.0
    assert load_scenario(ROOT / "corrupt_frames_5pct.toml").simulate.detector.corrupt_rate == 0.05
