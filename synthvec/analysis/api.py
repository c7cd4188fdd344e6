"""The analysis stage: any magnetization field -> defect, pair, GEV and virtual-hedgehog tables.

``analyze_field`` works on truth and reconstructions alike and knows nothing
of scoring. ``run_analyze`` is the ``synthvec analyze FIELD --out DIR`` call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError
from ..io import atomic_path, read_field
from .config import AnalysisConfig
from .defects import find_defects, subdivide_field
from .gev import gev_table, nearest_neighbour_pairs
from .sites import estimate_sphere_radius_vox, site_table, sites_from_geometry, sites_from_labels
from .virtual import VoidSurfaces, stereographic, surface_charges, void_surfaces

__all__ = ["AnalysisResult", "analyze_field", "write_analysis", "run_analyze"]

HEDGEHOG_COLUMNS = ["x_nm", "y_nm", "z_nm", "charge", "site"]


@dataclass
class AnalysisResult:
    """Tables (and a few arrays) of one field's analysis.

    Attributes
    ----------
    hedgehogs : DataFrame
        ``x_nm, y_nm, z_nm, charge, site`` (+ cube index ``k, j, i`` and the
        ``surface`` Q was taken on: box / voxel / cube).
    pairs : DataFrame
        ``pair, from_index, to_index, distance_nm`` (pair in ha/hh/aa).
    gev : DataFrame
        ``pair, n, mu_nm, sigma_nm, xi, mu_se_nm, mu_se_boot_nm, mode_nm, note``.
    virtual_hedgehogs : DataFrame or None
        One row per segmented void surface (None when voids are unknown):
        ``void, x_nm, y_nm, z_nm, radius_nm, n_facets, q, charge`` (+1/-1 at
        |q| >= threshold, else 0) and ``true_void_id`` when void ids are known.
    site_table : DataFrame
        Counts per site (table S1).
    skipped : DataFrame
        Skipped defect candidates with reasons.
    notes : list of str
    void_ari : float
        Segmentation ARI against known void ids (NaN otherwise).
    voxel_nm : float
    charge : (Z-1, Y-1, X-1) float64
        Lattice cube charges of the (smoothed) field.
    """

    hedgehogs: pd.DataFrame
    pairs: pd.DataFrame
    gev: pd.DataFrame
    virtual_hedgehogs: pd.DataFrame | None
    site_table: pd.DataFrame
    skipped: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    void_ari: float = float("nan")
    voxel_nm: float = float("nan")
    charge: np.ndarray | None = None
    surfaces: VoidSurfaces | None = None
    m: np.ndarray | None = None
    mask: np.ndarray | None = None
    origin_nm: tuple[float, float, float] = (0.0, 0.0, 0.0)


def _voxel_nm(ds: xr.Dataset) -> float:
    if "voxel_nm" in ds.attrs:
        return float(ds.attrs["voxel_nm"])
    x = np.asarray(ds["x"].values, float)
    if len(x) < 2:
        raise InputError("field: cannot infer voxel_nm (attribute missing, x has < 2 points)")
    return float(x[1] - x[0])


def _array(arg, ds: xr.Dataset, name: str, shape) -> np.ndarray | None:
    val = arg if arg is not None else (ds[name] if name in ds else None)
    if val is None:
        return None
    val = np.asarray(getattr(val, "values", val))
    if val.shape != tuple(shape):
        raise InputError(f"field: {name} has shape {val.shape}, expected {tuple(shape)}")
    return val


def analyze_field(field: xr.Dataset, cfg: AnalysisConfig = AnalysisConfig(), *,
                  site: np.ndarray | xr.DataArray | None = None,
                  void_id: np.ndarray | xr.DataArray | None = None,
                  sphere_radius_nm: float | None = None,
                  mask: np.ndarray | xr.DataArray | None = None,
                  rng: np.random.Generator | None = None) -> AnalysisResult:
    """Topology analysis of a magnetization field (Rana et al. 2023, eq. 1, Figs. 2-4).

    Parameters
    ----------
    field : xarray.Dataset
        ``m (comp, z, y, x)``, optional ``mask (z, y, x)`` bool; may also hold
        ``site``, ``void_id`` or ``material`` (codes 1 silica) of the same grid.
    cfg : AnalysisConfig
    site : (Z, Y, X) int, keyword-only, optional
        Site labels (0 not nickel, 1 octahedral, 2 tetrahedral, 3 between);
        default ``field["site"]`` when present, else the void geometry.
    void_id : (Z, Y, X) int, keyword-only, optional
        Void (sphere) index of silica voxels, -1 elsewhere; enables virtual
        hedgehogs and the segmentation ARI. Default ``field["void_id"]``, or
        ``field["material"] == 1`` (voids without ids).
    sphere_radius_nm : float, keyword-only, optional
        Void-sphere radius; default ``cfg.sphere_radius_nm``, the median of
        ``field["sphere_radius_nm"]``, or an estimate from the voids.
    mask : (Z, Y, X) bool, keyword-only, optional
        Magnetic material; default ``field["mask"]``, else |m| > 0. To
        score a reconstruction, pass the truth's ``mask``, ``site`` and
        ``void_id`` so that both analyses see the same geometry (needed for
        ``virtual_agreement``).
    rng : numpy.random.Generator, keyword-only, optional
        Louvain seed and GEV bootstrap; default ``numpy.random.default_rng(0)``
        (results are reproducible).

    Returns
    -------
    AnalysisResult
    """
    if "m" not in field or tuple(field["m"].dims) != ("comp", "z", "y", "x"):
        raise InputError("field: needs a variable m with dims (comp, z, y, x)")
    rng = np.random.default_rng(0) if rng is None else rng
    m = np.asarray(field["m"].values, dtype=np.float64)
    shape = m.shape[1:]
    mask = _array(mask, field, "mask", shape)
    mask = (np.linalg.norm(m, axis=0) > 0) if mask is None else mask.astype(bool)
    voxel = _voxel_nm(field)
    coords = tuple(np.asarray(field[c].values, float) for c in ("z", "y", "x"))
    notes: list[str] = []
    if cfg.upsample > 1:
        fm, fmask, fcoords = subdivide_field(m, mask, coords, cfg.upsample)
        search = find_defects(fm, mask=fmask, sigma_vox=cfg.smooth_sigma_vox * cfg.upsample,
                              coords=fcoords)
    else:
        search = find_defects(m, mask=mask, sigma_vox=cfg.smooth_sigma_vox, coords=coords)
    notes += search.notes
    hh = search.defects.copy()
    if cfg.upsample > 1:  # cube indices of the analysis grid: the cube that holds each defect
        for col, pos, c in zip(("k", "j", "i"), ("z_nm", "y_nm", "x_nm"), coords):
            hh[col] = np.clip(np.floor((hh[pos].to_numpy(float) - c[0]) / (c[1] - c[0])),
                              0, len(c) - 2).astype(int)

    site_arr = _array(site, field, "site", shape)
    vid = _array(void_id, field, "void_id", shape)
    void = None
    if vid is not None:
        void = vid >= 0
    elif "material" in field:
        void = _array(None, field, "material", shape) == 1
    if sphere_radius_nm is None and cfg.sphere_radius_nm > 0:
        sphere_radius_nm = cfg.sphere_radius_nm
    if sphere_radius_nm is None and "sphere_radius_nm" in field and field["sphere_radius_nm"].size:
        sphere_radius_nm = float(np.median(field["sphere_radius_nm"].values))
    radius_vox = (sphere_radius_nm / voxel) if sphere_radius_nm else (
        estimate_sphere_radius_vox(void if void is not None and void.any() else ~mask))
    if site_arr is not None:
        hh["site"] = sites_from_labels(hh, site_arr)
    elif (~mask).any() and np.isfinite(radius_vox):
        hh["site"] = sites_from_geometry(hh, mask, sphere_radius_vox=radius_vox)
        notes.append("sites from the mask's hole geometry (no site labels)")
    else:
        hh["site"] = "unknown"
    hh = hh[HEDGEHOG_COLUMNS + ["k", "j", "i", "surface"]]

    pairs = nearest_neighbour_pairs(hh)
    gev = gev_table(pairs, min_n=cfg.gev_min_pairs, n_bootstrap=cfg.gev_bootstrap, rng=rng)
    notes += [f"GEV {r.pair}: {r.note}" for r in gev.itertuples() if r.note]

    virt, surf, ari = None, None, float("nan")
    if cfg.virtual and void is not None and void.any():
        surf = void_surfaces(void, mask, radius_vox=radius_vox, rng=rng,
                             resolution=cfg.louvain_resolution, rounds=cfg.refine_rounds,
                             smooth_vox=cfg.surface_smooth_vox, void_id=vid)
        q = surface_charges(surf, m, mask)
        origin = np.array([c[0] for c in coords])
        cen_nm = origin + surf.centres * voxel  # (z, y, x)
        counts = np.bincount(surf.label[surf.label >= 0], minlength=len(q))
        virt = pd.DataFrame({"void": np.arange(len(q)), "x_nm": cen_nm[:, 2], "y_nm": cen_nm[:, 1],
                             "z_nm": cen_nm[:, 0], "radius_nm": surf.radii * voxel,
                             "n_facets": counts, "q": q,
                             "charge": np.where(np.abs(q) >= cfg.virtual_threshold,
                                                np.sign(q), 0).astype(int)})
        if surf.true_id is not None:
            true = []
            for n in range(len(q)):
                t = surf.true_id[(surf.label == n) & (surf.true_id >= 0)]
                true.append(int(np.bincount(t).argmax()) if len(t) else -1)
            virt["true_void_id"] = true
            ari = surf.ari()
        notes.append(f"{int(np.sum(virt.charge > 0))} virtual hedgehogs, "
                     f"{int(np.sum(virt.charge < 0))} virtual anti-hedgehogs on {len(virt)} voids")
    return AnalysisResult(hh, pairs, gev, virt, site_table(hh), search.skipped, notes, ari, voxel,
                          search.charge, surf, m, mask, tuple(c[0] for c in coords))


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path, ".csv") as tmp:
        df.to_csv(tmp, index=False)


def write_analysis(result: AnalysisResult, out_dir: str | os.PathLike, *,
                   figures: bool = True) -> list[Path]:
    """Write the tables (CSV) and figures (PNG) of an analysis into ``out_dir``.

    Files: ``hedgehogs.csv`` (x_nm, y_nm, z_nm, charge, site), ``pairs.csv``,
    ``gev.csv``, ``site_table.csv``, ``skipped_candidates.csv``,
    ``virtual_hedgehogs.csv`` (when voids are known), ``notes.txt``; figures
    ``defect_map.png``, ``nn_histograms.png`` and ``stereographic_void<N>.png``
    for the strongest virtual hedgehog and anti-hedgehog.

    Returns
    -------
    list of Path written
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    tables = {"hedgehogs.csv": result.hedgehogs[HEDGEHOG_COLUMNS], "pairs.csv": result.pairs,
              "gev.csv": result.gev, "site_table.csv": result.site_table.reset_index(),
              "skipped_candidates.csv": result.skipped}
    if result.virtual_hedgehogs is not None:
        tables["virtual_hedgehogs.csv"] = result.virtual_hedgehogs
    for name, df in tables.items():
        _write_csv(df, out / name)
        written.append(out / name)
    with atomic_path(out / "notes.txt", ".txt") as tmp:
        tmp.write_text("\n".join(result.notes) + ("\n" if result.notes else ""))
    written.append(out / "notes.txt")
    if figures:
        from .plots import defect_map, nn_histograms, stereographic_plot

        written.append(defect_map(result.hedgehogs, out / "defect_map.png"))
        written.append(nn_histograms(result.pairs, result.gev, out / "nn_histograms.png"))
        v = result.virtual_hedgehogs
        if v is not None and result.surfaces is not None and len(v):
            for pick in (v["q"].idxmax(), v["q"].idxmin()):
                row = v.loc[pick]
                if row["charge"] == 0:
                    continue
                xy, mv = stereographic(result.surfaces, result.m, result.mask, int(row["void"]))
                kind = "virtual hedgehog" if row["charge"] > 0 else "virtual anti-hedgehog"
                written.append(stereographic_plot(
                    xy, mv, out / f"stereographic_void{int(row['void'])}.png",
                    title=f"{kind}, Q = {row['q']:.2f}"))
    return written


def run_analyze(path: str | os.PathLike, out_dir: str | os.PathLike, *,
                voxel_nm: float | None = None, cfg: AnalysisConfig = AnalysisConfig(),
                figures: bool = True, rng: np.random.Generator | None = None) -> AnalysisResult:
    """``synthvec analyze FIELD --out DIR``: read a field file, analyse it, write tables, figures.

    Parameters
    ----------
    path : path
        NetCDF field per the DESIGN.md contract, or a ``.npy`` (3, Z, Y, X)
        array with ``voxel_nm``.
    out_dir : path
    voxel_nm : float, keyword-only
        Voxel edge for ``.npy`` input.
    cfg : AnalysisConfig, keyword-only

    Raises
    ------
    InputError
        Missing or unreadable file, wrong shape, missing voxel size.
    """
    ds = read_field(path, voxel_nm=voxel_nm)
    if min(ds["m"].shape[1:]) < 4:
        raise InputError(f"{path}: m: every volume axis needs >= 4 voxels "
                         f"(got {ds['m'].shape[1:]})")
    result = analyze_field(ds, cfg, rng=rng)
    write_analysis(result, out_dir, figures=figures)
    return result
