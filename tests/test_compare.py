"""Method comparison: same upstream data per seed, spread over seeds, self-contained report."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthvec.errors import ConfigError, InputError
from synthvec.report.compare import load_compare, run_compare

from .test_report import MAGENTA, STAGES, _imgs, _plain

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "scenarios" / "smoke.toml"


def _spec(tmp_path: Path, variants: str, seeds: str = "[1, 2]", extra: str = "") -> Path:
    p = tmp_path / "cmp.toml"
    p.write_text(f'[compare]\ntitle = "iterations"\nbase = "{SMOKE}"\nseeds = {seeds}\n{extra}\n'
                 f"{variants}")
    return p


TWO = '[variants.short]\n"ptycho.iterations" = 4\n\n[variants.long]\n"ptycho.iterations" = 9\n'


@pytest.fixture
def calls(tmp_path, monkeypatch):
    d = tmp_path / "log"
    d.mkdir()
    monkeypatch.setenv("REPORT_TEST_DIR", str(d))
    return lambda: sorted((d / "calls.log").read_text().splitlines())


def test_variants_share_upstream_and_report_spread(tmp_path, calls):
    out = tmp_path / "out"
    path = run_compare(_spec(tmp_path, TWO), out, stages=STAGES, scheduler="sync")
    assert path == out / "report.html"
    # the simulation ran once per seed; the inversion and analysis once per variant and seed
    assert calls() == sorted(["sim 1", "sim 2", "invert 4 1", "invert 4 2", "invert 9 1",
                              "invert 9 2", "analyze 4 1", "analyze 4 2", "analyze 9 1",
                              "analyze 9 2"])
    a = out / "runs/short-seed1/stages/sim/data.npy"
    b = out / "runs/long-seed1/stages/sim/data.npy"
    assert a.read_bytes() == b.read_bytes()  # same upstream data ...
    assert a.read_bytes() != (out / "runs/short-seed2/stages/sim/data.npy").read_bytes()  # per seed

    html = _plain(path.read_text())
    # invert_score = iterations + seed over seeds {1, 2}: mean it + 1.5, sample std 1/sqrt(2)
    std = f"{np.std([1, 2], ddof=1):.4g}"
    assert f"5.5 ± {std}" in html and f"10.5 ± {std}" in html
    # the simulation's frame count does not vary: zero spread
    assert "<td>sim_n_frames</td><td>1</td><td>16 ± 0</td><td>16 ± 0</td>" in html
    srcs = _imgs(html)
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    # spread figure, time/memory, convergence overlay, FSC overlay, one defect map per variant
    # (the analysis depends on the inversion, so it is not shared)
    assert len(srcs) == 6
    assert "short / analyze" in html and "long / analyze" in html
    table = pd.read_csv(out / "results.csv")
    assert set(table["variant"]) == {"short", "long"} and set(table["seed"]) == {1, 2}
    for rid in ("short-seed1", "short-seed2", "long-seed1", "long-seed2"):
        assert (out / "runs" / rid / "report.html").is_file()
        assert f"runs/{rid}/report.html" in html
    md = (out / "report.md").read_text()
    assert "| stage | metric | unit | short | long |" in md
    # a rerun computes nothing: every stage of every run comes from the cache
    n = len(calls())
    run_compare(_spec(tmp_path, TWO), out, stages=STAGES, scheduler="sync", run_reports=False)
    assert len(calls()) == n


def test_failed_variant_is_reported_and_the_rest_compared(tmp_path, calls, capsys):
    variants = TWO + '\n[variants.broken]\n"ptycho.iterations" = 13\n'
    path = run_compare(_spec(tmp_path, variants, seeds="[1]"), tmp_path / "o", stages=STAGES,
                       scheduler="sync", run_reports=False)
    html = _plain(path.read_text())
    assert "Failed runs" in html and "diverged (dummy)" in html
    assert "broken-seed1 failed" in capsys.readouterr().err
    assert "<td>invert_score</td><td>1</td><td>5</td><td>10</td>" in html


def test_shared_stage_figures_shown_once(tmp_path, calls):
    # variants differing only in a section no dummy stage reads: every stage is shared
    variants = ('[variants.a]\n"score.match_distance_vox" = 2.0\n\n'
                '[variants.b]\n"score.match_distance_vox" = 3.0\n')
    html = run_compare(_spec(tmp_path, variants, seeds="[1]"), tmp_path / "o", stages=STAGES,
                       scheduler="sync", run_reports=False).read_text()
    assert "Shared by every variant" in html and "a / analyze" not in html
    assert "All variants reach the same value" in html
    assert calls().count("analyze 9 1") == 0 and len([c for c in calls() if "analyze" in c]) == 1


@pytest.mark.parametrize("variants, fragment", [
    ('[variants.x]\n"ptycho.iterationz" = 3\n', "ptycho.iterationz: unknown key"),
    ('[variants.x]\n"ptycho.iterations" = 0\n', "ptycho.iterations: must be > 0"),
    ('[variants."a b"]\n"ptycho.iterations" = 3\n', "variant names may hold"),
    ('[variants.x]\n"ptycho.iterations" = 3\n[variants.y]\n"ptycho.iterations" = 3\n',
     "same scenario as variant x"),
    ('[variants.x]\nptycho.iterations = 3\n', 'quote dotted keys'),
    ("", "needs at least one table [variants.NAME]"),
])
def test_bad_specs_name_file_and_key(tmp_path, variants, fragment):
    p = _spec(tmp_path, variants)
    with pytest.raises(ConfigError) as exc:
        load_compare(p)
    assert fragment in str(exc.value) and str(p) in str(exc.value)


def test_missing_spec(tmp_path):
    with pytest.raises(InputError, match="no such comparison spec file"):
        run_compare(tmp_path / "x.toml", tmp_path / "o", stages=STAGES)


def test_shipped_example_specs_are_valid():
    specs = sorted((REPO / "reports").glob("*.toml"))
    assert specs
    for p in specs:
        spec = load_compare(p)
        assert len(spec.variants) >= 2 and spec.title


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="needs Debian chromium (apt-get install chromium)")
def test_headless_browser_renders_the_figures(tmp_path, calls):
    """Screenshot the report: the embedded figures must show (the magenta defect maps, the bars)."""
    from matplotlib.image import imread

    path = run_compare(_spec(tmp_path, TWO, seeds="[1]"), tmp_path / "o", stages=STAGES,
                       scheduler="sync")
    shot = tmp_path / "shot.png"
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", "--window-size=1200,6000", f"--screenshot={shot}",
                    path.as_uri()], check=True, capture_output=True, timeout=120)
    img = (imread(shot)[..., :3] * 255).round().astype(int)
    magenta = np.all(np.abs(img - np.array(MAGENTA)) <= 8, axis=-1).sum()
    c0 = np.all(np.abs(img - np.array([31, 119, 180])) <= 8, axis=-1).sum()  # matplotlib C0
    assert magenta > 2 * 1000  # two defect maps, ~150 x 150 px each at this size
    assert c0 > 500  # the bar charts and curves
