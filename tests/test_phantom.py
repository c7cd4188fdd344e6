"""Phantom: close-packed silica lattice, nickel interstices, site and void labels.

Known answers: the close-packed volume fraction pi/(3 sqrt 2), the octahedral
and tetrahedral hole radii (sqrt 2 - 1) R and (sqrt(3/2) - 1) R, 4 + 8 sites
per fcc cubic cell (checked against scipy's Voronoi vertices, an independent
construction), fcc vs hcp neighbour shells, and brute-force labels.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import Voronoi, cKDTree

from synthvec.config import section_from_dict, section_to_dict
from synthvec.errors import ConfigError
from synthvec.phantom import MATERIAL, SITE, PhantomConfig, build_phantom
from synthvec.phantom.lattice import interstitial_sites, layer_types, sphere_lattice


def _rng(seed=0):
    return np.random.default_rng(seed)


def test_ni_volume_fraction_of_close_packed_interior():
    """Nickel fraction of an ideal fcc interior = 1 - pi / (3 sqrt 2) within 1 %."""
    d = 60.0
    h = d * math.sqrt(2 / 3)
    cfg = PhantomConfig(sphere_diameter_nm=d, n_layers=5, slab_thickness_nm=3 * h + 10,
                        lateral_extent_nm=130.0, voxel_nm=1.0, supersample=1)
    ds = build_phantom(cfg, rng=_rng())
    x, y, z = ds.x.values, ds.y.values, ds.z.values
    # one period of the packing in each direction: d, d sqrt 3, 3 h (ABC), centred
    box = {"x": (-d, d), "y": (-d * math.sqrt(3) / 2, d * math.sqrt(3) / 2), "z": (-1.5 * h, 1.5 * h)}
    sel = [(ax >= lo) & (ax < hi) for ax, (lo, hi) in ((z, box["z"]), (y, box["y"]), (x, box["x"]))]
    mat = ds.material.values[np.ix_(*sel)]
    frac = float((mat == MATERIAL["nickel"]).mean())
    expected = 1 - math.pi / (3 * math.sqrt(2))
    assert abs(frac - expected) / expected < 0.01, (frac, expected)


def _ideal_fcc(n_layers=6, extent=420.0):
    d = 60.0
    h = d * math.sqrt(2 / 3)
    cfg = PhantomConfig(sphere_diameter_nm=d, n_layers=n_layers, slab_thickness_nm=(n_layers - 1) * h + d,
                        lateral_extent_nm=extent, voxel_nm=5.0)
    centres, radii, ideal, types = sphere_lattice(cfg, rng=_rng())
    pos, kind, rad = interstitial_sites(cfg, types, centres, radii)
    return cfg, centres, radii, types, pos, kind, rad


def test_site_radii_match_close_packing():
    cfg, centres, radii, types, pos, kind, rad = _ideal_fcc()
    r = 30.0
    inner = np.abs(pos[:, 0]) < 100
    octa = rad[inner & (kind == SITE["octahedral"])]
    tetra = rad[inner & (kind == SITE["tetrahedral"])]
    np.testing.assert_allclose(octa, (math.sqrt(2) - 1) * r, rtol=1e-9)
    np.testing.assert_allclose(tetra, (math.sqrt(1.5) - 1) * r, rtol=1e-9)
    assert abs(octa[0] / r - 0.414) < 1e-3 and abs(tetra[0] / r - 0.225) < 1e-3


def test_sites_are_voronoi_vertices_4_octa_8_tetra_per_cubic_cell():
    """Sites = Voronoi vertices of the sphere centres (independent construction), 4 + 8 per cell."""
    cfg, centres, radii, types, pos, kind, rad = _ideal_fcc()
    vor = Voronoi(centres)
    v = vor.vertices
    tree = cKDTree(centres)
    dist, _ = tree.query(v, k=1)
    # interior region: away from the lateral and z boundaries of the point set
    zc = np.unique(np.round(centres[:, 2], 6))
    lo, hi = zc[1], zc[-2]

    def interior(p):
        return (np.abs(p[:, 0]) < 120) & (np.abs(p[:, 1]) < 120) & (p[:, 2] > lo) & (p[:, 2] < hi)

    v = v[interior(v)]
    dist = dist[interior(vor.vertices)]
    # vertices of cospherical octahedra are repeated by Qhull: merge within 1e-3 nm
    key = np.unique(np.round(v, 3), axis=0)
    mine = pos[interior(pos)]
    assert len(key) == len(mine)
    d_match, _ = cKDTree(mine).query(key)
    assert d_match.max() < 1e-3
    # per cubic cell (4 spheres): 4 octahedral + 8 tetrahedral. Count in a box of whole
    # in-plane periods (d x d sqrt 3), half-open and shifted off the lattice points, over
    # the layers lo <= z < hi and the interstitial gaps above each of them.
    d = 60.0

    def in_box(p, lo_z, hi_z):
        x0, y0 = 0.123, 0.0457
        return ((p[:, 0] >= -2 * d + x0) & (p[:, 0] < 2 * d + x0)
                & (p[:, 1] >= -math.sqrt(3) * d + y0) & (p[:, 1] < math.sqrt(3) * d + y0)
                & (p[:, 2] >= lo_z) & (p[:, 2] < hi_z))

    n_sph = in_box(centres, lo - 1e-6, hi - 1e-6).sum()
    sub = kind[in_box(pos, lo, hi)]
    assert n_sph == 16 * 3
    assert (sub == SITE["octahedral"]).sum() * 4 == 4 * n_sph
    assert (sub == SITE["tetrahedral"]).sum() * 4 == 8 * n_sph
    # Voronoi vertex distances: two hole sizes, 0.414 R and 0.225 R
    holes = np.unique(np.round(np.unique(np.round(dist, 6)) - 30.0, 4))
    np.testing.assert_allclose(holes, [(math.sqrt(1.5) - 1) * 30, (math.sqrt(2) - 1) * 30], atol=1e-3)


def test_layers_parallel_to_slab_and_fcc_vs_hcp_shells():
    d = 60.0
    h = d * math.sqrt(2 / 3)
    for stacking, has_shell in (("fcc", False), ("hcp", True)):
        cfg = PhantomConfig(sphere_diameter_nm=d, n_layers=5, stacking=stacking,
                            slab_thickness_nm=4 * h + d, lateral_extent_nm=300.0)
        c, _, _, types = sphere_lattice(cfg, rng=_rng())
        zs = np.unique(np.round(c[:, 2], 6))
        np.testing.assert_allclose(np.diff(zs), h, rtol=1e-6)
        tree = cKDTree(c)
        centre = np.argmin(np.linalg.norm(c, axis=1))
        dd, _ = tree.query(c[centre], k=40)
        assert np.sum(np.abs(dd - d) < 1e-6) == 12
        # hcp has 2 neighbours at d sqrt(8/3); fcc has none there
        assert (np.sum(np.abs(dd - d * math.sqrt(8 / 3)) < 1e-6) == 2) == has_shell


@given(n=st.integers(2, 8), seed=st.integers(0, 1000))
@settings(max_examples=25, deadline=None)
def test_random_stacking_never_repeats_a_layer(n, seed):
    t = layer_types(n, "random", rng=np.random.default_rng(seed))
    assert np.all(t[1:] != t[:-1]) and set(t) <= {0, 1, 2}
    f = layer_types(n, "fcc", rng=np.random.default_rng(seed))
    np.testing.assert_array_equal(f, np.arange(n) % 3)


def test_labels_brute_force_and_vacuum_margin():
    cfg = PhantomConfig(lateral_extent_nm=100.0, slab_thickness_nm=80.0, n_layers=2,
                        vacuum_margin_nm=10.0, voxel_nm=5.0, size_spread_rel=0.04,
                        position_jitter_nm=1.0)
    ds = build_phantom(cfg, rng=_rng(3))
    c = ds.sphere_centre_nm.values
    r = ds.sphere_radius_nm.values
    z, y, x = np.meshgrid(ds.z.values, ds.y.values, ds.x.values, indexing="ij")
    p = np.stack([x, y, z], axis=-1)
    rel = np.linalg.norm(p[..., None, :] - c, axis=-1) / r
    inside = (rel <= 1).any(-1)
    slab = np.abs(z) <= 40.0
    expect = np.where(slab, np.where(inside, 1, 2), 0)
    np.testing.assert_array_equal(ds.material.values, expect)
    vid = np.where(slab & inside, rel.argmin(-1), -1)
    np.testing.assert_array_equal(ds.void_id.values, vid)
    assert ds.material.values.shape == (20, 20, 20)
    assert (ds.site.values[expect != 2] == 0).all() and (ds.site.values[expect == 2] > 0).all()
    assert ds.sizes["sphere"] == len(r) and ds.sphere_centre_nm.dims == ("sphere", "xyz")
    assert ds.x.attrs["units"] == "nm" and ds.attrs["voxel_nm"] == 5.0


def test_site_labels_at_known_points():
    cfg = PhantomConfig(n_layers=2, lateral_extent_nm=180.0, voxel_nm=1.0, slab_thickness_nm=100.0)
    ds = build_phantom(cfg, rng=_rng())
    pos, kind = ds.site_centre_nm.values, ds.site_kind.values

    def label_at(p):
        i = np.argmin(np.abs(ds.x.values - p[0]))
        j = np.argmin(np.abs(ds.y.values - p[1]))
        k = np.argmin(np.abs(ds.z.values - p[2]))
        return int(ds.site.values[k, j, i])

    near = np.linalg.norm(pos[:, :2], axis=1) < 80
    for p, kd in zip(pos[near], kind[near]):
        assert label_at(p) == kd
    # a window: centroid of three mutually touching spheres of one layer -> 'between'
    c = ds.sphere_centre_nm.values
    mid = c[np.argmin(np.linalg.norm(c, axis=1))]
    same = c[np.abs(c[:, 2] - mid[2]) < 1e-6]
    nb = same[np.argsort(np.linalg.norm(same - mid, axis=1))[1:7]]
    a, b = nb[0], nb[np.argmin(np.linalg.norm(nb[1:] - nb[0], axis=1)) + 1]
    window = (mid + a + b) / 3
    assert label_at(window) == SITE["between"]


def test_supersample_same_box_and_fraction():
    cfg = PhantomConfig(lateral_extent_nm=120.0, slab_thickness_nm=100.0, n_layers=2)
    a = build_phantom(cfg, rng=_rng(1))
    b = build_phantom(cfg, rng=_rng(1), supersample=3)
    assert b.material.shape == tuple(3 * n for n in a.material.shape)
    va, vb = a.attrs["voxel_nm"], b.attrs["voxel_nm"]
    assert vb == pytest.approx(va / 3)
    for ax in "zyx":
        assert a[ax].values[-1] + va / 2 == pytest.approx(b[ax].values[-1] + vb / 2)
        assert a[ax].values.mean() == pytest.approx(0.0, abs=1e-9)
    fa = (a.material.values == 2).mean()
    fb = (b.material.values == 2).mean()
    assert abs(fa - fb) < 0.03


def test_same_seed_byte_identical_and_spread_draws():
    cfg = PhantomConfig(lateral_extent_nm=150.0, size_spread_rel=0.05, stacking="random",
                        position_jitter_nm=0.5)
    a = build_phantom(cfg, rng=_rng(7))
    b = build_phantom(cfg, rng=_rng(7))
    for name in ("material", "site", "void_id", "sphere_centre_nm", "sphere_radius_nm"):
        assert a[name].values.tobytes() == b[name].values.tobytes()
    c = build_phantom(cfg, rng=_rng(8))
    assert a.sphere_radius_nm.values.tobytes() != c.sphere_radius_nm.values.tobytes()
    big = PhantomConfig(lateral_extent_nm=600.0, size_spread_rel=0.05)
    _, r, _, _ = sphere_lattice(big, rng=_rng(2))
    assert abs(r.std() / 30.0 - 0.05) < 0.01


def test_sintering_overlap_shrinks_lattice():
    cfg = PhantomConfig(sintering_overlap_nm=6.0, lateral_extent_nm=200.0)
    c, r, _, _ = sphere_lattice(cfg, rng=_rng())
    dd, _ = cKDTree(c).query(c, k=2)
    assert dd[:, 1].min() == pytest.approx(54.0)
    assert (dd[:, 1] < 2 * r).all()  # spheres overlap


@pytest.mark.parametrize("kw", [dict(voxel_nm=200.0), dict(sintering_overlap_nm=30.0),
                                dict(n_layers=0), dict(size_spread_rel=-0.1),
                                dict(stacking="bcc"), dict(voxel_nm=0.0),
                                dict(lateral_extent_nm=5.0)])
def test_invalid_phantom_config(kw):
    with pytest.raises(ConfigError):
        PhantomConfig(**kw)


@given(d=st.floats(20, 120), spread=st.floats(0, 0.2), layers=st.integers(1, 8),
       stacking=st.sampled_from(["fcc", "hcp", "random"]), ss=st.integers(1, 8))
@settings(max_examples=30, deadline=None)
def test_phantom_config_round_trip(d, spread, layers, stacking, ss):
    cfg = PhantomConfig(sphere_diameter_nm=d, size_spread_rel=spread, n_layers=layers,
                        stacking=stacking, supersample=ss, voxel_nm=d / 4)
    again = section_from_dict(PhantomConfig, section_to_dict(cfg))
    assert again == cfg
    assert dataclasses.replace(cfg) == cfg
