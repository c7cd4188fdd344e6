"""Texture: seeded hedgehogs realised exactly, no unseeded defects, determinism.

The per-cube charge is cross-checked by an independent implementation written
here: the degree of the piecewise-geodesic map of each cube's 12 outward
triangles, counted as the signed number of triangles whose spherical image
contains a fixed generic direction (preimage counting, no solid angles).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from synthvec.errors import ConfigError, InputError
from synthvec.phantom import (MATERIAL, PhantomConfig, TextureConfig, build_phantom, build_texture,
                              realised_defects, refine_truth)
from synthvec.phantom.field import pair_seeds, relax_exchange, string_field

# --- independent slow lattice charge -------------------------------------------------------

# corners (dz, dy, dx); faces listed counter-clockwise seen from outside the cube
_C = {(a, b, c): a * 4 + b * 2 + c for a in (0, 1) for b in (0, 1) for c in (0, 1)}
_FACES = [
    [(0, 0, 1), (0, 1, 1), (1, 1, 1), (1, 0, 1)],  # +x
    [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0)],  # -x
    [(0, 1, 0), (1, 1, 0), (1, 1, 1), (0, 1, 1)],  # +y
    [(0, 0, 0), (0, 0, 1), (1, 0, 1), (1, 0, 0)],  # -y
    [(1, 0, 0), (1, 0, 1), (1, 1, 1), (1, 1, 0)],  # +z
    [(0, 0, 0), (0, 1, 0), (0, 1, 1), (0, 0, 1)],  # -z
]
_TRIS = np.array([[_C[f[0]], _C[f[i]], _C[f[i + 1]]] for f in _FACES for i in (1, 2)])
_P = np.array([0.3141, -0.7719, 0.5527]) / np.linalg.norm([0.3141, -0.7719, 0.5527])


def _degree_by_preimages(corners: np.ndarray, tris: np.ndarray, p: np.ndarray = _P) -> np.ndarray:
    """Signed count of triangles whose geodesic image contains ``p``.

    corners : (N, V, 3) unit vectors; tris : (T, 3) vertex indices (outward, counter-clockwise).
    """
    a, b, c = (corners[:, tris[:, i], :] for i in range(3))
    det = np.einsum("ntk,ntk->nt", a, np.cross(b, c))
    # p = alpha a + beta b + gamma c (Cramer); inside iff all coefficients > 0. A flat
    # triangle (det = 0) has no area and cannot contain a generic p.
    pb = np.broadcast_to(p, b.shape)
    num = np.stack([np.einsum("ntk,ntk->nt", pb, np.cross(b, c)),
                    np.einsum("ntk,ntk->nt", a, np.cross(pb, c)),
                    np.einsum("ntk,ntk->nt", a, np.cross(b, pb))])
    inside = (det != 0) & np.all(num * np.sign(det) > 0, axis=0)
    return np.sum(np.where(inside, np.sign(det), 0.0), axis=1)


def slow_lattice_defects(m: np.ndarray, mask: np.ndarray) -> dict[tuple[int, int, int], int]:
    """{cube index (k, j, i): charge} of every nonzero cube whose 8 corners are in ``mask``."""
    unit = m / np.where(np.linalg.norm(m, axis=0) > 0, np.linalg.norm(m, axis=0), 1.0)
    out = {}
    nz, ny, nx = mask.shape
    ok = np.ones((nz - 1, ny - 1, nx - 1), dtype=bool)
    for (dz, dy, dx) in _C:
        ok &= mask[dz:dz + nz - 1, dy:dy + ny - 1, dx:dx + nx - 1]
    cubes = np.argwhere(ok)
    corners = np.stack([unit[:, cubes[:, 0] + dz, cubes[:, 1] + dy, cubes[:, 2] + dx].T
                        for (dz, dy, dx) in sorted(_C, key=_C.get)], axis=1)
    deg = _degree_by_preimages(corners, _TRIS)
    deg2 = _degree_by_preimages(corners, _TRIS, p=np.array([-0.48, 0.6, 0.64]))
    assert np.array_equal(deg, deg2), "degree depends on the regular value: not a closed map"
    for cube, q in zip(cubes, deg):
        if q != 0:
            out[tuple(int(v) for v in cube)] = int(q)
    return out


def test_slow_charge_knows_hedgehogs():
    z, y, x = np.mgrid[-1.5:2:1, -1.5:2:1, -1.5:2:1]
    r = np.stack([x, y, z])
    assert slow_lattice_defects(r, np.ones(x.shape, bool)) == {(1, 1, 1): 1}
    anti = np.stack([x, y, -z])
    assert slow_lattice_defects(anti, np.ones(x.shape, bool)) == {(1, 1, 1): -1}


# --- the default (quick) scenario ---------------------------------------------------------------

@pytest.fixture(scope="module")
def default_truth():
    ph = build_phantom(PhantomConfig(), rng=np.random.default_rng(11))
    truth, seeds = build_texture(ph, TextureConfig(), rng=np.random.default_rng(12))
    return ph, truth, seeds


def test_default_every_seed_realised_and_no_unseeded(default_truth):
    ph, truth, seeds = default_truth
    cfg = TextureConfig()
    real = seeds[seeds.kind == "real"]
    assert (real.charge > 0).sum() == cfg.n_hedgehogs and (real.charge < 0).sum() == cfg.n_antihedgehogs
    defects, metrics = realised_defects(truth, seeds)
    assert metrics["truth_seeds_realised"] == len(real)
    assert metrics["truth_seeds_lost"] == 0
    assert metrics["truth_unseeded_defects"] == 0
    assert (defects.seed_distance_nm <= truth.attrs["voxel_nm"]).all()
    # independent implementation: same defects, each within one voxel of its seed with its sign
    slow = slow_lattice_defects(truth.m.values.astype(np.float64), truth["mask"].values)
    assert len(slow) == len(real)
    x, y, z = truth.x.values, truth.y.values, truth.z.values
    v = truth.attrs["voxel_nm"]
    for (k, j, i), q in slow.items():
        c = np.array([x[i] + v / 2, y[j] + v / 2, z[k] + v / 2])
        d = np.linalg.norm(real[["x_nm", "y_nm", "z_nm"]].values - c, axis=1)
        near = np.flatnonzero(d <= v)
        assert len(near) == 1 and real.charge.values[near[0]] == q


def test_default_field_contract(default_truth):
    ph, truth, seeds = default_truth
    m = truth.m
    assert m.dims == ("comp", "z", "y", "x") and m.dtype == np.float32
    assert list(truth.comp.values) == ["x", "y", "z"]
    mask = truth["mask"].values
    np.testing.assert_array_equal(mask, truth.material.values == MATERIAL["nickel"])
    norm = np.linalg.norm(m.values, axis=0)
    np.testing.assert_allclose(norm[mask], 1.0, atol=1e-5)
    assert (norm[~mask] == 0).all()
    for name in ("material", "site", "void_id", "sphere_centre_nm", "sphere_radius_nm"):
        assert truth[name].equals(ph[name])
    assert list(seeds.columns[:5]) == ["x_nm", "y_nm", "z_nm", "charge", "site"]
    assert set(seeds.kind) <= {"real", "virtual"}
    assert truth.attrs["relax_iterations_done"] > 0


def test_default_keeps_background_far_from_defects(default_truth):
    """Away from the seeds (> 40 nm) the texture has decayed to the background direction."""
    _, truth, seeds = default_truth
    mask = truth["mask"].values
    k, j, i = np.nonzero(mask)
    p = np.column_stack([truth.x.values[i], truth.y.values[j], truth.z.values[k]])
    s = seeds[["x_nm", "y_nm", "z_nm"]].values
    d = np.min(np.linalg.norm(p[:, None, :] - s[None, :, :], axis=2), axis=1)
    b = np.array(TextureConfig().background_direction)
    far = truth.m.values[:, k, j, i][:, d > 40].astype(np.float64)
    assert (far.T @ b).mean() > 0.8
    near = truth.m.values[:, k, j, i][:, d < 10].astype(np.float64)
    assert (near.T @ b).mean() < 0.8  # the defects really twist the field


def test_same_seed_byte_identical(default_truth):
    ph, truth, seeds = default_truth
    again, seeds2 = build_texture(ph, TextureConfig(), rng=np.random.default_rng(12))
    assert again.m.values.tobytes() == truth.m.values.tobytes()
    pd.testing.assert_frame_equal(seeds, seeds2)


def test_virtual_seeds_sit_at_void_centres_in_silica(default_truth):
    ph, truth, seeds = default_truth
    virt = seeds[seeds.kind == "virtual"]
    cfg = TextureConfig()
    assert (virt.charge > 0).sum() == cfg.n_virtual_hedgehogs
    assert (virt.charge < 0).sum() == cfg.n_virtual_antihedgehogs
    c = truth.sphere_centre_nm.values[virt.void_id.values]
    np.testing.assert_allclose(virt[["x_nm", "y_nm", "z_nm"]].values, c)
    for p in c:
        k = np.argmin(np.abs(truth.z.values - p[2]))
        j = np.argmin(np.abs(truth.y.values - p[1]))
        i = np.argmin(np.abs(truth.x.values - p[0]))
        assert truth.material.values[k, j, i] == MATERIAL["silica"]


def test_void_charges_are_the_virtual_seeds(default_truth):
    """Degree of m on a sphere R + 2.5 nm around every closed void (nearest nickel voxel at each
    vertex, preimage counting): the virtual seed's charge, 0 for the other voids."""
    from scipy import ndimage

    _, truth, seeds = default_truth
    mask = truth["mask"].values
    _, ind = ndimage.distance_transform_edt(~mask, return_indices=True)
    m = truth.m.values.astype(np.float64)
    axes = [truth[c].values for c in ("x", "y", "z")]
    verts, tris = _sphere_mesh(24, 48)
    c_all, r_all = truth.sphere_centre_nm.values, truth.sphere_radius_nm.values
    half = np.array([axes[0][-1] + 2.5, axes[1][-1] + 2.5, axes[2][-1] + 2.5])
    closed = np.flatnonzero(np.all(np.abs(c_all) + r_all[:, None] <= half, axis=1))
    assert len(closed) >= 4
    real = seeds[seeds.kind == "real"]
    for s in closed:
        pts = c_all[s] + (r_all[s] + 2.5) * verts
        idx = [np.clip(np.rint((pts[:, a] - axes[a][0]) / 5.0), 0, len(axes[a]) - 1).astype(int)
               for a in (2, 1, 0)]
        near = tuple(ind[q][idx[0], idx[1], idx[2]] for q in range(3))
        f = m[:, near[0], near[1], near[2]].T
        deg = _degree_by_preimages(f[None], tris)[0]
        want = seeds[(seeds.kind == "virtual") & (seeds.void_id == s)].charge.sum()
        inside = np.linalg.norm(real[["x_nm", "y_nm", "z_nm"]].values - c_all[s], axis=1) < r_all[s] + 2.5
        want += real.charge.values[inside].sum()
        assert deg == want, (s, deg, want)


