"""Synthetic known-answer fields and geometries for the analysis tests (no tests here)."""

from __future__ import annotations

import numpy as np


def coulomb_field(shape, charges):
    """sum_i q_i (r - c_i)/|r - c_i|^3 at nodes; charges: iterable of (cx, cy, cz, q) in voxels.

    Returns (3, Z, Y, X) float64 (not normalised).
    """
    z, y, x = np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij")
    m = np.zeros((3,) + tuple(shape))
    for cx, cy, cz, qq in charges:
        r = np.stack([x - cx, y - cy, z - cz])
        n3 = np.linalg.norm(r, axis=0) ** 3
        m += qq * r / np.where(n3 > 0, n3, np.inf)  # 0 at a core on a node
    return m


def random_charges(shape, n, *, rng, min_sep=10.0, margin=4):
    """n point charges at cube centres, alternating sign, pairwise >= min_sep voxels apart."""
    out = []
    while len(out) < n:
        p = [rng.integers(margin, s - margin - 1) + 0.5 for s in shape[::-1]]  # x, y, z
        if all(np.hypot(np.hypot(p[0] - a, p[1] - b), p[2] - c) >= min_sep for a, b, c, _ in out):
            out.append((*p, 1 if len(out) % 2 == 0 else -1))
    return out


def add_noise(m, sigma, *, rng):
    """Unit field plus Gaussian noise of ``sigma`` per component, renormalised."""
    u = m / np.linalg.norm(m, axis=0)
    u = u + sigma * rng.normal(size=u.shape)
    return u / np.linalg.norm(u, axis=0)


def fcc_centres(n_cells, a_vox, offset):
    """Sphere centres (x, y, z) of an fcc lattice with cubic cell ``a_vox`` (voxels)."""
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    cells = np.array([(i, j, k) for i in range(-1, n_cells[0] + 1) for j in range(-1, n_cells[1] + 1)
                      for k in range(-1, n_cells[2] + 1)])
    pts = (cells[:, None, :] + basis[None]).reshape(-1, 3) * a_vox + np.asarray(offset)
    return pts


def fcc_slab(shape, *, radius_vox, slab=(0.0, None), sinter=1.0):
    """A slab of touching (sinter > 1: overlapping) spheres in an fcc lattice, (111)-free cubic cut.

    Parameters
    ----------
    shape : (Z, Y, X)
    radius_vox : float
        Sphere radius in voxels.
    slab : (z0, z1)
        Material occupies z0 <= z < z1 (voxel indices); vacuum elsewhere.

    Returns
    -------
    void_id : (Z, Y, X) int32, -1 outside spheres
    mask : (Z, Y, X) bool, nickel (in slab, outside spheres)
    centres : (S, 3) float (x, y, z) voxels
    """
    nz, ny, nx = shape
    z1 = nz if slab[1] is None else slab[1]
    a = 2 * np.sqrt(2) * radius_vox / sinter  # touching spheres: a = 2 sqrt(2) r
    cen = fcc_centres((int(nx / a) + 1, int(ny / a) + 1, int(nz / a) + 1), a, (0.3, 0.7, slab[0] + 0.2))
    keep = ((cen[:, 0] > -radius_vox) & (cen[:, 0] < nx + radius_vox) & (cen[:, 1] > -radius_vox)
            & (cen[:, 1] < ny + radius_vox) & (cen[:, 2] > slab[0] - radius_vox)
            & (cen[:, 2] < z1 + radius_vox))
    cen = cen[keep]
    z, y, x = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    best = np.full(shape, np.inf)
    vid = np.full(shape, -1, np.int32)
    for s, (cx, cy, cz) in enumerate(cen):
        d = np.sqrt((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2)
        inside = (d <= radius_vox) & (d < best)
        vid[inside] = s
        best = np.where(inside, d, best)
    in_slab = (z >= slab[0]) & (z < z1)
    vid[~in_slab] = -1
    used = np.unique(vid[vid >= 0])
    remap = np.full(len(cen), -1, np.int32)
    remap[used] = np.arange(len(used))
    vid = np.where(vid >= 0, remap[np.maximum(vid, 0)], -1).astype(np.int32)
    mask = in_slab & (vid < 0)
    return vid, mask, cen[used]
