"""Zone-plate probe: focal length, focal spot size, defocus, modes."""

import numpy as np
import pytest

from synthvec.forward.probe import (focal_length_nm, intensity_fwhm_nm, numerical_aperture,
                                    probe_modes, zone_plate_probe)
from synthvec.forward.propagate import propagate

LAM = 1239.84193 / 856.0


def test_focal_length_and_na():
    # f = D dr / lambda: 240 um * 45 nm / 1.4484 nm = 7.456 mm; NA = lambda / (2 dr)
    assert focal_length_nm(outer_zone_nm=45, diameter_um=240, wavelength_nm=LAM) == \
        pytest.approx(240e3 * 45 / LAM)
    assert numerical_aperture(outer_zone_nm=45, wavelength_nm=LAM) == pytest.approx(LAM / 90)
    # the two agree: NA = D / (2 f)
    f = focal_length_nm(outer_zone_nm=45, diameter_um=240, wavelength_nm=LAM)
    assert 240e3 / (2 * f) == pytest.approx(numerical_aperture(outer_zone_nm=45, wavelength_nm=LAM))


@pytest.mark.parametrize("dr", [45.0, 30.0])
def test_focal_spot_fwhm_is_airy(dr):
    p = zone_plate_probe(128, 1.0, wavelength_nm=LAM, outer_zone_nm=dr)
    na = LAM / (2 * dr)
    expected = 1.03 * LAM / (2 * na)
    assert intensity_fwhm_nm(p, 1.0) == pytest.approx(expected, rel=0.10)
    assert intensity_fwhm_nm(p, 1.0) == pytest.approx(expected, rel=0.02)


def test_normalised_and_centred():
    p = zone_plate_probe(64, 2.5, wavelength_nm=LAM, outer_zone_nm=45, central_stop_fraction=0.4)
    assert np.sum(np.abs(p) ** 2) == pytest.approx(1.0)
    assert np.unravel_index(np.argmax(np.abs(p)), p.shape) == (32, 32)


def test_defocus_equals_propagation_of_focus():
    n, pix, dz = 128, 2.5, 2000.0
    kw = dict(wavelength_nm=LAM, outer_zone_nm=45, central_stop_fraction=0.3)
    focus = zone_plate_probe(n, pix, pad=4, **kw)
    defocused = zone_plate_probe(n, pix, defocus_nm=dz, **kw)
    # propagate the focus on a 4x padded grid, crop, compare (normalisations differ)
    pad_focus = zone_plate_probe(4 * n, pix, pad=4, **kw)
    prop = propagate(pad_focus, dz, pixel_nm=pix, wavelength_nm=LAM)[
        3 * n // 2:5 * n // 2, 3 * n // 2:5 * n // 2]
    prop /= np.linalg.norm(prop)
    assert abs(np.vdot(prop, defocused)) == pytest.approx(1.0, abs=1e-3)
    assert np.linalg.norm(defocused - focus) > 0.5


def test_defocused_beam_grows_like_geometric_cone():
    # second moments: <r^2>(z) - <r^2>(0) = z^2 <theta^2>, and a uniformly filled pupil of
    # half-angle NA has <theta^2> = NA^2 / 2 (the geometric cone)
    pix, n = 10.0, 256
    yy, xx = (np.indices((n, n)) - n // 2) * pix

    def second_moment(z):
        p = zone_plate_probe(n, pix, wavelength_nm=LAM, outer_zone_nm=45, defocus_nm=z)
        return np.sum(np.abs(p) ** 2 * (xx ** 2 + yy ** 2))

    z = 20000.0
    na = LAM / 90
    assert second_moment(z) - second_moment(0.0) == pytest.approx(z ** 2 * na ** 2 / 2, rel=0.05)


def test_modes_weights_and_shift():
    modes, w = probe_modes(64, 2.5, n_modes=3, source_sigma_nm=10.0, rng=np.random.default_rng(0),
                           wavelength_nm=LAM, outer_zone_nm=45)
    assert modes.shape == (3, 64, 64) and w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(np.sum(np.abs(modes) ** 2, axis=(1, 2)), 1.0)
    # a 10 nm shift (4 pixels) moves the beam by exactly 4 columns
    kw = dict(wavelength_nm=LAM, outer_zone_nm=45)
    shifted = zone_plate_probe(64, 2.5, shift_nm=(0.0, 10.0), **kw)
    rolled = np.roll(zone_plate_probe(64, 2.5, **kw), 4, axis=1)
    core = (slice(16, 48), slice(16, 48))
    a, b = shifted[core], rolled[core]
    overlap = abs(np.vdot(a, b)) / (np.linalg.norm(a) * np.linalg.norm(b))
    assert overlap == pytest.approx(1, abs=1e-6)
