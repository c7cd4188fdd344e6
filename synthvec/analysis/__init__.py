"""Topology analysis of any magnetization field (truth or reconstruction).

Public API: :func:`analyze_field`, :func:`write_analysis`, :func:`run_analyze`,
:func:`fsc`, :func:`fsc_resolution`, :func:`radial_psd`,
:func:`lattice_charge`, :func:`hedgehog_density`, :func:`emergent_field`,
:func:`find_defects`.
"""

from .api import AnalysisResult, analyze_field, run_analyze, write_analysis
from .charges import emergent_field, hedgehog_density, lattice_charge
from .config import AnalysisConfig
from .defects import find_defects
from .fsc import fsc, fsc_resolution, radial_psd

__all__ = ["AnalysisConfig", "AnalysisResult", "analyze_field", "write_analysis", "run_analyze",
           "fsc", "fsc_resolution", "radial_psd", "lattice_charge", "hedgehog_density",
           "emergent_field", "find_defects"]
