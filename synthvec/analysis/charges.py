"""Lattice topological charge of a magnetization field (hedgehogs / Bloch points).

The charge of one lattice cube is the degree of the map from the cube's
surface to the unit sphere given by the normalised magnetization ``m̂`` at its
eight corner nodes. Each of the six faces is split into two triangles and the
signed solid angle that ``m̂`` spans over each triangle is summed
(Berg & Lüscher, Nucl. Phys. B 190, 412 (1981)). The solid angle of the
spherical triangle (m1, m2, m3) is the Van Oosterom–Strackee formula
(IEEE Trans. Biomed. Eng. BME-30, 125 (1983)):

    tan(Ω/2) = m1·(m2 × m3) / (1 + m1·m2 + m2·m3 + m3·m1),   Ω = 2·atan2(num, den).

Conventions
-----------
* ``m`` has shape (3, Z, Y, X): component axis first (x, y, z), then the
  volume indexed (z, y, x). Node (k, j, i) sits at position (x=i, y=j, z=k)
  in voxel units; cube (k, j, i) spans nodes k..k+1, j..j+1, i..i+1 and has
  its centre at (i + 1/2, j + 1/2, k + 1/2).
* Sign: face triangles are ordered counter-clockwise seen from the +axis
  side, so a face flux is the solid angle with respect to the +x, +y or +z
  normal; a cube's charge is (outgoing flux) / 4π. A hedgehog
  ``m = r/|r|`` has charge **+1**; an anti-hedgehog, e.g. ``m = -r/|r|`` (the
  point reflection, degree (-1)^3 = -1) or ``m = (x, y, -z)/|r|``, has **-1**.
* Shared faces: the flux of every face is computed once, with one fixed
  diagonal, and enters the two cubes that share it with opposite signs. The
  sum of cube charges over any box of cubes therefore equals the flux
  through the box's surface / 4π exactly (telescoping), and the sum over the
  whole volume is the net flux through the outer surface.
* Integers: for nonzero vectors and no degenerate triangle, every cube's
  charge is an integer up to round-off (~1e-6 in the default single
  precision); values within a tolerance of a multiple of 1/2 are snapped
  onto it, so the result holds
  exact integers (half-integers stay exact too, see next point).
* Antiparallel neighbours: if two corners of one face triangle are exactly
  (within 1e-6, or 1e-12 in double precision) antiparallel, the geodesic between them, and
  so the triangle's solid angle, is undefined (any value in (-2π, 2π)). It is
  set to 0; the two cubes sharing that face then carry fractional charges
  of opposite sign (half-integers in symmetric cases), and every closed
  surface that contains the face in its interior (such as the box surface
  used by the defect finder) is unaffected. :func:`degenerate_faces`
  reports how many faces were set so.
* Zero vectors: nodes where |m| <= ``zero_tol`` (outside the magnetic
  material) or any component is not finite have no direction. Every face
  touching such a node has NaN flux, so every cube touching it has charge
  NaN: "not evaluable". Callers count NaN cubes as skipped, never as 0.
"""

from __future__ import annotations

import numpy as np

__all__ = ["lattice_charge", "face_fluxes", "normalise", "degenerate_faces", "hedgehog_density",
           "charge_from_fluxes", "PRECISION",
           "emergent_field"]

FOUR_PI = 4.0 * np.pi


