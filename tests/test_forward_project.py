"""The simulation projector against analytic line integrals (spheres, slabs)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthvec.forward.project import footprint_bounds_nm, material_channels, ray_integrals
from synthvec.geometry import beam_direction, rotation
from synthvec.io import field_dataset

VOX = 2.5


def partial_volume_sphere(n, centre, radius, ss=4):
    """Sphere occupancy per voxel by ss^3 sub-samples (the test's own voxelizer)."""
    ax = (np.arange(n) - (n - 1) / 2.0) * VOX
    sub = ((np.arange(ss) + 0.5) / ss - 0.5) * VOX
    vol = np.zeros((n, n, n))
    for dz in sub:
        for dy in sub:
            for dx in sub:
                z, y, x = np.meshgrid(ax + dz, ax + dy, ax + dx, indexing="ij")
                vol += ((x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2
                        <= radius ** 2)
    return vol / ss ** 3


@pytest.fixture(scope="module")
def sphere():
    c, r = np.array([5.0, -7.0, 3.0]), 30.0
    return partial_volume_sphere(64, c, r)[..., None].astype(np.float32), c, r


def pixel_averaged(fn, u, ss=4, pix=VOX):
    sub = ((np.arange(ss) + 0.5) / ss - 0.5) * pix
    return sum(fn(u + du, u + dv) for dv in sub for du in sub) / ss ** 2


def chord(u, v, centre_lab, r):
    vv, uu = np.meshgrid(v, u, indexing="ij")
    rho2 = (uu - centre_lab[0]) ** 2 + (vv - centre_lab[1]) ** 2
    return 2 * np.sqrt(np.clip(r * r - rho2, 0, None))


@pytest.mark.parametrize("phi, theta", [(0, 0), (120, 62), (240, -30), (33, 45)])
def test_sphere_chords(sphere, phi, theta):
    vol, c, r = sphere
    rot = rotation(phi, theta)
    cl = rot @ c
    u = np.arange(-17, 18) * 5.0          # reconstruction pixel 5 nm = 2 simulation voxels
    proj = pixel_averaged(lambda uu, vv: ray_integrals(vol, voxel_nm=VOX, rotation=rot, u_nm=uu,
                                                       v_nm=vv)[..., 0], u, pix=5.0)
    ana = pixel_averaged(lambda uu, vv: chord(uu, vv, cl, r), u, pix=5.0)
    inner = ana > r                        # chord longer than the radius
    rel_inner = np.linalg.norm((proj - ana)[inner]) / np.linalg.norm(ana[inner])
    assert rel_inner <= 0.01
    assert abs(proj.sum() - ana.sum()) / ana.sum() <= 0.005       # projected volume
    assert np.linalg.norm(proj - ana) / np.linalg.norm(ana) <= 0.02  # rim limited by voxels


@pytest.mark.parametrize("phi, theta", [(0, 0), (120, 62), (17, -75)])
def test_uniform_slab_is_exact(phi, theta):
    # a laterally infinite slab (wider than every ray's reach) of thickness 20 voxels
    nz, n = 20, 200
    vol = np.ones((nz, n, n, 1), np.float32)
    rot = rotation(phi, theta)
    u = np.linspace(-20, 20, 9)
    proj = ray_integrals(vol, voxel_nm=VOX, rotation=rot, u_nm=u, v_nm=u)[..., 0]
    np.testing.assert_allclose(proj, nz * VOX / np.cos(np.deg2rad(theta)), rtol=1e-6)


def test_slabs_sum_to_total(sphere):
    vol, _, _ = sphere
    rot = rotation(240, 50)
    u = np.arange(-20, 21) * 2.5
    total = ray_integrals(vol, voxel_nm=VOX, rotation=rot, u_nm=u, v_nm=u)
    slabs = ray_integrals(vol, voxel_nm=VOX, rotation=rot, u_nm=u, v_nm=u,
                          slab_edges_nm=np.linspace(-200, 200, 41))
    assert slabs.shape == (40,) + total.shape
    np.testing.assert_allclose(slabs.sum(axis=0), total, atol=1e-9)
    assert (slabs[..., 0] > 0).sum(axis=0).max() > 3       # the path is really split


def test_linear_and_nearest_agree_on_smooth_volume():
    n = 48
    ax = (np.arange(n) - (n - 1) / 2.0) * VOX
    z, y, x = np.meshgrid(ax, ax, ax, indexing="ij")
    vol = np.exp(-(x ** 2 + y ** 2 + z ** 2) / (2 * 15.0 ** 2))[..., None].astype(np.float32)
    rot = rotation(120, 40)
    u = np.arange(-10, 11) * 5.0
    a = ray_integrals(vol, voxel_nm=VOX, rotation=rot, u_nm=u, v_nm=u, interpolation="nearest")
    b = ray_integrals(vol, voxel_nm=VOX, rotation=rot, u_nm=u, v_nm=u, interpolation="linear")
    # Gaussian blob: analytic projection sqrt(2 pi) sigma exp(-rho^2 / 2 sigma^2)
    vv, uu = np.meshgrid(u, u, indexing="ij")
    ana = np.sqrt(2 * np.pi) * 15.0 * np.exp(-(uu ** 2 + vv ** 2) / (2 * 15.0 ** 2))
    for p in (a, b):
        assert np.abs(p[..., 0] - ana).max() <= 0.01 * ana.max()


def test_material_channels_and_mk_integral():
    n = 40
    mat = np.zeros((n, n, n), np.int8)
    mat[10:30, 10:30, 10:30] = 2            # a 50 nm nickel cube
    mat[:5] = 1                             # a silica layer
    m = np.zeros((3, n, n, n), np.float32)
    m[:, mat == 2] = np.array([0.6, 0.0, 0.8])[:, None]
    truth = field_dataset(m, voxel_nm=VOX)
    truth["material"] = (("z", "y", "x"), mat)
    k = beam_direction(0, 0)
    ch = material_channels(truth, k)
    assert ch.shape == (n, n, n, 3)
    proj = ray_integrals(ch, voxel_nm=VOX, rotation=rotation(0, 0), u_nm=np.array([0.0]),
                         v_nm=np.array([0.0]))[0, 0]
    np.testing.assert_allclose(proj, [50.0, 12.5, 0.8 * 50.0], rtol=1e-6)


def test_footprint_widens_with_tilt():
    b0 = footprint_bounds_nm((60, 120, 120), VOX, rotation(0, 0))
    b62 = footprint_bounds_nm((60, 120, 120), VOX, rotation(0, 62))
    assert b0 == pytest.approx((-150, 150, -150, 150))
    # v extent at 62 deg: 300 cos62 + 150 sin62
    t = np.deg2rad(62)
    assert b62[3] - b62[2] == pytest.approx(300 * np.cos(t) + 150 * np.sin(t))


@given(st.floats(0, 360), st.floats(-70, 70))
@settings(max_examples=15, deadline=None)
def test_projection_conserves_volume_integral(phi, theta):
    # sum over a detector that covers the footprint, times the pixel area, is the volume
    # integral, whatever the angles (nearest-voxel sampling integrates the voxel model)
    rng = np.random.default_rng(0)
    vol = rng.random((6, 10, 12, 1)).astype(np.float32)
    rot = rotation(phi, theta)
    u_lo, u_hi, v_lo, v_hi = footprint_bounds_nm(vol.shape[:3], VOX, rot)
    pix = VOX / 4
    u = np.arange(u_lo - pix, u_hi + pix, pix)
    v = np.arange(v_lo - pix, v_hi + pix, pix)
    proj = ray_integrals(vol, voxel_nm=VOX, rotation=rot, u_nm=u, v_nm=v, max_step_fraction=0.25)
    assert proj.sum() * pix ** 2 == pytest.approx(vol.sum() * VOX ** 3, rel=0.02)
