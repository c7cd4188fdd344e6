"""From reconstructed exit waves to a projection set (paper, Methods).

- Optical density ``OD = -ln |O|^2`` of the absorption part (normalizes
  beam-intensity fluctuations; the probe/object scale ambiguity becomes a
  constant offset that the background step removes).
- Helicity-pair registration: ``skimage.registration.phase_cross_correlation``
  with sub-pixel upsampling; the second helicity is shifted onto the first.
- Background: Laplace's equation solved inside the sample with the exterior
  as Dirichlet boundary (paper ref. 41), by a sparse 5-point system
  (``scipy.sparse.linalg.spsolve``); the solution is subtracted. A harmonic
  background is removed exactly; a smooth one almost.
- Pixels the probe barely lit (``illumination < min_illumination``) carry no
  data: they are solved for in the Laplace step, never used as boundary
  values, and set to 0 in the output.
- Output: projections ``(angle, v, u)`` = helicity mean, ``xmcd`` = half the
  difference, coords ``phi_deg``, ``theta_deg``, ``u``, ``v`` (nm, origin on
  the rotation centre, ``(index - (n-1)/2) * pixel``), as ``shared/bench/t1.py``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.ndimage as ndi
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import xarray as xr

from ...errors import InputError
from .config import PtychoConfig
from .data import PtychoResult

__all__ = ["optical_density", "register_pair", "sample_mask", "laplace_background",
           "projection_set"]


def optical_density(obj: np.ndarray) -> np.ndarray:
    """``-ln |O|^2`` as float32 (|O| floored at 1e-6)."""
    return (-2.0 * np.log(np.maximum(np.abs(obj), 1e-6))).astype(np.float32)


def register_pair(reference: np.ndarray, moving: np.ndarray, *, upsample: int = 20,
                  max_shift_px: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Shift ``moving`` onto ``reference`` (sub-pixel, phase correlation).

    The two helicities of one tilt are the same scan of the same beam, so they
    differ by a few pixels at most; a correlation peak farther than
    ``max_shift_px`` is a false peak and the pair is left unshifted.

    Returns
    -------
    registered : same shape as ``moving`` (cubic spline shift, edges nearest)
    shift_px : (2,) float64, the (row, col) shift applied
    """
    from skimage.registration import phase_cross_correlation

    shift, _, _ = phase_cross_correlation(reference, moving, upsample_factor=upsample,
                                          normalization=None)
    if np.hypot(*shift) > max_shift_px:
        shift = np.zeros(2)
    out = ndi.shift(moving.astype(np.float64), shift, order=3, mode="nearest")
    return out.astype(moving.dtype), np.asarray(shift, dtype=float)


def sample_mask(od: np.ndarray, *, dilate_px: int = 3, lit: np.ndarray | None = None,
                n_sigma: float = 5.0) -> np.ndarray:
    """Sample region of an OD map: where it stands out of the exterior's noise.

    Otsu's threshold of the smoothed OD finds the sample's dense core; the
    lit pixels beyond it (dilated by ``dilate_px``) give the exterior level
    (median) and noise (MAD sigma). The mask is every pixel whose smoothed
    ``|OD - level|`` exceeds ``n_sigma`` noise sigmas (or the Otsu mask where
    that is empty), dilated by ``dilate_px``, holes filled. Otsu alone cut
    off the thin, low-OD edges of a tilted slab (quick scenario, phi 120 deg,
    theta 40 deg: 631 pixels of OD 0.01-0.45 left outside), and the Laplace
    step then took sample as background.

    Parameters
    ----------
    od : (H, W) float
    dilate_px : int
    lit : (H, W) bool, optional
        Pixels that carry data (default all); only they estimate the exterior.
    n_sigma : float
        Threshold in exterior noise sigmas.
    """
    from skimage.filters import threshold_otsu

    od = np.asarray(od, dtype=np.float64)
    lit = np.ones(od.shape, bool) if lit is None else np.asarray(lit, bool)
    smooth = ndi.gaussian_filter(od, 1.0)
    vals = smooth[lit]
    if vals.size == 0 or np.ptp(vals) <= 0:
        return np.zeros(od.shape, bool)
    core = lit & (smooth > threshold_otsu(vals))
    exterior = lit & ~ndi.binary_dilation(core, iterations=max(dilate_px, 1))
    if exterior.sum() < 10:
        mask = core
    else:
        level = np.median(smooth[exterior])
        sigma = 1.4826 * np.median(np.abs(smooth[exterior] - level))
        mask = lit & (np.abs(smooth - level) > n_sigma * sigma) if sigma > 0 else core
        # keep the connected pieces that touch the core (noise specks far out do not count)
        lab, _ = ndi.label(mask | core)
        mask = np.isin(lab, np.unique(lab[core]))
    if dilate_px:
        mask = ndi.binary_dilation(mask, iterations=dilate_px)
    return ndi.binary_fill_holes(mask)


