"""Real-space parallel-beam projectors for the geometry module's Euler convention.

Convention (:mod:`synthvec.geometry`): projection i of a volume ``f`` is
``b_i(u, v) = integral f(R_i^T (u, v, s)) ds`` with ``R_i = Rx(theta_i) Rz(phi_i)``.
Writing ``g = f o Rz(phi)^T`` (the volume actively rotated in-plane by phi), the
ray for detector pixel (u, v) stays in the plane ``x' = u`` of ``g``:

    b(u, v) = integral g(u, v cos(theta) + s sin(theta), -v sin(theta) + s cos(theta)) ds,

so a tilt series at one phi is an in-plane rotation of every z slice followed by
the same 2D Radon transform of every x' slice. Both factors are sparse matrices
(interpolation weights, float32) built once per geometry; their transposes are
the exact adjoints, and the x' slices (and the z slices) are the batch axis of a
sparse-times-dense product. Cost per series: O(n^3) for the rotation and
O(T n^3) for the tilt projections, with no per-iteration geometry work.

The 2D projection follows Joseph (IEEE TMI 1, 192, 1982): step one voxel along
the dominant axis of the ray, interpolate along the other, weight by the path
length per step. Both the in-plane rotation and the across-ray interpolation
use a linear, Keys cubic (IEEE TASSP 29, 1153, 1981; the default: less blur,
T1 NRMSE 0.069 against 0.074 with linear rays, plain RESIRE) or Lanczos-3 kernel.

All lengths here are in voxels; the grid is cubic, side ``n``, origin at the
centre ``(n - 1) / 2`` (the projection-set convention of ``bench/t1.py``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
import scipy.sparse as sp

from ...threads import n_threads

__all__ = ["inplane_rotation_matrix", "joseph_matrix", "SeriesProjector", "RealSpaceProjector",
           "group_series"]


def _kernel_taps(pos: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Interpolation taps at fractional grid positions.

    Parameters
    ----------
    pos : (M,) float64
        Positions in grid-index units.
    order : {1, 3, 5}
        1: linear (2 taps); 3: Keys cubic convolution, a = -0.5 (4 taps);
        5: Lanczos-3 (6 taps, normalised).

    Returns
    -------
    idx : (M, taps) int64
    w : (M, taps) float64
    """
    base = np.floor(pos).astype(np.int64)
    t = pos - base
    if order == 1:
        return np.stack([base, base + 1], 1), np.stack([1.0 - t, t], 1)
    if order == 5:  # Lanczos-3, 6 taps, normalised to sum 1
        offs = np.arange(-2, 4)
        d = t[:, None] - offs[None, :]
        w = np.sinc(d) * np.sinc(d / 3.0)
        return base[:, None] + offs[None, :], w / w.sum(axis=1, keepdims=True)
    a = -0.5
    d = np.stack([1.0 + t, t, 1.0 - t, 2.0 - t], 1)  # distances to base-1 .. base+2
    w = np.where(d <= 1.0, (a + 2) * d**3 - (a + 3) * d**2 + 1,
                 np.where(d < 2.0, a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a, 0.0))
    return np.stack([base - 1, base, base + 1, base + 2], 1), w


def _box_taps(pos: np.ndarray, half: float) -> tuple[np.ndarray, np.ndarray]:
    """Overlaps of unit cells [i - 1/2, i + 1/2] with the intervals [pos - half, pos + half].

    ``half`` <= 1 (up to 3 cells). Returns idx, w of shape (M, 3).
    """
    lo, hi = pos - half, pos + half
    first = np.floor(lo + 0.5).astype(np.int64)
    idx = first[:, None] + np.arange(3)[None, :]
    w = np.clip(np.minimum(idx + 0.5, hi[:, None]) - np.maximum(idx - 0.5, lo[:, None]), 0, None)
    return idx, w


def _sub_offsets(sub: int) -> np.ndarray:
    """Centres of ``sub`` equal sub-intervals of one pixel, relative to its centre."""
    return (np.arange(sub) + 0.5) / sub - 0.5


