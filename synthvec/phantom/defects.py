"""The defects a truth field really contains, matched to the seeds it was built from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import linear_sum_assignment

from ..errors import InputError
from .lattice import SITE_NAMES

__all__ = ["realised_defects", "DEFECT_COLUMNS"]

DEFECT_COLUMNS = ["x_nm", "y_nm", "z_nm", "charge", "site", "seed_index", "seed_distance_nm"]


def realised_defects(truth: xr.Dataset, seeds: pd.DataFrame, *, match_radius_vox: float = 1.0
                     ) -> tuple[pd.DataFrame, dict[str, float]]:
    """Lattice defects of the truth field and their match to the real seeds.

    Every lattice cube whose eight corners are magnetic (``mask``) and whose
    charge (:func:`synthvec.analysis.charges.lattice_charge`, 12 triangle
    solid angles per cube) is nonzero is a defect at the cube centre. Real
    seeds are matched one-to-one to defects of the same sign within
    ``match_radius_vox`` voxels (optimal assignment on distance).

    Parameters
    ----------
    truth : xarray.Dataset
        ``m (comp, z, y, x)``, ``mask (z, y, x)``, optional ``site``; coords in nm.
    seeds : pandas.DataFrame
        Columns ``x_nm, y_nm, z_nm, charge``, optional ``kind`` (virtual
        seeds are not lattice defects and are skipped).
    match_radius_vox : float, keyword-only
        Largest seed-defect distance of a match, voxels.

    Returns
    -------
    defects : pandas.DataFrame
        One row per defect: ``x_nm, y_nm, z_nm, charge`` (integer-valued
        float; a half-integer only next to an antiparallel face), ``site``
        (octahedral / tetrahedral / between, from the voxel nearest the
        cube centre), ``seed_index`` (row of ``seeds`` it realises, -1 if
        unseeded), ``seed_distance_nm`` (NaN if unseeded).
    metrics : dict
        ``truth_seeds`` (real seeds), ``truth_seeds_realised``,
        ``truth_seeds_lost``, ``truth_unseeded_defects``,
        ``truth_defects_total``, ``truth_net_charge``,
        ``truth_seed_position_error_nm`` (mean over matches, 0 if none),
        ``truth_virtual_seeds``.
    """
    from ..analysis.charges import lattice_charge

    for name in ("m",):
        if name not in truth:
            raise InputError(f"truth: variable '{name}' is missing")
    for col in ("x_nm", "y_nm", "z_nm", "charge"):
        if col not in seeds.columns:
            raise InputError(f"seeds: column '{col}' is missing")
    m = np.asarray(truth["m"].values, dtype=np.float64)
    mask = np.asarray(truth["mask"].values, dtype=bool) if "mask" in truth else \
        np.linalg.norm(m, axis=0) > 0
    z, y, x = (np.asarray(truth[c].values, dtype=np.float64) for c in ("z", "y", "x"))
    voxel = float(x[1] - x[0])
    q = lattice_charge(m)
    ok = np.ones(q.shape, dtype=bool)
    for dk in (0, 1):
        for dj in (0, 1):
            for di in (0, 1):
                ok &= mask[dk:dk + q.shape[0], dj:dj + q.shape[1], di:di + q.shape[2]]
    qv = np.where(ok, q, 0.0)
    idx = np.argwhere(np.abs(qv) > 0.25)
    charge = qv[idx[:, 0], idx[:, 1], idx[:, 2]]
    pos = np.column_stack([(x[idx[:, 2]] + x[idx[:, 2] + 1]) / 2,
                           (y[idx[:, 1]] + y[idx[:, 1] + 1]) / 2,
                           (z[idx[:, 0]] + z[idx[:, 0] + 1]) / 2]) if len(idx) else np.zeros((0, 3))
    sc = _sites(truth, idx, pos)

    real = seeds["kind"].eq("real").to_numpy() if "kind" in seeds.columns \
        else np.ones(len(seeds), dtype=bool)
    s_rows = np.flatnonzero(real)
    spos = seeds[["x_nm", "y_nm", "z_nm"]].to_numpy(dtype=np.float64)[s_rows]
    sq = seeds["charge"].to_numpy(dtype=np.float64)[s_rows]
    seed_index = np.full(len(idx), -1, dtype=np.int64)
    seed_dist = np.full(len(idx), np.nan)
    if len(idx) and len(s_rows):
        d = np.linalg.norm(pos[:, None, :] - spos[None, :, :], axis=2)
        limit = match_radius_vox * voxel + 1e-9
        allowed = (d <= limit) & (np.sign(charge)[:, None] == np.sign(sq)[None, :])
        cost = np.where(allowed, d, 1e6)
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows, cols):
            if allowed[r, c]:
                seed_index[r] = s_rows[c]
                seed_dist[r] = d[r, c]
    defects = pd.DataFrame({"x_nm": pos[:, 0], "y_nm": pos[:, 1], "z_nm": pos[:, 2],
                            "charge": charge, "site": sc, "seed_index": seed_index,
                            "seed_distance_nm": seed_dist}, columns=DEFECT_COLUMNS)
    n_real = int(len(s_rows))
    n_match = int((seed_index >= 0).sum())
    metrics = {
        "truth_seeds": float(n_real),
        "truth_seeds_realised": float(n_match),
        "truth_seeds_lost": float(n_real - n_match),
        "truth_unseeded_defects": float((seed_index < 0).sum()),
        "truth_defects_total": float(len(idx)),
        "truth_net_charge": float(charge.sum()) if len(idx) else 0.0,
        "truth_seed_position_error_nm": float(np.nanmean(seed_dist)) if n_match else 0.0,
        "truth_virtual_seeds": float((~real).sum()),
    }
    return defects, metrics


def _sites(truth: xr.Dataset, idx: np.ndarray, pos: np.ndarray) -> list[str]:
    """Site of each defect: the phantom's site rule at the cube centre, else the corners' majority."""
    if not len(idx):
        return []
    if "site_centre_nm" in truth and truth.sizes.get("site_index", 0) > 0:
        from .build import site_table
        from .lattice import label_points

        spos, skind, srad = site_table(truth)
        codes = label_points(pos, site_pos=spos, site_kind=skind, site_radius=srad,
                             site_scale=float(truth.attrs.get("site_scale", 1.5)))
        return [SITE_NAMES[int(c)] for c in codes]
    if "site" not in truth:
        return ["between"] * len(idx)
    site_arr = truth["site"].values
    out = []
    for k, j, i in idx:
        block = site_arr[k:k + 2, j:j + 2, i:i + 2].ravel()
        block = block[block > 0]
        out.append(SITE_NAMES[int(np.bincount(block).argmax())] if len(block) else "between")
    return out
