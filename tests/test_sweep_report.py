"""The sweep report: key-metric table per grid point, metric-vs-axis figure, time and memory."""

from __future__ import annotations

import math
from pathlib import Path
import statistics

import numpy as np
import pandas as pd
import pytest

from synthvec.errors import InputError
from synthvec.report import write_sweep_report
from synthvec.report.sweep import (fig_sweep_metrics, run_table, sweep_summary,
                                   varying_columns)

DOSE = "simulate.dose"
ITER = "ptycho.iterations"
METH = "tomo.method"
STAGES = ("simulate", "ptycho", "score")
EN_DASH = "\u2013"


def _metrics_of(dose: float, it: int, seed: int) -> dict[str, float]:
    """Made-up but distinct metric values of one run (each seed differs)."""
    return {
        "hedgehog_f1": 0.2 + 0.1 * math.log10(dose) + 0.01 * it + 0.013 * seed,
        "hedgehog_precision": 0.5 + 0.03 * seed + 1e-4 * it,
        "hedgehog_recall": 0.4 + 0.05 * math.log10(dose) - 0.02 * seed,
        "scalar_nrmse": 1.0 / math.log10(dose) + 0.007 * seed * (1 + it),
        "fsc_halfset_resolution_nm": 120.0 / math.log10(dose) + seed,
        "n_defects_true": 12.0,  # not a key metric
    }


def _resources_of(dose: float, it: int, seed: int) -> dict[str, tuple[float, float]]:
    return {st: (1.0 + k + 0.1 * seed + 0.001 * dose ** 0.5, 200.0 + 50 * k + 3 * seed + it)
            for k, st in enumerate(STAGES)}


def _write_results(path, points, seeds, *, nan=()):
    """Tidy results.csv as run_sweep writes it; ``nan``: (point, seed, metric) set to NaN."""
    rows = []
    for i, point in enumerate(points):
        dose, it = point[DOSE], point.get(ITER, 10)
        for seed in seeds:
            rid = f"r{i}s{seed}"
            labels = {**point, "seed": seed}
            for st, (wall, rss) in _resources_of(dose, it, seed).items():
                rows.append({"run_id": rid, **labels, "stage": st, "metric": f"{st}_wall_s",
                             "value": wall, "unit": "s"})
                rows.append({"run_id": rid, **labels, "stage": st, "metric": f"{st}_peak_rss_mb",
                             "value": rss, "unit": "MiB"})
            for m, v in _metrics_of(dose, it, seed).items():
                if (i, seed, m) in nan:
                    v = float("nan")
                rows.append({"run_id": rid, **labels, "stage": "score", "metric": m,
                             "value": v, "unit": "nm" if m.endswith("_nm") else "1"})
    pd.DataFrame(rows).to_csv(path / "results.csv", index=False)


def _md_table(md: str, first_header: str) -> list[list[str]]:
    """Rows (cells) of the Markdown table whose header starts with ``first_header``."""
    lines = md.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"| {first_header} |"))
    rows = []
    for ln in lines[start:]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in ln.strip("|").split(" | ")])
    return rows


def _fmt(v: float) -> str:
    return f"{v:.4g}"


DOSES = [1e4, 1e5, 1e6, 1e7]  # 3 decades


@pytest.fixture
def dose_sweep(tmp_path):
    points = [{DOSE: d, ITER: 10} for d in DOSES]  # iterations fixed: one value, not a column
    _write_results(tmp_path, points, seeds=[0, 1])
    return tmp_path