def inplane_rotation_matrix(n: int, phi_deg: float, *, order: Literal[1, 3, 5] = 1, sub: int = 1,
                            dtype=np.float32) -> sp.csr_matrix:
    """Sparse (n*n, n*n) matrix W with ``g = W f``, ``g(x', y') = f(Rz(phi)^T (x', y'))``.

    Rows and columns index (y, x) slices in C order (``y * n + x``). Samples that
    fall outside the grid read zeros. With ``sub > 1`` each output is the mean
    over ``sub`` points across the output pixel along x' (the detector u axis:
    a detector pixel integrates over its width).
    """
    c = (n - 1) / 2.0
    ph = np.deg2rad(phi_deg)
    rows_all, cols_all, w_all = [], [], []
    for ox in _sub_offsets(sub):
        yp, xp = np.meshgrid(np.arange(n) - c, np.arange(n) - c + ox, indexing="ij")
        xs = np.cos(ph) * xp + np.sin(ph) * yp + c
        ys = -np.sin(ph) * xp + np.cos(ph) * yp + c
        ix, wx = _kernel_taps(xs.ravel(), order)
        iy, wy = _kernel_taps(ys.ravel(), order)
        rows = np.broadcast_to(np.arange(n * n)[:, None, None], (n * n, iy.shape[1], ix.shape[1]))
        cols = iy[:, :, None] * n + ix[:, None, :]
        w = wy[:, :, None] * wx[:, None, :] / sub
        ok = ((iy >= 0) & (iy < n))[:, :, None] & ((ix >= 0) & (ix < n))[:, None, :] & (w != 0)
        rows_all.append(rows[ok])
        cols_all.append(cols[ok])
        w_all.append(w[ok])
    return sp.csr_matrix((np.concatenate(w_all).astype(dtype),
                          (np.concatenate(rows_all), np.concatenate(cols_all))),
                         shape=(n * n, n * n))


def joseph_matrix(n: int, thetas_deg, *, sub: int = 1, order: Literal[0, 1, 3, 5] = 3,
                  dtype=np.float32) -> sp.csr_matrix:
    """Sparse (T*n, n*n) 2D parallel-beam projector of a (z, y) slice (Joseph's method).

    Row ``t * n + j`` is detector row v_j at tilt ``thetas_deg[t]``; column
    ``k * n + i`` is the voxel (z_k, y_i). The ray is
    ``(y, z) = v (cos, -sin) + s (sin, cos)``, i.e. the tilt about x of the
    geometry convention, integrated with unit step along its dominant axis.
    With ``sub > 1`` each detector row is the mean of ``sub`` rays across its
    width (a detector pixel integrates over its area). ``order = 0`` is the
    distance-driven variant (De Man & Basu, Phys. Med. Biol. 49, 2463, 2004):
    box voxels, and a detector row integrates the strip of its width, so each
    row of the dominant axis contributes the overlap of voxel and strip.
    """
    c = (n - 1) / 2.0
    grid = np.arange(n) - c
    rows_all, cols_all, w_all = [], [], []
    for t, th_deg in enumerate(np.atleast_1d(np.asarray(thetas_deg, dtype=float))):
        th = np.deg2rad(th_deg)
        ct, st = np.cos(th), np.sin(th)
        for ov in _sub_offsets(sub):
            v = grid[:, None] + ov
            if abs(ct) >= abs(st):  # step along z; y = v / cos + z tan
                pos = v / ct + grid[None, :] * (st / ct) + c  # (v, k) fractional y index
                idx, w = _taps(pos.ravel(), order, 0.5 / sub / abs(ct))
                k = np.broadcast_to(np.arange(n)[None, :], (n, n)).ravel()
                cols = k[:, None] * n + idx
                scale = 1.0 / abs(ct)
            else:  # step along y; z = y cot - v / sin
                pos = grid[None, :] * (ct / st) - v / st + c  # (v, i) fractional z index
                idx, w = _taps(pos.ravel(), order, 0.5 / sub / abs(st))
                i = np.broadcast_to(np.arange(n)[None, :], (n, n)).ravel()
                cols = idx * n + i[:, None]
                scale = 1.0 / abs(st)
            rows = np.broadcast_to((t * n + np.arange(n))[:, None, None],
                                       (n, n, idx.shape[1])).reshape(-1, idx.shape[1])
            ok = (idx >= 0) & (idx < n) & (w != 0)
            rows_all.append(rows[ok])
            cols_all.append(cols[ok])
            w_all.append(w[ok] * (1.0 if order == 0 else scale) / sub)
    nt = len(np.atleast_1d(thetas_deg))
    return sp.csr_matrix((np.concatenate(w_all).astype(dtype),
                          (np.concatenate(rows_all), np.concatenate(cols_all))),
                         shape=(nt * n, n * n))


def _taps(pos: np.ndarray, order: int, half: float):
    return _box_taps(pos, half) if order == 0 else _kernel_taps(pos, order)


