"""Scoring: matching, metric names, known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthvec.analysis import AnalysisConfig, analyze_field
from synthvec.io import field_dataset
from synthvec.scoring import METRICS, ScoreConfig, match_defects, score
from tests.test_analysis_helpers import add_noise, coulomb_field

STABLE = ["hedgehog_f1", "hedgehog_precision", "hedgehog_recall", "position_error_nm_mean",
          "gev_mu_error_nm_ha", "gev_mu_error_nm_hh", "gev_mu_error_nm_aa",
          "fsc_halfset_resolution_nm", "m_angular_error_deg_median", "virtual_agreement"]


def _field(charges, shape=(20, 24, 28), voxel=5.0):
    m = coulomb_field(shape, charges)
    m = m / np.linalg.norm(m, axis=0)
    return field_dataset(m, voxel_nm=voxel, mask=np.ones(shape, bool))


CH = [(5.5, 6.5, 5.5, 1), (12.5, 6.5, 5.5, -1), (20.5, 16.5, 12.5, 1), (8.5, 17.5, 13.5, -1)]
CFG = AnalysisConfig(gev_bootstrap=0, virtual=False)


def test_match_defects_same_sign_within_distance():
    t = pd.DataFrame({"x_nm": [0.0, 20.0, 40.0], "y_nm": [0.0] * 3, "z_nm": [0.0] * 3,
                      "charge": [1, -1, 1]})
    f = pd.DataFrame({"x_nm": [1.0, 21.0, 80.0, 39.0], "y_nm": [0.0] * 4, "z_nm": [0.0] * 4,
                      "charge": [1, 1, 1, -1]})
    mt = match_defects(t, f, max_distance_nm=5.0)
    assert mt[["true_index", "found_index"]].to_numpy().tolist() == [[0, 0]]


def test_perfect_reconstruction_scores_perfectly():
    truth = _field(CH)
    res = analyze_field(truth, CFG)
    tab = score(truth, res, truth, res, ScoreConfig())
    assert list(tab["metric"]) == list(METRICS)
    assert set(STABLE) <= set(tab["metric"])
    val = tab.set_index("metric")["value"]
    assert val["hedgehog_f1"] == 1.0 and val["n_defects_true"] == len(res.hedgehogs) >= 4
    assert val["position_error_nm_mean"] == 0.0
    assert val["m_angular_error_deg_median"] == pytest.approx(0.0, abs=1e-3)
    assert val["fsc_truth_resolution_nm"] == pytest.approx(10.0, rel=0.05)  # Nyquist at 5 nm


def test_shifted_and_noisy_reconstruction():
    truth = _field(CH)
    shifted = _field([(x + 1.0, y, z, q) for x, y, z, q in CH])  # every defect moved by 1 voxel
    rt, rs = analyze_field(truth, CFG), analyze_field(shifted, CFG)
    val = score(truth, rt, shifted, rs, ScoreConfig()).set_index("metric")["value"]
    assert val["hedgehog_f1"] == 1.0
    assert val["position_error_nm_mean"] == pytest.approx(5.0)
    val = score(truth, rt, shifted, rs, ScoreConfig(match_distance_vox=0.5)).set_index("metric")["value"]
    assert val["hedgehog_f1"] == 0.0  # beyond the match distance
    # angular error of a noisy copy: known from the noise level (~0.3 per component -> ~20 deg)
    noisy = truth.copy()
    noisy["m"] = (("comp", "z", "y", "x"),
                  add_noise(truth["m"].values.astype(float), 0.3, rng=np.random.default_rng(0)))
    val = score(truth, rt, noisy, analyze_field(noisy, CFG), ScoreConfig()).set_index("metric")["value"]
    rng = np.random.default_rng(1)
    u = np.array([0.0, 0.0, 1.0]) + 0.3 * rng.normal(size=(100000, 3))
    expected = np.median(np.degrees(np.arccos(u[:, 2] / np.linalg.norm(u, axis=1))))
    assert val["m_angular_error_deg_median"] == pytest.approx(expected, rel=0.05)


def test_halfsets_and_scalars():
    rng = np.random.default_rng(2)
    truth = _field(CH)
    res = analyze_field(truth, CFG)
    s = rng.normal(size=(20, 24, 28))
    val = score(truth, res, truth, res, ScoreConfig(), halfsets=(s, s),
                scalars=(s, 3.0 * s + 1.0)).set_index("metric")["value"]
    assert val["fsc_halfset_resolution_nm"] == pytest.approx(10.0, rel=0.05)
    assert val["scalar_nrmse"] == pytest.approx(0.0, abs=1e-9)
    val = score(truth, res, truth, res, ScoreConfig(),
                halfsets=(s, rng.normal(size=s.shape))).set_index("metric")["value"]
    assert val["fsc_halfset_resolution_nm"] > 30.0  # uncorrelated halves: far from Nyquist


def test_metric_table_documented():
    import synthvec.scoring.metrics as mod

    for name in METRICS:
        assert name in mod.__doc__
