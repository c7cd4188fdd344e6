"""Config of the topology analysis."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Section, param


@dataclass(frozen=True, kw_only=True)
class AnalysisConfig(Section):
    """Hedgehog finding, pair statistics, virtual hedgehogs."""

    smooth_sigma_vox: float = param(0.0, doc="Gaussian pre-smoothing of m before charge "
                                    "finding, voxels (0 = none).", ge=0)