def normalise(m: np.ndarray, *, zero_tol: float = 1e-6, dtype=np.float64
              ) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors of ``m`` and the mask of nodes that have a direction.

    Parameters
    ----------
    m : (3, Z, Y, X) array_like, float
        Magnetization, components (x, y, z).
    zero_tol : float
        Nodes with |m| <= zero_tol, or a non-finite component, are invalid.
    dtype : numpy dtype
        Of the result (float32 halves the memory traffic of the charge kernels).

    Returns
    -------
    unit : (3, Z, Y, X) ``dtype``
        m / |m| at valid nodes, NaN at invalid nodes.
    valid : (Z, Y, X) bool
    """
    m = np.asarray(m)
    if m.ndim != 4 or m.shape[0] != 3:
        raise ValueError(f"m must have shape (3, Z, Y, X) (got {m.shape})")
    m = m.astype(dtype, copy=False)
    norm = np.sqrt(m[0] * m[0] + m[1] * m[1] + m[2] * m[2])
    valid = np.isfinite(norm) & (norm > zero_tol)
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = np.where(valid, 1.0 / np.where(valid, norm, 1.0), np.nan).astype(dtype, copy=False)
    unit = m * inv
    return unit, valid


PRECISION = {"single": (np.float32, 1e-6, 1e-4), "double": (np.float64, 1e-12, 1e-6)}


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _triple(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """a · (b × c)."""
    return (a[0] * (b[1] * c[2] - b[2] * c[1]) + a[1] * (b[2] * c[0] - b[0] * c[2])
            + a[2] * (b[0] * c[1] - b[1] * c[0]))


def _solid_angle(m1, m2, m3, d12, d23, d31, degenerate_tol):
    """Signed solid angle of the spherical triangle (m1, m2, m3), Van Oosterom–Strackee.

    ``d12 = m1·m2`` etc. are passed in because neighbouring triangles share edges.
    Returns the angle and the mask of degenerate (undefined) triangles.
    """
    num = _triple(m1, m2, m3)
    den = 1.0 + d12 + d23 + d31
    # num = den = 0 happens iff two of the vectors are antiparallel (or all lie
    # on one great circle through an antipodal pair): the angle is +-2pi or 0.
    degen = (np.abs(num) <= degenerate_tol) & (den <= degenerate_tol)
    omega = 2.0 * np.arctan2(num, den)
    omega[degen] = 0.0
    return omega, degen


def _atan2_fixed(num: np.ndarray, den: np.ndarray, tol: float) -> tuple[np.ndarray, int]:
    """2 atan2(num, den) with the degenerate triangles (num = den = 0) set to 0."""
    omega = np.arctan2(num, den)
    small = np.flatnonzero(den.ravel() <= tol)  # rare: checked on the few candidates only
    n_bad = 0
    if small.size:
        bad = small[np.abs(num.ravel()[small]) <= tol]
        omega.ravel()[bad] = 0.0
        n_bad = bad.size
    omega *= 2.0
    return omega, n_bad


def _face_flux(a, b, c, d, dab, dbc, dcd, dda, degenerate_tol):
    """Flux through quadrilateral faces with corners a, b, c, d counter-clockwise.

    Triangles (a, b, c) and (a, c, d); the diagonal a–c is fixed. The edge dot
    products are passed in (every lattice edge is shared by four faces). With
    w = a × c, a·(b × c) = -b·w and a·(c × d) = d·w: one cross product serves both.
    """
    w0 = a[1] * c[2] - a[2] * c[1]
    w1 = a[2] * c[0] - a[0] * c[2]
    w2 = a[0] * c[1] - a[1] * c[0]
    dac = _dot(a, c)
    dac += 1.0
    num = -(b[0] * w0 + b[1] * w1 + b[2] * w2)
    den = dab + dbc
    den += dac
    o1, g1 = _atan2_fixed(num, den, degenerate_tol)
    num = d[0] * w0 + d[1] * w1 + d[2] * w2
    den = dcd + dda
    den += dac
    o2, g2 = _atan2_fixed(num, den, degenerate_tol)
    o1 += o2
    return o1, g1 + g2


def face_fluxes(unit: np.ndarray, *, degenerate_tol: float = 1e-12
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Solid angle (sr) of ``unit`` over every lattice face, oriented along +x, +y, +z.

    Parameters
    ----------
    unit : (3, Z, Y, X) float32 or float64
        Unit vectors (NaN where undefined), e.g. from :func:`normalise`.
    degenerate_tol : float
        Tolerance for antiparallel corners (see module docstring).

    Returns
    -------
    fx : (Z-1, Y-1, X), dtype of ``unit``
        Flux through the x-faces (normal +x) at node column i.
    fy : (Z-1, Y, X-1)
    fz : (Z, Y-1, X-1)
    n_degenerate : int
        Number of face triangles of undefined solid angle (set to 0).
    """
    u = unit
    ex = _dot(u[:, :, :, :-1], u[:, :, :, 1:])  # edges along x: (Z, Y, X-1)
    ey = _dot(u[:, :, :-1, :], u[:, :, 1:, :])  # along y: (Z, Y-1, X)
    ez = _dot(u[:, :-1], u[:, 1:])  # along z: (Z-1, Y, X)
    # x-faces: counter-clockwise in (y, z) seen from +x: (y,z) = 00, 10, 11, 01.
    fx, gx = _face_flux(u[:, :-1, :-1, :], u[:, :-1, 1:, :], u[:, 1:, 1:, :], u[:, 1:, :-1, :],
                        ey[:-1], ez[:, 1:], ey[1:], ez[:, :-1], degenerate_tol)
    # y-faces: counter-clockwise in (z, x) seen from +y: (z,x) = 00, 10, 11, 01.
    fy, gy = _face_flux(u[:, :-1, :, :-1], u[:, 1:, :, :-1], u[:, 1:, :, 1:], u[:, :-1, :, 1:],
                        ez[:, :, :-1], ex[1:], ez[:, :, 1:], ex[:-1], degenerate_tol)
    # z-faces: counter-clockwise in (x, y) seen from +z: (x,y) = 00, 10, 11, 01.
    fz, gz = _face_flux(u[:, :, :-1, :-1], u[:, :, :-1, 1:], u[:, :, 1:, 1:], u[:, :, 1:, :-1],
                        ex[:, :-1], ey[:, :, 1:], ex[:, 1:], ey[:, :, :-1], degenerate_tol)
    return fx, fy, fz, int(gx + gy + gz)


