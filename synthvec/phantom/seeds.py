"""Where the seeded hedgehogs go: candidate cubes, site preference, pair distances.

A seed sits at the centre of a lattice cube (2 x 2 x 2 voxels) whose eight
corners are nickel, so the per-cube lattice charge of
:func:`synthvec.analysis.charges.lattice_charge` can see it. Seeds are placed
one at a time. Every placement draws a target distance from a Gumbel law
(GEV with shape 0, the family the paper fits in Fig. 3 D-F) and chooses among
the candidates whose distance to the relevant neighbour best matches it,
weighting the octahedral / tetrahedral / between classes by the scenario's
site preference:

* the first hedgehog: near the lateral centre of the volume (the field of view);
* hedgehog ``k > 0``: its nearest existing hedgehog at ~ ``hh_distance_nm``;
* its anti-hedgehog partner: at ~ ``ha_distance_nm`` from it and with its
  nearest existing anti-hedgehog at ~ ``aa_distance_nm``.

Virtual seeds sit at the centres of closed voids (spheres entirely inside the
slab and the volume).
"""

from __future__ import annotations

import numpy as np

from .config import TextureConfig
from .lattice import MATERIAL, SITE

__all__ = ["candidate_cubes", "place_seeds", "virtual_seeds"]


def candidate_cubes(material: np.ndarray, axes: tuple[np.ndarray, np.ndarray, np.ndarray],
                    margin_nm: float) -> tuple[np.ndarray, np.ndarray]:
    """Lattice cubes with all eight corners nickel, away from the volume faces.

    Returns
    -------
    index : (C, 3) int64
        Cube index (k, j, i): the cube spans voxels k..k+1, j..j+1, i..i+1.
    centre : (C, 3) float64
        Cube centres (x, y, z), nm.
    """
    ni = material == MATERIAL["nickel"]
    ok = np.ones(tuple(s - 1 for s in ni.shape), dtype=bool)
    for dk in (0, 1):
        for dj in (0, 1):
            for di in (0, 1):
                ok &= ni[dk:dk + ok.shape[0], dj:dj + ok.shape[1], di:di + ok.shape[2]]
    z, y, x = axes
    cz, cy, cx = (z[:-1] + z[1:]) / 2, (y[:-1] + y[1:]) / 2, (x[:-1] + x[1:]) / 2
    for arr, ax, sl in ((cz, z, np.s_[:, None, None]), (cy, y, np.s_[None, :, None]),
                        (cx, x, np.s_[None, None, :])):
        lo, hi = ax[0] + margin_nm, ax[-1] - margin_nm
        ok &= ((arr >= lo - 1e-9) & (arr <= hi + 1e-9))[sl]
    idx = np.argwhere(ok)
    centre = np.column_stack([cx[idx[:, 2]], cy[idx[:, 1]], cz[idx[:, 0]]])
    return idx, centre


def _pick(score: np.ndarray, allowed: np.ndarray, wclass: np.ndarray, tol: float,
          rng: np.random.Generator) -> int:
    """Index of a candidate: among allowed ones within ``tol`` of the best score, by class weight."""
    if not allowed.any():
        return -1
    s = np.where(allowed, score, np.inf)
    near = allowed & (s <= s.min() + tol)
    w = np.where(near, wclass, 0.0)
    if w.sum() <= 0:
        w = near.astype(np.float64)
    return int(rng.choice(len(w), p=w / w.sum()))


