"""CXI files: p1.py layout, plain-h5py readability, round trip, truth group."""

import h5py
import numpy as np
import pytest

from synthvec.errors import InputError
from synthvec.forward.cxi import TRANSLATION_CONVENTION, ScanRecord, read_cxi, write_cxi


@pytest.fixture
def record():
    rng = np.random.default_rng(0)
    data = rng.poisson(5.0, (7, 16, 16)).astype(np.float32)
    return ScanRecord(
        data=data, translation_m=rng.normal(size=(7, 3)) * 1e-7,
        probe=(rng.normal(size=(16, 16)) + 1j * rng.normal(size=(16, 16))).astype(np.complex64),
        energy_ev=856.0, distance_m=0.0066, pixel_m=30e-6, helicity=-1, phi_deg=120.0,
        theta_deg=-62.0, series=1, tilt_index=0, object_pixel_m=5e-9, nominal_photons=1e6,
        saturation=6e4,
        truth={"corrupt_frames": np.array([2, 5]), "corrupt_kind": np.array(["flux", "readout"]),
               "true_translation": rng.normal(size=(7, 3)), "true_probe":
               np.ones((2, 16, 16), np.complex64)})


def test_round_trip(tmp_path, record):
    path = write_cxi(tmp_path / "a.cxi", record)
    back = read_cxi(path)
    np.testing.assert_array_equal(back.data, record.data)
    np.testing.assert_array_equal(back.translation_m, record.translation_m)
    np.testing.assert_array_equal(back.probe, record.probe)
    assert back.energy_ev == pytest.approx(856.0)
    assert (back.helicity, back.phi_deg, back.theta_deg, back.series) == (-1, 120.0, -62.0, 1)
    assert back.saturation == 6e4
    np.testing.assert_array_equal(back.truth["corrupt_frames"], [2, 5])
    assert list(back.truth["corrupt_kind"]) == ["flux", "readout"]
    assert back.truth["true_probe"].shape == (2, 16, 16)
    assert not list(tmp_path.glob(".*"))                 # no temporary left behind


def test_p1_layout_with_plain_h5py(tmp_path, record):
    path = write_cxi(tmp_path / "b.cxi", record)
    with h5py.File(path, "r") as f:
        assert f["cxi_version"][()] == 160
        src = f["entry_1/instrument_1/source_1"]
        assert src["energy"][()] == pytest.approx(856.0 * 1.602176634e-19)
        assert src["wavelength"][()] == pytest.approx(1239.84193e-9 / 856.0)
        assert src["probe"].dtype == np.complex64 and src["probe"].shape == (16, 16)
        det = f["entry_1/instrument_1/detector_1"]
        assert det["data"].attrs["axes"] == "translation:y:x"
        assert det["data"].chunks == (1, 16, 16) and det["data"].compression == "gzip"
        for key in ("distance", "x_pixel_size", "y_pixel_size", "mask"):
            assert key in det
        tr = f["entry_1/sample_1/geometry_1/translation"]
        assert tr.shape == (7, 3) and tr.attrs["convention"] == TRANSLATION_CONVENTION
        # soft links resolve to the same data
        np.testing.assert_array_equal(f["entry_1/data_1/data"][()], det["data"][()])
        assert isinstance(f["entry_1/data_1"].get("translation", getlink=True), h5py.SoftLink)
        sv = f["entry_1/synthvec"]
        assert sv.attrs["helicity"] == -1 and "truth" in sv


def test_unreadable_file_is_input_error(tmp_path):
    bad = tmp_path / "bad.cxi"
    bad.write_text("not hdf5")
    with pytest.raises(InputError, match="bad.cxi"):
        read_cxi(bad)
    with pytest.raises(InputError, match="no such file"):
        read_cxi(tmp_path / "missing.cxi")
