"""Hedgehog number on closed void surfaces, for keeping virtual hedgehogs during relaxation.

A silica sphere is a hole in the nickel; the degree of ``m`` on a surface
just outside it is its virtual hedgehog number (the paper's eq. 1 on the void
surface). Here the surface is a sphere of radius ``R + offset`` around the
void centre, triangulated by a latitude-longitude mesh; every mesh vertex
takes ``m`` of the nearest magnetic voxel (the nickel next to the void, also
where neighbouring spheres touch), and the degree is the total signed solid
angle of the image triangles (Van Oosterom-Strackee) over 4 pi, an integer
for a closed mesh. This is a guard used while building the truth; the
analysis stage has its own void-surface triangulation.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["sphere_mesh", "VoidDegrees"]


def sphere_mesh(n_theta: int = 20, n_phi: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Unit-sphere vertices (V, 3) and outward counter-clockwise triangles (T, 3)."""
    th = np.linspace(0, np.pi, n_theta + 1)[1:-1]
    ph = np.linspace(0, 2 * np.pi, n_phi, endpoint=False)
    t, p = np.meshgrid(th, ph, indexing="ij")
    ring = np.column_stack([(np.sin(t) * np.cos(p)).ravel(), (np.sin(t) * np.sin(p)).ravel(),
                            np.cos(t).ravel()])
    verts = np.vstack([[0.0, 0.0, 1.0], ring, [0.0, 0.0, -1.0]])
    last = len(verts) - 1

    def v(r, i):
        return 1 + r * n_phi + (i % n_phi)

    tris = [[0, v(0, i), v(0, i + 1)] for i in range(n_phi)]
    for r in range(n_theta - 2):
        for i in range(n_phi):
            a, b, c, d = v(r, i), v(r + 1, i), v(r + 1, i + 1), v(r, i + 1)
            tris += [[a, b, c], [a, c, d]]
    tris += [[last, v(n_theta - 2, i + 1), v(n_theta - 2, i)] for i in range(n_phi)]
    return verts, np.asarray(tris, dtype=np.int64)


class VoidDegrees:
    """Degree of ``m`` around chosen voids, with the sampling precomputed once.

    Parameters
    ----------
    mask : (Z, Y, X) bool
        Magnetic voxels.
    axes : (z, y, x) arrays, nm
    centres_nm : (n, 3) float64
        Void centres (x, y, z).
    radii_nm : (n,) float64
        Sphere radii; the surface radius is ``radius + offset_nm``.
    offset_nm : float
    """

    def __init__(self, mask: np.ndarray, axes, centres_nm: np.ndarray, radii_nm: np.ndarray,
                 offset_nm: float):
        z, y, x = axes
        verts, self.tris = sphere_mesh()
        _, ind = ndimage.distance_transform_edt(~mask, return_indices=True)
        self.flat = []
        for c, r in zip(centres_nm, radii_nm):
            pts = c + (r + offset_nm) * verts
            k = _index(pts[:, 2], z)
            j = _index(pts[:, 1], y)
            i = _index(pts[:, 0], x)
            kk, jj, ii = ind[0][k, j, i], ind[1][k, j, i], ind[2][k, j, i]
            self.flat.append(np.ravel_multi_index((kk, jj, ii), mask.shape))
        self.flat = (np.asarray(self.flat) if self.flat
                     else np.zeros((0, len(verts)), dtype=np.int64))

    def __call__(self, m: np.ndarray) -> np.ndarray:
        """(n,) float64 degrees (rounded to integers) of ``m`` (3, Z, Y, X)."""
        if not len(self.flat):
            return np.zeros(0)
        f = m.reshape(3, -1)[:, self.flat].astype(np.float64)  # (3, n, V)
        f /= np.maximum(np.linalg.norm(f, axis=0), 1e-12)
        a, b, c = (f[:, :, self.tris[:, q]] for q in range(3))
        num = (a[0] * (b[1] * c[2] - b[2] * c[1]) + a[1] * (b[2] * c[0] - b[0] * c[2])
               + a[2] * (b[0] * c[1] - b[1] * c[0]))
        den = 1.0 + (a * b).sum(0) + (b * c).sum(0) + (c * a).sum(0)
        total = 2.0 * np.arctan2(num, den).sum(axis=1)
        return np.rint(total / (4 * np.pi))


def _index(coord: np.ndarray, ax: np.ndarray) -> np.ndarray:
    v = ax[1] - ax[0]
    return np.clip(np.rint((coord - ax[0]) / v), 0, len(ax) - 1).astype(np.int64)
