"""The command line: --help everywhere, one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from synthvec.cli import build_parser, main

SUBCOMMANDS = ["run", "show", "analyze", "ptycho", "tomo", "sweep", "regress", "compare"]


def _sub_names():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_every_subcommand_listed():
    assert _sub_names() == sorted(SUBCOMMANDS)


@pytest.mark.parametrize("cmd", [[]] + [[c] for c in SUBCOMMANDS])
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        main(cmd + ["--help"])
    assert exc.value.code == 0
    assert "usage: synthvec" in capsys.readouterr().out


def test_show_default(capsys):
    assert main(["show", "--bare"]) == 0
    out = capsys.readouterr().out
    assert "[phantom]" in out and "voxel_nm = 5.0" in out


@pytest.mark.parametrize("text, fragment", [
    ("[phantom\n", "TOML syntax error"),
    ("[phantom]\nvoxl_nm = 5\n", "phantom.voxl_nm: unknown key (did you mean 'voxel_nm'?)"),
    ("[geometry]\ntilt_max_deg = 120.0\n", "geometry.tilt_max_deg: must be > -90 and < 90"),
    ("[ptycho]\niterations = -3\n", "ptycho.iterations: must be > 0"),
    ("[simulate]\nenergy_ev = \"856\"\n", "simulate.energy_ev: must be a number"),
])
def test_bad_scenario_exit_2_one_line(tmp_path, text, fragment, capsys):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    for cmd in (["show", str(p)], ["run", str(p), "--out", str(tmp_path / "r")]):
        assert main(cmd) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert str(p) in err and fragment in err
        assert "Traceback" not in err


def test_debug_shows_traceback(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[phantom]\nvoxel_nm = 0\n")
    proc = subprocess.run([sys.executable, "-m", "synthvec", "--debug", "show", str(p)],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_console_entry_point_exit_code(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[phantom]\nvoxel_nm = 0\n")
    proc = subprocess.run([sys.executable, "-m", "synthvec", "show", str(p)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("synthvec: error:") and "phantom.voxel_nm" in proc.stderr


@pytest.mark.parametrize("cmd", [
    ["analyze", "{d}/missing.nc", "--out", "{d}/out"],
    ["ptycho", "{d}/missing.cxi", "--out", "{d}/rec.h5"],
    ["tomo", "{d}/missing.nc", "--out", "{d}/vol.nc"],
])
def test_stage_commands_missing_file_exit_2(tmp_path, cmd, capsys):
    args = [a.format(d=tmp_path) for a in cmd]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing" in err and "Traceback" not in err


def test_analyze_npy_hedgehog(tmp_path, capsys):
    """A single hedgehog m = r/|r| in a .npy file: one defect of charge +1 near the centre."""
    import numpy as np
    import pandas as pd

    n = 12
    c = np.arange(n) - (n - 1) / 2.0
    z, y, x = np.meshgrid(c, c, c, indexing="ij")
    r = np.sqrt(x**2 + y**2 + z**2)
    m = np.stack([x / r, y / r, z / r]).astype(np.float32)
    np.save(tmp_path / "hedgehog.npy", m)
    assert main(["analyze", str(tmp_path / "hedgehog.npy"), "--out", str(tmp_path / "a"),
                 "--voxel-nm", "5"]) == 0
    table = pd.read_csv(tmp_path / "a" / "hedgehogs.csv")
    assert list(table["charge"]) == [1]
    assert np.allclose(table[["x_nm", "y_nm", "z_nm"]].to_numpy(), 0.0, atol=2.5)
    assert main(["analyze", str(tmp_path / "hedgehog.npy"), "--out", str(tmp_path / "b")]) == 2
    assert "--voxel-nm" in capsys.readouterr().err


@pytest.mark.parametrize("cmd", ["ptycho", "tomo"])
@pytest.mark.parametrize("bad", ["0", "-3", "two"])
def test_iterations_must_be_positive(tmp_path, cmd, bad, capsys):
    with pytest.raises(SystemExit) as exc:
        main([cmd, str(tmp_path / "x"), "--out", str(tmp_path / "y"), "--iterations", bad])
    assert exc.value.code == 2
    assert "--iterations: must be a positive integer" in capsys.readouterr().err
