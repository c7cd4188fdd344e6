"""The analysis on the phantom engineer's quick-scenario truth (touching 60 nm spheres, 5 nm voxels)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

phantom = pytest.importorskip("synthvec.phantom")

# building the phantom and analysing it takes ~15 s alone, a minute on a loaded machine
pytestmark = pytest.mark.slow

from synthvec.analysis import AnalysisConfig, analyze_field, run_analyze, write_analysis  # noqa: E402
from synthvec.errors import InputError  # noqa: E402
from synthvec.io import write_netcdf  # noqa: E402
from tests.test_analysis_defects import _f1  # noqa: E402
from tests.test_analysis_helpers import add_noise  # noqa: E402


@pytest.fixture(scope="module")
def truth():
    rng = np.random.default_rng(0)
    ph = phantom.build_phantom(phantom.PhantomConfig(), rng=rng)
    truth, seeds = phantom.build_texture(ph, phantom.TextureConfig(), rng=rng)
    return truth, seeds


@pytest.fixture(scope="module")
def result(truth):
    return analyze_field(truth[0], AnalysisConfig(gev_bootstrap=20))


def test_truth_defects_match_the_realised_seeds(truth, result):
    realised, metrics = phantom.realised_defects(*truth)
    assert metrics["truth_defects_total"] >= 10
    found = result.hedgehogs
    assert len(found) == len(realised)
    a = realised[["x_nm", "y_nm", "z_nm"]].to_numpy()
    b = found[["x_nm", "y_nm", "z_nm"]].to_numpy()
    d = np.linalg.norm(a[:, None] - b[None], axis=2)
    same = realised["charge"].to_numpy()[:, None] == found["charge"].to_numpy()[None]
    assert np.all(np.min(np.where(same, d, np.inf), axis=1) <= 5.0 + 1e-9)
    # sites come from the phantom's labels
    assert set(found["site"]) <= {"octahedral", "tetrahedral", "between"}


def test_void_segmentation_ari_on_the_quick_phantom(result):
    assert result.void_ari >= 0.95
    v = result.virtual_hedgehogs
    assert v is not None and len(v) > 10
    assert set(v["charge"]) <= {-1, 0, 1}


def test_virtual_seeds_are_found_as_virtual_hedgehogs(truth, result):
    seeds = truth[1]
    virt = seeds[seeds["kind"] == "virtual"]
    v = result.virtual_hedgehogs
    for s in virt.itertuples():
        rows = v[v["true_void_id"] == s.void_id]
        assert len(rows) == 1
        assert rows["charge"].iloc[0] == s.charge  # |Q| >= 0.9 on the open surface, right sign


def test_noisy_truth_default_settings(truth, result):
    t = truth[0]
    mask = t["mask"].values
    noisy = t.copy()
    m = add_noise(np.where(mask, t["m"].values, 1.0), 0.3, rng=np.random.default_rng(3)) * mask
    noisy["m"] = (("comp", "z", "y", "x"), m.astype(np.float32))
    res = analyze_field(noisy, AnalysisConfig(virtual=False, gev_bootstrap=0))
    assert _f1(result.hedgehogs, res.hedgehogs) >= 0.95


def test_write_and_run_analyze(tmp_path, truth, result):
    files = write_analysis(result, tmp_path / "a")
    names = {p.name for p in files}
    assert {"hedgehogs.csv", "pairs.csv", "gev.csv", "virtual_hedgehogs.csv", "defect_map.png",
            "nn_histograms.png"} <= names
    h = pd.read_csv(tmp_path / "a" / "hedgehogs.csv")
    assert list(h.columns) == ["x_nm", "y_nm", "z_nm", "charge", "site"]
    # the CLI path: a plain field file (m + mask only) and a .npy array
    field = truth[0][["m", "mask"]]
    write_netcdf(field, tmp_path / "field.nc")
    res = run_analyze(tmp_path / "field.nc", tmp_path / "b", cfg=AnalysisConfig(gev_bootstrap=0),
                      figures=False)
    assert len(res.hedgehogs) == len(result.hedgehogs)
    assert res.virtual_hedgehogs is None  # voids unknown without labels
    assert set(res.hedgehogs["site"]) <= {"octahedral", "tetrahedral", "between"}
    np.save(tmp_path / "m.npy", truth[0]["m"].values)
    res = run_analyze(tmp_path / "m.npy", tmp_path / "c", voxel_nm=5.0,
                      cfg=AnalysisConfig(gev_bootstrap=0), figures=False)
    assert len(res.hedgehogs) == len(result.hedgehogs)
    with pytest.raises(InputError):
        run_analyze(tmp_path / "m.npy", tmp_path / "d")  # .npy needs voxel_nm
    with pytest.raises(InputError):
        run_analyze(tmp_path / "missing.nc", tmp_path / "d")
