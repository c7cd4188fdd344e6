"""Config of scoring against ground truth."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Section, param


@dataclass(frozen=True, kw_only=True)
class ScoreConfig(Section):
    """Matching recovered defects to true ones."""

    match_distance_vox: float = param(2.0, doc="Largest distance for a match, voxels.", gt=0)
