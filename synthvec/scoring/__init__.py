"""Scoring a reconstruction against ground truth (calls analysis).

Public API: :func:`score` (the metric table; names documented in
:mod:`synthvec.scoring.metrics`), :func:`match_defects`, :data:`METRICS`.
"""

from .config import ScoreConfig
from .metrics import METRICS, match_defects, score

__all__ = ["ScoreConfig", "score", "match_defects", "METRICS"]
