"""Configs of scalar (RESIRE) and vector tomography."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...config import Section, param


@dataclass(frozen=True, kw_only=True)
class TomoConfig(Section):
    """Scalar tomography of the helicity sums (RESIRE, Pham et al., arXiv:2004.10445)."""

    method: Literal["resire"] = param("resire", doc="Scalar method, by name in the method table.")
    iterations: int = param(50, doc="Iterations.", gt=0)


@dataclass(frozen=True, kw_only=True)
class VectorConfig(Section):
    """Vector tomography of the helicity differences (eq. 3-6, gradient descent)."""

    method: Literal["gd"] = param("gd", doc="Vector method, by name in the method table.")
    iterations: int = param(50, doc="Iterations.", gt=0)