def test_pair_distances_follow_targets(default_truth):
    _, _, seeds = default_truth
    real = seeds[seeds.kind == "real"]
    p = real[["x_nm", "y_nm", "z_nm"]].values
    q = real.charge.values
    d = np.linalg.norm(p[:, None] - p[None], axis=2)
    np.fill_diagonal(d, np.inf)
    ha = d[np.ix_(q < 0, q > 0)].min(axis=1)
    hh = d[np.ix_(q > 0, q > 0)].min(axis=1)
    aa = d[np.ix_(q < 0, q < 0)].min(axis=1)
    # Gumbel medians: mu - sigma ln ln 2 = 19.4, 37.6, 44.6 nm; nn can only be shorter
    assert 12 <= np.median(ha) <= 26
    assert 24 <= np.median(hh) <= 45
    assert 26 <= np.median(aa) <= 52
    assert d.min() >= TextureConfig().min_separation_nm - 1e-9


# --- construction pieces ----------------------------------------------------------------------

def _sphere_mesh(n_theta=24, n_phi=48):
    th = np.linspace(0, np.pi, n_theta + 1)
    ph = np.linspace(0, 2 * np.pi, n_phi, endpoint=False)
    verts = [np.array([0, 0, 1.0])]
    for t in th[1:-1]:
        verts += [np.array([np.sin(t) * np.cos(f), np.sin(t) * np.sin(f), np.cos(t)]) for f in ph]
    verts.append(np.array([0, 0, -1.0]))
    verts = np.array(verts)
    tris = []
    ring = lambda r, i: 1 + r * n_phi + (i % n_phi)  # noqa: E731
    for i in range(n_phi):
        tris.append([0, ring(0, i), ring(0, i + 1)])
    for r in range(n_theta - 2):
        for i in range(n_phi):
            a, b, c, d = ring(r, i), ring(r + 1, i), ring(r + 1, i + 1), ring(r, i + 1)
            tris += [[a, b, c], [a, c, d]]
    last = len(verts) - 1
    for i in range(n_phi):
        tris.append([last, ring(n_theta - 2, i + 1), ring(n_theta - 2, i)])
    return verts, np.array(tris)


