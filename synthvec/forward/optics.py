"""XMCD optics: refractive index per material and helicity, transmission, optical density.

Convention. A wave ``exp(i (k s - w t))`` crossing a medium of refractive index
``n = 1 - delta + i beta`` picks up ``exp(i k (n - 1) ds)``, so the transmission
of a path is ``T = exp(-k * integral (beta + i delta) ds)`` with ``k = 2 pi /
lambda``; ``|T|^2 = exp(-2 k integral beta ds)`` and the optical density
``OD = -ln |T|^2 = 2 k integral beta ds``.

XMCD (paper eq. 2, ``f = f_c +- i f_m (k . m)``): the complex decrement
``a = beta + i delta`` of nickel is ``a_c + h a_m (k . m)`` with helicity
``h = +-1``, ``a_c = beta + i delta`` (charge) and ``a_m = beta_mag + i
delta_mag`` (magnetic, for m parallel to the beam). Hence, for any object,
``OD(+) + OD(-) = 2 OD_charge`` and ``OD(+) - OD(-) = 4 k beta_mag
integral k . m ds`` exactly in the projection approximation.
"""

from __future__ import annotations

import numpy as np

from .config import OpticsConfig

__all__ = ["HC_EV_NM", "wavelength_nm", "wavenumber_per_nm", "MATERIAL_CODES",
           "charge_decrement", "magnetic_decrement", "transmission", "optical_density"]

HC_EV_NM = 1239.84193  # h c in eV nm (CODATA 2018)

MATERIAL_CODES = {"vacuum": 0, "silica": 1, "nickel": 2}


def wavelength_nm(energy_ev: float) -> float:
    """Photon wavelength in nm, ``lambda = h c / E``."""
    if energy_ev <= 0:
        raise ValueError(f"energy_ev must be > 0 (got {energy_ev})")
    return HC_EV_NM / float(energy_ev)


def wavenumber_per_nm(energy_ev: float) -> float:
    """Vacuum wavenumber ``k = 2 pi / lambda`` in 1/nm."""
    return 2.0 * np.pi / wavelength_nm(energy_ev)


def charge_decrement(optics: OpticsConfig) -> dict[str, complex]:
    """Charge part ``a_c = beta + i delta`` of each material (complex, dimensionless)."""
    return {"vacuum": 0j, "silica": complex(optics.sio2_beta, optics.sio2_delta),
            "nickel": complex(optics.ni_beta, optics.ni_delta)}


def magnetic_decrement(optics: OpticsConfig) -> complex:
    """Magnetic part ``a_m = beta_mag + i delta_mag`` of nickel (helicity +1, m || k)."""
    return complex(optics.ni_beta_mag, optics.ni_delta_mag)


def transmission(path_ni_nm: np.ndarray, path_silica_nm: np.ndarray, mk_path_nm: np.ndarray, *,
                 optics: OpticsConfig, energy_ev: float, helicity: int) -> np.ndarray:
    """Complex transmission of rays from their path integrals (projection approximation).

    Parameters
    ----------
    path_ni_nm, path_silica_nm : ndarray, float
        Path length through nickel and silica along each ray, nm.
    mk_path_nm : ndarray, float
        ``integral (k . m) ds`` along each ray, nm (m is zero outside nickel).
    optics : OpticsConfig
        Optical constants.
    energy_ev : float
        Photon energy, eV.
    helicity : {+1, -1}
        Circular polarisation.

    Returns
    -------
    ndarray, complex128, same shape as the inputs
        ``T = exp(-k (a_ni L_ni + a_si L_si + h a_m integral k.m ds))``.
    """
    if helicity not in (1, -1):
        raise ValueError(f"helicity must be +1 or -1 (got {helicity})")
    a = charge_decrement(optics)
    k = wavenumber_per_nm(energy_ev)
    exponent = (a["nickel"] * np.asarray(path_ni_nm) + a["silica"] * np.asarray(path_silica_nm)
                + helicity * magnetic_decrement(optics) * np.asarray(mk_path_nm))
    return np.exp(-k * exponent)


def optical_density(field: np.ndarray, *, incident_intensity: float | np.ndarray = 1.0
                    ) -> np.ndarray:
    """Optical density ``OD = -ln(|T|^2 / I0)`` of a complex exit wave, float64."""
    return -np.log(np.abs(field) ** 2 / incident_intensity)
