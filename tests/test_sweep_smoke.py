"""Acceptance on the real chain: a 2 x 2 smoke sweep killed mid-way resumes to the same table.

Slow (it runs the smoke scenario's real stages eight times); ``pytest -m slow``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthvec.pipeline import STAGES
from synthvec.pipeline.runner import Stage
from synthvec.sweep import run_sweep

REPO = Path(__file__).resolve().parents[1]


class _KillOnce:
    """A real stage that is killed the first time it runs for one variant."""

    def __init__(self, stage: Stage, flag: Path):
        self.stage, self.flag = stage, flag

    def __call__(self, ctx):
        if ctx.scenario.run.seed == 2 and ctx.scenario.ptycho.iterations == 4 and self.flag.exists():
            self.flag.unlink()
            raise KeyboardInterrupt  # as Ctrl-C or a scheduler killing the job
        return self.stage.run(ctx)


@pytest.mark.slow
def test_killed_smoke_sweep_resumes_to_the_same_table(tmp_path):
    spec = tmp_path / "sweep.toml"
    spec.write_text(f'[sweep]\nbase = "{REPO / "scenarios/smoke.toml"}"\nseeds = [1, 2]\n'
                    '[axes]\n"ptycho.iterations" = [3, 4]\n')
    ref = run_sweep(spec, tmp_path / "ref", scheduler="sync", stages=STAGES, progress=False)

    flag = tmp_path / "kill"
    flag.write_text("")
    last = STAGES[-1]
    # same name, sections and modules: the same cache key as the real stage
    killer = [*STAGES[:-1], Stage(last.name, _KillOnce(last, flag), sections=last.sections,
                                  modules=last.modules, upstream=last.upstream, random=last.random,
                                  publish=last.publish)]
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, tmp_path / "out", scheduler="sync", stages=killer, progress=False)
    resumed = run_sweep(spec, tmp_path / "out", scheduler="sync", stages=STAGES, progress=False)

    def stable(t):
        t = t.copy()
        timing = (t["metric"].str.endswith(("_wall_s", "_peak_rss_mb"))
                  | t["metric"].str.contains("seconds"))      # machine-dependent, not results
        t.loc[timing, "value"] = np.nan
        return t.sort_values(["run_id", "stage", "metric"]).reset_index(drop=True)

    a, b = stable(ref), stable(resumed)
    assert a[["run_id", "seed", "stage", "metric", "unit"]].equals(
        b[["run_id", "seed", "stage", "metric", "unit"]])
    np.testing.assert_array_equal(a["value"].to_numpy(), b["value"].to_numpy())
