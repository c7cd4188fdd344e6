"""CXI reading (one-line errors), run_ptycho output file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from synthvec.errors import InputError
from synthvec.invert.ptycho import PtychoConfig, read_cxi, run_ptycho

from .test_ptycho_synth import dataset, nrmse

EV_J = 1.602176634e-19


def write_cxi(path, frames, centres_px, probe, *, pixel_nm=5.0, energy_ev=856.0, det_px=30e-6,
              synthvec=None, drop=()):
    """A CXI file in the p1.py layout (written by the test, not by synthvec)."""
    wl_m = 1239.84193e-9 / energy_ev
    n = frames.shape[1]
    distance = pixel_nm * 1e-9 * n * det_px / wl_m
    trans = np.zeros((len(centres_px), 3))
    trans[:, 0] = centres_px[:, 1] * pixel_nm * 1e-9
    trans[:, 1] = centres_px[:, 0] * pixel_nm * 1e-9
    fields = {"cxi_version": 160,
              "entry_1/instrument_1/source_1/energy": energy_ev * EV_J,
              "entry_1/instrument_1/source_1/probe": probe.astype(np.complex64),
              "entry_1/instrument_1/detector_1/data": frames,
              "entry_1/instrument_1/detector_1/distance": distance,
              "entry_1/instrument_1/detector_1/x_pixel_size": det_px,
              "entry_1/instrument_1/detector_1/y_pixel_size": det_px,
              "entry_1/sample_1/geometry_1/translation": trans}
    with h5py.File(path, "w") as f:
        for k, v in fields.items():
            if k not in drop:
                f[k] = v
        if "entry_1/instrument_1/detector_1/data" not in drop:
            f["entry_1/data_1/data"] = h5py.SoftLink("/entry_1/instrument_1/detector_1/data")
        if "entry_1/sample_1/geometry_1/translation" not in drop:
            f["entry_1/data_1/translation"] = h5py.SoftLink(
                "/entry_1/sample_1/geometry_1/translation")
        if synthvec:
            g = f.create_group("entry_1/synthvec")
            for k, v in synthvec.items():
                g.attrs[k] = v
            g.create_group("truth")["corrupt_frames"] = np.array([0, 1])
    return path


@pytest.fixture
def scan(tmp_path):
    data, obj, probe, corners = dataset(noise=True)
    path = write_cxi(tmp_path / "s.cxi", data.frames, data.positions_px, probe,
                     synthvec={"helicity": -1, "phi_deg": 120.0, "theta_deg": -58.0})
    return path, data, obj


def test_read_cxi_round_trip(scan):
    path, data, _ = scan
    d = read_cxi(path)
    np.testing.assert_allclose(d.positions_px, data.positions_px, atol=1e-9)
    np.testing.assert_array_equal(d.frames, data.frames)
    assert np.isclose(d.pixel_nm, 5.0) and np.isclose(d.energy_ev, 856.0)
    assert (d.helicity, d.phi_deg, d.theta_deg) == (-1.0, 120.0, -58.0)


def test_run_ptycho_writes_contract_file(scan, tmp_path):
    path, _, obj = scan
    out = tmp_path / "rec" / "r.h5"
    res = run_ptycho(path, out, iterations=20, probe_update=True,
                     cfg=PtychoConfig(bad_frames="off"))
    with h5py.File(out) as f:
        assert f["object"].dtype == np.complex64 and f["object"].shape == res.object.shape
        assert f["object_x_nm"].shape == (res.object.shape[1],)
        assert f["object_y_nm"].shape == (res.object.shape[0],)
        assert f["probe"].shape == (32, 32) and f["error"].shape == (20,)
        assert f.attrs["iterations"] == 20 and f.attrs["seconds_per_iteration"] > 0
        np.testing.assert_allclose(f["object_x_nm"][32], 0.0)
    assert nrmse(res.object, obj, slice(16, 48), "complex") < 0.1
    assert not list(out.parent.glob(".*part"))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_cxi(tmp_path / "nope.cxi")


def test_not_hdf5(tmp_path):
    p = tmp_path / "x.cxi"
    p.write_text("hello")
    with pytest.raises(InputError, match="not an HDF5"):
        read_cxi(p)


def test_not_cxi(tmp_path):
    p = tmp_path / "x.h5"
    with h5py.File(p, "w") as f:
        f["a"] = 1
    with pytest.raises(InputError, match="not a CXI"):
        read_cxi(p)


@pytest.mark.parametrize("field", ["entry_1/instrument_1/detector_1/data",
                                   "entry_1/sample_1/geometry_1/translation",
                                   "entry_1/instrument_1/source_1/energy",
                                   "entry_1/instrument_1/detector_1/distance"])
def test_missing_fields(tmp_path, field):
    data, _, probe, _ = dataset(n_scan=3, step=8, noise=False)
    p = write_cxi(tmp_path / "m.cxi", data.frames, data.positions_px, probe, drop=(field,))
    with pytest.raises(InputError, match="missing CXI field") as err:
        read_cxi(p)
    assert "\n" not in str(err.value)


def test_nan_frames(tmp_path):
    data, _, probe, _ = dataset(n_scan=3, step=8, noise=False)
    frames = data.frames.copy()
    frames[4, 2, 3] = np.nan
    p = write_cxi(tmp_path / "n.cxi", frames, data.positions_px, probe)
    with pytest.raises(InputError, match="NaN"):
        read_cxi(p)


def test_count_mismatch(tmp_path):
    data, _, probe, _ = dataset(n_scan=3, step=8, noise=False)
    p = write_cxi(tmp_path / "c.cxi", data.frames, data.positions_px[:-1], probe)
    with pytest.raises(InputError, match="counts must match"):
        read_cxi(p)


def test_zone_plate_probe_when_file_has_none(tmp_path):
    data, _, probe, _ = dataset(n_scan=3, step=8, noise=False)
    p = write_cxi(tmp_path / "z.cxi", data.frames, data.positions_px, probe,
                  drop=("entry_1/instrument_1/source_1/probe",))
    d = read_cxi(p)
    assert d.probe.shape == (32, 32)
    np.testing.assert_allclose(np.sum(np.abs(d.probe) ** 2), data.frames.sum((1, 2)).mean(),
                               rtol=1e-3)