def _row_blocks(mat: sp.csr_matrix, parts: int) -> list[tuple[int, int, sp.csr_matrix]]:
    """Split a CSR matrix into ``parts`` row blocks of about equal non-zeros."""
    parts = max(1, min(parts, mat.shape[0]))
    cuts = np.searchsorted(mat.indptr, np.linspace(0, mat.nnz, parts + 1)[1:-1])
    edges = [0, *sorted(set(int(c) for c in cuts)), mat.shape[0]]
    return [(a, b, mat[a:b]) for a, b in zip(edges[:-1], edges[1:]) if b > a]


class SeriesProjector:
    """Projector of one tilt series (common phi, several theta): (n,n,n) -> (T,n,n).

    Parameters
    ----------
    n : int
        Cube side in voxels.
    phi_deg : float
        In-plane rotation of the series.
    thetas_deg : (T,) array_like
        Tilts of the series.
    order : {1, 3}
        Interpolation order of the in-plane rotation.
    ray_order : {1, 3}
        Interpolation order across the ray in Joseph's method (1: linear, the
        classic; 3: Keys cubic, less blur: T1 NRMSE 0.069 instead of 0.074, plain RESIRE).
    sub : int
        Rays per detector pixel along u and along v (1: one ray through the
        pixel centre; 2: the mean of 2 x 2 rays, a pixel that integrates).
    dtype : numpy dtype
        Dtype of the cached weights and of the arithmetic (float32 or float64).
    """

    def __init__(self, n: int, phi_deg: float, thetas_deg, *, order: Literal[1, 3, 5] = 3,
                 ray_order: Literal[1, 3, 5] = 3, sub: int = 1, dtype=np.float32):
        self.n = int(n)
        self.phi_deg = float(phi_deg)
        self.thetas_deg = np.atleast_1d(np.asarray(thetas_deg, dtype=float))
        self.dtype = np.dtype(dtype)
        self.domain_shape = (n, n, n)
        self.range_shape = (len(self.thetas_deg), n, n)
        ph = self.phi_deg % 360.0
        self.rot = None if min(ph, 360.0 - ph) < 1e-9 and sub == 1 else inplane_rotation_matrix(
            n, self.phi_deg, order=order, sub=sub, dtype=self.dtype)
        self.rot_t = None if self.rot is None else self.rot.T.tocsr()
        self.radon = joseph_matrix(n, self.thetas_deg, sub=sub, order=ray_order, dtype=self.dtype)
        self.radon_t = self.radon.T.tocsr()

    def blocks(self, parts: int):
        """Row blocks of the cached matrices for threaded application."""
        return _row_blocks(self.radon, parts), _row_blocks(self.radon_t, parts)

    def rotate(self, f: np.ndarray) -> np.ndarray:
        """(n,n,n) -> (n*n, n) array ``g`` indexed ((z, y'), x')."""
        n = self.n
        f = np.asarray(f, dtype=self.dtype).reshape(n, n * n)
        if self.rot is not None:
            f = (self.rot @ f.T).T
        return np.ascontiguousarray(f).reshape(n * n, n)

    def unrotate(self, g: np.ndarray) -> np.ndarray:
        """Adjoint of :meth:`rotate`: (n*n, n) -> (n,n,n)."""
        n = self.n
        g = g.reshape(n, n * n)
        if self.rot_t is not None:
            g = (self.rot_t @ g.T).T
        return np.ascontiguousarray(g).reshape(n, n, n)

    def fwd(self, f: np.ndarray) -> np.ndarray:
        """Projections (T, n, n) of the volume ``f`` (z, y, x)."""
        return (self.radon @ self.rotate(f)).reshape(self.range_shape)

    def adj(self, b: np.ndarray) -> np.ndarray:
        """Back projection (n, n, n) of projections ``b`` (T, n, n): exact transpose."""
        g = self.radon_t @ np.asarray(b, dtype=self.dtype).reshape(-1, self.n)
        return self.unrotate(g)


def group_series(phis_deg, tol_deg: float = 1e-6) -> list[np.ndarray]:
    """Indices of projections sharing one in-plane rotation, in order of first appearance."""
    phis = np.asarray(phis_deg, dtype=float)
    groups: list[list[int]] = []
    keys: list[float] = []
    for i, p in enumerate(phis):
        for g, k in zip(groups, keys):
            d = abs((p - k + 180.0) % 360.0 - 180.0)
            if d <= tol_deg:
                g.append(i)
                break
        else:
            groups.append([i])
            keys.append(p)
    return [np.asarray(g) for g in groups]


