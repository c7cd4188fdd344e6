"""Vector tomography of the helicity differences (the paper's eq. 3-6).

    min_O sum_i || P_i (alpha_i O_1 + beta_i O_2 + gamma_i O_3) - b_i ||^2

with (alpha_i, beta_i, gamma_i) = k_i, the beam direction in the sample frame
(:func:`synthvec.geometry.beam_direction`), solved by gradient descent (eq. 5, 6)
with the normalised step t/(N n). The scalar reconstruction's alignment
(shifts, refined angles) is reused; the support is the magnetic mask.

Optional priors, both off by default as in the paper: a Tikhonov smoothness
term (``cfg.regularization``) and a vectorial total-variation term
(``cfg.tv_weight``, :mod:`.regularize`) that couples the three components, so
that it keeps the points where all of them turn (hedgehog cores) while it
flattens noise. Like RESIRE's TV it engages after ``min(10, iterations // 2)``
iterations, with ``mu = tv_weight * N n * a`` and ``eps = tv_smoothing * a``
(``a`` = 99.9th percentile of |m| in the support), and the step shrinks by its
Lipschitz bound to ``t / (N n + 12 mu / eps)``; differences across the
support's border are not penalised.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ...errors import InputError
from ...geometry import beam_direction
from .align import shift_images
from .config import TomoConfig, VectorConfig
from .dataio import detector_grid, validate_projection_set, volume_dataset
from .regularize import tv_gradient, tv_scales, tv_step
from .resire import make_projector, tv_start
from .scalar import prealign

__all__ = ["vector_gd", "reconstruct_vector", "VECTOR_METHODS"]


def _laplacian(o: np.ndarray) -> np.ndarray:
    out = -6.0 * o
    for ax in range(o.ndim - 3, o.ndim):
        out += np.roll(o, 1, ax) + np.roll(o, -1, ax)
    return out


def vector_gd(xmcd: np.ndarray, phis_deg, thetas_deg, cfg: VectorConfig, *,
              support: np.ndarray | None = None, threads: int | None = None
              ) -> tuple[np.ndarray, list[float]]:
    """Gradient descent on eq. 3 for the three components (with ``cfg``'s optional priors).

    Parameters
    ----------
    xmcd : (N, n, n) float
        Aligned helicity-difference projections.
    phis_deg, thetas_deg : (N,) float
    cfg : VectorConfig
    support : (n, n, n) bool, optional
        Magnetic mask; the components are zero outside it.

    Returns
    -------
    m : (3, n, n, n) array, components (x, y, z) = (O_1, O_2, O_3)
    r1 : list of float, R1 per iteration
    """
    dtype = np.dtype(cfg.precision)
    b = np.asarray(xmcd, dtype)
    nproj, n, _ = b.shape
    op = make_projector(n, phis_deg, thetas_deg, kind=cfg.projector, order=cfg.interp_order,
                        oversampling=cfg.oversampling, dtype=dtype, threads=threads)
    k = beam_direction(phis_deg, thetas_deg).astype(dtype)  # (N, 3) alpha, beta, gamma
    fwd_many = getattr(op, "fwd_many", None) or (lambda v: np.stack([op.fwd(c) for c in v]))
    adj_many = getattr(op, "adj_many", None) or (lambda r: np.stack([op.adj(c) for c in r]))
    dt = dtype.type(cfg.step / (nproj * n))
    lam = dtype.type(cfg.regularization)
    mask = None if support is None else np.asarray(support, bool)
    mu, eps = 0.0, 0.0
    k_tv = tv_start(cfg.iterations) if cfg.tv_weight > 0 else -1
    x = np.zeros((3, n, n, n), dtype)
    y, tk = x.copy(), 1.0
    bnorm = max(float(np.abs(b).sum(dtype=float)), 1e-30)
    r1 = []
    for it in range(cfg.iterations):
        if it == k_tv:
            amp = np.sqrt(np.einsum("c...,c...->...", x, x, dtype=float))
            mu, eps = tv_scales(amp if mask is None else amp[mask], cfg.tv_weight,
                                cfg.tv_smoothing, lipschitz_data=nproj * n)
            dt = dtype.type(tv_step(cfg.step, nproj * n, mu, eps))
        z = y if cfg.acceleration == "nesterov" else x
        # P_i (sum_c k_ic O_c) = sum_c k_ic P_i O_c (eq. 3)
        proj = fwd_many(z)  # (3, N, n, n): P_i O_c
        resid = np.einsum("ic,cinm->inm", k, proj) - b
        r1.append(float(np.abs(resid).sum(dtype=float)) / bnorm)
        grad = adj_many(k.T[:, :, None, None] * resid[None])  # eq. 5
        if lam:
            grad -= lam * _laplacian(z)
        if mu > 0:
            grad += dtype.type(mu) * tv_gradient(z, eps, mask=mask)
        xn = z - dt * grad  # eq. 6
        if mask is not None:
            xn[:, ~mask] = 0
        if cfg.acceleration == "nesterov":
            tn = 0.5 * (1 + np.sqrt(1 + 4 * tk * tk))
            y = xn + dtype.type((tk - 1) / tn) * (xn - x)
            tk = tn
        x = xn
    return x, r1


def reconstruct_vector(proj: xr.Dataset, cfg: VectorConfig, *, alignment: xr.Dataset | None = None,
                       support: np.ndarray | None = None, cube_px: int | None = None
                       ) -> xr.Dataset:
    """Magnetization from the ``xmcd`` variable of a projection set (eq. 3-6).

    Parameters
    ----------
    proj : xarray.Dataset
        Projection set with ``xmcd (angle, v, u)`` = (OD+ - OD-)/2.
    cfg : VectorConfig
    alignment : xarray.Dataset, optional
        Output of :func:`reconstruct_scalar` on the same set: its
        ``shift_v_px``, ``shift_u_px``, ``phi_refined_deg``, ``theta_refined_deg``
        are reused, and its ``density`` gives the support when ``support`` is
        None and ``cfg.support_fraction`` > 0. Without it the helicity sums are
        pre-aligned here (cross-correlation, centre of mass, common lines).
    support : (n, n, n) bool, optional
        Magnetic mask.
    cube_px : int, optional
        Side of the cube (:func:`.scalar.reconstruct_scalar`); default the
        side of ``alignment``'s ``density`` when given, else max(n_u, n_v).

    Returns
    -------
    xarray.Dataset
        ``m (comp, z, y, x)`` float32, comp = x, y, z, in units of the xmcd
        projections per nm (proportional to the magnetization); ``mask`` bool;
        ``r1 (iteration)``.
    """
    proj = validate_projection_set(proj)
    if "xmcd" not in proj:
        raise InputError("projection set: no variable 'xmcd' (angle, v, u) for vector tomography")
    if cube_px is None and alignment is not None and "density" in alignment:
        cube_px = int(alignment["density"].shape[0])
    data, pitch, shifts = detector_grid(proj, "xmcd", cube_px=cube_px)
    n = data.shape[1]
    phis, thetas = proj["phi_deg"].values.astype(float), proj["theta_deg"].values.astype(float)
    if alignment is not None:
        for var in ("shift_v_px", "shift_u_px", "phi_refined_deg", "theta_refined_deg"):
            if var not in alignment or alignment[var].size != len(phis):
                raise InputError(f"alignment: '{var}' missing or not one value per projection")
        shifts = np.stack([alignment["shift_v_px"].values, alignment["shift_u_px"].values], 1)
        phis = alignment["phi_refined_deg"].values.astype(float)
        thetas = alignment["theta_refined_deg"].values.astype(float)
    else:
        sums, _, s0 = detector_grid(proj, "projections", cube_px=cube_px)
        shifts = prealign(sums, phis, thetas, shifts_px=s0,
                          center_of_mass=TomoConfig().center_of_mass)
    if (support is None and alignment is not None and "density" in alignment
            and cfg.support_fraction):
        dens = alignment["density"].values
        support = dens > cfg.support_fraction * np.percentile(dens, 99.5)
    if support is not None:
        support = np.asarray(support, bool)
        if support.shape != (n, n, n):
            raise InputError(f"support: shape {support.shape} does not match the cube {(n, n, n)}")
    aligned = shift_images(data, -shifts) if np.any(shifts) else data
    m, r1 = vector_gd(aligned, phis, thetas, cfg, support=support)
    ds = volume_dataset(n, pitch)
    ds = ds.assign_coords(comp=["x", "y", "z"], iteration=np.arange(1, len(r1) + 1))
    ds["m"] = (("comp", "z", "y", "x"), (m / pitch).astype(np.float32))
    ds["mask"] = (("z", "y", "x"), np.ones((n,) * 3, bool) if support is None else support)
    ds["r1"] = ("iteration", np.asarray(r1))
    ds.attrs.update(method=cfg.method, projector=cfg.projector, iterations=cfg.iterations,
                    tv_weight=cfg.tv_weight)
    return ds


#: Vector tomography methods by name (one signature).
VECTOR_METHODS = {"gd": reconstruct_vector}
