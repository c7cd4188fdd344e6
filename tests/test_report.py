"""Per-run report: built from whatever the run directory holds, self-contained HTML + Markdown."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.figure import Figure

from synthvec.errors import InputError
from synthvec.pipeline.runner import Stage, run_pipeline
from synthvec.report import write_run_report
from synthvec.report.collect import collect_run
from synthvec.report.figures import png_bytes
from synthvec.scenario import Scenario

MAGENTA = (255, 0, 255)  # colour of the dummy analysis figure (found again in screenshots)
N_DEFECTS = (3, 2)  # (+1, -1) defects in the dummy table


def _log(name: str) -> None:
    d = os.environ.get("REPORT_TEST_DIR")
    if d:
        with open(Path(d) / "calls.log", "a") as fh:
            fh.write(name + "\n")


def _sim(ctx):
    """Dummy simulation: random data (depends on the seed only)."""
    _log(f"sim {ctx.scenario.run.seed}")
    np.save(ctx.out / "data.npy", ctx.rng.standard_normal(16))
    return [("sim_n_frames", 16.0, "1")]


def _invert(ctx):
    """Dummy inversion: error history (NetCDF), FSC curve (CSV); score = iterations + seed."""
    it = ctx.scenario.ptycho.iterations
    _log(f"invert {it} {ctx.scenario.run.seed}")
    if it == 13:
        raise RuntimeError("diverged (dummy)")
    err = 0.5 ** np.arange(it, dtype=float)
    xr.Dataset({"error": ("iteration", err)},
               coords={"iteration": np.arange(it)}).to_netcdf(ctx.out / "recon.nc",
                                                             engine="h5netcdf")
    q = np.linspace(0, 0.1, 11)
    pd.DataFrame({"spatial_frequency_per_nm": q, "fsc_truth": np.exp(-q * it)}).to_csv(
        ctx.out / "fsc.csv", index=False)
    return [("invert_final_error", float(err[-1]), "1"),
            ("invert_score", float(it + ctx.scenario.run.seed), "1")]


def _analyze(ctx):
    """Dummy analysis: a magenta 'defect map' PNG and a defect table."""
    _log(f"analyze {ctx.scenario.ptycho.iterations} {ctx.scenario.run.seed}")
    fig = Figure(figsize=(2, 2))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(np.ones((8, 8, 3)) * np.array(MAGENTA) / 255)
    ax.set_axis_off()
    (ctx.out / "figures").mkdir()
    (ctx.out / "figures/defect_map.png").write_bytes(png_bytes(fig))
    charges = [1] * N_DEFECTS[0] + [-1] * N_DEFECTS[1]
    pd.DataFrame({"x_nm": np.arange(5.0), "y_nm": 0.0, "z_nm": 0.0, "charge": charges,
                  "site": "octahedral"}).to_csv(ctx.out / "defects.csv", index=False)
    return [("analysis_n_defects", float(len(charges)), "1")]


STAGES = [
    Stage("sim", _sim, sections=("phantom",), modules=("synthvec.config",), random=True),
    Stage("invert", _invert, sections=("ptycho",), modules=("synthvec.config",), upstream=("sim",),
          publish=("recon.nc",)),
    Stage("analyze", _analyze, sections=("analysis",), modules=("synthvec.config",),
          upstream=("invert",)),
]


def _plain(html: str) -> str:
    """HTML with the attributes of table cells removed (for matching rows)."""
    return re.sub(r"<td[^>]*>", "<td>", html)


def _imgs(html: str) -> list[str]:
    return re.findall(r"<img [^>]*src='([^']*)'", html)


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "run"
    run_pipeline(Scenario(), d, STAGES, quiet=True)
    return d


def test_run_report_embeds_everything_the_run_holds(run_dir):
    path = write_run_report(run_dir)
    assert path == run_dir / "report.html"
    html = path.read_text()
    srcs = _imgs(html)
    # time/memory bars, convergence (from recon.nc), FSC (from fsc.csv), the analysis PNG;
    # recon.nc is also published at the top: its curve must not appear twice
    assert len(srcs) == 4
    assert all(s.startswith("data:image/png;base64,") for s in srcs)  # self-contained
    assert "http://" not in html and "https://" not in html
    stage_png = (run_dir / "stages/analyze/figures/defect_map.png").read_bytes()
    assert any(base64.b64decode(s.split(",", 1)[1]) == stage_png for s in srcs)
    for text in ("invert_final_error", "invert_score", "analysis_n_defects", "sim_n_frames",
                 "Time and memory per stage", "defects.csv", "Resolved scenario"):
        assert text in html
    # defect table summarised by charge: 3 positive, 2 negative
    row = re.search(r"<td>stages/analyze/defects.csv</td><td>5</td><td>[^<]*</td>"
                    r"<td>(\d+)</td><td>(\d+)</td>", _plain(html))
    assert row and (int(row.group(1)), int(row.group(2))) == N_DEFECTS


def test_markdown_refers_to_written_figures(run_dir):
    write_run_report(run_dir)
    md = (run_dir / "report.md").read_text()
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(refs) == 4 and all((run_dir / r).is_file() for r in refs)
    assert "| stage | metric | value | unit |" in md
    # a second report replaces the first (no stale figures, the report's own files not rescanned)
    write_run_report(run_dir)
    assert len(list((run_dir / "report_files").glob("*.png"))) == 4


def test_curves_read_back_exactly(run_dir):
    rf = collect_run(run_dir)
    conv = [c for c in rf.curves if c.kind == "convergence"]
    fsc = [c for c in rf.curves if c.kind == "fsc"]
    it = Scenario().ptycho.iterations
    assert len(conv) == 1 and conv[0].stage == "invert"
    np.testing.assert_allclose(conv[0].y, 0.5 ** np.arange(it))
    assert len(fsc) == 1 and fsc[0].xlabel == "spatial_frequency_per_nm"
    np.testing.assert_allclose(fsc[0].y, np.exp(-np.linspace(0, 0.1, 11) * it))


def test_fsc_variable_in_netcdf_uses_its_coordinate(tmp_path):
    d = tmp_path / "r"
    (d / "stages/score").mkdir(parents=True)
    q = np.linspace(0.0, 0.1, 6)
    xr.Dataset({"fsc": ("q_per_nm", 1 - q)}, coords={"q_per_nm": q}).to_netcdf(
        d / "stages/score/res.nc", engine="h5netcdf")
    (c,) = collect_run(d).curves
    assert c.kind == "fsc" and c.xlabel == "q_per_nm"
    np.testing.assert_allclose(c.x, q)
    np.testing.assert_allclose(c.y, 1 - q)


def test_partial_run_and_bad_input(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    html = write_run_report(d).read_text()
    assert "No metric table" in html and not _imgs(html)
    with pytest.raises(InputError, match="no such run directory"):
        write_run_report(tmp_path / "nope")
