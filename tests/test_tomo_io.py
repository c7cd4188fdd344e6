"""Projection-set files: one-line input errors; run_tomo writes the volume contract."""

import numpy as np
import pytest

from synthvec.errors import InputError
from synthvec.io import read_netcdf
from synthvec.invert.tomo import read_projection_set, run_tomo
from synthvec.invert.tomo.dataio import detector_grid
from tests.test_tomo_support import (blob_projections, blob_volume, paper_angles, projection_set,
                                     random_blobs)

N = 16


@pytest.fixture()
def good(tmp_path):
    ang = paper_angles(6)
    blobs = random_blobs(np.random.default_rng(0), N, 3)
    ds = projection_set(blob_projections(blobs, N, ang), ang,
                        xmcd=0.1 * blob_projections(blobs, N, ang))
    path = tmp_path / "proj.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    return ds, path, blob_volume(blobs, N)


def _write(ds, tmp_path, name="bad.nc"):
    path = tmp_path / name
    ds.to_netcdf(path, engine="h5netcdf")
    return path


def test_reads_good_file(good):
    ds, path, _ = good
    got = read_projection_set(path)
    assert got["projections"].dtype == np.float32 and got.attrs["pixel_nm"] == 5.0


@pytest.mark.parametrize("drop", ["phi_deg", "theta_deg", "u", "v"])
def test_missing_coordinate(good, tmp_path, drop):
    ds, _, _ = good
    path = _write(ds.drop_vars(drop), tmp_path)
    with pytest.raises(InputError, match=f"{path}: coordinate '{drop}' is missing") as err:
        read_projection_set(path)
    assert "\n" not in str(err.value)


def test_mismatched_angle_count(good, tmp_path):
    ds, _, _ = good
    bad = ds.drop_vars("phi_deg").assign_coords(phi_deg=("n_phi", np.zeros(3)))
    path = _write(bad, tmp_path)
    with pytest.raises(InputError, match="phi_deg: must have one value per projection"):
        read_projection_set(path)


@pytest.mark.parametrize("var", ["projections", "xmcd"])
def test_nan_values(good, tmp_path, var):
    ds, _, _ = good
    bad = ds.copy(deep=True)
    bad[var].values[1, 2, 3] = np.nan
    with pytest.raises(InputError, match=f"{var} contains NaN"):
        read_projection_set(_write(bad, tmp_path))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_projection_set(tmp_path / "nope.nc")


def test_non_square_and_off_centre_detector(good):
    ds, _, _ = good
    cut = ds.isel(u=slice(0, N - 2))  # 16 x 14 px, u from -37.5 to 27.5 nm
    data, pitch, shifts = detector_grid(read_projection_set_like(cut))
    assert data.shape[1:] == (N, N) and pitch == 5.0
    # padded by one column each side: the padded centre index 7.5 holds u = -37.5 + 6.5 * 5
    # = -5 nm, so the rotation centre (u = 0) lies 1 px right of it: measured = true(u - 1)
    np.testing.assert_allclose(shifts[:, 1], 1.0)
    np.testing.assert_array_equal(data[:, :, 1:-1], cut["projections"].values)
    np.testing.assert_allclose(shifts[:, 0], 0.0)


def read_projection_set_like(ds):
    from synthvec.invert.tomo.dataio import validate_projection_set

    return validate_projection_set(ds)


def test_run_tomo_writes_volume(good, tmp_path):
    ds, path, vol = good
    out = tmp_path / "vol.nc"
    run_tomo(path, out, iterations=20, vector=True)
    got = read_netcdf(out)
    assert got["density"].dims == ("z", "y", "x") and got["m"].dims == ("comp", "z", "y", "x")
    assert got.attrs["stage"] == "tomo" and got.attrs["voxel_nm"] == 5.0
    np.testing.assert_allclose(got["z"].values, (np.arange(N) - (N - 1) / 2) * 5.0)
    assert np.linalg.norm(got["density"].values - vol) / np.linalg.norm(vol) < 0.3


def test_run_tomo_support_shape_checked(good, tmp_path):
    import xarray as xr

    _, path, _ = good
    mask = tmp_path / "mask.nc"
    xr.Dataset({"mask": (("z", "y", "x"), np.ones((4, 4, 4), np.int8))}).to_netcdf(
        mask, engine="h5netcdf")
    with pytest.raises(InputError, match="does not match the cube"):
        run_tomo(path, tmp_path / "o.nc", iterations=2, vector=True, support_path=mask)
