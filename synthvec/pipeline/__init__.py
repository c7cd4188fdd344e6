"""``synthvec run``: the stages of a scenario, cached in a run directory."""

from __future__ import annotations

from pathlib import Path

from ..scenario import Scenario
from .runner import RunResult, Stage, StageContext, run_pipeline, stage_rng
from .steps import STAGES, stage_names

__all__ = ["run_scenario", "default_run_dir", "RunResult", "Stage", "StageContext", "STAGES",
           "stage_names", "stage_rng", "run_pipeline"]


def default_run_dir(scn: Scenario) -> Path:
    """``runs/<scenario name>`` under the current directory."""
    return Path("runs") / scn.run.name


def run_scenario(scn: Scenario, out: str | Path | None = None, *, force: bool = False,
                 quiet: bool = False, until: str | None = None) -> RunResult:
    """Run every stage of ``scn`` (or up to and including ``until``) in ``out``."""
    stages = list(STAGES)
    if until is not None:
        names = stage_names()
        stages = stages[: names.index(until) + 1]
    return run_pipeline(scn, out or default_run_dir(scn), stages, force=force, quiet=quiet)
