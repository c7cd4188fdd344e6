"""XMCD optics: wavelength, transmission, optical density and the helicity identities (eq. 2)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthvec.forward.config import OpticsConfig
from synthvec.forward.optics import optical_density, transmission, wavelength_nm

E = 856.0
OPT = OpticsConfig()


def test_wavelength_at_the_paper_energy():
    # lambda = h c / E = 1239.84 eV nm / 856 eV (DESIGN.md: ~1.448 nm)
    assert wavelength_nm(E) == pytest.approx(1.44841, abs=1e-5)


def test_od_of_uniform_nickel_is_beer_lambert():
    # OD = 4 pi beta L / lambda for a 100 nm nickel path, written out by hand
    t = transmission(np.array(100.0), np.array(0.0), np.array(0.0), optics=OPT, energy_ev=E,
                     helicity=1)
    assert optical_density(t) == pytest.approx(4 * np.pi * OPT.ni_beta * 100.0 / wavelength_nm(E))
    assert np.angle(t) == pytest.approx(-2 * np.pi * OPT.ni_delta * 100.0 / wavelength_nm(E))


@given(st.floats(0, 300), st.floats(0, 300), st.floats(-1, 1))
@settings(max_examples=60, deadline=None)
def test_helicity_sum_and_difference(l_ni, l_si, mk_fraction):
    # sum = twice the charge OD, difference = 4 k beta_mag * integral k.m, for any object
    mk = mk_fraction * l_ni
    od = {h: optical_density(transmission(np.array(l_ni), np.array(l_si), np.array(mk),
                                          optics=OPT, energy_ev=E, helicity=h)) for h in (1, -1)}
    k = 2 * np.pi / wavelength_nm(E)
    charge = 2 * k * (OPT.ni_beta * l_ni + OPT.sio2_beta * l_si)
    assert od[1] + od[-1] == pytest.approx(2 * charge, rel=1e-9, abs=1e-12)
    assert od[1] - od[-1] == pytest.approx(4 * k * OPT.ni_beta_mag * mk, rel=1e-9, abs=1e-12)


def test_contrast_maximal_along_k_and_zero_perpendicular():
    k = np.array([0.3, -0.5, np.sqrt(1 - 0.34)])
    perp = np.cross(k, [1.0, 0, 0])
    perp /= np.linalg.norm(perp)
    path = 80.0
    diffs = {}
    for name, m in (("parallel", k), ("perpendicular", perp), ("antiparallel", -k)):
        mk = path * float(k @ m)
        od = [optical_density(transmission(np.array(path), np.array(0.0), np.array(mk),
                                           optics=OPT, energy_ev=E, helicity=h)) for h in (1, -1)]
        diffs[name] = od[0] - od[1]
    assert diffs["perpendicular"] == pytest.approx(0.0, abs=1e-15)
    assert diffs["parallel"] > 0 and diffs["antiparallel"] == pytest.approx(-diffs["parallel"])
    # any other direction gives less contrast than parallel
    rng = np.random.default_rng(0)
    for m in rng.normal(size=(20, 3)):
        m /= np.linalg.norm(m)
        assert abs(path * (k @ m)) <= path + 1e-12


def test_bad_helicity_rejected():
    with pytest.raises(ValueError, match="helicity"):
        transmission(np.array(1.0), np.array(0.0), np.array(0.0), optics=OPT, energy_ev=E,
                     helicity=0)
