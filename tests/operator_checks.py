"""Shared adjoint checks for every operator pair (tike's OperatorTests idea)."""

from __future__ import annotations

import numpy as np


def _rand(rng, shape, complex_):
    x = rng.standard_normal(shape)
    if complex_:
        x = x + 1j * rng.standard_normal(shape)
    return x


def dot_product_test(op, *, rng, complex_=False, tol=1e-5, trials=3):
    """Assert ``|<Ax, y> - <x, A*y>| <= tol * |A| |x| |y|`` (|A| estimated by power steps).

    Returns the worst relative mismatch seen, for reporting.
    """
    # operator norm estimate: a few power iterations of A*A
    v = _rand(rng, op.domain_shape, complex_)
    for _ in range(8):
        w = op.adj(op.fwd(v))
        nv = np.linalg.norm(w)
        if nv == 0:
            break
        v = w / nv
    op_norm = np.sqrt(np.linalg.norm(op.adj(op.fwd(v))) / max(np.linalg.norm(v), 1e-300))
    worst = 0.0
    for _ in range(trials):
        x = _rand(rng, op.domain_shape, complex_)
        y = _rand(rng, op.range_shape, complex_)
        lhs = np.vdot(op.fwd(x), y)
        rhs = np.vdot(x, op.adj(y))
        scale = op_norm * np.linalg.norm(x) * np.linalg.norm(y)
        rel = abs(lhs - rhs) / scale
        worst = max(worst, rel)
        assert rel <= tol, f"dot-product test failed: {rel:.3e} > {tol:.1e}"
    return worst


def dense_matrix(op, apply="fwd", complex_=False):
    """Dense matrix of ``op.fwd`` (or ``op.adj``) by applying it to unit vectors."""
    shape_in = op.domain_shape if apply == "fwd" else op.range_shape
    fn = op.fwd if apply == "fwd" else op.adj
    n = int(np.prod(shape_in))
    cols = []
    for j in range(n):
        e = np.zeros(n, dtype=complex if complex_ else float)
        e[j] = 1.0
        cols.append(np.asarray(fn(e.reshape(shape_in))).ravel())
    return np.stack(cols, axis=1)


def dense_adjoint_check(op, *, complex_=False, tol=1e-10):
    """Assert the dense matrix of ``adj`` equals the conjugate transpose of that of ``fwd``."""
    a = dense_matrix(op, "fwd", complex_)
    b = dense_matrix(op, "adj", complex_)
    err = np.max(np.abs(a.conj().T - b)) / max(np.max(np.abs(a)), 1e-300)
    assert err <= tol, f"dense adjoint mismatch {err:.3e}"
    return err
