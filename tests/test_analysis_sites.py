"""Site labelling: from labels and from the void geometry of an fcc packing."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthvec.analysis.sites import site_table, sites_from_geometry, sites_from_labels
from tests.test_analysis_helpers import fcc_slab


def _cube_rows(points_xyz):
    """Defect rows (k, j, i) of the cubes whose centres are nearest the points (x, y, z)."""
    idx = [tuple(int(round(v - 0.5)) for v in p[::-1]) for p in points_xyz]
    return pd.DataFrame(idx, columns=["k", "j", "i"])


def test_fcc_holes_from_geometry():
    r = 6.0
    vid, mask, centres = fcc_slab((40, 48, 48), radius_vox=r, slab=(0, None))
    a = 2 * np.sqrt(2) * r
    off = np.array([0.3, 0.7, 0.2])
    octa = off + a * np.array([1.5, 1.5, 1.5])  # body centre of cell (1, 1, 1)
    tet = off + a * np.array([1.25, 1.25, 1.25])
    octa2 = off + a * np.array([1.5, 1.0, 1.0])  # edge midpoint
    rows = _cube_rows([octa, tet, octa2])
    # independent check of the geometry: hole radii 0.414 R and 0.225 R
    for p, expect in ((octa, 0.414), (tet, 0.225)):
        d = np.min(np.linalg.norm(centres - p, axis=1)) - r
        assert abs(d / r - expect) < 0.02
    got = sites_from_geometry(rows, mask, sphere_radius_vox=r)
    assert list(got) == ["octahedral", "tetrahedral", "octahedral"]


def test_sites_from_labels_majority_and_nearest():
    site = np.zeros((6, 6, 6), np.int8)
    site[1:3, 1:3, 1:3] = 1
    site[2, 2, 2] = 2
    site[4:, 4:, 4:] = 3
    rows = pd.DataFrame({"k": [1, 4, 0], "j": [1, 4, 4], "i": [1, 4, 0]})
    got = sites_from_labels(rows, site)
    assert list(got) == ["octahedral", "between", "unknown"]


def test_site_table_counts():
    d = pd.DataFrame({"charge": [1, -1, 1, 1], "site": ["octahedral", "octahedral", "between",
                                                         "tetrahedral"]})
    t = site_table(d)
    assert t.loc["octahedral"].tolist() == [1, 1, 2]
    assert t.loc["between"].tolist() == [1, 0, 1]
    assert t["total"].sum() == 4
