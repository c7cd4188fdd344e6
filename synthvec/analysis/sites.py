"""Site of each defect: octahedral / tetrahedral / between (the paper's table S1).

Two sources, in order of preference:

1. Site labels on the grid (the phantom's ``site`` variable, codes
   0 not nickel, 1 octahedral, 2 tetrahedral, 3 between): the defect cube
   takes the majority label of its eight corner nodes that are nickel, or the
   label of the nearest nickel node within two voxels.
2. Void geometry, for a field that only has a magnetic mask: the interstitial
   holes of the packing are the local maxima of the Euclidean distance
   transform of the mask (the centres of the largest empty spheres, radius
   r_s = the distance there). A point belongs to the hole whose centre is
   nearest relative to r_s when that ratio is <= ``site_scale`` (1.5, the
   phantom's rule); the hole is octahedral when r_s >= 0.32 R and tetrahedral
   when r_s >= 0.16 R, R the void-sphere radius (ideal fcc holes: 0.414 R and
   0.225 R; the windows between them 0.155 R); otherwise 'between'.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.spatial import cKDTree

__all__ = ["SITE_NAMES", "sites_from_labels", "sites_from_geometry", "estimate_sphere_radius_vox",
           "site_table"]

SITE_NAMES = {1: "octahedral", 2: "tetrahedral", 3: "between"}
OCT_MIN, TET_MIN = 0.32, 0.16


def sites_from_labels(defects: pd.DataFrame, site: np.ndarray) -> np.ndarray:
    """Site name per defect from node labels.

    Parameters
    ----------
    defects : DataFrame with integer cube indices ``k, j, i``.
    site : (Z, Y, X) int
        Node labels, codes as in :data:`SITE_NAMES` (0 = not nickel).

    Returns
    -------
    (N,) object array of str ("unknown" when no nickel node within 2 voxels).
    """
    site = np.asarray(site)
    out = np.empty(len(defects), dtype=object)
    nz = np.argwhere(site > 0)
    tree = cKDTree(nz) if len(nz) else None
    for n, (k, j, i) in enumerate(defects[["k", "j", "i"]].to_numpy(int)):
        corners = site[k:k + 2, j:j + 2, i:i + 2].ravel()
        corners = corners[corners > 0]
        if len(corners):
            vals, counts = np.unique(corners, return_counts=True)
            out[n] = SITE_NAMES.get(int(vals[np.argmax(counts)]), "unknown")
            continue
        out[n] = "unknown"
        if tree is not None:
            d, idx = tree.query([k + 0.5, j + 0.5, i + 0.5], distance_upper_bound=2.0)
            if np.isfinite(d):
                out[n] = SITE_NAMES.get(int(site[tuple(nz[idx])]), "unknown")
    return out


def estimate_sphere_radius_vox(void: np.ndarray) -> float:
    """Void-sphere radius (voxels) from the heights of the void distance-transform maxima.

    The 95th percentile of the local maxima (spheres cut by the slab faces or
    the volume edge, and saddles, are lower) plus 0.3 voxel for the sampling
    at voxel centres; within ~0.5 voxel on fcc slabs of R = 4-10 voxels.
    """
    void = np.asarray(void, bool)
    if not void.any():
        return float("nan")
    edt = ndimage.distance_transform_edt(np.pad(void, 1, mode="edge"))[1:-1, 1:-1, 1:-1]
    peaks = (edt == ndimage.maximum_filter(edt, size=5)) & (edt > 0)
    return float(np.percentile(edt[peaks], 95)) + 0.3


def _holes(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hole centres (H, 3) in (z, y, x) voxels and radii (H,) in voxels."""
    edt = ndimage.distance_transform_edt(np.asarray(mask, bool))
    peaks = (edt == ndimage.maximum_filter(edt, size=3)) & (edt > 0)
    lab, n = ndimage.label(peaks)
    if n == 0:
        return np.zeros((0, 3)), np.zeros(0)
    idx = np.arange(1, n + 1)
    centres = np.array(ndimage.center_of_mass(peaks, lab, idx)).reshape(-1, 3)
    radii = np.asarray(ndimage.maximum(edt, lab, idx), float)
    return centres, radii


def sites_from_geometry(defects: pd.DataFrame, mask: np.ndarray, *, sphere_radius_vox: float,
                        site_scale: float = 1.5) -> np.ndarray:
    """Site name per defect from the magnetic mask's hole geometry (module docstring).

    Parameters
    ----------
    defects : DataFrame with cube indices ``k, j, i``.
    mask : (Z, Y, X) bool
        Magnetic material.
    sphere_radius_vox : float
        Void-sphere radius R in voxels.
    site_scale : float
        Reach of a hole relative to its radius.

    Returns
    -------
    (N,) object array of str
    """
    out = np.full(len(defects), "between", dtype=object)
    if len(defects) == 0:
        return out
    centres, radii = _holes(mask)
    keep = radii >= TET_MIN * sphere_radius_vox
    centres, radii = centres[keep], radii[keep]
    if len(centres) == 0:
        return out
    pts = defects[["k", "j", "i"]].to_numpy(float) + 0.5
    tree = cKDTree(centres)
    k = min(8, len(centres))
    d, idx = tree.query(pts, k=k)
    d, idx = d.reshape(len(pts), k), idx.reshape(len(pts), k)
    ratio = d / radii[idx]
    best = np.argmin(ratio, axis=1)
    rows = np.arange(len(pts))
    hit = ratio[rows, best] <= site_scale
    r_best = radii[idx[rows, best]]
    out[hit & (r_best >= OCT_MIN * sphere_radius_vox)] = "octahedral"
    out[hit & (r_best < OCT_MIN * sphere_radius_vox)] = "tetrahedral"
    return out


def site_table(defects: pd.DataFrame) -> pd.DataFrame:
    """Counts of hedgehogs and anti-hedgehogs per site (table S1 layout).

    Returns
    -------
    DataFrame indexed by site (octahedral, tetrahedral, between, unknown) with
    columns ``hedgehogs, anti_hedgehogs, total``.
    """
    names = ["octahedral", "tetrahedral", "between", "unknown"]
    site = defects["site"] if "site" in defects else pd.Series(["unknown"] * len(defects))
    rows = []
    for name in names:
        sel = (site == name).to_numpy()
        h = int(np.sum(defects["charge"].to_numpy()[sel] > 0))
        a = int(np.sum(defects["charge"].to_numpy()[sel] < 0))
        rows.append((name, h, a, h + a))
    table = pd.DataFrame(rows, columns=["site", "hedgehogs", "anti_hedgehogs", "total"])
    return table.set_index("site")