def lattice_charge(m: np.ndarray, *, zero_tol: float = 1e-6,
                   precision: str = "single") -> np.ndarray:
    """Topological charge of every lattice cube.

    Parameters
    ----------
    m : (3, Z, Y, X) array_like, float
        Magnetization (any length; it is normalised), components (x, y, z),
        volume indexed (z, y, x).
    zero_tol : float, keyword-only
        Nodes with |m| <= zero_tol have no direction (outside material).
    precision : {"single", "double"}, keyword-only
        Arithmetic of the solid angles. Single (default, twice as fast): the
        round-off of a cube's 12 angles is ~1e-6 of 4 pi, far below the 1/2
        that separates integers; antiparallel corners are those within 1e-6
        (double: 1e-12), and charges within 1e-4 (double: 1e-6) of a
        multiple of 1/2 are snapped onto it.

    Returns
    -------
    (Z-1, Y-1, X-1) float64
        Charge of cube (k, j, i) (centre at node (k, j, i) + 1/2): an integer
        (fractional next to an exactly antiparallel face), NaN where a corner
        has no direction. A hedgehog m = r/|r| gives +1.

    Examples
    --------
    >>> z, y, x = np.mgrid[-1.5:2:1, -1.5:2:1, -1.5:2:1]
    >>> q = lattice_charge(np.stack([x, y, z]))
    >>> float(q[1, 1, 1]), float(np.nansum(q))
    (1.0, 1.0)
    """
    dtype, degenerate_tol, snap_tol = PRECISION[precision]
    unit, _ = normalise(m, zero_tol=zero_tol, dtype=dtype)
    fx, fy, fz, _ = face_fluxes(unit, degenerate_tol=degenerate_tol)
    return charge_from_fluxes(fx, fy, fz, snap_tol)


def charge_from_fluxes(fx: np.ndarray, fy: np.ndarray, fz: np.ndarray, snap_tol: float
                       ) -> np.ndarray:
    """Cube charges (Z-1, Y-1, X-1) float64 from the face fluxes of :func:`face_fluxes`."""
    q = np.diff(fx, axis=2).astype(np.float64)
    q += np.diff(fy, axis=1)
    q += np.diff(fz, axis=0)
    q *= 1.0 / FOUR_PI
    return snap_half(q, snap_tol)


def snap_half(q: np.ndarray, tol: float) -> np.ndarray:
    """Values within ``tol`` of a multiple of 1/2 replaced by it (NaN kept)."""
    half = np.rint(2.0 * q) / 2.0
    with np.errstate(invalid="ignore"):
        close = np.abs(q - half) <= tol
    return np.where(close, half, q)


def degenerate_faces(m: np.ndarray, *, zero_tol: float = 1e-6, precision: str = "single") -> int:
    """Number of face triangles with an antiparallel corner pair (solid angle set to 0)."""
    dtype, degenerate_tol, _ = PRECISION[precision]
    unit, _ = normalise(m, zero_tol=zero_tol, dtype=dtype)
    return face_fluxes(unit, degenerate_tol=degenerate_tol)[3]


def hedgehog_density(m: np.ndarray, *, voxel_nm: float = 1.0, zero_tol: float = 1e-6) -> np.ndarray:
    """Hedgehog density rho (eq. 1 of Rana et al. 2023) on the lattice, per nm^3.

    rho = (1/8pi) eps^ijk d_i n . (d_j n x d_k n) = div B_e is a sum of delta
    functions for a unit field; its lattice form is the cube charge divided by
    the cube volume, so that the sum of rho * voxel^3 over any box of cubes
    equals the emergent flux through the box surface (eq. 1, exactly).

    Parameters
    ----------
    m : (3, Z, Y, X) float
    voxel_nm : float
        Voxel edge length.

    Returns
    -------
    (Z-1, Y-1, X-1) float64
        Density at cube centres, nm^-3 (NaN where not evaluable).
    """
    return lattice_charge(m, zero_tol=zero_tol) / float(voxel_nm) ** 3


def emergent_field(m: np.ndarray, *, voxel_nm: float = 1.0, zero_tol: float = 1e-6) -> np.ndarray:
    """Emergent magnetic field B_e (eq. 1), in flux quanta per nm^2, at cube centres.

    B_i = (1/8pi) eps^ijk n . (d_j n x d_k n): the component along axis i is
    the solid angle swept by n over a lattice face normal to i, divided by
    4pi and by the face area; each cube gets the mean of its two faces.

    Returns
    -------
    (3, Z-1, Y-1, X-1) float64
        Components (x, y, z) of B_e (NaN where not evaluable).
    """
    unit, _ = normalise(m, zero_tol=zero_tol)
    fx, fy, fz, _ = face_fluxes(unit, degenerate_tol=PRECISION["double"][1])
    area = FOUR_PI * float(voxel_nm) ** 2
    bx = 0.5 * (fx[:, :, 1:] + fx[:, :, :-1]) / area
    by = 0.5 * (fy[:, 1:, :] + fy[:, :-1, :]) / area
    bz = 0.5 * (fz[1:] + fz[:-1]) / area
    return np.stack([bx, by, bz])
