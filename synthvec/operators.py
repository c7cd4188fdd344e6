"""Linear operators as objects with ``fwd`` and ``adj`` (tike's / ODL's pattern).

An operator maps arrays of ``domain_shape`` to arrays of ``range_shape``.
Composition gives the adjoint in reverse order. Every operator meant as an
adjoint pair is checked by ``tests/operator_checks.py`` (dot-product test and
dense-matrix check on a tiny grid).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class LinearOperator(Protocol):
    """``fwd: domain -> range`` and its adjoint ``adj: range -> domain``."""

    domain_shape: tuple[int, ...]
    range_shape: tuple[int, ...]

    def fwd(self, x: np.ndarray) -> np.ndarray: ...

    def adj(self, y: np.ndarray) -> np.ndarray: ...


class Composed:
    """``outer @ inner``: ``fwd = outer.fwd(inner.fwd(x))``, ``adj = inner.adj(outer.adj(y))``."""

    def __init__(self, outer: LinearOperator, inner: LinearOperator):
        if tuple(outer.domain_shape) != tuple(inner.range_shape):
            raise ValueError(f"cannot compose: {outer.domain_shape} != {inner.range_shape}")
        self.outer, self.inner = outer, inner
        self.domain_shape, self.range_shape = inner.domain_shape, outer.range_shape

    def fwd(self, x: np.ndarray) -> np.ndarray:
        return self.outer.fwd(self.inner.fwd(x))

    def adj(self, y: np.ndarray) -> np.ndarray:
        return self.inner.adj(self.outer.adj(y))