def _degree_around(centre, radius, sm, sp, b, hel, **kw):
    verts, tris = _sphere_mesh()
    f = string_field(centre + radius * verts, sm, sp, b, hel, **kw)
    return int(_degree_by_preimages(f[None], tris)[0])


@given(sm=st.tuples(*[st.floats(-30, 30)] * 3), dvec=st.tuples(*[st.floats(-1, 1)] * 3),
       length=st.floats(8, 40), b=st.tuples(*[st.floats(-1, 1)] * 3), hel=st.floats(0, 6.3))
@settings(max_examples=25, deadline=None)
def test_string_pair_has_exact_degrees(sm, dvec, length, b, hel):
    dvec, b = np.array(dvec), np.array(b)
    if np.linalg.norm(dvec) < 0.1 or np.linalg.norm(b) < 0.1:
        return
    s1 = np.array(sm)
    s2 = s1 + length * dvec / np.linalg.norm(dvec)
    args = (s1[None], s2[None], b, np.array([hel]))
    assert _degree_around(s2, 0.2 * length, *args) == 1
    assert _degree_around(s1, 0.2 * length, *args) == -1
    assert _degree_around((s1 + s2) / 2, 3 * length, *args) == 0
    far = string_field(s1[None] + 1e5 * np.array([[0.6, 0.0, 0.8]]), *args)
    np.testing.assert_allclose(far[0], b / np.linalg.norm(b), atol=1e-3)


