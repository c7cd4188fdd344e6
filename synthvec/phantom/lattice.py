"""The close-packed silica-sphere lattice, its interstitial sites and the voxel labels.

Geometry
--------
Close-packed layers are parallel to the slab (normal z). In-plane, sphere
centres of one layer sit on the triangular lattice ``a1 = (d, 0)``,
``a2 = (d/2, d sqrt(3)/2)`` (``d`` the nearest-neighbour distance), shifted by
one of the three stacking positions ``A = (0, 0)``, ``B = (d/2, d/(2 sqrt 3))``,
``C = 2 B``. Layers are ``h = d sqrt(2/3)`` apart. ABC... stacking is fcc with
its (111) planes parallel to the slab.

Interstitial sites (the voids of the sphere packing that the nickel fills)
lie between two adjacent layers P (at z0) and Q (at z0 + h), R being the
third position:

* octahedral: above every R position at ``z0 + h/2`` (6 neighbours,
  hole radius ``d/sqrt(2) - R``, i.e. 0.414 R for touching spheres);
* tetrahedral: above every P sphere at ``z0 + 3h/4`` and below every Q sphere
  at ``z0 + h/4`` (4 neighbours, hole radius ``d sqrt(6)/4 - R`` = 0.225 R).

Per sphere of a bulk stack this gives one octahedral and two tetrahedral
sites, i.e. 4 and 8 per fcc cubic cell. Hole radii are recomputed from the
actual (jittered, size-spread) spheres.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

from .config import PhantomConfig

__all__ = ["MATERIAL", "SITE", "layer_types", "sphere_lattice", "interstitial_sites",
           "grid_axes", "label_points", "label_grid"]

MATERIAL = {"vacuum": 0, "silica": 1, "nickel": 2}
SITE = {"none": 0, "octahedral": 1, "tetrahedral": 2, "between": 3}
SITE_NAMES = {v: k for k, v in SITE.items()}

_SQ3 = math.sqrt(3.0)


def layer_types(n_layers: int, stacking: str, *, rng: np.random.Generator) -> np.ndarray:
    """Stacking positions (0 = A, 1 = B, 2 = C) of ``n_layers`` layers, (n_layers,) int64."""
    types = np.zeros(n_layers, dtype=np.int64)
    for k in range(1, n_layers):
        prev = types[k - 1]
        if stacking == "fcc":
            types[k] = (prev + 1) % 3
        elif stacking == "hcp":
            types[k] = (prev + 1) % 3 if k % 2 else (prev + 2) % 3
        else:
            types[k] = (prev + rng.integers(1, 3)) % 3
    return types


def _layer_points(d: float, ptype: int, half_x: float, half_y: float) -> np.ndarray:
    """In-plane centres of a triangular layer of type ``ptype`` covering |x|<=half_x, |y|<=half_y."""
    off = ptype * np.array([d / 2, d / (2 * _SQ3)])
    nj = int(math.ceil((half_y + d) / (d * _SQ3 / 2))) + 1
    ni = int(math.ceil((half_x + d) / d)) + nj + 1
    j, i = np.mgrid[-nj:nj + 1, -ni:ni + 1]
    x = i * d + j * d / 2 + off[0]
    y = j * d * _SQ3 / 2 + off[1]
    keep = (np.abs(x) <= half_x) & (np.abs(y) <= half_y)
    return np.stack([x[keep], y[keep]], axis=1)


def sphere_lattice(cfg: PhantomConfig, *, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sphere centres and radii of the slab.

    Returns
    -------
    centres : (N, 3) float64
        Actual centres (x, y, z), nm (with jitter).
    radii : (N,) float64
        Radii, nm (with size spread).
    ideal : (N, 3) float64
        Ideal lattice centres, nm.
    types : (n_layers,) int64
        Stacking position of each layer.
    """
    d, h = cfg.nn_distance_nm, cfg.layer_spacing_nm
    r0 = cfg.sphere_diameter_nm / 2
    types = layer_types(cfg.n_layers, cfg.stacking, rng=rng)
    half = cfg.lateral_extent_nm / 2 + r0 * 1.2 + 3 * cfg.position_jitter_nm
    pts = []
    for k, t in enumerate(types):
        z = (k - (cfg.n_layers - 1) / 2) * h
        xy = _layer_points(d, int(t), half, half)
        pts.append(np.column_stack([xy, np.full(len(xy), z)]))
    ideal = np.concatenate(pts, axis=0)
    n = len(ideal)
    spread = np.clip(rng.standard_normal(n), -3, 3) * cfg.size_spread_rel
    radii = r0 * (1.0 + spread)
    centres = ideal + rng.standard_normal((n, 3)) * cfg.position_jitter_nm
    return centres, radii, ideal, types


