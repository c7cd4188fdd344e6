"""The geometry convention (synthvec.geometry): worked examples, orthonormality, detector axes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthvec.geometry import (GeometryConfig, acquisition_angles, beam_direction, detector_axes,
                               rotation)

angles = st.floats(-360, 360, allow_nan=False)
tilts = st.floats(-89, 89, allow_nan=False)


def eq4(phi_paper_deg, theta_deg):
    """The paper's eq. 4, written out independently."""
    p, t = np.deg2rad(phi_paper_deg), np.deg2rad(theta_deg)
    return np.array([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)])


@pytest.mark.parametrize("phi, theta, expected", [
    # untilted: beam along the sample normal
    (0.0, 0.0, (0.0, 0.0, 1.0)),
    # tilt 30 about x, no in-plane rotation: beam leans toward +y (sin 30 = 1/2)
    (0.0, 30.0, (0.0, 0.5, np.sqrt(3) / 2)),
    # phi = 90: the in-plane rotation turns that lean to +x
    (90.0, 30.0, (0.5, 0.0, np.sqrt(3) / 2)),
    # paper geometry, series 2 at the highest tilt, by hand:
    # sin62 = 0.882948, cos62 = 0.469472; sin120 = 0.866025, cos120 = -0.5
    (120.0, 62.0, (0.882948 * 0.866025, 0.882948 * -0.5, 0.469472)),
    (240.0, -62.0, (-0.882948 * -0.866025, -0.882948 * -0.5, 0.469472)),
])
def test_beam_direction_worked_examples(phi, theta, expected):
    np.testing.assert_allclose(beam_direction(phi, theta), expected, atol=2e-6)


@pytest.mark.parametrize("phi, theta", [(0, 0), (0, 62), (120, -62), (240, 30), (37.5, -11)])
def test_beam_direction_is_eq4_with_phi_paper_90_minus_phi(phi, theta):
    np.testing.assert_allclose(beam_direction(phi, theta), eq4(90.0 - phi, theta), atol=1e-12)


@given(angles, tilts)
@settings(max_examples=50, deadline=None)
def test_rotation_orthonormal_and_beam_is_rt_ez(phi, theta):
    r = rotation(phi, theta)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(beam_direction(phi, theta), r.T @ np.array([0, 0, 1.0]), atol=1e-12)


@given(angles, tilts)
@settings(max_examples=50, deadline=None)
def test_detector_axes_right_handed_with_beam(phi, theta):
    u, v = detector_axes(phi, theta)
    k = beam_direction(phi, theta)
    basis = np.stack([u, v, k])
    np.testing.assert_allclose(basis @ basis.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(np.cross(u, v), k, atol=1e-12)


@given(angles, tilts, st.tuples(*[st.floats(-100, 100)] * 3), st.floats(-500, 500))
@settings(max_examples=50, deadline=None)
def test_point_lands_on_detector_and_beam_does_not_move_it(phi, theta, r, s):
    r = np.array(r)
    u, v = detector_axes(phi, theta)
    lab = rotation(phi, theta) @ r
    np.testing.assert_allclose([u @ r, v @ r], lab[:2], atol=1e-9)
    shifted = r + s * beam_direction(phi, theta)   # moving along the beam keeps (u, v)
    np.testing.assert_allclose([u @ shifted, v @ shifted], lab[:2], atol=1e-9)


def test_rotation_order_phi_first_then_theta():
    # sample x, rotated 90 deg in-plane, becomes sample y; a 90 deg tilt about lab x sends it to z
    r = rotation(90.0, 90.0)
    np.testing.assert_allclose(r @ [1.0, 0, 0], [0, 0, 1.0], atol=1e-12)


def test_paper_acquisition_angles():
    ang = acquisition_angles(GeometryConfig())
    assert ang.shape == (96, 2)
    np.testing.assert_allclose(np.unique(ang[:, 0]), [0, 120, 240])
    np.testing.assert_allclose(ang[:32, 1], np.arange(-62, 63, 4))