def test_superposed_pairs_keep_every_degree():
    rng = np.random.default_rng(5)
    sm = rng.uniform(-60, 60, (4, 3))
    sp = sm + rng.normal(size=(4, 3)) * 12
    b = np.array([1.0, 0.2, -0.3])
    hel = rng.uniform(0, 6, 4)
    for kw in ({}, {"min_width_nm": 20.0, "screen_nm": 7.5}):
        for s in sp:
            assert _degree_around(s, 1.0, sm, sp, b, hel, **kw) == 1
        for s in sm:
            assert _degree_around(s, 1.0, sm, sp, b, hel, **kw) == -1


def test_unpaired_seeds_get_images_outside_the_slab():
    pos = np.array([[0, 0, 10.0], [5, 5, -20.0], [30, 0, 0.0]])
    q = np.array([1, 1, -1])
    s_minus, s_plus = pair_seeds(pos, q, slab_half_nm=50.0)
    assert len(s_minus) == 2
    # optimal pair: (0, 0, 10)+ with (30, 0, 0)-; the lone (5, 5, -20)+ gets its mirror image
    # beyond the nearer face z = -50
    lone = [m for m in s_minus if abs(m[2]) > 50]
    assert len(lone) == 1 and np.allclose(lone[0], [5, 5, -80.0])


