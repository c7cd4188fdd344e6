"""Scoring figures: the matched / unmatched defect map and the FSC plot are written."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthvec.analysis import fsc
from synthvec.scoring import match_defects
from synthvec.scoring.plots import fsc_plot, match_map


def test_match_map_and_fsc_plot(tmp_path):
    true = pd.DataFrame({"x_nm": [0.0, 20.0], "y_nm": [0.0, 5.0], "z_nm": [0.0, 0.0],
                         "charge": [1, -1]})
    found = pd.DataFrame({"x_nm": [1.0, 40.0], "y_nm": [0.0, 5.0], "z_nm": [0.0, 0.0],
                          "charge": [1, -1]})
    matches = match_defects(true, found, max_distance_nm=10.0)
    assert list(matches["found_index"]) == [0]          # the anti-hedgehog is 20 nm off
    p = match_map(true, found, matches, tmp_path / "m.png")
    assert p.stat().st_size > 5000
    vol = np.random.default_rng(0).random((12, 12, 12))
    q = fsc_plot({"self": fsc(vol, vol, voxel_nm=5.0)}, tmp_path / "f.png")
    assert q.stat().st_size > 5000
