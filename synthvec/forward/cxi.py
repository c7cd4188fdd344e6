"""CXI 1.6 files: one per scan, the layout of ``shared/bench/p1.py`` plus a synthvec group.

Nominal fields (what an instrument records, what any ptychography code reads):

- ``/cxi_version`` = 160
- ``/entry_1/instrument_1/source_1/{energy [J], wavelength [m], probe}``; the probe
  is the NOMINAL probe (the experimenter's model), complex64 (N, N), in the
  normalisation of the data: ``sum |P|^2`` = nominal photons per frame.
- ``/entry_1/instrument_1/detector_1/data`` (F, N, N) float32, DC-centred,
  chunked per frame and gzip-compressed, attrs ``axes = "translation:y:x"``;
  ``distance``, ``x_pixel_size``, ``y_pixel_size`` [m]; ``mask`` (N, N) uint32
  (0 = good pixel); attr ``saturation_value`` when the detector saturates.
- ``/entry_1/sample_1/geometry_1/translation`` (F, 3) [m]: (x, y, 0) of the probe
  centre relative to the rotation centre, +x = increasing column = detector u,
  +y = increasing row = detector v; attr ``convention`` states it.
- ``/entry_1/data_1/{data, translation}``: soft links.

``/entry_1/synthvec`` (attrs ``helicity``, ``phi_deg``, ``theta_deg``, ``series``,
``tilt_index``, ``object_pixel_m``, ``nominal_photons``, ``translation_convention``)
holds the ``truth`` subgroup, which no inversion may read: corrupt frame
indices and kinds, true translations, true probe modes and weights, true
angles, sample shift, per-frame depth offsets and flux factors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..errors import InputError
from ..io import atomic_path

__all__ = ["TRANSLATION_CONVENTION", "ScanRecord", "write_cxi", "read_cxi"]

EV_TO_J = 1.602176634e-19

TRANSLATION_CONVENTION = (
    "(x, y, 0) of the probe centre relative to the rotation centre, which is the centre "
    "(index N//2) of the object array; +x increasing column = detector u = lab x, "
    "+y increasing row = detector v = lab y; metres")


@dataclass
class ScanRecord:
    """Everything one CXI file holds (arrays in SI units where the CXI field is SI)."""

    data: np.ndarray                       # (F, N, N) float32 counts, DC-centred
    translation_m: np.ndarray              # (F, 3) nominal
    probe: np.ndarray                      # (N, N) complex64 nominal
    energy_ev: float
    distance_m: float
    pixel_m: float
    helicity: int
    phi_deg: float
    theta_deg: float
    series: int
    tilt_index: int
    object_pixel_m: float
    nominal_photons: float
    saturation: float | None = None
    truth: dict[str, np.ndarray] = field(default_factory=dict)


def write_cxi(path: str | os.PathLike, rec: ScanRecord, *, compression: int = 1) -> Path:
    """Write one scan atomically (temporary name, then rename)."""
    n = rec.data.shape[-1]
    with atomic_path(path, ".cxi") as tmp, h5py.File(tmp, "w") as f:
        f["cxi_version"] = 160
        e = f.create_group("entry_1")
        src = e.create_group("instrument_1/source_1")
        src["energy"] = rec.energy_ev * EV_TO_J
        src["wavelength"] = 1239.84193e-9 / rec.energy_ev
        src["probe"] = rec.probe.astype(np.complex64)
        det = e.create_group("instrument_1/detector_1")
        det.create_dataset("data", data=rec.data.astype(np.float32),
                           chunks=(1, n, n), compression="gzip", compression_opts=compression,
                           shuffle=True)
        det["data"].attrs["axes"] = "translation:y:x"
        det["distance"] = rec.distance_m
        det["x_pixel_size"] = rec.pixel_m
        det["y_pixel_size"] = rec.pixel_m
        det["mask"] = np.zeros((n, n), np.uint32)
        if rec.saturation is not None:
            det["data"].attrs["saturation_value"] = float(rec.saturation)
        geo = e.create_group("sample_1/geometry_1")
        geo["translation"] = np.asarray(rec.translation_m, float)
        geo["translation"].attrs["convention"] = TRANSLATION_CONVENTION
        d1 = e.create_group("data_1")
        d1["data"] = h5py.SoftLink("/entry_1/instrument_1/detector_1/data")
        d1["translation"] = h5py.SoftLink("/entry_1/sample_1/geometry_1/translation")
        sv = e.create_group("synthvec")
        for key in ("helicity", "series", "tilt_index"):
            sv.attrs[key] = int(getattr(rec, key))
        for key in ("phi_deg", "theta_deg", "object_pixel_m", "nominal_photons"):
            sv.attrs[key] = float(getattr(rec, key))
        sv.attrs["translation_convention"] = TRANSLATION_CONVENTION
        tr = sv.create_group("truth")
        for key, value in rec.truth.items():
            arr = np.asarray(value)
            if arr.dtype.kind == "U":
                tr.create_dataset(key, data=arr.astype(object), dtype=h5py.string_dtype())
            elif arr.ndim >= 2 and arr.size > 1024:
                tr.create_dataset(key, data=arr, compression="gzip", compression_opts=compression)
            else:
                tr[key] = arr
    return Path(path)


def read_cxi(path: str | os.PathLike, *, with_truth: bool = True) -> ScanRecord:
    """Read a scan written by :func:`write_cxi` (or any file with the same nominal layout)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with h5py.File(path, "r") as f:
            e = f["entry_1"]
            src, det = e["instrument_1/source_1"], e["instrument_1/detector_1"]
            sv = e.get("synthvec")
            attrs = dict(sv.attrs) if sv is not None else {}
            truth = {}
            if with_truth and sv is not None and "truth" in sv:
                for key, ds in sv["truth"].items():
                    val = ds[()]
                    if ds.dtype.kind == "O":
                        val = np.array([v.decode() if isinstance(v, bytes) else v for v in val])
                    truth[key] = val
            sat = det["data"].attrs.get("saturation_value")
            energy_ev = float(src["energy"][()]) / EV_TO_J
            return ScanRecord(
                data=e["data_1/data"][()], translation_m=e["data_1/translation"][()],
                probe=src["probe"][()], energy_ev=energy_ev,
                distance_m=float(det["distance"][()]), pixel_m=float(det["x_pixel_size"][()]),
                helicity=int(attrs.get("helicity", 0)), phi_deg=float(attrs.get("phi_deg", 0.0)),
                theta_deg=float(attrs.get("theta_deg", 0.0)), series=int(attrs.get("series", 0)),
                tilt_index=int(attrs.get("tilt_index", 0)),
                object_pixel_m=float(attrs.get("object_pixel_m", np.nan)),
                nominal_photons=float(attrs.get("nominal_photons", np.nan)),
                saturation=None if sat is None else float(sat), truth=truth)
    except (OSError, KeyError) as err:
        raise InputError(f"{path}: not a CXI scan file in the p1 layout ({err})") from None
