"""Cube parity (``cube_px``): a reconstruction can share the voxel grid of another volume.

An odd detector gives voxel centres on integer multiples of the pixel; an even
cube puts them on half-integer multiples (the grid of an even-sided truth
volume centred on the origin). Known answer: analytic chord lengths of a ball
at a known off-axis position, reconstructed on both cubes, must put the ball
at that position in nm on either grid.
"""

import numpy as np
import pytest
import xarray as xr

from synthvec.errors import InputError
from synthvec.geometry import detector_axes
from synthvec.invert.tomo import TomoConfig, VectorConfig, reconstruct_scalar, reconstruct_vector
from synthvec.invert.tomo.dataio import detector_grid

PITCH = 5.0
CENTRE_NM = np.array([7.5, -10.0, 5.0])  # (x, y, z): off every grid node
RADIUS_NM = 14.0
M_DIR = np.array([0.6, 0.0, 0.8])  # uniform magnetization of the ball


def _angles():
    return np.array([(p, t) for p in (0.0, 120.0, 240.0) for t in np.linspace(-60, 60, 11)])


def _ball_set(n_det: int) -> xr.Dataset:
    """Line integrals (nm) of the ball, and of k.m inside it, on an n_det detector."""
    ang = _angles()
    coord = (np.arange(n_det) - (n_det - 1) / 2) * PITCH
    vv, uu = np.meshgrid(coord, coord, indexing="ij")
    proj, xmcd = [], []
    for phi, th in ang:
        u_ax, v_ax = detector_axes(phi, th)
        d2 = (uu - u_ax @ CENTRE_NM) ** 2 + (vv - v_ax @ CENTRE_NM) ** 2
        chord = 2 * np.sqrt(np.clip(RADIUS_NM ** 2 - d2, 0, None))
        k = np.cross(u_ax, v_ax)
        proj.append(chord)
        xmcd.append(chord * (k @ M_DIR))
    return xr.Dataset({"projections": (("angle", "v", "u"), np.array(proj, np.float32)),
                       "xmcd": (("angle", "v", "u"), np.array(xmcd, np.float32))},
                      coords={"phi_deg": ("angle", ang[:, 0]), "theta_deg": ("angle", ang[:, 1]),
                              "u": ("u", coord, {"units": "nm"}),
                              "v": ("v", coord, {"units": "nm"})})


def _centroid_xyz(vol: xr.DataArray) -> np.ndarray:
    w = np.clip(vol.values.astype(float), 0, None)
    w = np.where(w > 0.3 * w.max(), w, 0.0)
    z, y, x = np.meshgrid(vol["z"].values, vol["y"].values, vol["x"].values, indexing="ij")
    return np.array([(w * c).sum() / w.sum() for c in (x, y, z)])


@pytest.mark.parametrize("cube_px", [None, 16])
def test_ball_lands_at_its_position_on_either_parity(cube_px):
    proj = _ball_set(15)
    cfg = TomoConfig(iterations=40, align=False, refine_every=0)
    rec = reconstruct_scalar(proj, cfg, cube_px=cube_px)
    n = 15 if cube_px is None else cube_px
    assert rec.sizes["x"] == n
    half = (n - 1) / 2
    np.testing.assert_allclose(rec["x"].values, (np.arange(n) - half) * PITCH)
    # odd cube: nodes on integer multiples of the pixel; even: on half-integers
    frac = np.mod(rec["x"].values / PITCH, 1.0)
    np.testing.assert_allclose(frac, 0.0 if n % 2 else 0.5, atol=1e-9)
    got = _centroid_xyz(rec["density"])
    assert np.all(np.abs(got - CENTRE_NM) < 0.25 * PITCH), got
    # the density is 1 per nm inside the ball: its integral is the ball's volume
    total = float(rec["density"].values.sum(dtype=float)) * PITCH ** 3
    assert abs(total / (4 / 3 * np.pi * RADIUS_NM ** 3) - 1) < 0.1


def test_vector_follows_the_scalar_cube():
    proj = _ball_set(15)
    sc = reconstruct_scalar(proj, TomoConfig(iterations=30, align=False, refine_every=0),
                            cube_px=16)
    vec = reconstruct_vector(proj, VectorConfig(iterations=60), alignment=sc)
    assert vec.sizes["x"] == 16
    np.testing.assert_allclose(vec["x"].values, sc["x"].values)
    z, y, x = np.meshgrid(vec["z"].values, vec["y"].values, vec["x"].values, indexing="ij")
    inner = ((x - CENTRE_NM[0]) ** 2 + (y - CENTRE_NM[1]) ** 2 + (z - CENTRE_NM[2]) ** 2
             < (RADIUS_NM - 3) ** 2)
    mean = vec["m"].values[:, inner].sum(axis=1)
    cos = mean @ M_DIR / np.linalg.norm(mean)
    assert cos > np.cos(np.deg2rad(5)), mean


def test_cube_smaller_than_detector_is_refused():
    with pytest.raises(InputError, match="cube_px"):
        detector_grid(_ball_set(15), cube_px=14)
