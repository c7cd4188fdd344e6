"""Bad-frame detection (paper fig. S2): known corrupt frames are found, and removal helps."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from synthvec.invert.ptycho import PtychoConfig, detect_bad_frames, detection_scores, reconstruct
from synthvec.invert.ptycho.badframes import gradient_magnitude, high_angle_map

from .test_ptycho_synth import dataset, nrmse


def corrupt(frames: np.ndarray, rng: np.random.Generator, n_bad: int):
    """Readout bands (+50-100 counts over 1/8-1/2 of the rows) or flux drops to 10-60 %."""
    out = frames.copy()
    n = frames.shape[1]
    idx = np.sort(rng.choice(len(out), n_bad, replace=False))
    for i in idx:
        if rng.random() < 0.5:
            out[i] = rng.poisson(frames[i] * rng.uniform(0.1, 0.6))
        else:
            length = int(rng.integers(n // 8, n // 2 + 1))
            s = int(rng.integers(0, n - length + 1))
            out[i, s:s + length] += 50 * (1 + rng.random((length, n)))
    return out, idx


def _scan(seed):
    return dataset(seed=seed, n_obj=96, n_pr=32, n_scan=17, step=4, noise=True)


def test_high_angle_map_counts_the_ring_only():
    frames = np.zeros((2, 8, 8))
    frames[0, 4, 4] = 100.0      # DC (centre): not high angle
    frames[1, 0, 0] = 7.0        # corner: high angle
    np.testing.assert_allclose(high_angle_map(frames, q_min=0.5), [0.0, 7.0])


@settings(max_examples=20, deadline=None)
@given(st.floats(-3, 3), st.floats(-3, 3), st.floats(-5, 5))
def test_gradient_magnitude_vanishes_on_planes(a, b, c):
    """A linear map has zero robust slope in the interior of a grid."""
    yy, xx = np.meshgrid(np.arange(7.0), np.arange(7.0), indexing="ij")
    pos = np.stack([yy.ravel(), xx.ravel()], 1)
    g, _ = gradient_magnitude(a * pos[:, 0] + b * pos[:, 1] + c, pos)
    interior = (pos.min(1) >= 1) & (pos.max(1) <= 5)
    assert np.all(g[interior] < 1e-9 * (1 + abs(a) + abs(b)))


def test_clean_scan_has_no_bad_frames():
    data, *_ = _scan(0)
    assert len(detect_bad_frames(data.frames, data.positions_px)) == 0


def test_precision_and_recall_at_one_percent():
    tp = n_det = n_true = 0
    for seed in range(6):
        data, *_ = _scan(seed)
        frames, idx = corrupt(data.frames, np.random.default_rng(100 + seed), 3)
        det = detect_bad_frames(frames, data.positions_px)
        s = detection_scores(det, idx)
        tp += s["true_positives"]
        n_det += len(det)
        n_true += len(idx)
    assert tp / n_det >= 0.9 and tp / n_true >= 0.9


def test_detection_scores_known_answer():
    s = detection_scores([1, 2, 3, 4], [2, 4, 9])
    assert s["precision"] == 0.5 and np.isclose(s["recall"], 2 / 3)
    assert detection_scores([], []) == {"precision": 1.0, "recall": 1.0, "true_positives": 0.0}


def test_removal_improves_reconstruction():
    data, obj, probe, _ = _scan(3)
    frames, idx = corrupt(data.frames, np.random.default_rng(7), 3)
    bad = dataclasses.replace(data, frames=frames)
    cfg = PtychoConfig(iterations=30)
    with_removal = reconstruct(bad, cfg)
    without = reconstruct(bad, dataclasses.replace(cfg, bad_frames="off"))
    assert set(with_removal.dropped_frames) == set(idx)
    interior = slice(24, 72)
    e_with = nrmse(with_removal.object, obj, interior, "complex")
    e_without = nrmse(without.object, obj, interior, "complex")
    assert e_with < 0.8 * e_without
