"""Virtual hedgehogs: void-surface segmentation (ARI) and surface charges."""

from __future__ import annotations

import numpy as np
import pytest

from synthvec.analysis.sites import estimate_sphere_radius_vox
from synthvec.analysis.virtual import (adjusted_rand_index, stereographic, surface_charges,
                                       void_surfaces)
from tests.test_analysis_helpers import coulomb_field, fcc_slab


def _ari_slow(a, b):
    """Adjusted Rand index from the pair-counting definition (independent of the contingency code)."""
    a, b = np.asarray(a), np.asarray(b)
    n = len(a)
    same_a = a[:, None] == a[None]
    same_b = b[:, None] == b[None]
    iu = np.triu_indices(n, 1)
    sa, sb = same_a[iu], same_b[iu]
    idx = np.sum(sa & sb)
    pairs = n * (n - 1) / 2
    exp = np.sum(sa) * np.sum(sb) / pairs
    mx = 0.5 * (np.sum(sa) + np.sum(sb))
    return (idx - exp) / (mx - exp)


def test_adjusted_rand_index_against_pair_counting():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 60)
    b = np.where(rng.random(60) < 0.7, a, rng.integers(0, 5, 60))
    assert adjusted_rand_index(a, b) == pytest.approx(_ari_slow(a, b))
    assert adjusted_rand_index(a, a + 7) == 1.0
    assert adjusted_rand_index(np.arange(10) % 2, np.arange(10) % 3) < 0.1


def _sphere_void(shape, centre, radius):
    z, y, x = np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij")
    return (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2 <= radius ** 2


@pytest.mark.parametrize("sign", [1, -1])
def test_closed_void_around_hedgehog_gives_unit_charge(sign):
    shape = (26, 26, 26)
    c = (12.6, 13.2, 12.9)
    void = _sphere_void(shape, c, 6.0)
    m = coulomb_field(shape, [(*c, 1)])
    if sign < 0:
        m[2] *= -1  # (x, y, -z): an anti-hedgehog
    m[:, void] = 0
    surf = void_surfaces(void, ~void, radius_vox=6.0, rng=np.random.default_rng(0))
    assert len(surf.centres) == 1
    np.testing.assert_allclose(surf.centres[0], c[::-1], atol=0.2)
    q = surface_charges(surf, m, ~void)
    assert abs(q[0] - sign) <= 0.05


def test_void_next_to_a_hedgehog_has_no_charge():
    shape = (26, 26, 40)
    void = _sphere_void(shape, (12.6, 13.2, 12.9), 6.0)
    m = coulomb_field(shape, [(30.5, 13.5, 12.5, 1)])
    surf = void_surfaces(void, ~void, radius_vox=6.0, rng=np.random.default_rng(0))
    q = surface_charges(surf, m, ~void)
    assert abs(q[0]) < 0.05


def test_open_cap_charge_fractional():
    # a void cut by the slab face (lid removed): an open surface has a fractional Q
    shape = (20, 30, 30)
    c = (14.6, 15.2, 15.5)
    void = _sphere_void(shape, c, 6.0) & (np.arange(20)[:, None, None] <= 15)
    vacuum = np.zeros(shape, bool)
    vacuum[16:] = True
    void &= ~vacuum
    mask = ~void & ~vacuum
    m = coulomb_field(shape, [(*c, 1)])
    surf = void_surfaces(void, mask, radius_vox=6.0, rng=np.random.default_rng(0))
    q = surface_charges(surf, m, mask)
    assert len(q) == 1
    # m = r/|r| from the centre: Q must equal the solid angle the kept (open) surface
    # subtends at the centre / 4 pi, computed here from positions by Oosterom-Strackee
    tri = surf.vertices[surf.faces[surf.label == 0]][:, :, ::-1] - np.array(c)  # x, y, z
    u = tri / np.linalg.norm(tri, axis=2, keepdims=True)
    a, b, cc = u[:, 0], u[:, 1], u[:, 2]
    num = np.einsum("ij,ij->i", a, np.cross(b, cc))
    den = 1 + np.einsum("ij,ij->i", a, b) + np.einsum("ij,ij->i", b, cc) + np.einsum("ij,ij->i", cc, a)
    expected = np.sum(2 * np.arctan2(num, den)) / (4 * np.pi)
    assert 0.3 < expected < 0.7  # an open surface: about the lower half of the sphere
    assert q[0] == pytest.approx(expected, abs=0.03)


def test_fcc_slab_segmentation_ari_and_radius():
    # touching 60 nm spheres at 5 nm voxels (R = 6 voxels), a 28-voxel slab with vacuum lids
    vid, mask, centres = fcc_slab((32, 44, 44), radius_vox=6.0, slab=(2, 30))
    void = vid >= 0
    r = estimate_sphere_radius_vox(void)
    assert abs(r - 6.0) < 0.5
    surf = void_surfaces(void, mask, radius_vox=r, rng=np.random.default_rng(1), void_id=vid)
    assert surf.ari() >= 0.95
    # no lid facets used: every labelled facet's outside is nickel or another void
    assert np.all(surf.label[surf.true_id >= 0] >= 0)


def test_stereographic_projection_of_hedgehog_void():
    shape = (26, 26, 26)
    c = (12.6, 13.2, 12.9)
    void = _sphere_void(shape, c, 6.0)
    m = coulomb_field(shape, [(*c, 1)])
    surf = void_surfaces(void, ~void, radius_vox=6.0, rng=np.random.default_rng(0))
    xy, mv = stereographic(surf, m, ~void, 0)
    r = np.hypot(xy[:, 0], xy[:, 1])
    # hedgehog on a sphere: m points out, so near the plot centre (south pole) m_z < 0,
    # far out (north pole) m_z > 0 -- the paper's Fig. 4C description
    assert np.mean(mv[r < 0.5, 2]) < -0.7
    assert np.mean(mv[r > 2.0, 2]) > 0.7