class RealSpaceProjector:
    """Exact-adjoint real-space projector for arbitrary (phi, theta): (n,n,n) -> (N,n,n).

    Projections sharing a phi form one :class:`SeriesProjector`; series and row
    blocks run on ``threads`` threads (scipy's sparse products release the GIL).

    Parameters
    ----------
    n : int
        Cube side in voxels (detector is n x n, pixel = voxel).
    phis_deg, thetas_deg : (N,) array_like
        Euler angles of the projections (:func:`synthvec.geometry.rotation`).
    order : {1, 3}
        In-plane rotation interpolation (3: Keys cubic, less blur).
    ray_order : {1, 3}
        Interpolation across the ray (see :class:`SeriesProjector`).
    sub : int
        Rays per detector pixel along each detector axis (see :class:`SeriesProjector`).
    dtype : numpy dtype
        float32 (fast, default) or float64 (adjoint tests).
    threads : int, optional
        Worker threads (default :func:`synthvec.threads.n_threads`).
    """

    def __init__(self, n: int, phis_deg, thetas_deg, *, order: Literal[1, 3, 5] = 3,
                 ray_order: Literal[1, 3, 5] = 3, sub: int = 1, dtype=np.float32,
                 threads: int | None = None):
        phis = np.atleast_1d(np.asarray(phis_deg, dtype=float))
        thetas = np.atleast_1d(np.asarray(thetas_deg, dtype=float))
        if phis.shape != thetas.shape:
            raise ValueError(f"phis_deg {phis.shape} and thetas_deg {thetas.shape} differ")
        self.n, self.dtype = int(n), np.dtype(dtype)
        self.phis_deg, self.thetas_deg = phis, thetas
        self.domain_shape = (n, n, n)
        self.range_shape = (len(phis), n, n)
        self.threads = int(threads or n_threads())
        self.groups = group_series(phis)
        self.series = [SeriesProjector(n, phis[g[0]], thetas[g], order=order, ray_order=ray_order,
                                       sub=sub, dtype=dtype)
                       for g in self.groups]
        self._blocks = [s.blocks(self.threads) for s in self.series]

    def _map(self, fn, items):
        if self.threads == 1 or len(items) == 1:
            return [fn(it) for it in items]
        with ThreadPoolExecutor(max_workers=self.threads) as ex:
            return list(ex.map(fn, items))

    def fwd(self, f: np.ndarray) -> np.ndarray:
        """Projections (N, n, n) of ``f`` (z, y, x), in the order of the given angles."""
        return self.fwd_many(np.asarray(f)[None])[0]

    def adj(self, b: np.ndarray) -> np.ndarray:
        """Exact transpose of :meth:`fwd`: (N, n, n) -> (n, n, n)."""
        return self.adj_many(np.asarray(b)[None])[0]

    def fwd_many(self, fs: np.ndarray) -> np.ndarray:
        """Projections of B volumes at once: (B, n, n, n) -> (B, N, n, n).

        The volumes share each sparse product (B n right-hand columns), which
        is cheaper than B separate calls (vector tomography: B = 3).
        """
        n, nb = self.n, len(fs)
        out = np.empty((nb,) + self.range_shape, dtype=self.dtype)
        rotated = self._map(lambda s: np.hstack([s.rotate(f) for f in fs]), self.series)
        jobs = [(k, a, b, blk) for k, (fb, _) in enumerate(self._blocks) for a, b, blk in fb]

        def run(job):
            k, a, b, blk = job
            return k, a, b, blk @ rotated[k]

        for k, a, b, part in self._map(run, jobs):
            rows = np.arange(a, b)
            out[:, self.groups[k][rows // n], rows % n, :] = part.reshape(-1, nb, n).swapaxes(0, 1)
        return out

    def adj_many(self, bs: np.ndarray) -> np.ndarray:
        """Exact transpose of :meth:`fwd_many`: (B, N, n, n) -> (B, n, n, n)."""
        n, nb = self.n, len(bs)
        bs = np.asarray(bs, dtype=self.dtype)
        per_series = [np.hstack([np.ascontiguousarray(b[g]).reshape(-1, n) for b in bs])
                      for g in self.groups]
        jobs = [(k, a, c, blk) for k, (_, ab) in enumerate(self._blocks) for a, c, blk in ab]

        def run(job):
            k, a, c, blk = job
            return k, a, c, blk @ per_series[k]

        gs = [np.empty((n * n, nb * n), dtype=self.dtype) for _ in self.series]
        for k, a, c, part in self._map(run, jobs):
            gs[k][a:c] = part

        def back(kg):
            k, g = kg
            return np.stack([self.series[k].unrotate(np.ascontiguousarray(g[:, j * n:(j + 1) * n]))
                             for j in range(nb)])

        vols = self._map(back, list(enumerate(gs)))
        return np.sum(vols, axis=0, dtype=self.dtype) if len(vols) > 1 else vols[0]