def test_relaxation_lowers_exchange_energy_and_keeps_unit_length():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(3, 8, 9, 10))
    m /= np.linalg.norm(m, axis=0)
    mask = np.ones((8, 9, 10), bool)
    mask[3:5, 3:6, 4:7] = False
    pinned = np.zeros_like(mask)
    pinned[0, 0, :3] = True

    def energy(f):
        f = np.where(mask, f, 0)
        e = 0.0
        for ax in (1, 2, 3):
            a = np.take(f, range(f.shape[ax] - 1), axis=ax)
            b = np.take(f, range(1, f.shape[ax]), axis=ax)
            both = np.take(mask, range(mask.shape[ax - 1] - 1), axis=ax - 1) & \
                np.take(mask, range(1, mask.shape[ax - 1]), axis=ax - 1)
            e += float(((a - b) ** 2).sum(axis=0)[both].sum())
        return e

    out, done = relax_exchange(m, mask, pinned, iterations=50, step=1 / 6)
    assert done == 50 and energy(out) < 0.5 * energy(m)
    np.testing.assert_allclose(np.linalg.norm(out, axis=0)[mask], 1.0, atol=1e-6)
    assert (out[:, ~mask] == 0).all()
    np.testing.assert_array_equal(out[:, pinned], m.astype(np.float32)[:, pinned])


# --- explicit seeds, site preference, validation ------------------------------------------------

@pytest.fixture(scope="module")
def small_phantom():
    cfg = PhantomConfig(lateral_extent_nm=150.0, slab_thickness_nm=100.0, n_layers=2)
    return cfg, build_phantom(cfg, rng=np.random.default_rng(0))


def test_explicit_seeds_snap_and_are_realised(small_phantom):
    cfg, ph = small_phantom
    octa = ph.site_centre_nm.values[ph.site_kind.values == 1]
    octa = octa[np.argsort(np.linalg.norm(octa, axis=1))]
    sph = ph.sphere_centre_nm.values
    inner = sph[np.argmin(np.linalg.norm(sph, axis=1))]
    seeds_in = ((*octa[0], 1.0), (*octa[1], -1.0), (*inner, -1.0))
    truth, seeds = build_texture(ph, TextureConfig(seeds_nm=seeds_in, relax_iterations=60),
                                 rng=np.random.default_rng(0))
    assert list(seeds.kind) == ["real", "real", "virtual"]
    v = ph.attrs["voxel_nm"]
    for row, s in zip(seeds.itertuples(), seeds_in):
        assert np.linalg.norm(np.array([row.x_nm, row.y_nm, row.z_nm]) - s[:3]) <= v * np.sqrt(3) / 2 + 1e-9
    assert list(seeds.site[:2]) == ["octahedral", "octahedral"]
    _, metrics = realised_defects(truth, seeds)
    assert metrics["truth_seeds_realised"] == 2 and metrics["truth_unseeded_defects"] == 0
    with pytest.raises(InputError):
        build_texture(ph, TextureConfig(seeds_nm=((0.0, 0.0, 500.0, 1.0),)), rng=np.random.default_rng(0))


