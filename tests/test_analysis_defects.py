"""Defect finding: known answers, traps (core on a node, antiparallel neighbours, voids), noise."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from synthvec.analysis.charges import emergent_field, hedgehog_density, lattice_charge
from synthvec.analysis.config import AnalysisConfig
from synthvec.analysis.defects import find_defects
from tests.test_analysis_helpers import add_noise, coulomb_field, random_charges


def _f1(true, found, tol=2.0):
    """Independent matcher: Hungarian on cube-index distance, same sign, within tol."""
    if len(true) == 0 or len(found) == 0:
        return 0.0
    a = true[["i", "j", "k"]].to_numpy(float)
    b = found[["i", "j", "k"]].to_numpy(float)
    d = np.linalg.norm(a[:, None] - b[None], axis=2)
    d[true["charge"].to_numpy()[:, None] != found["charge"].to_numpy()[None]] = 1e9
    r, c = linear_sum_assignment(d)
    tp = int(np.sum(d[r, c] <= tol))
    p, rc = tp / len(found), tp / len(true)
    return 2 * p * rc / (p + rc) if tp else 0.0


def test_single_hedgehog_found_at_its_cube_with_nm_coords():
    m = coulomb_field((10, 11, 12), [(5.5, 4.5, 3.5, 1)])
    coords = tuple(np.arange(n) * 5.0 for n in (10, 11, 12))
    res = find_defects(m, coords=coords)
    assert len(res.defects) == 1
    row = res.defects.iloc[0]
    assert row.charge == 1 and (row.k, row.j, row.i) == (3, 4, 5)
    assert (row.x_nm, row.y_nm, row.z_nm) == (27.5, 22.5, 17.5)


def test_anti_hedgehog_minus_one():
    res = find_defects(coulomb_field((10, 10, 10), [(4.5, 4.5, 4.5, -1)]))
    assert res.defects["charge"].tolist() == [-1]


def test_pair_two_voxels_apart_found_individually():
    # paper fig. S4 C-E: a pair 10 nm apart at 5 nm voxels: +1 and -1, 0 together
    m = coulomb_field((10, 10, 12), [(4.5, 4.5, 4.5, 1), (6.5, 4.5, 4.5, -1)])
    res = find_defects(m, sigma_vox=0)
    d = res.defects.sort_values("i")
    assert d["charge"].tolist() == [1, -1]
    assert d["i"].tolist() == [4, 6]
    assert np.nansum(lattice_charge(m)) == 0.0


def test_skyrmion_tube_has_no_defect():
    shape = (16, 24, 24)
    z, y, x = np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij")
    rho = np.hypot(x - 11.7, y - 12.2)
    theta = np.pi * np.exp(-(rho / 5.0) ** 2)  # down at the core, up outside
    phi = np.arctan2(y - 12.2, x - 11.7) + np.pi / 2  # Bloch-type
    m = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)])
    # the tube carries skyrmion number -1 per xy plane, but no Bloch point
    q = lattice_charge(m)
    assert np.all(q == 0)
    assert len(find_defects(m).defects) == 0


def test_void_in_mask_creates_no_spurious_defect():
    shape = (20, 20, 20)
    z, y, x = np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij")
    void = (x - 9.7) ** 2 + (y - 10.2) ** 2 + (z - 9.9) ** 2 < 5.0 ** 2
    # a hedgehog centred in the void (a virtual hedgehog, not a defect) plus a smooth swirl
    m = coulomb_field(shape, [(9.7, 10.2, 9.9, 1)])
    m = m / np.linalg.norm(m, axis=0)
    m[:, void] = 0.0
    res = find_defects(m, mask=~void)
    assert len(res.defects) == 0


def test_core_exactly_on_a_grid_node():
    shape = (10, 10, 10)
    m = coulomb_field(shape, [(4.0, 5.0, 4.0, 1)])  # node (z=4, y=5, x=4)
    m[:, 4, 5, 4] = 0.0  # |m| = 0 at the core node: its 8 cubes are not evaluable
    q = lattice_charge(m)
    assert np.count_nonzero(np.isnan(q)) == 8
    for sigma in (0.0, 1.0):
        res = find_defects(m, sigma_vox=sigma)
        assert res.defects["charge"].tolist() == [1]
        row = res.defects.iloc[0]
        assert max(abs(row.k + 0.5 - 4), abs(row.j + 0.5 - 5), abs(row.i + 0.5 - 4)) <= 0.5
    # with some direction at the node, the charge sits in one of the 8 cubes
    m[:, 4, 5, 4] = (0.3, -0.2, 0.9)
    q = lattice_charge(m)
    assert np.nansum(q[3:5, 4:6, 3:5]) == 1.0 and np.count_nonzero(q) == 1
    assert find_defects(m, sigma_vox=0).defects["charge"].tolist() == [1]


def test_antiparallel_neighbours_no_false_defect():
    z, y, x = np.meshgrid(*(np.arange(9.0),) * 3, indexing="ij")
    a = 0.3 * x + 0.2 * y
    m = np.stack([np.sin(a) * np.cos(0.1 * z), np.sin(a) * np.sin(0.1 * z), np.cos(a)])
    m[:, 4, 4, 4] = -m[:, 4, 4, 5]  # exactly antiparallel to its +x neighbour
    q = lattice_charge(m)
    frac = q[q % 1 != 0]
    assert len(frac) > 0  # fractional charges next to the antiparallel face ...
    assert np.sum(frac) == pytest.approx(0.0, abs=1e-5)  # ... that cancel in pairs
    assert np.nansum(q) == pytest.approx(round(np.nansum(q)), abs=1e-5)
    res = find_defects(m, sigma_vox=0)
    assert len(res.defects) == 0
    assert res.n_degenerate_faces > 0


def test_surface_outside_material_is_skipped_and_reported():
    shape = (12, 12, 12)
    m = coulomb_field(shape, [(5.5, 5.5, 5.5, 1)])
    mask = np.ones(shape, bool)
    mask[4, 7, 5] = False  # a non-magnetic node on the box surface around cube (5, 5, 5) ...
    res = find_defects(m, mask=mask, sigma_vox=0)
    assert res.defects["charge"].tolist() == [1]  # ... the one-voxel corner surfaces still fit
    mask[4] = False  # nickel only in 5 <= z <= 6 ...
    mask[7] = False
    res = find_defects(m, mask=mask, sigma_vox=0, min_surface="voxel")
    assert len(res.defects) == 0  # ... too thin for any one-voxel surface around the cube
    assert res.skip_counts()["outside_material"] >= 1
    res = find_defects(m, mask=mask, sigma_vox=0)  # default: the cube's own surface is allowed
    assert res.defects["charge"].tolist() == [1] and res.defects["surface"].tolist() == ["cube"]


def test_noise_f1_default_smoothing():
    cfg = AnalysisConfig()
    f1s = []
    for seed in range(2):
        rng = np.random.default_rng(seed)
        ch = random_charges((64, 64, 64), 16, rng=rng)
        m = coulomb_field((64, 64, 64), ch)
        truth = find_defects(m, sigma_vox=0).defects
        # every seeded charge is in the truth table
        seeded = {(int(c[2]), int(c[1]), int(c[0])): c[3] for c in ch}
        found = {(r.k, r.j, r.i): r.charge for r in truth.itertuples()}
        assert all(found.get(k) == v for k, v in seeded.items())
        assert len(truth) >= 10
        noisy = add_noise(m, 0.3, rng=rng)
        f1s.append(_f1(truth, find_defects(noisy, sigma_vox=cfg.smooth_sigma_vox).defects))
    assert min(f1s) >= 0.95


def test_stronger_noise_needs_more_smoothing():
    rng = np.random.default_rng(5)
    ch = random_charges((48, 48, 48), 10, rng=rng)
    m = coulomb_field((48, 48, 48), ch)
    truth = find_defects(m, sigma_vox=0).defects
    noisy = add_noise(m, 0.6, rng=rng)
    assert _f1(truth, find_defects(noisy, sigma_vox=0.0).defects) < 0.5
    assert _f1(truth, find_defects(noisy, sigma_vox=1.0).defects) >= 0.95


def test_density_and_emergent_flux_consistency():
    m = coulomb_field((8, 8, 8), [(3.5, 3.5, 3.5, 1)])
    rho = hedgehog_density(m, voxel_nm=5.0)
    assert np.sum(rho) * 125.0 == pytest.approx(1.0)
    b = emergent_field(m, voxel_nm=5.0)
    assert b.shape == (3, 7, 7, 7)
    # outward flux of B_e far from the hedgehog points away from it (a source)
    assert b[0, 3, 3, 6] > 0 and b[0, 3, 3, 0] < 0 and b[2, 6, 3, 3] > 0
