"""What a perfect reconstruction on the run's grid would score: the sampling ceiling.

The reconstruction lives on its own grid (the tomography cube, 5 nm voxels at an
offset from the truth's grid that registration measures), and the seeded
textures vary on the scale of one truth voxel: a hedgehog core is one lattice
cube, pairs sit 3-4 voxels apart, and many seeds lie in nickel filaments one
to three voxels wide. Part of what the scores lose is therefore lost by the
grid and the support rule alone, whatever the data and the inversion.

:func:`ideal_reconstruction` builds that ideal: the fine truth the simulator
saw (:func:`synthvec.phantom.refine_truth` at ``phantom.supersample``) averaged
over each reconstruction voxel (exact overlap of voxel boxes), i.e. the
nickel-weighted magnetization and the beta-weighted density a noise-free,
resolution-unlimited reconstruction on that grid would hold, masked by the
vector tomography's support rule on that density. :func:`ceiling_scores`
analyses it with the run's analysis config and scores it like the
reconstruction:

================================  =====  ========================================================
name                              unit   meaning
================================  =====  ========================================================
hedgehog_f1_ideal                 1      hedgehog F1 of the ideal reconstruction against the truth
n_defects_found_ideal             count  defects its analysis finds
m_angular_error_deg_median_ideal  deg    median angle of its m against the truth (truth mask)
================================  =====  ========================================================
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..analysis.api import AnalysisResult, analyze_field
from ..analysis.config import AnalysisConfig
from .frame import reconstruction_material

__all__ = ["box_weights", "ideal_reconstruction", "ceiling_scores", "CEILING_METRICS"]

CEILING_METRICS: dict[str, str] = {
    "hedgehog_f1_ideal": "1", "n_defects_found_ideal": "count",
    "m_angular_error_deg_median_ideal": "deg",
}


def box_weights(centres_nm: np.ndarray, pitch_nm: float, fine_centres_nm: np.ndarray,
                fine_pitch_nm: float) -> np.ndarray:
    """Overlap of each coarse voxel's box with each fine cell, as a fraction of the coarse box.

    Parameters
    ----------
    centres_nm : (n,) float
        Centres of the coarse voxels along one axis.
    pitch_nm : float
        Coarse voxel edge.
    fine_centres_nm : (k,) float
        Centres of the fine cells along the same axis.
    fine_pitch_nm : float

    Returns
    -------
    (n, k) float64
        ``w[i, j]`` = length of (box i) ∩ (cell j) / ``pitch_nm``; rows sum to the
        fraction of box i that the fine grid covers (1 inside it).
    """
    c = np.asarray(centres_nm, float)[:, None]
    f = np.asarray(fine_centres_nm, float)[None, :]
    lo = np.maximum(c - pitch_nm / 2, f - fine_pitch_nm / 2)
    hi = np.minimum(c + pitch_nm / 2, f + fine_pitch_nm / 2)
    return np.clip(hi - lo, 0.0, None) / pitch_nm


def _box_average(a: np.ndarray, weights: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Apply the per-axis overlap weights to the last three axes of ``a``."""
    out = np.tensordot(a, weights[2], axes=([-1], [1]))          # (..., z, y, X)
    out = np.moveaxis(np.tensordot(out, weights[1], axes=([-2], [1])), -1, -2)  # (..., z, Y, X)
    return np.moveaxis(np.tensordot(out, weights[0], axes=([-3], [1])), -1, -3)  # (..., Z, Y, X)


def ideal_reconstruction(fine: xr.Dataset, grid: xr.Dataset, *, ni_beta: float,
                         sio2_beta: float, support_fraction: float) -> xr.Dataset:
    """The fine truth averaged over the boxes of ``grid``'s voxels.

    Parameters
    ----------
    fine : xarray.Dataset
        Truth on its (fine) grid: ``m (comp, z, y, x)`` (unit in the nickel, 0
        elsewhere) and ``material (z, y, x)`` (1 silica, 2 nickel), coords in nm.
    grid : xarray.Dataset
        Anything with uniform ``z, y, x`` coordinates in the truth's frame (the
        registered reconstruction).
    ni_beta, sio2_beta : float
        Absorption indices weighting the density (what the scalar tomography sees).
    support_fraction : float
        The vector support rule: ``mask = density > support_fraction *
        percentile(density, 99.5)`` (0: every voxel with density).

    Returns
    -------
    xarray.Dataset
        On ``grid``'s coords: ``m (comp, z, y, x)`` (nickel-weighted mean of the
        truth's m over each box), ``density (z, y, x)``, ``ni_fraction (z, y, x)``,
        ``mask (z, y, x)`` bool.
    """
    w = []
    for d in ("z", "y", "x"):
        cf = np.asarray(fine[d].values, float)
        cg = np.asarray(grid[d].values, float)
        w.append(box_weights(cg, float(cg[1] - cg[0]), cf, float(cf[1] - cf[0])))
    w = tuple(w)
    mat = np.asarray(fine["material"].values)
    ni = _box_average((mat == 2).astype(np.float64), w)
    si = _box_average((mat == 1).astype(np.float64), w)
    m = _box_average(np.asarray(fine["m"].values, np.float64), w)
    density = ni_beta * ni + sio2_beta * si
    if support_fraction > 0 and density.max() > 0:
        mask = density > support_fraction * np.percentile(density, 99.5)
    else:
        mask = density > 0
    dims = ("z", "y", "x")
    coords = {d: grid[d].values for d in dims}
    return xr.Dataset({"m": (("comp",) + dims, m.astype(np.float32)),
                       "density": (dims, density), "ni_fraction": (dims, ni),
                       "mask": (dims, mask)},
                      coords={**coords, "comp": ["x", "y", "z"]})


def ceiling_scores(ideal: xr.Dataset, truth: xr.Dataset, truth_result: AnalysisResult,
                   cfg: AnalysisConfig, *, max_distance_nm: float,
                   sphere_radius_nm: float | None = None) -> dict[str, float]:
    """Score the ideal reconstruction like a reconstruction (module table).

    Parameters
    ----------
    ideal : xarray.Dataset
        Output of :func:`ideal_reconstruction`.
    truth : xarray.Dataset
        Truth field on its own grid (``m``, ``mask``).
    truth_result : AnalysisResult
        The truth's analysis (its ``hedgehogs``).
    cfg : AnalysisConfig
        The run's analysis config (virtual hedgehogs are skipped here).
    max_distance_nm : float
        Match distance of :func:`synthvec.scoring.match_defects`.
    """
    from dataclasses import replace

    from .metrics import _on_truth_grid, angular_errors_deg, match_defects, precision_recall_f1

    field = ideal[["m", "mask"]].assign(
        material=(("z", "y", "x"), reconstruction_material(ideal["mask"].values)))
    pitch = float(ideal["x"].values[1] - ideal["x"].values[0])
    field.attrs["voxel_nm"] = pitch
    res = analyze_field(field, replace(cfg, virtual=False, gev_bootstrap=0),
                        sphere_radius_nm=sphere_radius_nm)
    t, f = truth_result.hedgehogs, res.hedgehogs
    n_m = len(match_defects(t, f, max_distance_nm=max_distance_nm))
    out = {"hedgehog_f1_ideal": precision_recall_f1(len(t), len(f), n_m)[2],
           "n_defects_found_ideal": float(len(f)),
           "m_angular_error_deg_median_ideal": float("nan")}
    ang = angular_errors_deg(truth, _on_truth_grid(ideal, truth))
    if ang.size:
        out["m_angular_error_deg_median_ideal"] = float(np.median(ang))
    return out
