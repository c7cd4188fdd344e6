"""Config of the XMCD forward model and ptychography simulation."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Section, param


@dataclass(frozen=True, kw_only=True)
class SimulateConfig(Section):
    """Optics, probe, scan and detector of the simulated experiment."""

    energy_ev: float = param(856.0, doc="Photon energy, eV (paper: 856, just above Ni L3).", gt=0)
