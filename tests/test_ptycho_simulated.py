"""rPIE on scans made by the simulator (``synthvec.forward``) at reduced size.

The quick scenario's first run showed two failures on simulated data that the
P1-like tests did not: (1) scans lying wholly on the sample (series phi = 0:
the raster reaches only 20 nm past an axis-aligned sample) diverged with the
old probe regularisation beta = 0.1 (Fourier error rising 0.009 -> 0.06); (2)
the bad-frame detector flagged scan-edge frames (precision 0.22). These tests
rebuild both situations with the simulator's own functions on a small volume.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from skimage.registration import phase_cross_correlation
import scipy.ndimage as ndi

from synthvec.forward import SimulateConfig, simulate_experiment
from synthvec.forward import read_cxi as read_sim_cxi
from synthvec.forward.config import DetectorConfig, OpticsConfig, ProbeConfig, ScanConfig
from synthvec.forward.optics import transmission
from synthvec.forward.project import material_channels, ray_integrals
from synthvec.geometry import GeometryConfig, beam_direction, rotation
from synthvec.invert.ptycho import (PtychoConfig, detect_bad_frames, detection_scores, read_cxi,
                                    reconstruct)
from synthvec.io import field_dataset

VOX = 2.5


def lattice_truth(n: int = 64, nz: int = 24, period_nm: float = 40.0, r_nm: float = 14.0):
    """Nickel slab with a square lattice of silica spheres aligned with x and y."""
    shape = (nz, n, n)
    z, y, x = np.meshgrid(*[(np.arange(k) - (k - 1) / 2) * VOX for k in shape], indexing="ij")
    mat = np.full(shape, 2, np.int8)
    xm = (x + period_nm / 2) % period_nm - period_nm / 2
    ym = (y + period_nm / 2) % period_nm - period_nm / 2
    mat[xm ** 2 + ym ** 2 + z ** 2 <= r_nm ** 2] = 1
    m = np.zeros((3,) + shape, np.float32)
    m[0][mat == 2] = 1.0
    ds = field_dataset(m, voxel_nm=VOX, mask=mat == 2)
    ds["material"] = (("z", "y", "x"), mat)
    return ds


def simulate(out: Path, truth, *, phis, tilts, corrupt_rate=0.0, seed=1, margin_nm=20.0):
    geo = GeometryConfig(phis_deg=tuple(phis), tilt_min_deg=min(tilts), tilt_max_deg=max(tilts),
                         tilt_step_deg=(max(tilts) - min(tilts)) / max(len(tilts) - 1, 1) or 1.0)
    cfg = SimulateConfig(detector=DetectorConfig(n_pixels=32, corrupt_rate=corrupt_rate),
                         probe=ProbeConfig(defocus_um=1.0), scan=ScanConfig(margin_nm=margin_nm))
    return simulate_experiment(truth, geo, cfg, out, rng=np.random.default_rng(seed),
                               recon_voxel_nm=5.0)


@pytest.fixture(scope="module")
def on_sample_scans(tmp_path_factory):
    """phi = 0, tilts -20 / +20, both helicities: every probe position lies on the sample."""
    truth = lattice_truth()
    # no raster margin: the raster stays as close to the sample as the simulator allows
    df = simulate(tmp_path_factory.mktemp("onsample"), truth, phis=(0.0,), tilts=(-20.0, 20.0),
                  margin_nm=0.0)
    return truth, df


def truth_od(truth, data, x_nm, y_nm):
    """OD of the truth along the nominal beam, by the simulator's projector and optics."""
    k = beam_direction(data.phi_deg, data.theta_deg)
    integ = ray_integrals(material_channels(truth, k), voxel_nm=VOX,
                          rotation=rotation(data.phi_deg, data.theta_deg), u_nm=x_nm, v_nm=y_nm)
    t = transmission(integ[..., 0], integ[..., 1], integ[..., 2], optics=OpticsConfig(),
                     energy_ev=data.energy_ev, helicity=int(data.helicity))
    return -np.log(np.abs(t) ** 2)


def od_nrmse(res, truth, data) -> float:
    """OD NRMSE over the well-lit field after sub-pixel registration and offset removal."""
    od = -2 * np.log(np.maximum(np.abs(res.object), 1e-6))
    ref = truth_od(truth, data, res.object_x_nm, res.object_y_nm)
    lit = res.illumination >= 0.3
    rec = np.where(lit, od - np.median((od - ref)[lit]), 0.0)
    ref = np.where(lit, ref, 0.0)
    shift, _, _ = phase_cross_correlation(ref, rec, upsample_factor=20, normalization=None)
    rec = ndi.shift(rec, shift, order=3, mode="nearest")
    inner = ndi.binary_erosion(lit, iterations=3)
    diff = rec - ref
    diff -= np.median(diff[inner])
    return float(np.sqrt(np.mean(diff[inner] ** 2) / np.mean(ref[inner] ** 2)))


def test_scans_wholly_on_the_sample_converge(on_sample_scans):
    # fixed bug: beta = 0.1 let the probe absorb the object on such scans (error rising)
    truth, df = on_sample_scans
    for path in df.path:
        data = read_cxi(path)
        res = reconstruct(data, PtychoConfig(iterations=30))
        late = res.error[-5:].mean()                 # the random set order makes it jitter
        assert late < 0.008
        assert late <= 1.4 * res.error.min()         # no divergence
        # The old default (beta 0.1) diverged here only while the simulator's raster lost its
        # margin positions (fixed: synthvec.forward.scan.raster_positions); it still fits worse.
        old = reconstruct(data, PtychoConfig(iterations=30, beta=0.1))
        assert od_nrmse(res, truth, data) < od_nrmse(old, truth, data)


def test_od_matches_the_truth_projection(on_sample_scans):
    truth, df = on_sample_scans
    errs = [od_nrmse(reconstruct(read_cxi(p), PtychoConfig()), truth, read_cxi(p))
            for p in df.path]
    assert max(errs) < 0.25          # measured 0.12-0.18 (beta = 0.1: 0.26-0.32)


def test_bad_frames_precise_at_scan_edges(tmp_path):
    """Rasters reach past the sample edges; corrupt frames 4 %: no edge frame is flagged,
    every readout fault is found."""
    df = simulate(tmp_path, lattice_truth(n=96), phis=(0.0, 30.0), tilts=(-40.0, 0.0, 40.0),
                  corrupt_rate=0.04, seed=2)
    det_all, true_all, readout = [], [], []
    for i, path in enumerate(df.path):
        data = read_cxi(path)
        t = read_sim_cxi(path).truth
        det = detect_bad_frames(data.frames, data.positions_px)
        det_all += [(i, j) for j in det]
        true_all += [(i, j) for j in t["corrupt_frames"]]
        readout += [(i, j) for j, k in zip(t["corrupt_frames"], t["corrupt_kind"])
                    if k == "readout"]
    s = detection_scores([hash(x) for x in det_all], [hash(x) for x in true_all])
    assert len(true_all) >= 20
    assert s["precision"] >= 0.9
    found = set(det_all)
    assert sum(x in found for x in readout) >= 0.9 * len(readout)
