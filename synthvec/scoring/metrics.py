"""Scoring a reconstruction against ground truth: one tidy metric table.

Ground truth is :func:`synthvec.analysis.analyze_field` applied to the
noise-free truth field on the reconstruction grid (the pipeline also keeps the
seeds). Recovered defects are matched to true ones of the same sign by
optimal assignment (``scipy.optimize.linear_sum_assignment`` on distance)
within ``ScoreConfig.match_distance_vox`` voxels.

Stable metric names (``metric, value, unit`` rows; NaN when not computable):

==============================  =====  ==========================================================
name                            unit   meaning
==============================  =====  ==========================================================
hedgehog_precision              1      matched / found defects (hedgehogs and anti-hedgehogs)
hedgehog_recall                 1      matched / true defects
hedgehog_f1                     1      harmonic mean of precision and recall
n_defects_true                  count  defects in the truth analysis
n_defects_found                 count  defects in the reconstruction analysis
n_defects_matched               count  one-to-one same-sign matches within the distance
position_error_nm_mean          nm     mean distance of matched defects
position_error_nm_p90           nm     90th percentile of that distance
gev_mu_error_nm_ha              nm     abs(mu_rec - mu_true), GEV location, hedgehog->anti
gev_mu_error_nm_hh              nm     same, hedgehog->hedgehog
gev_mu_error_nm_aa              nm     same, anti->anti
gev_mu_error_se_nm_ha           nm     combined SE sqrt(se_true^2 + se_rec^2) of that error
gev_mu_error_se_nm_hh           nm     same, hh
gev_mu_error_se_nm_aa           nm     same, aa
site_agreement                  1      fraction of matched defects whose sites agree
site_table_l1                   count  sum over (site, sign) cells of abs(count_rec - count_true)
virtual_agreement               1      fraction of true voids whose virtual class (+1, -1, 0 at
                                       abs(Q) >= threshold) the reconstruction reproduces
virtual_q_mae                   1      mean abs(Q_rec - Q_true) over those voids
n_virtual_true                  count  true virtual (anti)hedgehogs
n_virtual_found                 count  virtual (anti)hedgehogs in the reconstruction
m_angular_error_deg_mean        deg    mean angle between m_rec and m_true in the truth mask
m_angular_error_deg_median      deg    median of that angle
scalar_nrmse                    1      rms(a s_rec + b - s_true) / std(s_true) in the support,
                                       a, b least squares (units of the scalar volumes differ)
fsc_halfset_resolution_nm       nm     half-set FSC (alternate projections) at 0.143
fsc_halfset_halfbit_nm          nm     half-set FSC at the half-bit threshold
fsc_truth_resolution_nm         nm     FSC of m_rec against m_true (vector) at 0.5
==============================  =====  ==========================================================
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import linear_sum_assignment

from ..analysis.api import AnalysisResult
from ..analysis.fsc import fsc, fsc_resolution
from .config import ScoreConfig

__all__ = ["score", "match_defects", "METRICS"]

METRICS: dict[str, str] = {
    "hedgehog_precision": "1", "hedgehog_recall": "1", "hedgehog_f1": "1",
    "n_defects_true": "count", "n_defects_found": "count", "n_defects_matched": "count",
    "position_error_nm_mean": "nm", "position_error_nm_p90": "nm",
    "gev_mu_error_nm_ha": "nm", "gev_mu_error_nm_hh": "nm", "gev_mu_error_nm_aa": "nm",
    "gev_mu_error_se_nm_ha": "nm", "gev_mu_error_se_nm_hh": "nm", "gev_mu_error_se_nm_aa": "nm",
    "site_agreement": "1", "site_table_l1": "count",
    "virtual_agreement": "1", "virtual_q_mae": "1", "n_virtual_true": "count",
    "n_virtual_found": "count",
    "m_angular_error_deg_mean": "deg", "m_angular_error_deg_median": "deg",
    "scalar_nrmse": "1",
    "fsc_halfset_resolution_nm": "nm", "fsc_halfset_halfbit_nm": "nm",
    "fsc_truth_resolution_nm": "nm",
}


def match_defects(true: pd.DataFrame, found: pd.DataFrame, *, max_distance_nm: float
                  ) -> pd.DataFrame:
    """One-to-one same-sign matches within ``max_distance_nm`` (optimal assignment).

    Returns
    -------
    DataFrame with ``true_index, found_index, distance_nm`` (row positions).
    """
    cols = ["true_index", "found_index", "distance_nm"]
    if len(true) == 0 or len(found) == 0:
        return pd.DataFrame(columns=cols)
    a = true[["x_nm", "y_nm", "z_nm"]].to_numpy(float)
    b = found[["x_nm", "y_nm", "z_nm"]].to_numpy(float)
    d = np.linalg.norm(a[:, None] - b[None], axis=2)
    st, sf = np.sign(true["charge"].to_numpy()), np.sign(found["charge"].to_numpy())
    ok = (st[:, None] == sf[None]) & (d <= max_distance_nm)
    big = 1e6 + d.max()
    r, c = linear_sum_assignment(np.where(ok, d, big))
    keep = ok[r, c]
    return pd.DataFrame({"true_index": r[keep], "found_index": c[keep],
                         "distance_nm": d[r, c][keep]})


def _on_truth_grid(rec: xr.Dataset, truth: xr.Dataset) -> np.ndarray:
    """Reconstruction m on the truth grid (linear interpolation when the grids differ)."""
    same = all(rec.sizes[d] == truth.sizes[d] and np.allclose(rec[d].values, truth[d].values)
               for d in ("z", "y", "x"))
    if same:
        return np.asarray(rec["m"].values, np.float64)
    m = rec["m"].interp(z=truth["z"], y=truth["y"], x=truth["x"], method="linear")
    return np.nan_to_num(np.asarray(m.values, np.float64))


def precision_recall_f1(n_true: int, n_found: int, n_matched: int) -> tuple[float, float, float]:
    """(precision, recall, F1) of ``n_matched`` one-to-one matches (1 where nothing was to find
    and nothing was found)."""
    prec = n_matched / n_found if n_found else (1.0 if n_true == 0 else 0.0)
    rec = n_matched / n_true if n_true else (1.0 if n_found == 0 else 0.0)
    return prec, rec, 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0


def angular_errors_deg(truth_field: xr.Dataset, m_rec: np.ndarray) -> np.ndarray:
    """Angles between ``m_rec`` (on the truth grid) and the truth's m in its magnetic mask, deg.

    Voxels where either field is zero are left out; the result is 1-D (possibly empty).
    """
    mt = np.asarray(truth_field["m"].values, np.float64)
    mask = np.asarray(truth_field["mask"].values, bool) if "mask" in truth_field else \
        np.linalg.norm(mt, axis=0) > 0
    nt, nr = np.linalg.norm(mt, axis=0), np.linalg.norm(m_rec, axis=0)
    ok = mask & (nt > 0) & (nr > 0)
    cos = np.sum(mt[:, ok] * m_rec[:, ok], axis=0) / (nt[ok] * nr[ok])
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _scalar_volume(v) -> np.ndarray:
    if isinstance(v, xr.Dataset):
        if "m" in v:
            return np.asarray(v["m"].values, np.float64)
        name = next(iter(v.data_vars))
        return np.asarray(v[name].values, np.float64)
    return np.asarray(getattr(v, "values", v), np.float64)


def score(truth_field: xr.Dataset, truth_result: AnalysisResult, rec_field: xr.Dataset,
          rec_result: AnalysisResult, cfg: ScoreConfig = ScoreConfig(), *,
          halfsets: tuple | None = None,
          scalars: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
    """Metric table of a reconstruction against ground truth (module docstring table).

    Parameters
    ----------
    truth_field, rec_field : xarray.Dataset
        Fields with ``m (comp, z, y, x)``; ``truth_field["mask"]`` is the
        magnetic mask for the angular error.
    truth_result, rec_result : AnalysisResult
        :func:`synthvec.analysis.analyze_field` of each (same config).
    cfg : ScoreConfig
    halfsets : (vol_a, vol_b), keyword-only, optional
        Two half-set reconstructions (arrays (Z, Y, X) or (3, Z, Y, X), or
        Datasets), for the half-set FSC.
    scalars : (truth_scalar, rec_scalar), keyword-only, optional
        Scalar volumes (Z, Y, X) on one grid, for ``scalar_nrmse``.

    Returns
    -------
    pandas.DataFrame
        Columns ``metric, value, unit``, one row per name in :data:`METRICS`, in that order.
    """
    v: dict[str, float] = {k: float("nan") for k in METRICS}
    t, f = truth_result.hedgehogs, rec_result.hedgehogs
    voxel = float(rec_result.voxel_nm if np.isfinite(rec_result.voxel_nm)
                  else truth_result.voxel_nm)
    mt = match_defects(t, f, max_distance_nm=cfg.match_distance_vox * voxel)
    n_t, n_f, n_m = len(t), len(f), len(mt)
    v.update(n_defects_true=n_t, n_defects_found=n_f, n_defects_matched=n_m)
    prec, rec, f1 = precision_recall_f1(n_t, n_f, n_m)
    v.update(hedgehog_precision=prec, hedgehog_recall=rec, hedgehog_f1=f1)
    if n_m:
        d = mt["distance_nm"].to_numpy(float)
        v.update(position_error_nm_mean=float(d.mean()),
                 position_error_nm_p90=float(np.percentile(d, 90)))
        if "site" in t and "site" in f:
            st = t["site"].to_numpy()[mt["true_index"].to_numpy(int)]
            sf = f["site"].to_numpy()[mt["found_index"].to_numpy(int)]
            v["site_agreement"] = float(np.mean(st == sf))
    tt, tf = truth_result.site_table, rec_result.site_table
    v["site_table_l1"] = float(np.abs(tt[["hedgehogs", "anti_hedgehogs"]].to_numpy()
                                      - tf.reindex(tt.index)[["hedgehogs", "anti_hedgehogs"]]
                                      .fillna(0).to_numpy()).sum())
    gt, gf = truth_result.gev.set_index("pair"), rec_result.gev.set_index("pair")
    for p in ("ha", "hh", "aa"):
        if p in gt.index and p in gf.index:
            v[f"gev_mu_error_nm_{p}"] = float(abs(gf.loc[p, "mu_nm"] - gt.loc[p, "mu_nm"]))
            v[f"gev_mu_error_se_nm_{p}"] = float(np.hypot(gt.loc[p, "mu_se_nm"],
                                                          gf.loc[p, "mu_se_nm"]))
    vt, vf = truth_result.virtual_hedgehogs, rec_result.virtual_hedgehogs
    if vt is not None:
        v["n_virtual_true"] = int(np.sum(vt["charge"] != 0))
    if vf is not None:
        v["n_virtual_found"] = int(np.sum(vf["charge"] != 0))
    if vt is not None and vf is not None and "true_void_id" in vt and "true_void_id" in vf:
        a = vt[vt["true_void_id"] >= 0].drop_duplicates("true_void_id").set_index("true_void_id")
        b = vf[vf["true_void_id"] >= 0].drop_duplicates("true_void_id").set_index("true_void_id")
        common = a.index.intersection(b.index)
        if len(common):
            v["virtual_agreement"] = float(np.mean(a.loc[common, "charge"].to_numpy()
                                                   == b.loc[common, "charge"].to_numpy()))
            v["virtual_q_mae"] = float(np.mean(np.abs(a.loc[common, "q"].to_numpy()
                                                      - b.loc[common, "q"].to_numpy())))
    mt_true = np.asarray(truth_field["m"].values, np.float64)
    mr = _on_truth_grid(rec_field, truth_field)
    ang = angular_errors_deg(truth_field, mr)
    if ang.size:
        v.update(m_angular_error_deg_mean=float(ang.mean()),
                 m_angular_error_deg_median=float(np.median(ang)))
    v["fsc_truth_resolution_nm"] = fsc_resolution(fsc(mr, mt_true, voxel_nm=truth_result.voxel_nm
                                                      if np.isfinite(truth_result.voxel_nm)
                                                      else voxel), 0.5)
    if halfsets is not None:
        a, b = (_scalar_volume(h) for h in halfsets)
        curve = fsc(a, b, voxel_nm=voxel)
        v["fsc_halfset_resolution_nm"] = fsc_resolution(curve, 0.143)
        v["fsc_halfset_halfbit_nm"] = fsc_resolution(curve, "half_bit")
    if scalars is not None:
        st, sr = (np.asarray(s, np.float64) for s in scalars)
        if st.shape == sr.shape and np.std(st) > 0:
            amat = np.c_[sr.ravel(), np.ones(sr.size)]
            coef, *_ = np.linalg.lstsq(amat, st.ravel(), rcond=None)
            resid = amat @ coef - st.ravel()
            v["scalar_nrmse"] = float(np.sqrt(np.mean(resid ** 2)) / np.std(st))
    return pd.DataFrame({"metric": list(METRICS), "value": [float(v[k]) for k in METRICS],
                         "unit": [METRICS[k] for k in METRICS]})