@pytest.mark.parametrize("weights,site", [((1.0, 0.0, 0.0), "octahedral"), ((0.0, 1.0, 0.0), "tetrahedral")])
def test_site_preference(small_phantom, weights, site):
    _, ph = small_phantom
    cfg = TextureConfig(n_hedgehogs=3, n_antihedgehogs=3, n_virtual_hedgehogs=0,
                        n_virtual_antihedgehogs=0, site_weights=weights, relax_iterations=0)
    _, seeds = build_texture(ph, cfg, rng=np.random.default_rng(4))
    assert (seeds.site == site).all()


def test_realised_defects_known_answer():
    """Coulomb dipole field: +1 at cube (1, 1, 1), -1 at cube (4, 3, 4), no other zeros."""
    z, y, x = np.mgrid[0:7, 0:7, 0:7].astype(float)
    r1 = np.stack([x - 1.5, y - 1.5, z - 1.5])
    r2 = np.stack([x - 4.5, y - 3.5, z - 4.5])
    m = r1 / np.linalg.norm(r1, axis=0) ** 3 - r2 / np.linalg.norm(r2, axis=0) ** 3
    mask = np.ones((7, 7, 7), bool)
    ds = xr.Dataset({"m": (("comp", "z", "y", "x"), m.astype(np.float32)), "mask": (("z", "y", "x"), mask)},
                    coords={"comp": ["x", "y", "z"], "z": np.arange(7) * 5.0, "y": np.arange(7) * 5.0,
                            "x": np.arange(7) * 5.0})
    assert slow_lattice_defects(m, mask) == {(1, 1, 1): 1, (4, 3, 4): -1}
    # seeds: + right at the hedgehog (realised), + at the anti-hedgehog (wrong sign: lost,
    # and the anti-hedgehog is unseeded), a virtual seed (ignored)
    seeds = pd.DataFrame({"x_nm": [7.5, 22.5, 0.0], "y_nm": [7.5, 17.5, 0.0], "z_nm": [7.5, 22.5, 0.0],
                          "charge": [1, 1, -1], "kind": ["real", "real", "virtual"]})
    defects, metrics = realised_defects(ds, seeds)
    assert len(defects) == 2
    assert metrics["truth_seeds"] == 2 and metrics["truth_virtual_seeds"] == 1
    assert metrics["truth_seeds_realised"] == 1 and metrics["truth_seeds_lost"] == 1
    assert metrics["truth_unseeded_defects"] == 1 and metrics["truth_net_charge"] == 0
    row = defects[defects.charge > 0].iloc[0]
    assert row.seed_index == 0 and row.seed_distance_nm == 0
    # a seed one voxel off still matches; two voxels off does not
    shifted = seeds.assign(x_nm=[12.5, 22.5, 0.0])
    assert realised_defects(ds, shifted)[1]["truth_seeds_realised"] == 1
    shifted = seeds.assign(x_nm=[17.5, 22.5, 0.0])
    assert realised_defects(ds, shifted)[1]["truth_seeds_realised"] == 0


def test_refine_truth(small_phantom):
    cfg, ph = small_phantom
    truth, _ = build_texture(ph, TextureConfig(n_hedgehogs=2, n_antihedgehogs=2, relax_iterations=40),
                             rng=np.random.default_rng(1))
    fine = refine_truth(truth, cfg, 2)
    assert fine.m.shape == (3,) + tuple(2 * n for n in truth.material.shape)
    assert fine.attrs["voxel_nm"] == pytest.approx(cfg.voxel_nm / 2)
    # labels exact from the sphere geometry (brute force at a sample of fine voxels)
    rng = np.random.default_rng(0)
    c, r = fine.sphere_centre_nm.values, fine.sphere_radius_nm.values
    for _ in range(300):
        k, j, i = (rng.integers(n) for n in fine.material.shape)
        p = np.array([fine.x.values[i], fine.y.values[j], fine.z.values[k]])
        silica = (np.linalg.norm(c - p, axis=1) <= r).any()
        assert fine.material.values[k, j, i] == (1 if silica else 2)
    mask = fine["mask"].values
    np.testing.assert_array_equal(mask, fine.material.values == 2)
    norm = np.linalg.norm(fine.m.values, axis=0)
    np.testing.assert_allclose(norm[mask], 1, atol=1e-5)
    assert (norm[~mask] == 0).all()
    # a fine voxel inside a coarse nickel voxel points almost like it
    mc = truth.m.values
    cm = truth["mask"].values
    ks, js, is_ = np.nonzero(cm)
    sel = rng.choice(len(ks), 200, replace=False)
    dots = [fine.m.values[:, 2 * ks[s], 2 * js[s], 2 * is_[s]] @ mc[:, ks[s], js[s], is_[s]]
            for s in sel if mask[2 * ks[s], 2 * js[s], 2 * is_[s]]]
    assert np.median(dots) > 0.95
    same = refine_truth(truth, cfg, 1)
    np.testing.assert_allclose(same.m.values, truth.m.values, atol=1e-6)
    with pytest.raises(InputError):
        refine_truth(truth, PhantomConfig(lateral_extent_nm=200.0), 2)


