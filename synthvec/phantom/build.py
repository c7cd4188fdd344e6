"""Phantom stage: the labelled Ni-in-silica volume as an xarray Dataset."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .config import PhantomConfig
from .lattice import interstitial_sites, label_grid, sphere_lattice

__all__ = ["build_phantom", "label_like", "site_table"]

_NM = {"units": "nm"}


def build_phantom(cfg: PhantomConfig, *, rng: np.random.Generator, supersample: int = 1
                  ) -> xr.Dataset:
    """The fcc (or other close-packed) Ni-in-silica superlattice on a voxel grid.

    Parameters
    ----------
    cfg : PhantomConfig
        Sphere size, stacking, slab and grid.
    rng : numpy.random.Generator, keyword-only
        Draws the size spread, position jitter and random stacking.
    supersample : int, keyword-only
        Grid voxel is ``cfg.voxel_nm / supersample`` (same box).

    Returns
    -------
    xarray.Dataset
        On dims (z, y, x) with coords in nm centred on the volume:
        ``material`` (Z, Y, X) int8 (0 vacuum, 1 silica, 2 nickel),
        ``site`` (Z, Y, X) int8 (0 not nickel, 1 octahedral, 2 tetrahedral,
        3 between), ``void_id`` (Z, Y, X) int32 (sphere index in silica, else
        -1); ``sphere_centre_nm`` (sphere, xyz) float64,
        ``sphere_radius_nm`` (sphere,) float64; the interstitial site table
        ``site_centre_nm`` (site_index, xyz), ``site_kind`` (site_index,) int8
        and ``site_radius_nm`` (site_index,). Attrs: ``voxel_nm`` (of this
        grid), ``recon_voxel_nm``, ``supersample``, ``stacking`` (layer
        positions as letters, bottom first).
    """
    if supersample < 1:
        raise ValueError(f"supersample must be >= 1 (got {supersample})")
    centres, radii, _, types = sphere_lattice(cfg, rng=rng)
    half = cfg.lateral_extent_nm / 2
    zt = cfg.slab_thickness_nm / 2
    touch = ((np.abs(centres[:, 0]) <= half + radii) & (np.abs(centres[:, 1]) <= half + radii)
             & (np.abs(centres[:, 2]) <= zt + radii))
    centres, radii = centres[touch], radii[touch]
    site_pos, site_kind, site_radius = interstitial_sites(cfg, types, centres, radii)
    inside = ((np.abs(site_pos[:, 0]) <= half) & (np.abs(site_pos[:, 1]) <= half)) \
        if len(site_pos) else np.zeros(0, dtype=bool)
    site_pos, site_kind, site_radius = site_pos[inside], site_kind[inside], site_radius[inside]
    ds = _dataset(cfg, centres, radii, site_pos, site_kind, site_radius, supersample)
    ds.attrs["stacking"] = "".join("ABC"[t] for t in types)
    return ds


def _dataset(cfg, centres, radii, site_pos, site_kind, site_radius, supersample) -> xr.Dataset:
    material, site, void_id, (z, y, x, v) = label_grid(cfg, centres, radii, site_pos, site_kind,
                                                       site_radius, supersample)
    dims = ("z", "y", "x")
    return xr.Dataset(
        {"material": (dims, material, {"codes": "0 vacuum, 1 silica, 2 nickel"}),
         "site": (dims, site, {"codes": "0 not nickel, 1 octahedral, 2 tetrahedral, 3 between"}),
         "void_id": (dims, void_id, {"meaning": "sphere index of silica voxels, -1 elsewhere"}),
         "sphere_centre_nm": (("sphere", "xyz"), np.asarray(centres, dtype=np.float64), _NM),
         "sphere_radius_nm": (("sphere",), np.asarray(radii, dtype=np.float64), _NM),
         "site_centre_nm": (("site_index", "xyz"), np.asarray(site_pos, dtype=np.float64), _NM),
         "site_kind": (("site_index",), np.asarray(site_kind, dtype=np.int8),
                       {"codes": "1 octahedral, 2 tetrahedral"}),
         "site_radius_nm": (("site_index",), np.asarray(site_radius, dtype=np.float64), _NM)},
        coords={"z": ("z", z, _NM), "y": ("y", y, _NM), "x": ("x", x, _NM),
                "xyz": ["x", "y", "z"]},
        attrs={"voxel_nm": float(v), "recon_voxel_nm": float(cfg.voxel_nm),
               "supersample": int(supersample), "site_scale": float(cfg.site_scale)})


def site_table(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions (S, 3), kinds (S,) int8, radii (S,)) of the interstitial sites stored in ``ds``."""
    if "site_centre_nm" not in ds:
        return np.zeros((0, 3)), np.zeros(0, dtype=np.int8), np.zeros(0)
    return (np.asarray(ds["site_centre_nm"].values, dtype=np.float64).reshape(-1, 3),
            np.asarray(ds["site_kind"].values, dtype=np.int8),
            np.asarray(ds["site_radius_nm"].values, dtype=np.float64))


def label_like(ds: xr.Dataset, cfg: PhantomConfig, supersample: int) -> xr.Dataset:
    """Relabel the geometry stored in ``ds`` (spheres, sites) on a grid ``supersample`` x finer.

    The labels are sampled exactly from the sphere geometry at the fine voxel
    centres, not interpolated from the coarse labels.
    """
    centres = np.asarray(ds["sphere_centre_nm"].values, dtype=np.float64).reshape(-1, 3)
    radii = np.asarray(ds["sphere_radius_nm"].values, dtype=np.float64).reshape(-1)
    pos, kind, rad = site_table(ds)
    out = _dataset(cfg, centres, radii, pos, kind, rad, supersample)
    if "stacking" in ds.attrs:
        out.attrs["stacking"] = ds.attrs["stacking"]
    return out
