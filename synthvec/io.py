"""Files: atomic writes, NetCDF with provenance, field-file contract.

Every file synthvec writes goes to a temporary name in the same folder and is
renamed into place only when complete, so a killed run never leaves a
half-written result under a final name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import xarray as xr

from . import __version__
from .errors import InputError

__all__ = ["atomic_path", "write_netcdf", "read_netcdf", "provenance", "read_field", "field_dataset",
           "NETCDF_ENGINE"]

NETCDF_ENGINE = "h5netcdf"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def provenance(*, stage: str, method: str = "", seed: int | None = None,
               scenario_hash: str = "") -> dict[str, str | int]:
    """Provenance attributes carried by every NetCDF output."""
    attrs: dict[str, str | int] = {"synthvec_version": __version__, "stage": stage,
                                   "method": method, "scenario_hash": scenario_hash}
    if seed is not None:
        attrs["seed"] = int(seed)
    return attrs


def _encodable(ds: xr.Dataset) -> xr.Dataset:
    """Booleans are stored as int8 with a flag attr (h5netcdf stores bool poorly)."""
    ds = ds.copy()
    for name, var in list(ds.variables.items()):
        if var.dtype == bool:
            ds[name] = var.astype(np.int8)
            ds[name].attrs["synthvec_bool"] = 1
    return ds


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike, *, attrs: dict | None = None,
                 compress: bool = True) -> Path:
    """Write ``ds`` atomically as NetCDF-4 (h5netcdf), adding ``attrs`` (provenance)."""
    ds = _encodable(ds)
    if attrs:
        ds.attrs.update(attrs)
    enc = {}
    if compress:
        for name, var in ds.data_vars.items():
            if var.ndim >= 2 and var.dtype.kind in "fiuc":
                enc[name] = {"compression": "gzip", "compression_opts": 1}
    with atomic_path(path, ".nc") as tmp:
        ds.to_netcdf(tmp, engine=NETCDF_ENGINE, encoding=enc)
    return Path(path)


def read_netcdf(path: str | os.PathLike) -> xr.Dataset:
    """Read a NetCDF file fully into memory (the file is closed on return)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
            ds = ds.load()
    except Exception as err:  # corrupt, truncated or not NetCDF
        raise InputError(f"{path}: not a readable NetCDF/HDF5 file ({type(err).__name__}: "
                         f"{err})") from None
    for name, var in list(ds.variables.items()):
        if var.attrs.get("synthvec_bool"):
            attrs = {k: v for k, v in var.attrs.items() if k != "synthvec_bool"}
            ds[name] = var.astype(bool)
            ds[name].attrs = attrs
    return ds


def read_field(path: str | os.PathLike, *, voxel_nm: float | None = None) -> xr.Dataset:
    """Read a magnetization field per the DESIGN.md contract.

    Accepts NetCDF with ``m (comp, z, y, x)`` (optional ``mask``) or a ``.npy``
    array of shape (3, Z, Y, X) together with ``voxel_nm``.

    Returns
    -------
    xarray.Dataset
        ``m`` float32 with ``comp = ["x", "y", "z"]`` and coords in nm;
        ``mask`` bool (all true where |m| > 0 when the file has none).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.suffix == ".npy":
        if voxel_nm is None or voxel_nm <= 0:
            raise InputError(f"{path}: a .npy field needs --voxel-nm > 0")
        try:
            m = np.load(path, allow_pickle=False)
        except Exception as err:
            raise InputError(f"{path}: not a readable .npy array ({err})") from None
        if m.ndim != 4 or m.shape[0] != 3:
            raise InputError(f"{path}: array must have shape (3, Z, Y, X) (got {m.shape})")
        ds = field_dataset(m, voxel_nm=voxel_nm)
    else:
        ds = read_netcdf(path)
        if "m" not in ds:
            raise InputError(f"{path}: no variable 'm' (comp, z, y, x)")
        if tuple(ds["m"].dims) != ("comp", "z", "y", "x"):
            raise InputError(f"{path}: m: dims must be (comp, z, y, x) (got {ds['m'].dims})")
        for c in ("z", "y", "x"):
            if c not in ds.coords:
                raise InputError(f"{path}: coordinate '{c}' (nm) is missing")
    m = ds["m"].values
    if not np.all(np.isfinite(m)):
        raise InputError(f"{path}: m contains NaN or infinite values")
    if "mask" not in ds:
        ds["mask"] = (("z", "y", "x"), np.linalg.norm(m, axis=0) > 0)
    return ds


def field_dataset(m: np.ndarray, *, voxel_nm: float, mask: np.ndarray | None = None,
                  origin_centre: bool = True) -> xr.Dataset:
    """Wrap a (3, Z, Y, X) array as a field Dataset (coords in nm, centred on the volume)."""
    _, nz, ny, nx = m.shape
    nm = {"units": "nm"}

    def axis(n):
        return (np.arange(n) - ((n - 1) / 2.0 if origin_centre else 0.0)) * voxel_nm

    ds = xr.Dataset({"m": (("comp", "z", "y", "x"), np.asarray(m, dtype=np.float32))},
                    coords={"comp": ["x", "y", "z"], "z": ("z", axis(nz), nm),
                            "y": ("y", axis(ny), nm), "x": ("x", axis(nx), nm)},
                    attrs={"voxel_nm": float(voxel_nm)})
    if mask is not None:
        ds["mask"] = (("z", "y", "x"), np.asarray(mask, dtype=bool))
    return ds