def interstitial_sites(cfg: PhantomConfig, types: np.ndarray, centres: np.ndarray,
                       radii: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Octahedral and tetrahedral sites between adjacent layers.

    Parameters
    ----------
    cfg : PhantomConfig
    types : (n_layers,) int64
        Stacking positions from :func:`sphere_lattice`.
    centres, radii : (N, 3), (N,) float64
        Spheres, used for the hole radius.

    Returns
    -------
    pos : (S, 3) float64
        Site centres (x, y, z), nm.
    kind : (S,) int8
        ``SITE["octahedral"]`` or ``SITE["tetrahedral"]``.
    radius : (S,) float64
        Hole radius: distance to the nearest sphere surface, nm.
    """
    d, h = cfg.nn_distance_nm, cfg.layer_spacing_nm
    half = cfg.lateral_extent_nm / 2 + d
    pos, kind = [], []
    for k in range(len(types) - 1):
        z0 = (k - (cfg.n_layers - 1) / 2) * h
        p, q = int(types[k]), int(types[k + 1])
        r = 3 - p - q
        for ptype, dz, code in ((r, h / 2, SITE["octahedral"]), (p, 3 * h / 4, SITE["tetrahedral"]),
                                (q, h / 4, SITE["tetrahedral"])):
            xy = _layer_points(d, ptype, half, half)
            pos.append(np.column_stack([xy, np.full(len(xy), z0 + dz)]))
            kind.append(np.full(len(xy), code, dtype=np.int8))
    if not pos:
        return np.zeros((0, 3)), np.zeros(0, dtype=np.int8), np.zeros(0)
    pos_a, kind_a = np.concatenate(pos), np.concatenate(kind)
    tree = cKDTree(centres)
    dist, idx = tree.query(pos_a, k=min(12, len(centres)))
    dist = np.atleast_2d(dist.T).T if dist.ndim == 1 else dist
    idx = np.atleast_2d(idx.T).T if idx.ndim == 1 else idx
    radius = np.min(dist - radii[idx], axis=1)
    return pos_a, kind_a, radius


def grid_axes(cfg: PhantomConfig, supersample: int = 1) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray, float]:
    """Voxel-centre coordinates (z, y, x) of the grid of voxel ``voxel_nm / supersample``, nm.

    The reconstruction grid has ``round(extent / voxel_nm)`` voxels per axis;
    the fine grid covers the same box with ``supersample`` times as many.
    Coordinates follow the field contract: ``(index - (n - 1)/2) * voxel``.
    """
    v = cfg.voxel_nm / supersample
    nxy = max(2, int(round(cfg.lateral_extent_nm / cfg.voxel_nm))) * supersample
    nz = max(2, int(round((cfg.slab_thickness_nm + 2 * cfg.vacuum_margin_nm) / cfg.voxel_nm)))
    nz *= supersample

    def axis(n):
        return (np.arange(n) - (n - 1) / 2.0) * v

    return axis(nz), axis(nxy), axis(nxy), v


def label_points(pts: np.ndarray, *, site_pos: np.ndarray, site_kind: np.ndarray,
                 site_radius: np.ndarray, site_scale: float) -> np.ndarray:
    """Site code of nickel points (octahedral / tetrahedral / between), (P,) int8.

    A point belongs to the site minimising ``|p - s| / r_s`` when that ratio
    is ``<= site_scale``; otherwise it is 'between'.
    """
    out = np.full(len(pts), SITE["between"], dtype=np.int8)
    if len(site_pos) == 0 or len(pts) == 0:
        return out
    k = min(8, len(site_pos))
    tree = cKDTree(site_pos)
    reach = site_scale * float(site_radius.max())
    dist, idx = tree.query(pts, k=k, distance_upper_bound=reach)
    if k == 1:
        dist, idx = dist[:, None], idx[:, None]
    ok = np.isfinite(dist)
    safe = np.where(ok, idx, 0)
    ratio = np.where(ok, dist / np.maximum(site_radius[safe], 1e-9), np.inf)
    best = np.argmin(ratio, axis=1)
    rbest = ratio[np.arange(len(pts)), best]
    hit = rbest <= site_scale
    out[hit] = site_kind[safe[np.arange(len(pts)), best]][hit]
    return out


def label_grid(cfg: PhantomConfig, centres: np.ndarray, radii: np.ndarray, site_pos: np.ndarray,
               site_kind: np.ndarray, site_radius: np.ndarray, supersample: int = 1
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """Material, site and void labels on the grid of voxel ``voxel_nm / supersample``.

    Returns
    -------
    material : (Z, Y, X) int8
        0 vacuum, 1 silica, 2 nickel (voxel-centre sampling).
    site : (Z, Y, X) int8
        0 not nickel, 1 octahedral, 2 tetrahedral, 3 between.
    void_id : (Z, Y, X) int32
        Index of the sphere a silica voxel belongs to (smallest ``|p - c|/R``), -1 elsewhere.
    axes : tuple of (z, y, x) float64 arrays and the voxel edge
    """
    z, y, x, v = grid_axes(cfg, supersample)
    shape = (len(z), len(y), len(x))
    best = np.full(shape, np.inf)
    void_id = np.full(shape, -1, dtype=np.int32)
    for n, (c, r) in enumerate(zip(centres, radii)):
        sl = []
        for ax, cc in ((z, c[2]), (y, c[1]), (x, c[0])):
            lo = int(np.searchsorted(ax, cc - r, side="left"))
            hi = int(np.searchsorted(ax, cc + r, side="right"))
            sl.append(slice(lo, hi))
        if any(s.stop <= s.start for s in sl):
            continue
        dz = (z[sl[0]] - c[2])[:, None, None]
        dy = (y[sl[1]] - c[1])[None, :, None]
        dx = (x[sl[2]] - c[0])[None, None, :]
        rel = np.sqrt(dz * dz + dy * dy + dx * dx) / r
        sub = best[tuple(sl)]
        win = (rel <= 1.0) & (rel < sub)
        sub[win] = rel[win]
        void_id[tuple(sl)][win] = n
    in_slab = np.abs(z) <= cfg.slab_thickness_nm / 2 + 1e-9
    material = np.zeros(shape, dtype=np.int8)
    material[in_slab] = MATERIAL["nickel"]
    silica = (void_id >= 0) & in_slab[:, None, None]
    material[silica] = MATERIAL["silica"]
    void_id[~silica] = -1
    site = np.zeros(shape, dtype=np.int8)
    ni = material == MATERIAL["nickel"]
    kk, jj, ii = np.nonzero(ni)
    pts = np.column_stack([x[ii], y[jj], z[kk]])
    site[ni] = label_points(pts, site_pos=site_pos, site_kind=site_kind, site_radius=site_radius,
                            site_scale=cfg.site_scale)
    return material, site, void_id, (z, y, x, v)
