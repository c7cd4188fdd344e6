"""Bring a reconstruction into the truth's frame before scoring.

Tomography fixes the object only up to a global translation (alignment by
centre of mass and common lines chooses its own origin), so scoring first
registers the reconstructed scalar volume to the truth's nickel by 3D phase
correlation and moves the reconstruction's coordinates by that shift. Nothing
is resampled: only the coordinates change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from skimage.registration import phase_cross_correlation

__all__ = ["register_to_truth", "assign_true_voids", "reconstruction_material"]


def _truth_on(rec: xr.Dataset, truth: xr.Dataset) -> np.ndarray:
    ni = (truth["material"] == 2).astype(np.float64)
    return np.nan_to_num(ni.interp(z=rec["z"], y=rec["y"], x=rec["x"], method="linear").values)


def register_to_truth(rec: xr.Dataset, truth: xr.Dataset, *, var: str = "density",
                      upsample: int = 10) -> tuple[xr.Dataset, np.ndarray]:
    """Shift ``rec``'s coordinates so that its ``var`` best overlays the truth's nickel.

    Parameters
    ----------
    rec : xarray.Dataset
        Reconstruction with ``var (z, y, x)`` and coords in nm.
    truth : xarray.Dataset
        Truth with ``material (z, y, x)`` (2 = nickel), coords in nm.

    Returns
    -------
    (xarray.Dataset, ndarray (3,) float)
        The reconstruction with shifted coords, and the shift (z, y, x) in nm
        that was added to its coordinates.
    """
    ref = _truth_on(rec, truth)
    mov = np.asarray(rec[var].values, np.float64)
    mov = np.where(np.isfinite(mov), mov, 0.0)
    shift_vox, _, _ = phase_cross_correlation(ref, mov, upsample_factor=upsample,
                                              normalization=None)
    pitch = np.array([float(rec[d].values[1] - rec[d].values[0]) for d in ("z", "y", "x")])
    shift_nm = np.asarray(shift_vox, float) * pitch
    moved = rec.assign_coords({d: (d, rec[d].values + s, rec[d].attrs)
                               for d, s in zip(("z", "y", "x"), shift_nm)})
    return moved, shift_nm


def reconstruction_material(mask: np.ndarray) -> np.ndarray:
    """Material codes of a reconstruction from its magnetic mask alone.

    Nickel where ``mask``; silica (the voids) where not nickel inside the
    slab, i.e. between the first and last z planes and within the lateral
    bounding box of the nickel; vacuum elsewhere.
    """
    mask = np.asarray(mask, bool)
    mat = np.zeros(mask.shape, np.int8)
    if not mask.any():
        return mat
    idx = [np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != ax))) for ax in range(3)]
    box = tuple(slice(i[0], i[-1] + 1) for i in idx)
    mat[box] = 1
    mat[mask] = 2
    return mat


def assign_true_voids(virtual: pd.DataFrame | None, truth: xr.Dataset, *,
                      max_distance_fraction: float = 0.5) -> pd.DataFrame | None:
    """Label reconstructed void surfaces with the nearest true sphere (``true_void_id``).

    A surface whose fitted centre lies farther than ``max_distance_fraction``
    of that sphere's radius from every true centre gets -1.
    """
    if virtual is None or "sphere_centre_nm" not in truth:
        return virtual
    out = virtual.copy()
    centres = np.asarray(truth["sphere_centre_nm"].values, float)  # (n, xyz)
    radii = np.asarray(truth["sphere_radius_nm"].values, float)
    if len(out) == 0 or len(centres) == 0:
        out["true_void_id"] = np.full(len(out), -1, int)
        return out
    pts = out[["x_nm", "y_nm", "z_nm"]].to_numpy(float)
    d = np.linalg.norm(pts[:, None, :] - centres[None, :, :], axis=-1)
    best = np.argmin(d, axis=1)
    ok = d[np.arange(len(pts)), best] <= max_distance_fraction * radii[best]
    out["true_void_id"] = np.where(ok, best, -1)
    return out