def place_seeds(centre: np.ndarray, site: np.ndarray, cfg: TextureConfig, *, voxel_nm: float,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Choose hedgehog and anti-hedgehog cubes among the candidates.

    Parameters
    ----------
    centre : (C, 3) float64
        Candidate cube centres (x, y, z), nm.
    site : (C,) int8
        Site code of each candidate (1 octahedral, 2 tetrahedral, 3 between).
    cfg : TextureConfig
    voxel_nm : float, keyword-only
        Distance tolerance of the matching.
    rng : numpy.random.Generator, keyword-only

    Returns
    -------
    chosen : (n,) int64
        Candidate indices in placement order (pairs: hedgehog, then its anti-hedgehog).
    charge : (n,) int8
        +1 or -1 for each.

    Raises
    ------
    synthvec.errors.ConfigError
        If the volume has too few candidate cubes for the requested counts.
    """
    from ..errors import ConfigError

    n_c = len(centre)
    wsite = np.asarray(cfg.site_weights, dtype=np.float64)
    counts = np.array([(site == SITE[k]).sum() for k in ("octahedral", "tetrahedral", "between")])
    per = np.where(counts > 0, wsite / np.maximum(counts, 1), 0.0)
    wclass = per[np.clip(site.astype(np.int64) - 1, 0, 2)]
    if wclass.sum() <= 0:
        wclass = np.ones(n_c)
    big = 1e9
    d_all = np.full(n_c, big)
    d_plus = np.full(n_c, big)
    d_minus = np.full(n_c, big)
    chosen: list[int] = []
    charge: list[int] = []

    def add(c: int, q: int) -> None:
        d = np.linalg.norm(centre - centre[c], axis=1)
        np.minimum(d_all, d, out=d_all)
        np.minimum(d_plus if q > 0 else d_minus, d, out=d_plus if q > 0 else d_minus)
        chosen.append(c)
        charge.append(q)

    def place(q: int, partner: int | None) -> None:
        allowed = (d_all >= cfg.min_separation_nm) & (wclass > 0)
        score = np.zeros(n_c)
        same = d_plus if q > 0 else d_minus
        dist_same = cfg.hh_distance_nm if q > 0 else cfg.aa_distance_nm
        if (same < big).any():
            score += np.abs(same - rng.gumbel(*dist_same))
        elif partner is None:  # the very first seed: near the lateral centre of the volume
            score += np.hypot(centre[:, 0], centre[:, 1]) / 10.0
        if partner is not None:
            score += np.abs(np.linalg.norm(centre - centre[partner], axis=1)
                            - rng.gumbel(*cfg.ha_distance_nm))
        c = _pick(score, allowed, wclass, voxel_nm, rng)
        if c < 0:
            raise ConfigError("texture.n_hedgehogs" if q > 0 else "texture.n_antihedgehogs",
                              f"no room for {cfg.n_hedgehogs} + {cfg.n_antihedgehogs} seeds "
                              f"{cfg.min_separation_nm:g} nm apart in the nickel of this phantom")
        add(c, q)

    n_pairs = min(cfg.n_hedgehogs, cfg.n_antihedgehogs)
    for _ in range(n_pairs):
        place(+1, None)
        place(-1, chosen[-1])
    for _ in range(cfg.n_hedgehogs - n_pairs):
        place(+1, None)
    for _ in range(cfg.n_antihedgehogs - n_pairs):
        place(-1, None)
    return np.asarray(chosen, dtype=np.int64), np.asarray(charge, dtype=np.int8)


def virtual_seeds(sphere_centre: np.ndarray, sphere_radius: np.ndarray, n_plus: int, n_minus: int,
                  *, half_extent_nm: tuple[float, float, float], rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Spheres that host the virtual (anti-)hedgehogs.

    Hedgehog voids are drawn among closed voids (entirely inside the volume
    box ``|x_i| <= half_extent_nm[i]``) first. The k-th anti-hedgehog's void
    is the one nearest to ``sqrt(2) d`` from the k-th hedgehog's (second
    neighbours in the adjacent layer, across an octahedral hole), so the
    string joining them leaves both voids through nickel, not through a
    contact with a touching sphere (where a void surface is open).

    Returns
    -------
    sphere : (n_plus + n_minus,) int64
        Sphere indices, the first ``n_plus`` positive.
    charge : (n_plus + n_minus,) int8
    """
    from ..errors import ConfigError

    n = n_plus + n_minus
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int8)
    half = np.asarray(half_extent_nm)
    closed = np.all(np.abs(sphere_centre) + sphere_radius[:, None] <= half[None, :], axis=1)
    centre_in = np.all(np.abs(sphere_centre) <= half[None, :], axis=1)
    first = np.flatnonzero(closed)
    rest = np.flatnonzero(centre_in & ~closed)
    order = np.concatenate([rng.permutation(first), rng.permutation(rest)])
    if len(order) < n:
        raise ConfigError("texture.n_virtual_hedgehogs", f"only {len(order)} voids have their "
                          f"centre in the volume (asked for {n})")
    plus = list(order[:n_plus])
    pool = list(order[n_plus:])
    # the k-th anti pairs with the k-th hedgehog's void two lattice steps away (sqrt 2 d, in the
    # next layer): the segment joining them crosses an octahedral hole, not a sphere contact
    c = sphere_centre
    d_nn = float(np.median(np.sort(np.linalg.norm(c[:, None] - c[None], axis=2), axis=1)[:, 1])) \
        if len(c) > 1 else 1.0
    minus = []
    for k in range(n_minus):
        best = 0
        if k < len(plus) and len(pool) > 1:
            dist = np.linalg.norm(c[pool] - c[plus[k]], axis=1)
            best = int(np.argmin(np.abs(dist - np.sqrt(2.0) * d_nn)))
        minus.append(pool.pop(best))
    sel = np.asarray(plus + minus, dtype=np.int64)
    return sel, np.array([1] * n_plus + [-1] * n_minus, dtype=np.int8)
