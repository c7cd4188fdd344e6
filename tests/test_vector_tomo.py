"""Vector tomography (eq. 3-6): textured field recovered from three series, not from one."""

import numpy as np
import pytest

from synthvec.geometry import beam_direction
from synthvec.invert.tomo import TomoConfig, VectorConfig, reconstruct_scalar, reconstruct_vector
from synthvec.invert.tomo.fourier import FourierSliceProjector
from synthvec.invert.tomo.vector import vector_gd
from tests.test_tomo_support import paper_angles, projection_set

N = 24


def textured_field(n):
    """A smooth 3D texture (vortex + helix + radial tilt) in a sphere, |m| = 1 inside."""
    ax = (np.arange(n) - (n - 1) / 2) / n
    z, y, x = np.meshgrid(ax, ax, ax, indexing="ij")
    m = np.stack([-y + 0.4 * np.sin(2 * np.pi * z), x + 0.4 * np.cos(2 * np.pi * z),
                  0.5 * np.cos(3 * np.pi * np.hypot(x, y)) + 0.3 * x])
    m /= np.linalg.norm(m, axis=0)
    mask = x ** 2 + y ** 2 + z ** 2 < 0.38 ** 2
    return m * mask, mask


def xmcd_projections(m, ang):
    """sum_c k_c P m_c by the Fourier-slice projector (not the real-space one used to invert)."""
    op = FourierSliceProjector(m.shape[1], ang[:, 0], ang[:, 1], dtype=np.float64, threads=1)
    k = beam_direction(ang[:, 0], ang[:, 1])
    return sum(k[:, c, None, None] * op.fwd(m[c]) for c in range(3))


def angular_error_deg(a, b, mask):
    cos = np.sum(a * b, axis=0) / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0) + 1e-30)
    return np.degrees(np.arccos(np.clip(cos[mask], -1, 1)))


@pytest.fixture(scope="module")
def field():
    return textured_field(N)


def test_three_series_recover_texture(field):
    m, mask = field
    ang = paper_angles(16)
    rec, r1 = vector_gd(xmcd_projections(m, ang), ang[:, 0], ang[:, 1],
                        VectorConfig(iterations=100), support=mask, threads=1)
    assert np.median(angular_error_deg(rec, m, mask)) <= 10.0
    assert r1[-1] < 0.05 * r1[0]
    assert np.all(rec[:, ~mask] == 0)


def test_one_series_misses_its_tilt_axis_component(field):
    """phi = 0 tilts about x: k_x = 0 for every projection, so m_x is in the null space."""
    m, mask = field
    ang = paper_angles(16, phis=(0.0,))
    rec, _ = vector_gd(xmcd_projections(m, ang), ang[:, 0], ang[:, 1],
                       VectorConfig(iterations=100), support=mask, threads=1)

    def corr(c):
        return np.corrcoef(rec[c][mask], m[c][mask])[0, 1]

    assert np.max(np.abs(rec[0])) < 1e-6 * np.max(np.abs(rec))  # nothing along the tilt axis
    assert corr(1) > 0.8 and corr(2) > 0.8  # the other two are seen
    three = paper_angles(16)
    rec3, _ = vector_gd(xmcd_projections(m, three), three[:, 0], three[:, 1],
                        VectorConfig(iterations=100), support=mask, threads=1)
    assert np.corrcoef(rec3[0][mask], m[0][mask])[0, 1] > 0.9


def test_reconstruct_vector_reuses_scalar_alignment(field):
    m, mask = field
    ang = paper_angles(12)
    density = FourierSliceProjector(N, ang[:, 0], ang[:, 1], dtype=np.float64, threads=1).fwd(
        mask.astype(float))
    ds = projection_set(density, ang, pitch_nm=3.0, xmcd=xmcd_projections(m, ang))
    scalar = reconstruct_scalar(ds, TomoConfig(iterations=40))
    vec = reconstruct_vector(ds, VectorConfig(iterations=80, support_fraction=0.5),
                             alignment=scalar)
    assert vec["m"].dims == ("comp", "z", "y", "x")
    assert list(vec["comp"].values) == ["x", "y", "z"]
    assert vec.attrs["voxel_nm"] == 3.0
    inner = mask & vec["mask"].values
    assert inner.sum() > 0.5 * mask.sum()
    assert np.median(angular_error_deg(vec["m"].values, m, inner)) <= 15.0


def test_missing_xmcd_is_an_input_error(field):
    from synthvec.errors import InputError

    ang = paper_angles(4)
    ds = projection_set(np.zeros((len(ang), N, N)), ang)
    with pytest.raises(InputError, match="xmcd"):
        reconstruct_vector(ds, VectorConfig(iterations=2))
