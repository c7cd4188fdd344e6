"""Magnetization with prescribed point defects: string construction and exchange relaxation.

Initial field
-------------
Hedgehogs (+1) and anti-hedgehogs (-1) are joined in pairs (optimal
assignment on distance; a seed left over is paired with its mirror image
beyond the nearer slab face, outside the volume). For one pair, anti-hedgehog
at ``s1``, hedgehog at ``s2``, axis ``e = (s2 - s1)/|s2 - s1|``, the texture
in the pair frame is

    m' = sin(T) (cos(p) e1 + sin(p) e2) + cos(T) e,
    T  = angle between (x - s1) and (x - s2)     (the angle the pair subtends),
    p  = azimuth of (x - s1) about e  (+ a helicity angle).

``m'`` is continuous away from the two seeds; near ``s2`` it is the radial
map (degree +1), near ``s1`` its mirror (degree -1), on the segment it is
``-e`` (the "string") and far away ``e``. A constant rotation taking ``e`` to
the background direction ``b`` makes the far field ``b``. Pairs are
superposed in the stereographic coordinate about ``b``,
``w = tan(T/2) exp(i p)`` (rotated): ``w = sum_k w_k``. Near a seed of pair k
the other terms are a finite, smooth translation ``w -> w + c``, an
orientation-preserving homeomorphism of the Riemann sphere, so every seed
keeps its degree, and ``m`` is continuous wherever at most one string passes
(generic segments do not meet). So the initial field has exactly the seeded
zeros, and no others, in the continuum.

Relaxation
----------
Exchange-only energy ``E = sum_<ij> |m_i - m_j|^2`` over nickel nearest
neighbours (free, Neumann, boundaries at silica and vacuum), minimised by
projected gradient: ``m <- normalise(m + tau (H - (m.H) m))`` with
``H = sum_nickel neighbours m_j`` the (negative half) gradient; the eight
corner voxels of every seeded cube are pinned, so a seeded pair cannot
annihilate, while unpinned lattice-scale pairs (seams where strings cross)
do.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

__all__ = ["pair_seeds", "string_field", "pin_cores", "relax_exchange", "orthonormal_frame",
           "rotation_between"]


def orthonormal_frame(b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right-handed orthonormal (f1, f2, b_hat) with b_hat = b / |b|."""
    b = np.asarray(b, dtype=np.float64)
    b = b / np.linalg.norm(b)
    helper = np.array([1.0, 0.0, 0.0]) if abs(b[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    f1 = np.cross(helper, b)
    f1 /= np.linalg.norm(f1)
    f2 = np.cross(b, f1)
    return f1, f2, b


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Proper rotation (3, 3) taking unit vector ``a`` onto unit vector ``b`` (Rodrigues)."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if c < -1 + 1e-12:  # antiparallel: rotate by pi about any axis normal to a
        f1, _, _ = orthonormal_frame(a)
        return 2.0 * np.outer(f1, f1) - np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


def pair_seeds(pos: np.ndarray, charge: np.ndarray, *, slab_half_nm: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Join seeds into (anti-hedgehog, hedgehog) pairs for the string construction.

    Parameters
    ----------
    pos : (n, 3) float64
        Seed positions (x, y, z), nm.
    charge : (n,) int
        +1 / -1.
    slab_half_nm : float
        Half the slab thickness: an unpaired seed's partner is its mirror
        image beyond the nearer face ``z = +-slab_half_nm``.

    Returns
    -------
    s_minus, s_plus : (P, 3) float64
        End points of each pair.
    """
    plus, minus = np.flatnonzero(charge > 0), np.flatnonzero(charge < 0)
    s_minus, s_plus = [], []
    used_p, used_m = set(), set()
    if len(plus) and len(minus):
        cost = np.linalg.norm(pos[plus][:, None, :] - pos[minus][None, :, :], axis=2)
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows, cols):
            s_plus.append(pos[plus[r]])
            s_minus.append(pos[minus[c]])
            used_p.add(int(plus[r]))
            used_m.add(int(minus[c]))

    def image(p: np.ndarray) -> np.ndarray:
        face = slab_half_nm if p[2] >= 0 else -slab_half_nm
        q = p.copy()
        q[2] = 2 * face - p[2]
        return q

    for i in plus:
        if int(i) not in used_p:
            s_plus.append(pos[i])
            s_minus.append(image(pos[i]))
    for i in minus:
        if int(i) not in used_m:
            s_minus.append(pos[i])
            s_plus.append(image(pos[i]))
    return np.asarray(s_minus, dtype=np.float64).reshape(-1, 3), \
        np.asarray(s_plus, dtype=np.float64).reshape(-1, 3)


def string_field(points: np.ndarray, s_minus: np.ndarray, s_plus: np.ndarray,
                 background: np.ndarray, helicity_rad: np.ndarray, *, min_width_nm: float = 0.0,
                 screen_nm: float = 0.0, envelope: bool = False,
                 max_sigma_nm: float = np.inf, scale: np.ndarray | None = None) -> np.ndarray:
    """Unit magnetization at ``points`` with the given defect pairs (see module docstring).

    Two lattice-scale regularisations keep each seed resolved by the voxel
    grid without changing any degree: pair k's coordinate is dilated,
    ``w_k -> lam_k w_k`` with ``lam_k = max(1, min_width_nm / L_k)`` (a
    Mobius scaling; the string tube radius becomes ``lam_k L_k / 2``), and
    multiplied by ``prod_j (1 - exp(-|x - s_j|^2 / screen_nm^2))`` over the
    seeds j of the other pairs (a positive factor that vanishes only at
    those seeds, so near every seed its own pair alone shapes the core).
    With ``envelope`` pair k is also multiplied by ``exp(-rho_k^2 / sigma_k^2)``,
    ``rho_k`` the distance to its segment and ``sigma_k = min(max(L_k,
    min_width_nm), max_sigma_nm)``: positive, 1 on the string, so again no degree changes,
    but the texture decays to the background within ~ one pair length
    instead of as 1/r. ``scale`` (K,) multiplies each pair's ``lam_k`` (a
    further Mobius scaling): < 1 shrinks the wrapped region around the
    string to a small cap, as used for virtual hedgehogs.

    Parameters
    ----------
    points : (P, 3) float64
        Evaluation points (x, y, z), nm (not on a seed).
    s_minus, s_plus : (K, 3) float64
        Anti-hedgehog and hedgehog of each pair.
    background : (3,) float64
        Far-field direction.
    helicity_rad : (K,) float64
        Rotation of each pair's texture about its axis.

    Returns
    -------
    (P, 3) float64
        Unit vectors.
    """
    f1, f2, bh = orthonormal_frame(background)
    w = np.zeros(len(points), dtype=np.complex128)
    ends = np.concatenate([s_minus, s_plus])
    npair = len(s_minus)
    near: list[tuple[np.ndarray, np.ndarray]] = []
    if screen_nm > 0:
        # the screening factor differs from 1 by < 1e-16 beyond 6 screen_nm: only nearby points
        tree = cKDTree(points)
        for sj in ends:
            idx = np.asarray(tree.query_ball_point(sj, 6.0 * screen_nm), dtype=np.int64)
            r2 = np.einsum("ij,ij->i", points[idx] - sj, points[idx] - sj)
            near.append((idx, -np.expm1(-r2 / screen_nm ** 2)))
    for k, (sm, sp, gam) in enumerate(zip(s_minus, s_plus, helicity_rad)):
        axis = sp - sm
        lam = max(1.0, min_width_nm / float(np.linalg.norm(axis)))
        if scale is not None:
            lam *= float(scale[k])
        screen = np.ones(len(points))
        for j, (idx, g) in enumerate(near):
            if j % npair != k:
                screen[idx] *= g
        e = axis / np.linalg.norm(axis)
        e1, e2, _ = orthonormal_frame(e)
        a = points - sm
        b = points - sp
        na = np.linalg.norm(a, axis=1)
        nb = np.linalg.norm(b, axis=1)
        cos_t = np.clip(np.einsum("ij,ij->i", a, b) / np.maximum(na * nb, 1e-300), -1.0, 1.0)
        # tan(T/2) = sin T / (1 + cos T) = sqrt((1 - c)/(1 + c)), capped on the string
        tan_half = np.sqrt((1.0 - cos_t) / np.maximum(1.0 + cos_t, 1e-18))
        phi = np.arctan2(a @ e2, a @ e1) + gam
        q = rotation_between(e, bh)
        g1 = q @ e1
        zeta = complex(g1 @ f1, g1 @ f2)
        if envelope:
            # distance to the segment [sm, sp]; a positive factor equal to 1 on the string
            t = np.clip((a @ e) / np.linalg.norm(axis), 0.0, 1.0)
            rho2 = np.einsum("ij,ij->i", a - np.outer(t * np.linalg.norm(axis), e),
                             a - np.outer(t * np.linalg.norm(axis), e))
            sigma = min(max(float(np.linalg.norm(axis)), min_width_nm), max_sigma_nm)
            screen = screen * np.exp(-rho2 / sigma ** 2)
        w += (lam * screen * tan_half) * zeta * np.exp(1j * phi)
    w2 = (w.real ** 2 + w.imag ** 2)
    inv = 1.0 / (1.0 + w2)
    # inverse stereographic projection from -b: w = 0 -> b, |w| -> inf -> -b
    m = (2.0 * w.real * inv)[:, None] * f1 + (2.0 * w.imag * inv)[:, None] * f2 \
        + ((1.0 - w2) * inv)[:, None] * bh
    big = ~np.isfinite(w2) | (w2 > 1e30)
    m[big] = -bh
    return m / np.linalg.norm(m, axis=1, keepdims=True)


_CORNERS = np.array([(dk, dj, di) for dk in (0, 1) for dj in (0, 1) for di in (0, 1)])


def pin_cores(m: np.ndarray, cubes: np.ndarray, charge: np.ndarray, lattice_charge
              ) -> tuple[np.ndarray, int]:
    """Make every seeded cube carry its charge; return the pinned-voxel mask.

    Where the constructed field already gives the cube the seeded charge it is
    kept; otherwise the eight corners are replaced by the pure (anti-)hedgehog
    ``R D u`` (u the corner directions, D = diag(1, 1, q)) with the rotation R
    that best matches the current corner vectors (Kabsch).

    Parameters
    ----------
    m : (3, Z, Y, X) float64
        Field, modified in place.
    cubes : (n, 3) int64
        Cube indices (k, j, i).
    charge : (n,) int
    lattice_charge : callable
        ``(3, 2, 2, 2) -> (1, 1, 1)`` charge of one cube.

    Returns
    -------
    pinned : (Z, Y, X) bool
    n_repaired : int
        Number of cubes whose corners had to be replaced.
    """
    pinned = np.zeros(m.shape[1:], dtype=bool)
    u = (_CORNERS[:, ::-1] - 0.5).astype(np.float64)  # (x, y, z) offsets from the cube centre
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    repaired = 0
    for (k, j, i), q in zip(cubes, charge):
        block = m[:, k:k + 2, j:j + 2, i:i + 2]
        if lattice_charge(block)[0, 0, 0] != q:
            target = block.reshape(3, 8).T  # corner order (dk, dj, di) matches _CORNERS
            src = u * np.array([1.0, 1.0, float(q)])
            h = src.T @ target
            uu, _, vt = np.linalg.svd(h)
            d = np.sign(np.linalg.det(vt.T @ uu.T))
            rot = vt.T @ np.diag([1.0, 1.0, d]) @ uu.T
            block[...] = (src @ rot.T).T.reshape(3, 2, 2, 2)
            repaired += 1
        pinned[k:k + 2, j:j + 2, i:i + 2] = True
    return pinned, repaired


def relax_exchange(m: np.ndarray, mask: np.ndarray, pinned: np.ndarray, *, iterations: int,
                   step: float, check=None, first_check: int = 10) -> tuple[np.ndarray, int]:
    """Exchange-only projected-gradient relaxation on |m| = 1 inside ``mask``.

    Parameters
    ----------
    m : (3, Z, Y, X) float64
        Unit vectors in ``mask`` (anything elsewhere; set to 0 on return).
    mask : (Z, Y, X) bool
        Magnetic voxels.
    pinned : (Z, Y, X) bool
        Voxels kept fixed.
    iterations : int
        Maximum number of steps.
    step : float
        ``tau``; the update is stable for ``tau <= 1/6``.
    check : callable, optional
        ``check(m) -> bool``, called after ``first_check``, 2, 4, 8... times
        as many steps and after the last one (nucleation, if any, happens
        early, while the constructed field is steepest); when it returns
        False (e.g. a defect nucleated next to a pinned core, the
        lattice-scale screening that pure exchange favours) the field of the
        previous check is returned and the relaxation stops.
    first_check : int

    Returns
    -------
    m : (3, Z, Y, X) float32
        Relaxed field, 0 outside ``mask`` (the relaxation runs in float32, the
        precision of the stored truth, so a check sees exactly what is kept).
    done : int
        Steps actually kept.
    """
    m = np.where(mask, m, 0.0).astype(np.float32)
    gate = (step * (mask & ~pinned)).astype(np.float32)
    h = np.empty_like(m)
    norm = np.empty(m.shape[1:], dtype=m.dtype)
    good, done = m.copy(), 0
    checkpoints = {iterations}
    c = max(1, first_check)
    while c < iterations:
        checkpoints.add(c)
        c *= 2
    for it in range(1, iterations + 1):
        h[:, :-1] = m[:, 1:]
        h[:, -1] = 0.0
        h[:, 1:] += m[:, :-1]
        h[:, :, 1:] += m[:, :, :-1]
        h[:, :, :-1] += m[:, :, 1:]
        h[:, :, :, 1:] += m[:, :, :, :-1]
        h[:, :, :, :-1] += m[:, :, :, 1:]
        mh = np.einsum("c...,c...->...", m, h)
        h -= mh * m          # tangent part of the exchange field
        h *= gate            # step; 0 on pinned and non-magnetic voxels
        m += h
        np.einsum("c...,c...->...", m, m, out=norm)
        np.sqrt(norm, out=norm)
        norm[norm == 0] = 1.0
        m /= norm
        if check is not None and it in checkpoints:
            if not check(m):
                return good, done
            good, done = m.copy(), it
    return m, iterations if check is None else done
