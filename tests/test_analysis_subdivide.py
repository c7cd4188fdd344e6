"""Hedgehog search on subdivided voxels (AnalysisConfig.upsample) and split core charges."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from synthvec.analysis import analyze_field
from synthvec.analysis.config import AnalysisConfig
from synthvec.analysis.defects import find_defects, subdivide_field


def _voxel_average_pair(shape, charges, samples=4):
    """Voxel averages of the unit direction of a Coulomb pair field (sub-sampled boxes).

    charges: (cx, cy, cz, q) in voxel units; the field at a sub-sample is the unit vector of
    sum_i q_i (r - c_i) / |r - c_i|^3, and each voxel holds the mean of its samples (what an
    ideal reconstruction of a unit-length texture holds).
    """
    offs = (np.arange(samples) + 0.5) / samples - 0.5
    z, y, x = np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij")
    acc = np.zeros((3,) + tuple(shape))
    for oz in offs:
        for oy in offs:
            for ox in offs:
                f = np.zeros((3,) + tuple(shape))
                for cx, cy, cz, q in charges:
                    r = np.stack([x + ox - cx, y + oy - cy, z + oz - cz])
                    f += q * r / np.linalg.norm(r, axis=0) ** 3
                acc += f / np.linalg.norm(f, axis=0)
    return acc / samples ** 3


@settings(max_examples=20, deadline=None)
@given(st.floats(-2, 2), st.floats(-2, 2), st.floats(-2, 2), st.floats(-5, 5),
       st.floats(0.5, 3.0), st.integers(2, 3))
def test_subdivide_reproduces_a_linear_field_at_sub_voxel_centres(a, b, c, d, pitch, factor):
    shape = (5, 6, 7)
    coords = tuple(10.0 + pitch * np.arange(n) for n in shape)
    zz, yy, xx = np.meshgrid(*coords, indexing="ij")
    lin = a * xx + b * yy + c * zz + d
    m = np.stack([lin, 2 * lin, -lin])
    fm, fmask, fc = subdivide_field(m, None, coords, factor)
    assert fmask is None
    assert fm.shape == (3,) + tuple(n * factor for n in shape)
    for axis, (cf, cc) in enumerate(zip(fc, coords)):
        # sub-voxel centres: `factor` per voxel, centred on the voxel's node
        np.testing.assert_allclose(cf.reshape(-1, factor).mean(1), cc, atol=1e-9)
        np.testing.assert_allclose(np.diff(cf), pitch / factor, rtol=1e-9)
    fz, fy, fx = np.meshgrid(*fc, indexing="ij")
    want = a * fx + b * fy + c * fz + d
    inner = (slice(factor, -factor),) * 3  # the edge sub-voxels are extrapolated as constant
    np.testing.assert_allclose(fm[0][inner], want[inner], atol=1e-4 * (1 + np.abs(want).max()))
    np.testing.assert_allclose(fm[2][inner], -want[inner], atol=1e-4 * (1 + np.abs(want).max()))


def test_subdivided_mask_is_the_interpolated_mask_above_one_half():
    mask = np.zeros((6, 6, 6), bool)
    mask[2:4, 2:4, 2:4] = True
    coords = tuple(np.arange(6.0) for _ in range(3))
    _, fmask, _ = subdivide_field(np.ones((3, 6, 6, 6)), mask, coords, 2)
    # sub-voxel centres sit a quarter voxel from the nodes: along one axis the masked nodes 2, 3
    # interpolate to 3/4, 1, 1, 3/4 at sub-voxels 4..7 (1/4 at 3 and 8); in 3D the products,
    # so the 4^3 block is in except its 8 corners ((3/4)^3 < 1/2 < (3/4)^2)
    prof = np.zeros(12)
    prof[3:9] = [0.25, 0.75, 1, 1, 0.75, 0.25]
    want = np.einsum("i,j,k->ijk", prof, prof, prof) > 0.5
    assert want.sum() == 4 ** 3 - 8
    assert np.array_equal(fmask, want)


@pytest.mark.parametrize("sep", [3, 6])
def test_core_on_node_with_degenerate_direction_is_found(sep):
    # cores exactly on nodes of the grid, voxel-averaged: the core voxel's m is the other
    # charge's field, parallel to the x axis, so the faces around the node are degenerate
    # and the core's charge splits into 1/4 over four cubes (none >= 1/2)
    shape = (14, 14, 8 + sep + 6)
    cores = [(7.0, 7.0, 7.0, 1), (7.0 + sep, 7.0, 7.0, -1)]
    m = _voxel_average_pair(shape, cores)
    coords = tuple(np.arange(n, dtype=float) for n in shape)
    for sigma in (0.0, 0.5):
        found = find_defects(m, sigma_vox=sigma, coords=coords).defects
        assert sorted(found["charge"]) == [-1, 1]
        for cx, cy, cz, q in cores:
            row = found[found["charge"] == q].iloc[0]
            assert max(abs(row.x_nm - cx), abs(row.y_nm - cy), abs(row.z_nm - cz)) <= 1.0
    field = xr.Dataset({"m": (("comp", "z", "y", "x"), m)},
                       coords={"z": coords[0], "y": coords[1], "x": coords[2],
                               "comp": ["x", "y", "z"]}, attrs={"voxel_nm": 1.0})
    for up in (1, 2, 3):
        cfg = AnalysisConfig(upsample=up, virtual=False, gev_bootstrap=0)
        hh = analyze_field(field, cfg).hedgehogs
        assert sorted(hh["charge"]) == [-1, 1], up
        for cx, cy, cz, q in cores:
            row = hh[hh["charge"] == q].iloc[0]
            assert max(abs(row.x_nm - cx), abs(row.y_nm - cy), abs(row.z_nm - cz)) <= 1.0
            # cube indices refer to the analysis grid: the cube that holds the position
            assert row.i == int(np.floor(row.x_nm)) and row.k == int(np.floor(row.z_nm))


def test_upsample_keeps_a_smooth_pair_and_adds_nothing_in_bulk():
    rng = np.random.default_rng(4)
    shape = (16, 16, 24)
    d = rng.uniform(-0.4, 0.4, 6)
    cores = [(8.3 + d[0], 7.6 + d[1], 7.7 + d[2], 1), (13.2 + d[3], 8.1 + d[4], 8.4 + d[5], -1)]
    m = _voxel_average_pair(shape, cores)
    coords = tuple(5.0 * np.arange(n) for n in shape)
    field = xr.Dataset({"m": (("comp", "z", "y", "x"), m)},
                       coords={"z": coords[0], "y": coords[1], "x": coords[2],
                               "comp": ["x", "y", "z"]}, attrs={"voxel_nm": 5.0})
    base = AnalysisConfig(virtual=False, gev_bootstrap=0)
    for up in (1, 2):
        hh = analyze_field(field, dataclasses.replace(base, upsample=up)).hedgehogs
        assert sorted(hh["charge"]) == [-1, 1]
        for cx, cy, cz, q in cores:
            row = hh[hh["charge"] == q].iloc[0]
            err = np.linalg.norm([row.x_nm - 5 * cx, row.y_nm - 5 * cy, row.z_nm - 5 * cz])
            # within the analysis cube that holds the core: half its diagonal
            assert err <= 5.0 / up * np.sqrt(3) / 2 + 1e-9, (up, err)