def test_table_holds_mean_and_std_over_seeds(dose_sweep):
    path = write_sweep_report(dose_sweep, columns=[DOSE, ITER])
    assert path == dose_sweep / "report.html" and path.is_file()
    assert (dose_sweep / "report.md").is_file()
    pngs = sorted(p.name for p in (dose_sweep / "report_files").glob("*.png"))
    assert "metrics.png" in pngs and "resources.png" in pngs
    assert all((dose_sweep / "report_files" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
               for p in pngs)

    md = (dose_sweep / "report.md").read_text()
    rows = _md_table(md, DOSE)
    header, body = rows[0], rows[2:]
    assert ITER not in header  # one value: not a column of the table
    assert header[:2] == [DOSE, "runs"]
    assert len(body) == len(DOSES)
    for d, row in zip(DOSES, body):
        cells = dict(zip(header, row))
        assert float(cells[DOSE]) == pytest.approx(d)
        assert cells["runs"] == "2"
        for m in ("hedgehog_f1", "scalar_nrmse", "fsc_halfset_resolution_nm"):
            vals = [_metrics_of(d, 10, s)[m] for s in (0, 1)]
            assert cells[m] == f"{_fmt(statistics.mean(vals))} ± {_fmt(statistics.stdev(vals))}"
        walls = [sum(w for w, _ in _resources_of(d, 10, s).values()) for s in (0, 1)]
        peaks = [max(r for _, r in _resources_of(d, 10, s).values()) for s in (0, 1)]
        assert cells["total_wall_s"] == f"{_fmt(statistics.mean(walls))} ± " \
                                        f"{_fmt(statistics.stdev(walls))}"
        assert cells["peak_rss_mb"] == f"{_fmt(statistics.mean(peaks))} ± " \
                                       f"{_fmt(statistics.stdev(peaks))}"
    # default key metrics: only those present, in the documented order; others left out
    assert "n_defects_true" not in header and "virtual_agreement" not in header
    assert header.index("hedgehog_f1") < header.index("scalar_nrmse")

    html = path.read_text()
    assert "data:image/png;base64," in html and "report_files" not in html  # self-contained
    assert "±" in html

    per_run = _md_table(md, "run_id")
    assert len(per_run) == 2 + 2 * len(DOSES)


def test_summary_numbers_match_an_independent_computation(dose_sweep):
    results = pd.read_csv(dose_sweep / "results.csv")
    runs = run_table(results, [DOSE, ITER])
    assert varying_columns(runs, [DOSE, ITER]) == [DOSE]
    summ = sweep_summary(runs, [DOSE], ["hedgehog_recall", "total_wall_s"])
    for d, (_, row) in zip(DOSES, summ.iterrows()):
        vals = np.array([_metrics_of(d, 10, s)["hedgehog_recall"] for s in (0, 1)])
        assert row["hedgehog_recall"] == pytest.approx(vals.sum() / 2, rel=1e-12)
        assert row["hedgehog_recall_std"] == pytest.approx(abs(vals[0] - vals[1]) / math.sqrt(2),
                                                           rel=1e-9)
        assert row["hedgehog_recall_n"] == 2


def test_log_axis_when_the_dose_spans_decades(dose_sweep):
    results = pd.read_csv(dose_sweep / "results.csv")
    runs = run_table(results, [DOSE, ITER])
    metrics = ["hedgehog_f1", "scalar_nrmse"]
    summ = sweep_summary(runs, [DOSE], metrics)
    fig = fig_sweep_metrics(summ, metrics, x=DOSE)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2
    assert all(ax.get_xscale() == "log" for ax in axes)
    line = axes[0].containers[0].lines[0]
    assert np.allclose(line.get_xdata(), DOSES)
    expect = [statistics.mean(_metrics_of(d, 10, s)["hedgehog_f1"] for s in (0, 1)) for d in DOSES]
    assert np.allclose(line.get_ydata(), expect)
    # a range under two decades stays linear
    lin = summ[summ[DOSE] <= 1e5].reset_index(drop=True)
    fig = fig_sweep_metrics(lin, metrics, x=DOSE)
    assert all(ax.get_xscale() == "linear" for ax in fig.axes if ax.get_visible())


def test_second_axis_gives_one_line_per_value(tmp_path):
    points = [{DOSE: d, ITER: it} for d in (1e3, 1e4, 1e5) for it in (10, 40)]
    _write_results(tmp_path, points, seeds=[0, 1, 2])
    write_sweep_report(tmp_path, columns=[DOSE, ITER])
    md = (tmp_path / "report.md").read_text()
    rows = _md_table(md, DOSE)
    assert rows[0][:3] == [DOSE, ITER, "runs"]
    assert len(rows) == 2 + 6
    cells = dict(zip(rows[0], rows[2 + 3]))  # dose 1e4, 40 iterations
    assert float(cells[DOSE]) == 1e4 and cells[ITER] == "40" and cells["runs"] == "3"
    vals = [_metrics_of(1e4, 40, s)["scalar_nrmse"] for s in (0, 1, 2)]
    assert cells["scalar_nrmse"] == f"{_fmt(statistics.mean(vals))} ± " \
                                    f"{_fmt(statistics.stdev(vals))}"
    assert "one line per ptycho.iterations" in md

    runs = run_table(pd.read_csv(tmp_path / "results.csv"), [DOSE, ITER])
    summ = sweep_summary(runs, [DOSE, ITER], ["hedgehog_f1"])
    fig = fig_sweep_metrics(summ, ["hedgehog_f1"], x=DOSE, lines=[ITER])
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert len(ax.containers) == 2  # one errorbar line per value of the second axis
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["iterations=10", "iterations=40"]
    for ln, it in zip((c.lines[0] for c in ax.containers), (10, 40)):
        assert np.allclose(ln.get_xdata(), [1e3, 1e4, 1e5])
        assert np.allclose(ln.get_ydata(), [statistics.mean(
            _metrics_of(d, it, s)["hedgehog_f1"] for s in (0, 1, 2)) for d in (1e3, 1e4, 1e5)])
    # error bars: std over seeds (segment half-length)
    bars = ax.containers[0].lines[2][0].get_segments()
    half = [(seg[1][1] - seg[0][1]) / 2 for seg in bars]
    assert np.allclose(half, [statistics.stdev(_metrics_of(d, 10, s)["hedgehog_f1"]
                                               for s in (0, 1, 2)) for d in (1e3, 1e4, 1e5)])


def test_zipped_partner_is_the_same_axis_not_a_line(tmp_path):
    lo, hi = "geometry.tilt_min_deg", "geometry.tilt_max_deg"
    points = [{DOSE: d, lo: -a, hi: a} for d in (1e3, 1e5) for a in (44.0, 62.0)]
    _write_results(tmp_path, points, seeds=[0])
    write_sweep_report(tmp_path, columns=[DOSE, lo, hi])
    md = (tmp_path / "report.md").read_text()
    rows = _md_table(md, DOSE)
    assert rows[0][:3] == [DOSE, lo, hi] and "runs" not in rows[0]  # one seed: no runs column
    assert len(rows) == 2 + 4
    assert "±" not in "".join(rows[2])  # a single seed has no spread
    assert f"one line per {lo}" in md and hi not in md.split("one line per")[1].split("\n")[0]


def test_nan_and_missing_metrics_show_a_dash(tmp_path):
    points = [{DOSE: d} for d in (1e4, 1e5, 1e6)]
    nan = {(0, 0, "scalar_nrmse"), (0, 1, "scalar_nrmse"),  # no value at all at 1e4
           (1, 1, "hedgehog_f1")}  # one of two at 1e5
    _write_results(tmp_path, points, seeds=[0, 1], nan=nan)
    write_sweep_report(tmp_path, columns=[DOSE],
                       metrics=["hedgehog_f1", "scalar_nrmse", "virtual_agreement"])
    rows = _md_table((tmp_path / "report.md").read_text(), DOSE)
    header, body = rows[0], rows[2:]
    assert header[:5] == [DOSE, "runs", "hedgehog_f1", "scalar_nrmse", "virtual_agreement"]
    cells = [dict(zip(header, r)) for r in body]
    assert all(c["virtual_agreement"] == EN_DASH for c in cells)  # asked for, not in results
    assert cells[0]["scalar_nrmse"] == EN_DASH
    assert cells[1]["hedgehog_f1"] == f"{_fmt(_metrics_of(1e5, 10, 0)['hedgehog_f1'])} (n=1)"
    vals = [_metrics_of(1e6, 10, s)["scalar_nrmse"] for s in (0, 1)]
    assert cells[2]["scalar_nrmse"] == f"{_fmt(statistics.mean(vals))} ± " \
                                       f"{_fmt(statistics.stdev(vals))}"
    md = (tmp_path / "report.md").read_text()
    tables = "\n".join(ln for ln in md.splitlines() if ln.startswith("|"))
    assert "nan" not in tables.lower()
    assert (tmp_path / "report_files" / "metrics.png").is_file()


def test_failed_runs_are_listed_and_empty_results_still_report(tmp_path):
    pd.DataFrame(columns=["run_id", DOSE, "seed", "stage", "metric", "value", "unit"]).to_csv(
        tmp_path / "results.csv", index=False)
    pd.DataFrame([{"run_id": "abc", DOSE: 1e5, "seed": 0, "status": "failed",
                   "error": "ValueError: boom", "run_dir": "runs/abc"}]).to_csv(
        tmp_path / "runs.csv", index=False)
    path = write_sweep_report(tmp_path, columns=[DOSE])
    md = (tmp_path / "report.md").read_text()
    assert "## Failed runs" in md and "ValueError: boom" in md and "No run finished" in md
    assert path.is_file()


def test_missing_or_malformed_results_name_the_file(tmp_path):
    with pytest.raises(InputError, match="results.csv"):
        write_sweep_report(tmp_path, columns=[DOSE])
    pd.DataFrame({"run_id": ["a"], "seed": [0], "metric": ["x"], "value": [1.0]}).to_csv(
        tmp_path / "results.csv", index=False)
    with pytest.raises(InputError, match=r"results.csv.*simulate.dose"):
        write_sweep_report(tmp_path, columns=[DOSE])


def _fake_score(ctx):
    """A stand-in 'score' stage: f1 from the sweep's axis value; fails at 80 nm spheres."""
    d = ctx.scenario.phantom.sphere_diameter_nm
    if d == 80.0:
        raise RuntimeError("dummy failure")
    return [("hedgehog_f1", d / 100.0 + 0.01 * ctx.scenario.run.seed, "1")]


def test_every_sweep_writes_its_report_also_with_failed_runs(tmp_path, capsys):
    from synthvec.pipeline.runner import Stage
    from synthvec.sweep import SweepError, run_sweep

    smoke = Path(__file__).resolve().parents[1] / "scenarios" / "smoke.toml"
    spec = tmp_path / "sweep.toml"
    spec.write_text(f'[sweep]\nbase = "{smoke}"\nseeds = [0, 1]\n\n[axes]\n'
                    '"phantom.sphere_diameter_nm" = [60.0, 70.0, 80.0]\n')
    stages = [Stage("score", _fake_score, sections=("phantom",), modules=("synthvec.config",),
                    random=True)]  # random: the seed is part of its cache key
    out = tmp_path / "out"
    with pytest.raises(SweepError):
        run_sweep(spec, out, scheduler="sync", stages=stages, progress=False)
    assert "report not written" not in capsys.readouterr().err
    md = (out / "report.md").read_text()
    assert "## Failed runs" in md and "dummy failure" in md
    rows = _md_table(md, "phantom.sphere_diameter_nm")
    body = [dict(zip(rows[0], r)) for r in rows[2:]]
    assert [r["phantom.sphere_diameter_nm"] for r in body] == ["60", "70"]  # the finished points
    assert body[0]["hedgehog_f1"] == f"{_fmt(0.605)} ± {_fmt(statistics.stdev([0.6, 0.61]))}"
    assert (out / "report.html").is_file() and (out / "report_files" / "metrics.png").is_file()
