"""Scenario parsing, validation messages and round-trips."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthvec.config import section_to_dict
from synthvec.errors import ConfigError, InputError
from synthvec.scenario import (Scenario, load_scenario, parse_scenario, scenario_hash,
                               scenario_to_toml)

ROOT = Path(__file__).resolve().parents[1]


def test_default_is_quick_file():
    """scenarios/quick.toml spells out exactly the embedded default."""
    assert load_scenario(ROOT / "scenarios" / "quick.toml") == Scenario(), (
        "defaults changed: regenerate the body of scenarios/quick.toml with `synthvec show`")


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_scenarios_load(path):
    scn = load_scenario(path)
    assert scn.run.name == path.stem


def test_toml_round_trip_default():
    scn = Scenario()
    assert parse_scenario(tomllib.loads(scenario_to_toml(scn))) == scn


def test_unknown_key_suggests_nearest():
    with pytest.raises(ConfigError) as exc:
        parse_scenario({"phantom": {"sphere_diametre_nm": 60.0}}, "s.toml")
    msg = str(exc.value)
    assert msg.startswith("s.toml: phantom.sphere_diametre_nm: unknown key")
    assert "did you mean 'sphere_diameter_nm'" in msg


def test_unknown_section_suggests_nearest():
    with pytest.raises(ConfigError, match=r"s.toml: phantomm: unknown section \(did you mean 'phantom'"):
        parse_scenario({"phantomm": {}}, "s.toml")


@pytest.mark.parametrize("data, key, fragment", [
    ({"phantom": {"voxel_nm": 0.0}}, "phantom.voxel_nm", "> 0"),
    ({"phantom": {"voxel_nm": -5}}, "phantom.voxel_nm", "> 0"),
    ({"phantom": {"voxel_nm": "5"}}, "phantom.voxel_nm", "must be a number"),
    ({"geometry": {"tilt_max_deg": 95.0}}, "geometry.tilt_max_deg", "< 90"),
    ({"geometry": {"tilt_min_deg": -91.0}}, "geometry.tilt_min_deg", "> -90"),
    ({"geometry": {"tilt_step_deg": 0.0}}, "geometry.tilt_step_deg", "> 0"),
    ({"ptycho": {"iterations": 0}}, "ptycho.iterations", "> 0"),
    ({"ptycho": {"iterations": 2.5}}, "ptycho.iterations", "must be an integer"),
    ({"run": {"seed": -1}}, "run.seed", ">= 0"),
    ({"phantom": {"voxel_nm": 80.0}}, "phantom.voxel_nm", "smaller than phantom.sphere_diameter_nm"),
    ({"ptycho": {"method": "epie2"}}, "ptycho.method", "one of"),
    ({"geometry": {"phis_deg": "0"}}, "geometry.phis_deg", "list"),
])
def test_bad_values_name_key_and_range(data, key, fragment):
    with pytest.raises(ConfigError) as exc:
        parse_scenario(data, "bad.toml")
    assert exc.value.key == key
    assert fragment in str(exc.value)
    assert str(exc.value).startswith(f"bad.toml: {key}: ")


def test_section_must_be_table():
    with pytest.raises(ConfigError, match="must be a table"):
        parse_scenario({"phantom": 3})


def test_toml_syntax_error(tmp_path):
    p = tmp_path / "broken.toml"
    p.write_text("[phantom\nvoxel_nm = 5\n")
    with pytest.raises(InputError, match="broken.toml: TOML syntax error"):
        load_scenario(p)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.toml")


def test_hash_changes_with_any_value():
    a = Scenario()
    b = dataclasses.replace(a, run=dataclasses.replace(a.run, seed=1))
    assert scenario_hash(a) != scenario_hash(b)
    assert scenario_hash(a) == scenario_hash(Scenario())


# --- property tests -------------------------------------------------------

voxels = st.floats(min_value=0.5, max_value=20.0, allow_nan=False)
tilts = st.floats(min_value=-89.0, max_value=89.0, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), voxel=voxels, t0=tilts, t1=tilts,
       step=st.floats(min_value=0.5, max_value=30.0), iters=st.integers(3, 10_000))
def test_round_trip_property(seed, voxel, t0, t1, step, iters):
    lo, hi = min(t0, t1), max(t0, t1)
    data = {"run": {"seed": seed}, "phantom": {"voxel_nm": voxel},
            "geometry": {"tilt_min_deg": lo, "tilt_max_deg": hi, "tilt_step_deg": step},
            "ptycho": {"iterations": iters}}
    scn = parse_scenario(data)
    again = parse_scenario(tomllib.loads(scenario_to_toml(scn)))
    assert again == scn
    assert section_to_dict(again) == section_to_dict(scn)


@settings(max_examples=40, deadline=None)
@given(value=st.one_of(st.floats(max_value=0.0, allow_nan=False), st.integers(max_value=0)))
def test_nonpositive_voxel_always_rejected(value):
    with pytest.raises(ConfigError) as exc:
        parse_scenario({"phantom": {"voxel_nm": value}})
    assert exc.value.key == "phantom.voxel_nm"


@settings(max_examples=40, deadline=None)
@given(value=st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: abs(v) >= 90))
def test_tilt_beyond_90_rejected(value):
    with pytest.raises(ConfigError) as exc:
        parse_scenario({"geometry": {"tilt_min_deg": -89.0, "tilt_max_deg": value}})
    assert exc.value.key == "geometry.tilt_max_deg"
