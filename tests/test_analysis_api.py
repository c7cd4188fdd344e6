"""analyze_field / write_analysis on a synthetic void around a hedgehog (virtual hedgehog path)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthvec.analysis import AnalysisConfig, analyze_field, write_analysis
from synthvec.errors import InputError
from synthvec.io import field_dataset
from tests.test_analysis_helpers import coulomb_field


def _voided_field():
    shape = (26, 28, 40)
    z, y, x = np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij")
    c = (12.6, 13.2, 12.9)
    void = (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= 36
    # a virtual hedgehog in the void, and a real hedgehog / anti pair in the nickel
    m = coulomb_field(shape, [(*c, 1), (29.5, 8.5, 12.5, 1), (33.5, 19.5, 12.5, -1)])
    m = m / np.linalg.norm(m, axis=0)
    m[:, void] = 0
    ds = field_dataset(m, voxel_nm=5.0, mask=~void)
    ds["void_id"] = (("z", "y", "x"), np.where(void, 0, -1).astype(np.int32))
    return ds


def test_analyze_and_write_with_a_virtual_hedgehog(tmp_path):
    ds = _voided_field()
    res = analyze_field(ds, AnalysisConfig(gev_bootstrap=0), sphere_radius_nm=30.0)
    h = res.hedgehogs
    # the seeded pair (the Coulomb superposition also has a field zero between like charges)
    found = {(r.k, r.j, r.i): r.charge for r in h.itertuples()}
    assert found.get((12, 8, 29)) == 1 and found.get((12, 19, 33)) == -1
    v = res.virtual_hedgehogs
    assert len(v) == 1 and v["charge"].iloc[0] == 1 and abs(v["q"].iloc[0] - 1) < 0.05
    assert v["radius_nm"].iloc[0] == pytest.approx(30.0, rel=0.1)
    assert res.void_ari == 1.0 or np.isnan(res.void_ari)  # one void: ARI degenerate
    assert any("too few pairs" in n for n in res.notes)
    files = {p.name for p in write_analysis(res, tmp_path)}
    assert "stereographic_void0.png" in files and "virtual_hedgehogs.csv" in files
    back = pd.read_csv(tmp_path / "virtual_hedgehogs.csv")
    assert back["charge"].tolist() == [1]


def test_bad_field_is_input_error():
    ds = _voided_field().drop_vars("m")
    with pytest.raises(InputError):
        analyze_field(ds, AnalysisConfig())