@pytest.mark.parametrize("kw", [dict(n_hedgehogs=-1), dict(site_weights=(0.0, 0.0, 0.0)),
                                dict(background_direction=(0.0, 0.0, 0.0)), dict(relax_step=0.5),
                                dict(seeds_nm=((0.0, 0.0, 0.0, 2.0),)), dict(ha_distance_nm=(-1.0, 2.0)),
                                dict(relax_iterations=-5)])
def test_invalid_texture_config(kw):
    with pytest.raises(ConfigError):
        TextureConfig(**kw)


def test_netcdf_round_trip_gives_the_same_truth(small_phantom, tmp_path):
    """The pipeline hands the phantom over as phantom.nc: same texture as in memory."""
    from synthvec.io import read_netcdf, write_netcdf

    cfg, ph = small_phantom
    tcfg = TextureConfig(n_hedgehogs=2, n_antihedgehogs=2, relax_iterations=30)
    write_netcdf(ph, tmp_path / "phantom.nc")
    back = read_netcdf(tmp_path / "phantom.nc")
    a, sa = build_texture(ph, tcfg, rng=np.random.default_rng(3))
    b, sb = build_texture(back, tcfg, rng=np.random.default_rng(3))
    assert a.m.values.tobytes() == b.m.values.tobytes()
    pd.testing.assert_frame_equal(sa, sb)
    write_netcdf(b, tmp_path / "truth.nc")
    truth = read_netcdf(tmp_path / "truth.nc")
    assert truth["mask"].dtype == bool
    _, metrics = realised_defects(truth, sb)
    assert metrics["truth_seeds_realised"] == 4 and metrics["truth_unseeded_defects"] == 0
    fine = refine_truth(truth, cfg, 2)
    assert fine.m.shape[1:] == tuple(2 * n for n in truth.material.shape)


@given(nh=st.integers(0, 50), na=st.integers(0, 50), w=st.tuples(*[st.floats(0, 5)] * 3),
       b=st.tuples(*[st.floats(-1, 1)] * 3), it=st.integers(0, 1000), hel=st.booleans())
@settings(max_examples=30, deadline=None)
def test_texture_config_round_trip(nh, na, w, b, it, hel):
    from synthvec.config import section_from_dict, section_to_dict

    if sum(w) <= 0 or math.fsum(v * v for v in b) < 1e-12:
        with pytest.raises(ConfigError):
            TextureConfig(site_weights=w, background_direction=b)
        return
    cfg = TextureConfig(n_hedgehogs=nh, n_antihedgehogs=na, site_weights=w, background_direction=b,
                        relax_iterations=it, random_helicity=hel,
                        seeds_nm=((1.0, 2.0, 3.0, 1.0), (4.0, 5.0, 6.0, -1.0)))
    assert section_from_dict(TextureConfig, section_to_dict(cfg)) == cfg
