"""Config of the ptychographic inversion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...config import Section, param


@dataclass(frozen=True, kw_only=True)
class PtychoConfig(Section):
    """rPIE reconstruction of each scan (Maiden, Johnson & Li, Optica 4, 736, 2017)."""

    method: Literal["rpie"] = param("rpie", doc="Engine, by name in the engine table.")
    iterations: int = param(50, doc="Iterations (sweeps over all positions).", gt=0)
