"""Shared helpers of the tomography tests: an analytic phantom independent of the projectors.

Gaussian blobs have closed-form line integrals, so projections here are exact
(no voxel projector: no inverse crime). No tests live in this module.
"""

from __future__ import annotations

import numpy as np

from synthvec.geometry import rotation


def random_blobs(rng: np.random.Generator, n: int, count: int = 5):
    """Blobs (centre (3,), covariance (3,3), amplitude) in voxel units, inside radius n/3."""
    blobs = []
    for _ in range(count):
        c = rng.uniform(-1, 1, 3)
        c = c / np.linalg.norm(c) * rng.uniform(0, n / 5)
        sig = rng.uniform(0.06, 0.12, 3) * n
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        blobs.append((c, q @ np.diag(sig ** 2) @ q.T, rng.uniform(0.3, 1.0)))
    return blobs


def blob_volume(blobs, n: int) -> np.ndarray:
    """Point samples at voxel centres, (n, n, n) (z, y, x) float64."""
    ax = np.arange(n) - (n - 1) / 2
    z, y, x = np.meshgrid(ax, ax, ax, indexing="ij")
    r = np.stack([x, y, z], -1)
    vol = np.zeros((n, n, n))
    for c, cov, amp in blobs:
        d = r - c
        vol += amp * np.exp(-0.5 * np.einsum("...i,ij,...j->...", d, np.linalg.inv(cov), d))
    return vol


def blob_projections(blobs, n: int, angles) -> np.ndarray:
    """Exact line integrals b_i(u, v) = int f(R_i^T (u, v, s)) ds, (N, n, n) (angle, v, u)."""
    ax = np.arange(n) - (n - 1) / 2
    v, u = np.meshgrid(ax, ax, indexing="ij")
    out = np.zeros((len(angles), n, n))
    for i, (p, t) in enumerate(angles):
        rot = rotation(p, t)
        for c, cov, amp in blobs:
            cr, cv = rot @ c, rot @ cov @ rot.T
            cuv = cv[:2, :2]
            w = amp * np.sqrt(2 * np.pi * np.linalg.det(cov) / np.linalg.det(cuv))
            d = np.stack([u - cr[0], v - cr[1]], -1)
            out[i] += w * np.exp(-0.5 * np.einsum("...i,ij,...j->...", d, np.linalg.inv(cuv), d))
    return out


def paper_angles(n_tilt: int = 32, phis=(0.0, 120.0, 240.0), tmax: float = 62.0) -> np.ndarray:
    """(phi, theta) pairs, series-major, tilts evenly from -tmax to +tmax."""
    return np.array([(p, t) for p in phis for t in np.linspace(-tmax, tmax, n_tilt)])


def projection_set(proj: np.ndarray, angles: np.ndarray, pitch_nm: float = 5.0, xmcd=None):
    """A projection-set Dataset in the bench/t1.py convention (values as line integrals in nm)."""
    import xarray as xr

    n = proj.shape[1]
    coord = (np.arange(n) - (n - 1) / 2) * pitch_nm
    ds = xr.Dataset({"projections": (("angle", "v", "u"), (proj * pitch_nm).astype(np.float32))},
                    coords={"phi_deg": ("angle", angles[:, 0]),
                            "theta_deg": ("angle", angles[:, 1]),
                            "v": ("v", coord, {"units": "nm"}), "u": ("u", coord, {"units": "nm"})})
    if xmcd is not None:
        ds["xmcd"] = (("angle", "v", "u"), (xmcd * pitch_nm).astype(np.float32))
    return ds


def spread_blobs(rng: np.random.Generator, n: int, count: int = 12):
    """Small round blobs spread out to 0.4 n from the axis (angles need off-axis detail)."""
    blobs = []
    for _ in range(count):
        c = rng.uniform(-1, 1, 3)
        c = c / np.linalg.norm(c) * rng.uniform(0.2, 0.4) * n
        c[2] *= 0.5
        s = rng.uniform(1.5, 2.5)
        blobs.append((c, np.eye(3) * s * s, rng.uniform(0.3, 1.0)))
    return blobs
