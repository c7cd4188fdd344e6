"""Known-answer and property tests of the lattice charge (synthvec.analysis.charges)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.spatial.transform import Rotation

from synthvec.analysis.charges import lattice_charge, degenerate_faces


def hedgehog(shape, centre, sign=1, *, swirl=0.0):
    """m = ±(r - c)/|r - c| at nodes (z, y, x) = index, c = (cx, cy, cz) in voxels.

    ``sign=-1`` flips the z component only, (x, y, -z): degree -1.
    ``swirl`` rotates the in-plane part by that angle (a topologically trivial change).
    """
    z, y, x = np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij")
    rx, ry, rz = x - centre[0], y - centre[1], z - centre[2]
    c, s = np.cos(swirl), np.sin(swirl)
    return np.stack([c * rx - s * ry, s * rx + c * ry, sign * rz])


def test_single_hedgehog_plus_one_at_its_cube():
    m = hedgehog((8, 9, 10), (4.5, 3.5, 2.5))  # cube centre (x=4.5, y=3.5, z=2.5)
    q = lattice_charge(m)
    assert q.shape == (7, 8, 9)
    assert q[2, 3, 4] == 1.0
    q[2, 3, 4] = 0.0
    assert np.all(q == 0.0)


@pytest.mark.parametrize("kind", ["zflip", "point"])
def test_anti_hedgehog_minus_one(kind):
    centre = (3.5, 4.5, 2.5)
    m = hedgehog((7, 8, 9), centre, sign=-1) if kind == "zflip" else -hedgehog((7, 8, 9), centre)
    q = lattice_charge(m)
    assert q[2, 4, 3] == -1.0
    assert np.count_nonzero(q) == 1


def test_swirled_hedgehog_still_plus_one():
    q = lattice_charge(hedgehog((6, 6, 6), (2.5, 2.5, 2.5), swirl=2.0))
    assert q[2, 2, 2] == 1.0 and np.count_nonzero(q) == 1


def test_uniform_field_zero():
    m = np.zeros((3, 5, 6, 7))
    m[0] = 0.3
    m[2] = -1.0
    assert np.all(lattice_charge(m) == 0.0)


def test_shapes_and_exact_integers_random_field():
    rng = np.random.default_rng(1)
    m = rng.normal(size=(3, 9, 8, 7))
    q = lattice_charge(m)
    assert q.dtype == np.float64 and q.shape == (8, 7, 6)
    assert np.all(q == np.rint(q))


def _slow_cube_charge(m, k, j, i):
    """Independent per-cube implementation: 12 outward triangles, l'Huilier-free angle via
    the spherical excess of each triangle (Girard) with the sign of the triple product."""
    corners = {}
    for dz in (0, 1):
        for dy in (0, 1):
            for dx in (0, 1):
                v = m[:, k + dz, j + dy, i + dx]
                corners[(dx, dy, dz)] = v / np.linalg.norm(v)
    centre = np.array([0.5, 0.5, 0.5])
    faces = [  # each face as 4 corner offsets in cyclic order
        [(0, 0, 0), (0, 1, 0), (0, 1, 1), (0, 0, 1)], [(1, 0, 0), (1, 1, 0), (1, 1, 1), (1, 0, 1)],
        [(0, 0, 0), (1, 0, 0), (1, 0, 1), (0, 0, 1)], [(0, 1, 0), (1, 1, 0), (1, 1, 1), (0, 1, 1)],
        [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0)], [(0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)],
    ]
    total = 0.0
    for f in faces:
        p = [np.array(c, float) for c in f]
        normal = np.cross(p[1] - p[0], p[2] - p[0])
        if np.dot(normal, p[0] - centre) < 0:  # orient outward, keep the diagonal f0-f2
            f = [f[0], f[3], f[2], f[1]]
        for tri in ((f[0], f[1], f[2]), (f[0], f[2], f[3])):
            a, b, c = (corners[t] for t in tri)
            # Girard: excess = sum of angles - pi, angles between great-circle arcs
            def ang(p0, p1, p2):
                t1 = p1 - np.dot(p1, p0) * p0
                t2 = p2 - np.dot(p2, p0) * p0
                return np.arccos(np.clip(np.dot(t1, t2) / np.linalg.norm(t1) / np.linalg.norm(t2), -1, 1))
            excess = ang(a, b, c) + ang(b, c, a) + ang(c, a, b) - np.pi
            total += np.sign(np.dot(a, np.cross(b, c))) * excess
    return total / (4 * np.pi)


def test_against_independent_girard_implementation():
    rng = np.random.default_rng(7)
    m = rng.normal(size=(3, 4, 4, 4))
    q = lattice_charge(m)
    for k in range(3):
        for j in range(3):
            for i in range(3):
                assert q[k, j, i] == pytest.approx(_slow_cube_charge(m, k, j, i), abs=1e-9)


def test_block_sum_equals_surface_flux_and_total():
    # Two hedgehogs and one anti-hedgehog, superposed smoothly: block sums count what is inside.
    shape = (12, 12, 12)
    rng = np.random.default_rng(3)
    m = rng.normal(size=(3,) + shape)
    q = lattice_charge(m)
    # telescoping: the sum over a block equals the sum of its surface's face fluxes; check by
    # recomputing the block's charge from the sub-volume alone (only its boundary faces enter).
    sub = m[:, 2:9, 3:10, 1:11]
    block = q[2:8, 3:9, 1:10]
    assert np.sum(block) == pytest.approx(np.sum(lattice_charge(sub)), abs=1e-9)


def test_pair_two_voxels_apart_individual_and_together():
    # hedgehog at cube (z=3, y=3, x=3), anti at cube (z=3, y=3, x=5): 2 voxels = 10 nm at 5 nm.
    shape = (8, 8, 10)
    z, y, x = np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij")
    # A hedgehog-antihedgehog pair: m = r1/|r1|^3 - r2/|r2|^3 field lines, (x,y,-z)-like at the anti.
    r1 = np.stack([x - 3.5, y - 3.5, z - 3.5])
    r2 = np.stack([x - 5.5, y - 3.5, z - 3.5])
    m = r1 / np.linalg.norm(r1, axis=0) ** 3 - r2 / np.linalg.norm(r2, axis=0) ** 3
    q = lattice_charge(m)
    assert q[3, 3, 3] == 1.0
    assert q[3, 3, 5] == -1.0
    assert np.count_nonzero(q) == 2
    assert np.sum(q) == 0.0


def test_zero_vectors_give_nan_cubes_only_around_them():
    m = hedgehog((6, 6, 6), (2.5, 2.5, 2.5))
    m[:, 0, 0, 0] = 0.0
    q = lattice_charge(m)
    assert np.isnan(q[0, 0, 0])
    assert np.count_nonzero(np.isnan(q)) == 1
    assert q[2, 2, 2] == 1.0
    m[:, 3, 3, 3] = 0.0  # a node inside the material: 8 cubes touch it
    q = lattice_charge(m)
    assert np.count_nonzero(np.isnan(q)) == 9


def test_antiparallel_neighbours_half_integers_sum_exact():
    m = np.zeros((3, 4, 4, 4))
    m[2] = 1.0
    m[2, 2, 2, 2] = -1.0  # one flipped node: antiparallel to all neighbours
    m[0, 2, 2, 2] = 0.0
    q = lattice_charge(m)
    assert degenerate_faces(m) > 0
    assert np.all(np.isfinite(q))
    assert np.all(2 * q == np.rint(2 * q))
    assert np.sum(q) == 0.0


def _rotate_volume(vol, rot):
    """Scalar volume (z, y, x) rotated by a signed permutation R of (x, y, z) about its centre."""
    vol = vol.transpose(2, 1, 0)  # (x, y, z) order
    perm = [int(np.flatnonzero(rot[a])[0]) for a in range(3)]  # x'_a = s_a x_perm[a]
    vol = vol.transpose(perm)
    for a in range(3):
        if rot[a, perm[a]] < 0:
            vol = np.flip(vol, axis=a)
    return np.ascontiguousarray(vol.transpose(2, 1, 0))


def _rotate_field(m, rot):
    """m'(r') = det(R) R m(R^-1 r'): magnetization is an axial vector (R a signed permutation
    that maps the node lattice onto itself)."""
    comps = round(np.linalg.det(rot)) * np.einsum("ab,b...->a...", rot, m)
    return np.stack([_rotate_volume(c, rot) for c in comps])


def coulomb_field(shape, charges):
    """Superposed Coulomb fields sum_i q_i (r - c_i)/|r - c_i|^3; charges: [(cx, cy, cz, q)]."""
    z, y, x = np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij")
    m = np.zeros((3,) + shape)
    for cx, cy, cz, qq in charges:
        r = np.stack([x - cx, y - cy, z - cz])
        m += qq * r / np.linalg.norm(r, axis=0) ** 3
    return m


signed_perms = st.tuples(st.permutations([0, 1, 2]), st.tuples(*(st.sampled_from([-1, 1]),) * 3))


@settings(max_examples=30, deadline=None)
@given(sp=signed_perms, signs=st.tuples(*(st.sampled_from([-1, 1]),) * 3))
def test_rotation_keeps_charges_reflection_flips(sp, signs):
    perm, flips = sp
    rot = np.zeros((3, 3))
    for a in range(3):
        rot[a, perm[a]] = flips[a]
    # three point charges at cube centres of a 9 x 10 x 11 volume (nodes z, y, x)
    defects = [(2.5, 2.5, 2.5, signs[0]), (7.5, 4.5, 3.5, signs[1]), (4.5, 6.5, 5.5, signs[2])]
    m = coulomb_field((9, 10, 11), defects)
    q = lattice_charge(m)
    q2 = lattice_charge(_rotate_field(m, rot))
    det = round(np.linalg.det(rot))
    for cx, cy, cz, s in defects:
        assert q[int(cz), int(cy), int(cx)] == s
    # every seeded charge moves with the transformation; its sign is multiplied by
    # det(R)^3 = det(R) (axial m): a proper rotation keeps it, a reflection flips it.
    # (Like charges also create field zeros of opposite index between them, whose cube can
    # depend on the face diagonals; only the seeded cubes and the total are compared.)
    marker = np.zeros_like(q)
    for cx, cy, cz, s in defects:
        marker[int(cz), int(cy), int(cx)] = 1.0
    moved = _rotate_volume(marker, rot) > 0
    np.testing.assert_array_equal(q2[moved], det * _rotate_volume(q, rot)[moved])
    assert np.sum(q2) == det * np.sum(q)


@settings(max_examples=20, deadline=None)
@given(angles=st.tuples(*(st.floats(-np.pi, np.pi),) * 3))
def test_arbitrary_global_rotation_of_m_only_keeps_charges(angles):
    # rotating m alone by a proper rotation is a continuous deformation: degree unchanged
    rot = Rotation.from_euler("zyx", angles).as_matrix()
    m = hedgehog((6, 6, 6), (2.5, 2.5, 2.5))
    q = lattice_charge(np.einsum("ab,b...->a...", rot, m))
    assert q[2, 2, 2] == 1.0 and np.count_nonzero(q) == 1
    q = lattice_charge(np.einsum("ab,b...->a...", -rot, m))  # improper: reflection
    assert q[2, 2, 2] == -1.0 and np.count_nonzero(q) == 1


def test_single_and_double_precision_agree():
    rng = np.random.default_rng(11)
    m = rng.normal(size=(3, 12, 11, 10))
    np.testing.assert_array_equal(lattice_charge(m), lattice_charge(m, precision="double"))
