"""Config of scoring against ground truth."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Section, param


@dataclass(frozen=True, kw_only=True)
class ScoreConfig(Section):
    """Matching recovered defects to true ones (same sign, optimal assignment)."""

    match_distance_vox: float = param(2.0, doc="Largest distance for a match, voxels of the "
                                      "reconstruction grid (issue default: 2 voxels = 10 nm at "
                                      "5 nm, the paper's resolution).", gt=0)
