"""End to end: `synthvec run scenarios/smoke.toml` runs every stage, then serves them from the cache."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from synthvec.cli import main
from synthvec.io import read_netcdf
from synthvec.pipeline import stage_names

SMOKE = Path(__file__).resolve().parents[1] / "scenarios" / "smoke.toml"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    assert main(["run", str(SMOKE), "--out", str(out), "--quiet"]) == 0
    return out


def test_every_stage_finished(smoke_run):
    for name in stage_names():
        rec = json.loads((smoke_run / "stages" / name / "stage.json").read_text())
        assert rec["stage"] == name and rec["wall_s"] > 0
    flat = json.loads((smoke_run / "metrics.json").read_text())
    for key in ("hedgehog_f1", "fsc_halfset_resolution_nm", "m_angular_error_deg_median",
                "bad_frame_recall", "truth_seeds_realised", "ptycho_wall_s", "score_peak_rss_mb"):
        assert key in flat
    assert flat["truth_seeds_realised"] == flat["truth_seeds"] and flat["truth_unseeded_defects"] == 0
    assert (smoke_run / "report.html").stat().st_size > 1000
    assert (smoke_run / "metrics.csv").read_text().startswith("stage,metric,value,unit")


def test_cxi_files_written_and_readable(smoke_run):
    files = sorted((smoke_run / "stages" / "simulate" / "cxi").glob("*.cxi"))
    n_tilts = len(np.arange(-60, 61, 30))
    assert len(files) == 3 * n_tilts * 2
    with h5py.File(files[0], "r") as f:
        data = f["entry_1/data_1/data"]
        trans = f["entry_1/data_1/translation"]
        assert data.ndim == 3 and data.shape[0] == trans.shape[0]
        assert "convention" in f["entry_1/sample_1/geometry_1/translation"].attrs


def test_provenance_attrs(smoke_run):
    for path, stage in ((smoke_run / "truth.nc", "truth"),
                        (smoke_run / "reconstruction.nc", "vector"),
                        (smoke_run / "projections.nc", "ptycho")):
        attrs = read_netcdf(path).attrs
        assert attrs["stage"] == stage and attrs["seed"] == 1
        assert attrs["synthvec_version"] and attrs["scenario_hash"]


def test_second_run_is_served_from_cache(smoke_run, capsys):
    first = json.loads((smoke_run / "metrics.json").read_text())
    assert main(["run", str(SMOKE), "--out", str(smoke_run)]) == 0
    out = capsys.readouterr()
    assert "served from cache: " + ", ".join(stage_names()) in out.out
    again = json.loads((smoke_run / "metrics.json").read_text())
    assert all(again[f"{s}_cached"] == 1.0 for s in stage_names())
    assert again["hedgehog_f1"] == first["hedgehog_f1"]


def test_changed_inversion_setting_does_not_resimulate(smoke_run, tmp_path):
    text = SMOKE.read_text().replace("[tomo]\niterations = 10", "[tomo]\niterations = 6")
    assert text != SMOKE.read_text()
    changed = tmp_path / "smoke.toml"
    changed.write_text(text)
    assert main(["run", str(changed), "--out", str(smoke_run), "--quiet"]) == 0
    flat = json.loads((smoke_run / "metrics.json").read_text())
    for s in ("phantom", "truth", "simulate", "ptycho"):
        assert flat[f"{s}_cached"] == 1.0
    assert flat["tomo_cached"] == 0.0


def test_same_seed_byte_identical_truth(tmp_path):
    for d in ("a", "b"):
        assert main(["run", str(SMOKE), "--out", str(tmp_path / d), "--until", "truth",
                     "--quiet"]) == 0
    a, b = (read_netcdf(tmp_path / d / "truth.nc") for d in ("a", "b"))
    for name in ("m", "material", "site", "void_id", "mask"):
        assert a[name].values.tobytes() == b[name].values.tobytes()
