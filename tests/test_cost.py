"""Cost estimate of a scenario (synthvec.cost) and the refusal of `synthvec run`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import synthvec.pipeline
from synthvec.cli import main
from synthvec.cost import check_fits, estimate_cost, frames_per_scan
from synthvec.pipeline import run_scenario
from synthvec.scenario import load_scenario, parse_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
GIB = 2**30


@pytest.fixture
def no_runs(monkeypatch):
    """Make sure a refused command never starts the pipeline."""
    def boom(*a, **k):
        raise AssertionError("the pipeline was started")
    monkeypatch.setattr(synthvec.pipeline, "run_scenario", boom)


def test_untilted_square_raster_known_answer():
    # 400 nm square at 5 nm voxels, no margin, 40 nm steps: support pixel centres span
    # -200..200 nm, so the raster is 11 x 11 positions, all on the sample.
    scn = parse_scenario({"phantom": {"lateral_extent_nm": 400.0},
                          "simulate": {"scan": {"margin_nm": 0.0, "step_nm": 40.0}},
                          "geometry": {"phis_deg": [0.0], "tilt_min_deg": 0.0,
                                       "tilt_max_deg": 0.0}})
    assert frames_per_scan(scn, 0.0, 0.0) == 121
    est = estimate_cost(scn)
    assert est.n_scans == 2 and est.n_frames == 242
    assert est.detector_pixels == 64 * 64
    assert est.data_bytes == 242 * 64 * 64 * 4


def test_frames_symmetric_in_tilt_and_shrink_with_step():
    scn = load_scenario(None)
    for theta in (20.0, 44.0, 62.0):
        assert frames_per_scan(scn, 0.0, theta) == frames_per_scan(scn, 0.0, -theta)
    coarse = parse_scenario({"simulate": {"scan": {"step_nm": 80.0}}})
    assert frames_per_scan(coarse, 0.0, 0.0) < frames_per_scan(scn, 0.0, 0.0) / 2


def test_frame_count_matches_the_simulator_on_smoke(tmp_path):
    scn = load_scenario(SCENARIOS / "smoke.toml")
    res = run_scenario(scn, tmp_path / "run", quiet=True, until="simulate")
    scans = pd.read_csv(res.run_dir / "stages" / "simulate" / "scans.csv")
    est = estimate_cost(scn)
    assert est.n_scans == len(scans)
    assert abs(est.n_frames - scans["n_frames"].sum()) <= 0.1 * scans["n_frames"].sum()


def test_paper_is_refused_where_it_does_not_fit():
    est = estimate_cost(load_scenario(SCENARIOS / "paper.toml"))
    assert est.n_scans == 192
    assert abs(est.n_frames - 796_485) < 0.02 * 796_485      # the paper's pattern count
    assert est.data_bytes > 10 * GIB
    reason = check_fits(est, memory_bytes=8 * GIB)
    assert reason is not None and "memory" in reason
    reason = check_fits(est, memory_bytes=10**15, disk_bytes=GIB)
    assert reason is not None and "disk" in reason
    reason = check_fits(est, memory_bytes=10**15, disk_bytes=10**15, max_seconds=3600)
    assert reason is not None and "2 cores" in reason


def test_until_leaves_out_later_stages():
    scn = load_scenario(SCENARIOS / "paper.toml")
    full, first = estimate_cost(scn), estimate_cost(scn, until="truth")
    assert set(first.stage_seconds) == {"phantom", "truth"}
    assert first.cpu_seconds < full.cpu_seconds and first.n_frames == full.n_frames
    assert first.peak_stage == "truth"


def test_quick_fits_this_machine():
    est = estimate_cost(load_scenario(None))
    assert est.peak_bytes < 4 * GIB                            # issue 8: <= 4 GB
    assert check_fits(est, max_seconds=2 * 3600) is None
    assert est.n_scans == 192


def test_run_refuses_paper_in_one_line(no_runs, tmp_path, capsys):
    code = main(["run", str(SCENARIOS / "paper.toml"), "--out", str(tmp_path / "p")])
    assert code == 2
    out, err = capsys.readouterr()
    assert "cost estimate:" in out
    frames = int(out.split(" frames")[0].split()[-1].replace(",", ""))
    assert abs(frames - 796_485) < 0.02 * 796_485      # the paper's pattern count
    assert len(err.strip().splitlines()) == 1 and "--allow-large" in err


def test_allow_large_overrides_the_refusal(tmp_path, capsys):
    args = ["run", str(SCENARIOS / "smoke.toml"), "--out", str(tmp_path / "s"), "--until",
            "phantom", "--max-hours", "1e-9"]
    assert main(args) == 2
    assert "on 2 cores, more than the limit" in capsys.readouterr().err
    assert main(args + ["--allow-large", "--quiet"]) == 0
    assert (tmp_path / "s" / "stages" / "phantom").is_dir()


def test_time_model_covers_every_pipeline_stage():
    from synthvec.cost import TIME_MODEL
    from synthvec.pipeline import stage_names

    assert list(TIME_MODEL) == stage_names()
