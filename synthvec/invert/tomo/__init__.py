"""synthvec.invert.tomo: scalar (RESIRE) and vector (eq. 3-6) tomography with alignment.

Works on any projection set in the ``shared/bench/t1.py`` convention; never
imports the phantom, truth files or scoring.
"""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

from ...errors import InputError
from ...io import provenance, read_netcdf, write_netcdf
from .config import TomoConfig, VectorConfig
from .dataio import read_projection_set
from .scalar import SCALAR_METHODS, halfset_reconstructions, reconstruct_scalar
from .vector import VECTOR_METHODS, reconstruct_vector

__all__ = ["TomoConfig", "VectorConfig", "read_projection_set", "reconstruct_scalar",
           "reconstruct_vector", "halfset_reconstructions", "run_tomo", "SCALAR_METHODS",
           "VECTOR_METHODS"]


def _read_support(path: str | os.PathLike, n: int) -> np.ndarray:
    ds = read_netcdf(path)
    name = next((v for v in ("mask", "support") if v in ds), None)
    if name is None:
        raise InputError(f"{path}: no variable 'mask' (z, y, x) for the support")
    arr = np.asarray(ds[name].values).astype(bool)
    if arr.shape != (n, n, n):
        raise InputError(f"{path}: {name}: shape {arr.shape} does not match the cube {(n, n, n)}")
    return arr


def run_tomo(proj_path: str | os.PathLike, out_path: str | os.PathLike, *,
             iterations: int | None = None, vector: bool = False,
             support_path: str | os.PathLike | None = None) -> xr.Dataset:
    """``synthvec tomo``: read a projection set, reconstruct, write the volume.

    Parameters
    ----------
    proj_path : path
        Projection set (NetCDF, ``projections (angle, v, u)``, optional ``xmcd``).
    out_path : path
        Output NetCDF: ``density (z, y, x)`` and, with ``vector``, ``m (comp, z, y, x)``.
    iterations : int, optional
        RESIRE and vector iterations (defaults of the configs otherwise).
    vector : bool
        Also reconstruct the magnetization from ``xmcd``.
    support_path : path, optional
        NetCDF with ``mask (z, y, x)``: the magnetic support of the vector step.

    Returns
    -------
    xarray.Dataset
        What was written.
    """
    proj = read_projection_set(proj_path)
    if vector and "xmcd" not in proj:
        raise InputError(f"{proj_path}: --vector needs a variable 'xmcd' (angle, v, u)")
    kw = {} if iterations is None else {"iterations": iterations}
    scalar = reconstruct_scalar(proj, TomoConfig(**kw))
    out = scalar
    if vector:
        n = scalar.sizes["z"]
        support = _read_support(support_path, n) if support_path is not None else None
        vec = reconstruct_vector(proj, VectorConfig(**kw), alignment=scalar, support=support)
        out = scalar.assign(m=vec["m"], mask=vec["mask"])
        out["r1_vector"] = ("iteration_vector", vec["r1"].values)
    write_netcdf(out, out_path, attrs=provenance(stage="tomo", method="resire+gd" if vector
                                                 else "resire"))
    return out
