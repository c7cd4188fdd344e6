"""Alignment of projection sets: cross-correlation, centre of mass, common lines,
projection matching (the paper's Methods, 'The scalar tomography reconstruction';
Scott et al., Nature 483, 444 (2012) for centre of mass and common lines).

Shift convention: a projection recorded with shift ``d = (dv, du)`` pixels is
``b_meas(v, u) = b_true(v - dv, u - du)``; :func:`shift_images` with ``-d``
undoes it. Shifts are in detector pixels (rows v, columns u), angles in degrees.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from ...geometry import beam_direction, detector_axes
from ...threads import n_threads
from .projectors import group_series, inplane_rotation_matrix, joseph_matrix

__all__ = ["shift_images", "cross_correlation_shift", "rough_align", "centre_of_mass_align",
           "common_line_align", "series_offsets", "match_shifts", "refine_angles"]


def shift_images(imgs: np.ndarray, shifts_px: np.ndarray) -> np.ndarray:
    """Shift images by sub-pixel amounts (Fourier shift theorem).

    Parameters
    ----------
    imgs : (N, V, U) float
    shifts_px : (N, 2) float
        (dv, du) per image; the output is ``img(v - dv, u - du)``.

    Returns
    -------
    (N, V, U) array of the input dtype.
    """
    imgs = np.asarray(imgs)
    _, nv, nu = imgs.shape
    kv = sfft.fftfreq(nv)[None, :, None]
    ku = sfft.rfftfreq(nu)[None, None, :]
    s = np.asarray(shifts_px, dtype=float)
    ramp = np.exp(-2j * np.pi * (kv * s[:, 0, None, None] + ku * s[:, 1, None, None]))
    spec = sfft.rfft2(imgs, workers=n_threads())
    return sfft.irfft2(spec * ramp, s=(nv, nu), workers=n_threads()).astype(imgs.dtype, copy=False)


def _peak_shifts(ref: np.ndarray, mov: np.ndarray) -> np.ndarray:
    """Cross-correlation peak with a 3-point parabola per axis; (B, 2) (dv, du)."""
    nb, nv, nu = ref.shape
    fr = sfft.rfft2(ref - ref.mean(axis=(1, 2), keepdims=True), workers=n_threads())
    fm = sfft.rfft2(mov - mov.mean(axis=(1, 2), keepdims=True), workers=n_threads())
    cc = sfft.irfft2(fm * fr.conj(), s=(nv, nu), workers=n_threads())
    flat = cc.reshape(nb, -1).argmax(axis=1)
    iv, iu = np.unravel_index(flat, (nv, nu))
    b = np.arange(nb)

    def vertex(cm, c0, cp):
        den = cm + cp - 2 * c0
        return np.where(den < 0, 0.5 * (cm - cp) / np.where(den < 0, den, -1.0), 0.0)

    dv = vertex(cc[b, (iv - 1) % nv, iu], cc[b, iv, iu], cc[b, (iv + 1) % nv, iu])
    du = vertex(cc[b, iv, (iu - 1) % nu], cc[b, iv, iu], cc[b, iv, (iu + 1) % nu])
    sv = (iv + nv // 2) % nv - nv // 2 + dv
    su = (iu + nu // 2) % nu - nu // 2 + du
    return np.stack([sv, su], 1)


def batch_shifts(reference: np.ndarray, moving: np.ndarray, *, passes: int = 3) -> np.ndarray:
    """Shifts (B, 2) (dv, du) of ``moving`` relative to ``reference`` (``moving = ref(. - d)``).

    Cross-correlation peak refined by a parabola; the estimate is then
    improved by re-registering the moving images shifted back by it (the
    parabola is exact at zero shift, so the passes converge to sub-0.05 px).
    """
    ref = np.asarray(reference, dtype=float)
    mov = np.asarray(moving, dtype=float)
    if ref.ndim == 2:
        ref, mov = ref[None], mov[None]
    total = _peak_shifts(ref, mov)
    for _ in range(passes - 1):
        total += _peak_shifts(ref, shift_images(mov, -total))
    return total


def cross_correlation_shift(reference: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """Shift (dv, du) of one image ``moving`` relative to ``reference``."""
    return batch_shifts(reference, moving)[0]


def rough_align(proj: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """Rough cross-correlation alignment within each tilt series, neighbour to neighbour.

    Consecutive tilts look alike, so each projection is registered to its
    predecessor in the series and the shifts accumulate from the series'
    middle (lowest-tilt) projection outwards.

    Returns
    -------
    (N, 2) float64 shifts (dv, du) in pixels, relative to the middle projection.
    """
    shifts = np.zeros((len(proj), 2))
    for g in groups:
        if len(g) < 2:
            continue
        d = batch_shifts(proj[g[:-1]], proj[g[1:]])  # d[k]: shift of g[k+1] relative to g[k]
        mid = len(g) // 2
        for k in range(mid + 1, len(g)):
            shifts[g[k]] = shifts[g[k - 1]] + d[k - 1]
        for k in range(mid - 1, -1, -1):
            shifts[g[k]] = shifts[g[k + 1]] - d[k]
    return shifts


def _com(proj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nv, nu = proj.shape[1:]
    w = np.clip(proj, 0, None)
    tot = w.sum(axis=(1, 2))
    tot = np.where(tot > 0, tot, 1.0)
    cv = (w.sum(axis=2) * (np.arange(nv) - (nv - 1) / 2)).sum(1) / tot
    cu = (w.sum(axis=1) * (np.arange(nu) - (nu - 1) / 2)).sum(1) / tot
    return cv, cu


def centre_of_mass_align(proj: np.ndarray, phis_deg, thetas_deg) -> tuple[np.ndarray, np.ndarray]:
    """Centre-of-mass alignment of all projections to one rigid 3D centre.

    The centre of mass of the object, ``r_c``, projects to ``(v_i . r_c, u_i . r_c)``
    in projection i. ``r_c`` is fitted by least squares to the measured
    centres; the residuals are the projection shifts. Needs an object that
    stays inside the field of view with positive contrast.

    Returns
    -------
    shifts : (N, 2) float64 (dv, du) pixels
    centre : (3,) float64, fitted ``r_c`` (x, y, z) in voxels
    """
    cv, cu = _com(proj)
    rows = []
    for p, t in zip(np.ravel(phis_deg), np.ravel(thetas_deg)):
        u, v = detector_axes(p, t)
        rows.append((v, u))
    a = np.array([r for pair in rows for r in pair])  # (2N, 3)
    meas = np.stack([cv, cu], 1).ravel()
    rc, *_ = np.linalg.lstsq(a, meas, rcond=None)
    return (meas - a @ rc).reshape(-1, 2), rc


def common_line_align(proj: np.ndarray, groups: list[np.ndarray], *, passes: int = 2) -> np.ndarray:
    """Common-line alignment along the tilt axis within each series.

    For a tilt about the lab x axis (detector u), the sum of a projection over
    v is the integral of the object over planes ``x' = u``, the same for every
    tilt of the series. Each profile is registered to the series mean.

    Returns
    -------
    (N, 2) float64 shifts (dv = 0, du) in pixels, zero mean per series.
    """
    shifts = np.zeros((len(proj), 2))
    prof = proj.sum(axis=1).astype(float)
    for g in groups:
        cur = prof[g].copy()
        du = np.zeros(len(g))
        for _ in range(passes):
            ref = cur.mean(axis=0)
            step = batch_shifts(np.broadcast_to(ref, cur.shape)[:, None, :], cur[:, None, :])[:, 1]
            du += step
            cur = shift_images(prof[g][:, None, :], np.stack([np.zeros(len(g)), du], 1))[:, 0]
        shifts[g, 1] = du - du.mean()
    return shifts


def _line_profile(img: np.ndarray, w_uv: np.ndarray, nbin: int) -> np.ndarray:
    """Integral of ``img`` over lines perpendicular to ``w_uv = (wu, wv)`` (linear binning)."""
    nv, nu = img.shape
    v, u = np.meshgrid(np.arange(nv) - (nv - 1) / 2, np.arange(nu) - (nu - 1) / 2, indexing="ij")
    t = (u * w_uv[0] + v * w_uv[1]).ravel() + (nbin - 1) / 2
    i0 = np.floor(t).astype(int)
    f = t - i0
    out = np.bincount(np.clip(i0, 0, nbin - 1), (1 - f) * img.ravel(), minlength=nbin)
    out += np.bincount(np.clip(i0 + 1, 0, nbin - 1), f * img.ravel(), minlength=nbin)
    return out


def series_offsets(proj: np.ndarray, phis_deg, thetas_deg, groups: list[np.ndarray],
                   *, pairs_per_series: int = 5) -> np.ndarray:
    """Rigid 3D translation of each series relative to the first (common lines across series).

    Projections i and j share the line along ``w = k_i x k_j``: the object's
    1D projection onto w appears in both. Its offset between them is
    ``w . (t_s(i) - t_s(j))``, with ``t_s`` the translation of series s. All
    measured offsets give ``t_s`` by least squares (``t_0 = 0``).

    Returns
    -------
    (S, 3) float64 translations (x, y, z) in voxels; the shift of projection i
    of series s is ``(v_i . t_s, u_i . t_s)``.
    """
    phis, thetas = np.ravel(phis_deg), np.ravel(thetas_deg)
    ns = len(groups)
    if ns < 2:
        return np.zeros((1, 3))
    nbin = int(np.ceil(np.hypot(*proj.shape[1:]))) + 2
    rows, prof_i, prof_j = [], [], []
    k = beam_direction(phis, thetas)
    for a in range(ns):
        for b in range(a + 1, ns):
            ia = groups[a][np.linspace(0, len(groups[a]) - 1, pairs_per_series).astype(int)]
            ib = groups[b][np.linspace(0, len(groups[b]) - 1, pairs_per_series).astype(int)]
            for i, j in ((i, j) for i in ia for j in ib):
                w = np.cross(k[i], k[j])
                if np.linalg.norm(w) < 0.2:
                    continue
                w /= np.linalg.norm(w)
                prof_i.append(_line_profile(proj[i], np.array(
                    [ax @ w for ax in detector_axes(phis[i], thetas[i])]), nbin))
                prof_j.append(_line_profile(proj[j], np.array(
                    [ax @ w for ax in detector_axes(phis[j], thetas[j])]), nbin))
                row = np.zeros(3 * ns)
                row[3 * a:3 * a + 3] += w
                row[3 * b:3 * b + 3] -= w
                rows.append(row)
    if not rows:
        return np.zeros((ns, 3))
    # offset of i relative to j along w, all pairs at once
    meas = batch_shifts(np.array(prof_j)[:, None, :], np.array(prof_i)[:, None, :])[:, 1]
    a_mat = np.array(rows)[:, 3:]
    sol, *_ = np.linalg.lstsq(a_mat, meas, rcond=None)
    return np.vstack([np.zeros(3), sol.reshape(-1, 3)])


def match_shifts(measured: np.ndarray, model: np.ndarray, *,
                 max_shift_px: float = 8.0) -> np.ndarray:
    """Projection matching: shift (dv, du) of each measured projection relative to the model.

    Shifts larger than ``max_shift_px`` are clipped (a bad model early on
    must not throw projections away).
    """
    out = batch_shifts(model, measured)
    return np.clip(out, -max_shift_px, max_shift_px)


def refine_angles(vol: np.ndarray, measured: np.ndarray, phis_deg, thetas_deg, *,
                  delta_deg: float = 0.5, order: int = 3, dtype=np.float32,
                  max_step_deg: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Angular refinement by projection matching: parabola through errors at +-delta.

    The tilt theta is refined per projection; the in-plane rotation phi per
    tilt series (the rotation stage sets it once per series, and one phi per
    series keeps the projector separable). For each, the squared error between
    the measured projections and the volume's projections is evaluated at the
    angle and at +-delta; the vertex of the parabola through the three values is
    the update (clipped to ``max_step_deg``).

    Returns
    -------
    phis_deg, thetas_deg : (N,) float64 refined angles.
    """
    phis = np.asarray(phis_deg, dtype=float).copy()
    thetas = np.asarray(thetas_deg, dtype=float).copy()
    n = vol.shape[0]
    meas = np.asarray(measured, dtype=dtype)
    vol2 = np.asarray(vol, dtype).reshape(n, n * n)

    def rotated(p):  # volume rotated in-plane by p: ((z, y'), x')
        return np.ascontiguousarray((inplane_rotation_matrix(n, p, order=order, dtype=dtype)
                                     @ vol2.T).T).reshape(n * n, n)

    def err(g, ts, idx):
        pr = (joseph_matrix(n, ts, order=order, dtype=dtype) @ g).reshape(len(ts), n, n)
        return ((pr - meas[idx]) ** 2).sum(axis=(1, 2), dtype=float)

    new_t, new_p = thetas.copy(), phis.copy()
    for g in group_series(phis):
        p0, ts = phis[g[0]], thetas[g]
        g0 = rotated(p0)
        e0 = err(g0, ts, g)
        ep = err(g0, ts + delta_deg, g)
        em = err(g0, ts - delta_deg, g)
        new_t[g] = ts + _vertex(em, e0, ep, delta_deg, max_step_deg)
        sp_ = err(rotated(p0 + delta_deg), ts, g).sum()
        sm_ = err(rotated(p0 - delta_deg), ts, g).sum()
        new_p[g] = p0 + _vertex(np.array([sm_]), np.array([e0.sum()]), np.array([sp_]), delta_deg,
                                max_step_deg)[0]
    return new_p, new_t


def _vertex(em, e0, ep, d, max_step):
    curv = em + ep - 2 * e0
    step = np.where(curv > 0, 0.5 * d * (em - ep) / np.where(curv > 0, curv, 1.0),
                    np.where(ep < em, max_step, -max_step))
    return np.clip(step, -max_step, max_step)
