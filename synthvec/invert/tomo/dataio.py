"""Projection-set files (the ``bench/t1.py`` convention) and output volumes."""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

from ...errors import InputError
from ...io import read_netcdf

__all__ = ["read_projection_set", "validate_projection_set", "detector_grid", "volume_dataset"]


def read_projection_set(path: str | os.PathLike) -> xr.Dataset:
    """Read and validate a projection set.

    The file holds ``projections (angle, v, u)`` (helicity-mean optical
    density), optionally ``xmcd (angle, v, u)``, coords ``phi_deg`` and
    ``theta_deg`` on ``angle`` and ``u``, ``v`` in nm centred on the rotation
    centre (``shared/bench/t1.py``, :mod:`synthvec.geometry`).

    Raises
    ------
    InputError
        One line naming the file and the field at fault.
    """
    ds = read_netcdf(path)
    return validate_projection_set(ds, source=str(path))


def _uniform_pitch(coord: np.ndarray, name: str, source: str) -> float:
    if coord.ndim != 1 or coord.size < 2:
        raise InputError(f"{source}: coordinate '{name}' must be 1D with at least 2 values")
    d = np.diff(coord.astype(float))
    if not np.all(np.isfinite(coord)) or d[0] <= 0 or np.max(np.abs(d - d[0])) > 1e-3 * d[0]:
        raise InputError(f"{source}: coordinate '{name}' must be increasing and uniformly "
                         "spaced (nm)")
    return float(d[0])


def validate_projection_set(ds: xr.Dataset, *, source: str = "projection set") -> xr.Dataset:
    """Check a projection-set Dataset against the contract; return it with float32 data."""
    if "projections" not in ds:
        raise InputError(f"{source}: no variable 'projections' (angle, v, u)")
    for var in ("projections", "xmcd"):
        if var in ds and tuple(ds[var].dims) != ("angle", "v", "u"):
            raise InputError(f"{source}: {var}: dims must be (angle, v, u) (got {ds[var].dims})")
    for c in ("phi_deg", "theta_deg", "u", "v"):
        if c not in ds.variables:
            raise InputError(f"{source}: coordinate '{c}' is missing (needs phi_deg, theta_deg on "
                             "angle and u, v in nm)")
    n_angle = ds["projections"].shape[0]
    for c in ("phi_deg", "theta_deg"):
        if ds[c].dims != ("angle",) or ds[c].size != n_angle:
            raise InputError(f"{source}: {c}: must have one value per projection on dim 'angle' "
                             f"({ds[c].size} values for {n_angle} projections)")
        if not np.all(np.isfinite(ds[c].values)):
            raise InputError(f"{source}: {c} contains NaN or infinite values")
    if np.any(np.abs(ds["theta_deg"].values) >= 90):
        raise InputError(f"{source}: theta_deg must lie strictly between -90 and 90")
    pu = _uniform_pitch(ds["u"].values, "u", source)
    pv = _uniform_pitch(ds["v"].values, "v", source)
    if abs(pu - pv) > 1e-3 * pu:
        raise InputError(f"{source}: u and v must have the same pixel size (got {pu:g} and "
                         f"{pv:g} nm)")
    for var in ("projections", "xmcd"):
        if var in ds and not np.all(np.isfinite(ds[var].values)):
            raise InputError(f"{source}: {var} contains NaN or infinite values")
    if n_angle < 2:
        raise InputError(f"{source}: projections: need at least 2 projections (got {n_angle})")
    ds = ds.copy()
    for var in ("projections", "xmcd"):
        if var in ds:
            ds[var] = ds[var].astype(np.float32)
    ds.attrs["pixel_nm"] = pu
    return ds


def detector_grid(ds: xr.Dataset, var: str = "projections", *, cube_px: int | None = None
                  ) -> tuple[np.ndarray, float, np.ndarray]:
    """Square, centred detector data for the cube reconstruction.

    Non-square detectors are zero-padded to the larger side (or to
    ``cube_px``); a detector whose array centre is off the rotation centre
    gives an initial shift. The cube's voxel centres sit at
    ``(index - (n - 1) / 2) * pitch``: integer multiples of the pitch for odd
    n, half-integer ones for even n, whatever the detector's parity (the
    shift then moves the data by half a pixel).

    Parameters
    ----------
    ds : xarray.Dataset
        Projection set (:func:`validate_projection_set`).
    var : str
        Variable to grid.
    cube_px : int, optional
        Side n of the cube, >= the detector's larger side (default that side).

    Returns
    -------
    data : (N, n, n) float32
    pitch_nm : float
    shifts_px : (N, 2) float64 initial (dv, du)
    """
    arr = np.asarray(ds[var].values, dtype=np.float32)
    nproj, nv, nu = arr.shape
    pitch = float(ds.attrs.get("pixel_nm") or np.diff(ds["u"].values[:2])[0])
    n = max(nv, nu)
    if cube_px is not None:
        if int(cube_px) < n:
            raise InputError(f"projection set: cube_px {cube_px} is smaller than the detector "
                             f"({nv} x {nu} pixels)")
        n = int(cube_px)
    out = np.zeros((nproj, n, n), np.float32)
    ov, ou = (n - nv) // 2, (n - nu) // 2
    out[:, ov:ov + nv, ou:ou + nu] = arr
    # coordinate (nm) at the padded array's centre index (n - 1) / 2
    cu = float(ds["u"].values[0]) + ((n - 1) / 2.0 - ou) * pitch
    cv = float(ds["v"].values[0]) + ((n - 1) / 2.0 - ov) * pitch
    shifts = np.tile([-cv / pitch, -cu / pitch], (nproj, 1))
    return out, pitch, shifts


def volume_dataset(n: int, pitch_nm: float) -> xr.Dataset:
    """Empty Dataset with the cube's z, y, x coords in nm (centred) and ``voxel_nm``."""
    axis = (np.arange(n) - (n - 1) / 2.0) * pitch_nm
    nm = {"units": "nm"}
    return xr.Dataset(coords={"z": ("z", axis, nm), "y": ("y", axis, nm), "x": ("x", axis, nm)},
                      attrs={"voxel_nm": float(pitch_nm)})