def laplace_background(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Harmonic interpolation of ``img`` from outside ``mask`` into it.

    Solves the 5-point Laplace equation for the pixels inside ``mask`` with
    the pixels outside as Dirichlet values (array edges: zero normal
    derivative). Returns the background (equal to ``img`` outside).
    """
    img = np.asarray(img, dtype=np.float64)
    mask = np.asarray(mask, bool)
    bg = img.copy()
    idx = -np.ones(img.shape, np.int64)
    n = int(mask.sum())
    if n == 0:
        return bg
    if n == mask.size:
        raise InputError("laplace_background: the sample covers the whole projection; "
                         "no exterior to use as boundary condition")
    idx[mask] = np.arange(n)
    rows, cols = np.nonzero(mask)
    diag = np.zeros(n)
    rhs = np.zeros(n)
    ii, jj = [], []
    for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        r2, c2 = rows + dr, cols + dc
        inside = (r2 >= 0) & (r2 < img.shape[0]) & (c2 >= 0) & (c2 < img.shape[1])
        diag[inside] += 1.0
        r2i, c2i, src = r2[inside], c2[inside], np.nonzero(inside)[0]
        nb = idx[r2i, c2i]
        unknown = nb >= 0
        ii.append(src[unknown])
        jj.append(nb[unknown])
        np.add.at(rhs, src[~unknown], img[r2i[~unknown], c2i[~unknown]])
    ii, jj = np.concatenate(ii), np.concatenate(jj)
    a = sp.csr_matrix((np.concatenate([diag, -np.ones(len(ii))]),
                       (np.concatenate([np.arange(n), ii]), np.concatenate([np.arange(n), jj]))),
                      shape=(n, n))
    bg[mask] = spla.spsolve(a.tocsc(), rhs)
    return bg


def _crop(res: PtychoResult, half: int, min_illumination: float
          ) -> tuple[np.ndarray, np.ndarray]:
    """OD on the (2 half + 1)^2 grid centred on the translation origin, and where it is lit."""
    o_r = int(np.argmin(np.abs(res.object_y_nm)))
    o_c = int(np.argmin(np.abs(res.object_x_nm)))
    win = (slice(o_r - half, o_r + half + 1), slice(o_c - half, o_c + half + 1))
    lit = (np.ones((2 * half + 1,) * 2, bool) if res.illumination is None
           else res.illumination[win] >= min_illumination)
    return optical_density(res.object[win]), lit


def _half_size(results: Sequence[PtychoResult], cfg: PtychoConfig) -> int:
    room = []
    for r in results:
        o_r = int(np.argmin(np.abs(r.object_y_nm)))
        o_c = int(np.argmin(np.abs(r.object_x_nm)))
        room.append(min(o_r, o_c, r.object.shape[0] - 1 - o_r, r.object.shape[1] - 1 - o_c))
    half = min(room)
    if not cfg.projection_size_px and cfg.projection_extent == "scan":
        pos = [np.abs(r.positions_px).max() for r in results if r.positions_px is not None
               and len(r.positions_px)]
        if pos:   # the raster covers the sample: crop to it (odd side 2 half + 1)
            half = min(half, int(np.ceil(max(pos))) + cfg.projection_margin_px)
    if cfg.projection_size_px:
        want = (cfg.projection_size_px - 1) // 2
        if want > half:
            raise InputError(f"ptycho.projection_size_px: {cfg.projection_size_px} exceeds the "
                             f"common reconstructed field ({2 * half + 1} px)")
        half = want
    return half


def projection_set(results: Sequence[PtychoResult], *, phi_deg: Sequence[float],
                   theta_deg: Sequence[float], helicity: Sequence[float],
                   cfg: PtychoConfig = PtychoConfig()) -> xr.Dataset:
    """Projection set for tomography from per-scan reconstructions.

    Parameters
    ----------
    results : one PtychoResult per scan
    phi_deg, theta_deg, helicity : per scan; helicity +1 / -1. Scans with the
        same (phi, theta) and opposite helicity form a pair.
    cfg : PtychoConfig (registration, background, grid size)

    Returns
    -------
    xarray.Dataset
        ``projections (angle, v, u)`` float32 helicity mean of background-
        subtracted OD; ``xmcd (angle, v, u)`` half difference (+ minus -),
        when every angle has both helicities; ``helicity_shift_px (angle, yx)``;
        coords ``phi_deg``, ``theta_deg`` (angle), ``v``, ``u`` (nm, units attr).
    """
    n = len(results)
    if not (len(phi_deg) == len(theta_deg) == len(helicity) == n) or n == 0:
        raise InputError("projection_set: results, phi_deg, theta_deg and helicity must have "
                         "the same non-zero length")
    pix = {round(r.pixel_nm, 9) for r in results}
    if len(pix) != 1:
        raise InputError(f"projection_set: scans have different pixel sizes {sorted(pix)} nm")
    pixel_nm = results[0].pixel_nm
    half = _half_size(results, cfg)
    groups: dict[tuple[float, float], dict[int, int]] = {}
    for i, (p, t, h) in enumerate(zip(phi_deg, theta_deg, helicity)):
        sign = 1 if h > 0 else -1
        g = groups.setdefault((round(float(p), 6), round(float(t), 6)), {})
        if sign in g:
            raise InputError(f"projection_set: two scans with helicity {sign:+d} at "
                             f"phi={p} deg, theta={t} deg")
        g[sign] = i
    paired = all(len(g) == 2 for g in groups.values())
    proj, xmcd, shifts = [], [], []
    for g in groups.values():
        crops = {s: _crop(results[i], half, cfg.min_illumination) for s, i in g.items()}
        lit = np.logical_and.reduce([c[1] for c in crops.values()])
        ods = {s: np.where(lit, c[0], np.median(c[0][lit]) if lit.any() else 0.0)
               for s, c in crops.items()}
        shift = np.zeros(2)
        if len(ods) == 2 and cfg.register_helicity:
            ods[-1], shift = register_pair(ods[1], ods[-1], upsample=cfg.register_upsample,
                                           max_shift_px=cfg.register_max_shift_px)
        mean = sum(ods.values()) / len(ods)
        if cfg.laplace_background:
            mask = sample_mask(mean, dilate_px=cfg.sample_dilate_px, lit=lit) & lit
            if mask.any() and not (mask | ~lit).all():
                # unlit pixels carry no data: solved for (harmonic), never a boundary value
                ods = {s: o - laplace_background(o, mask | ~lit) for s, o in ods.items()}
            else:   # no sample or no exterior found: the border's median as a constant
                ods = {s: o - np.median(np.concatenate([o[0], o[-1], o[:, 0], o[:, -1]]))
                       for s, o in ods.items()}
            mean = sum(ods.values()) / len(ods)
        proj.append(np.where(lit, mean, 0.0))
        shifts.append(shift)
        if paired:
            xmcd.append(np.where(lit, 0.5 * (ods[1] - ods[-1]), 0.0))
    coord = (np.arange(2 * half + 1) - half) * pixel_nm
    keys = list(groups)
    nm = {"units": "nm"}
    ds = xr.Dataset(
        {"projections": (("angle", "v", "u"), np.asarray(proj, np.float32)),
         "helicity_shift_px": (("angle", "yx"), np.asarray(shifts))},
        coords={"phi_deg": ("angle", [k[0] for k in keys]),
                "theta_deg": ("angle", [k[1] for k in keys]),
                "v": ("v", coord, nm), "u": ("u", coord, nm)},
        attrs={"convention": "R = Rx(theta) Rz(phi), active; beam along lab +z; u = lab x, "
                             "v = lab y", "voxel_nm": float(pixel_nm),
               "quantity": "optical density -ln|O|^2, Laplace background removed"})
    if paired:
        ds["xmcd"] = (("angle", "v", "u"), np.asarray(xmcd, np.float32))
    return ds
