"""Ptychography data and results: the CXI 1.6 reader and the reconstruction record.

Conventions (stated once, as in ``shared/bench/p1.py``)
-------------------------------------------------------
- Frames are stored DC-centred (``fftshift``); intensities are
  ``|FFT_ortho(probe x object_patch)|^2`` in photons.
- ``translation`` (metres) is ``(x, y, 0)`` of the probe centre relative to the
  translation origin (the rotation centre); +x = increasing column = detector
  u, +y = increasing row = detector v.
- The object pixel is ``wavelength * distance / (N * detector_pixel)``.
- Inside synthvec, positions are ``(row, col)`` in object pixels relative to
  the origin (float64, shape (n, 2)).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import InputError

__all__ = ["PtychoData", "PtychoResult", "read_cxi", "zone_plate_probe", "write_result"]

_J_PER_EV = 1.602176634e-19
_HC_EV_NM = 1239.84193


@dataclass
class PtychoData:
    """One ptychographic scan as an instrument records it.

    Attributes
    ----------
    frames : (n, H, W) float32
        Diffraction intensities, DC-centred, photons.
    positions_px : (n, 2) float64
        Probe-centre positions (row, col) in object pixels relative to the
        translation origin.
    probe : (H, W) complex64
        Nominal (initial) probe, same normalization as the frames.
    pixel_nm : float
        Object pixel size.
    energy_ev : float
        Photon energy.
    helicity, phi_deg, theta_deg : float or None
        Acquisition metadata when the file carries it (synthvec extension).
    source : str
        File the data came from ('' for in-memory data).
    """

    frames: np.ndarray
    positions_px: np.ndarray
    probe: np.ndarray
    pixel_nm: float
    energy_ev: float
    helicity: float | None = None
    phi_deg: float | None = None
    theta_deg: float | None = None
    source: str = ""

    @property
    def wavelength_nm(self) -> float:
        return _HC_EV_NM / self.energy_ev


@dataclass
class PtychoResult:
    """Reconstruction of one scan.

    Attributes
    ----------
    object : (Ny, Nx) complex64
        Transmission function.
    probe : (H, W) complex64
    error : (iterations,) float64
        Normalized Fourier-amplitude error per iteration,
        ``sum (|Psi| - sqrt(I))^2 / sum I`` over the frames used, measured
        during the sweep (before each set's update).
    object_x_nm, object_y_nm : (Nx,), (Ny,) float64
        Coordinates of the object columns and rows relative to the
        translation origin (detector u and v).
    seconds_per_iteration : float
        Wall time of the iterations alone.
    dropped_frames : (m,) int64
        Indices of the frames removed as corrupt.
    illumination : (Ny, Nx) float32 or None
        Sum of the final probe's |P|^2 over the positions used, normalized to
        max 1 (where the object is constrained by data).
    positions_px : (n_used, 2) float64 or None
        Positions (row, col) of the frames used, refined when position
        refinement is on.
    """

    object: np.ndarray
    probe: np.ndarray
    error: np.ndarray
    object_x_nm: np.ndarray
    object_y_nm: np.ndarray
    seconds_per_iteration: float
    dropped_frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    illumination: np.ndarray | None = None
    positions_px: np.ndarray | None = None
    pixel_nm: float = 1.0
    helicity: float | None = None
    phi_deg: float | None = None
    theta_deg: float | None = None


def zone_plate_probe(shape: tuple[int, int], *, energy_ev: float, distance_m: float,
                     det_pixel_m: float, outer_zone_nm: float = 45.0, stop_fraction: float = 0.4,
                     photons: float = 1.0) -> np.ndarray:
    """Focused Fresnel-zone-plate probe (in focus) for a detector geometry.

    The pupil is an annulus in the detector plane whose outer radius is the
    zone plate's numerical aperture ``NA = wavelength / (2 outer_zone)``
    projected on the detector, with a central stop.

    Returns
    -------
    (H, W) complex64, ``sum |P|^2 = photons``.
    """
    h, w = shape
    wl_m = _HC_EV_NM / energy_ev * 1e-9
    na = wl_m / (2 * outer_zone_nm * 1e-9)
    r_px = max(2.0, min(na * distance_m / det_pixel_m, 0.45 * min(h, w)))
    ky = np.arange(h) - h // 2
    kx = np.arange(w) - w // 2
    r = np.hypot(*np.meshgrid(ky, kx, indexing="ij"))
    pupil = ((r <= r_px) & (r >= stop_fraction * r_px)).astype(np.complex128)
    probe = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(pupil)))
    probe *= np.sqrt(photons / np.sum(np.abs(probe) ** 2))
    return probe.astype(np.complex64)


def _need(f, key: str, path: Path):
    if key not in f:
        raise InputError(f"{path}: missing CXI field '{key}'")
    return f[key]


def _scalar(f, key: str, path: Path) -> float:
    val = np.asarray(_need(f, key, path)[()], dtype=float)
    if val.size != 1 or not np.isfinite(val).all() or float(val.ravel()[0]) <= 0:
        raise InputError(f"{path}: CXI field '{key}' must be one positive number")
    return float(val.ravel()[0])


def _meta(group, name: str) -> float | None:
    """A scalar from the synthvec extension group (dataset or attribute), never its truth."""
    if group is None:
        return None
    if name in group and not hasattr(group[name], "keys"):
        v = np.asarray(group[name][()])
    elif name in group.attrs:
        v = np.asarray(group.attrs[name])
    else:
        return None
    return float(v.ravel()[0]) if v.size else None


def read_cxi(path: str | os.PathLike) -> PtychoData:
    """Read one CXI 1.6 ptychography file (layout of ``shared/bench/p1.py``).

    Raises
    ------
    InputError
        One line naming the file and field: missing file, non-CXI HDF5,
        missing fields, NaN frames, frames/translation count mismatch.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise InputError(f"{path}: not an HDF5 file (expected CXI 1.6)") from None
    with f:
        if "entry_1" not in f:
            raise InputError(f"{path}: not a CXI file (no group 'entry_1')")
        data_key = "entry_1/data_1/data"
        if data_key not in f and "entry_1/instrument_1/detector_1/data" in f:
            data_key = "entry_1/instrument_1/detector_1/data"
        frames = np.asarray(_need(f, data_key, path)[...], dtype=np.float32)
        tkey = "entry_1/data_1/translation"
        if tkey not in f:
            tkey = "entry_1/sample_1/geometry_1/translation"
        trans = np.asarray(_need(f, tkey, path)[...], dtype=float)
        energy_j = _scalar(f, "entry_1/instrument_1/source_1/energy", path)
        distance_m = _scalar(f, "entry_1/instrument_1/detector_1/distance", path)
        px_m = _scalar(f, "entry_1/instrument_1/detector_1/x_pixel_size", path)
        py_key = "entry_1/instrument_1/detector_1/y_pixel_size"
        py_m = _scalar(f, py_key, path) if py_key in f else px_m
        probe = None
        if "entry_1/instrument_1/source_1/probe" in f:
            probe = np.asarray(f["entry_1/instrument_1/source_1/probe"][...])
        ext = f["entry_1/synthvec"] if "entry_1/synthvec" in f else None
        helicity, phi, theta = (_meta(ext, "helicity"), _meta(ext, "phi_deg"),
                                _meta(ext, "theta_deg"))
    if frames.ndim != 3 or frames.shape[0] == 0:
        raise InputError(f"{path}: {data_key}: frames must have shape (n, H, W) with n >= 1 "
                         f"(got {frames.shape})")
    bad = ~np.isfinite(frames).all(axis=(1, 2))
    if bad.any():
        raise InputError(f"{path}: {data_key}: {int(bad.sum())} frame(s) contain NaN or inf "
                         f"(first index {int(np.argmax(bad))})")
    if trans.ndim != 2 or trans.shape[1] < 2 or not np.isfinite(trans).all():
        raise InputError(f"{path}: {tkey}: must be finite with shape (n, 3) (got {trans.shape})")
    if trans.shape[0] != frames.shape[0]:
        raise InputError(f"{path}: {tkey}: {trans.shape[0]} translations for "
                         f"{frames.shape[0]} frames (counts must match)")
    n, h, w = frames.shape
    energy_ev = energy_j / _J_PER_EV
    wl_m = _HC_EV_NM / energy_ev * 1e-9
    pix_y_m, pix_x_m = wl_m * distance_m / (h * py_m), wl_m * distance_m / (w * px_m)
    if abs(pix_y_m - pix_x_m) > 1e-6 * pix_x_m:
        raise InputError(f"{path}: detector: object pixels differ along x and y "
                         f"({pix_x_m:.3e} m, {pix_y_m:.3e} m); square object pixels are required")
    pixel_nm = pix_x_m * 1e9
    positions = np.stack([trans[:, 1], trans[:, 0]], axis=1) / pix_x_m
    if probe is None:
        probe = zone_plate_probe((h, w), energy_ev=energy_ev, distance_m=distance_m,
                                 det_pixel_m=px_m, photons=float(frames.sum(axis=(1, 2)).mean()))
    elif probe.shape != (h, w) or not np.isfinite(probe).all():
        raise InputError(f"{path}: entry_1/instrument_1/source_1/probe: must be finite with "
                         f"shape {(h, w)} (got {probe.shape})")
    return PtychoData(frames=frames, positions_px=positions, probe=probe.astype(np.complex64),
                      pixel_nm=pixel_nm, energy_ev=energy_ev, helicity=helicity, phi_deg=phi,
                      theta_deg=theta, source=str(path))


def write_result(res: PtychoResult, path: str | os.PathLike, *, iterations: int) -> Path:
    """Write a reconstruction as HDF5 (issue 5, item 7), atomically.

    Datasets ``object`` (complex64, rows x cols), ``object_x_nm``,
    ``object_y_nm``, ``probe``, ``error``, ``dropped_frames``; attrs
    ``iterations``, ``seconds_per_iteration``, ``pixel_nm``.
    """
    import h5py

    from ...io import atomic_path

    with atomic_path(path, ".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            f["object"] = res.object.astype(np.complex64)
            f["object_x_nm"] = res.object_x_nm
            f["object_y_nm"] = res.object_y_nm
            f["probe"] = res.probe.astype(np.complex64)
            f["error"] = res.error
            f["dropped_frames"] = np.asarray(res.dropped_frames, dtype=np.int64)
            f.attrs["iterations"] = int(iterations)
            f.attrs["seconds_per_iteration"] = float(res.seconds_per_iteration)
            f.attrs["pixel_nm"] = float(res.pixel_nm)
            for k in ("helicity", "phi_deg", "theta_deg"):
                if getattr(res, k) is not None:
                    f.attrs[k] = float(getattr(res, k))
    return Path(path)
