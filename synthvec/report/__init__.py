"""Figures and HTML/Markdown reports of runs and method comparisons.

- :func:`write_run_report` -- ``RUN/report.html`` + ``report.md`` of one run
  directory, from whatever it holds.
- :func:`run_compare` -- ``synthvec compare SPEC.toml --out DIR``: several
  methods on the same upstream data and seeds, one report.
- :func:`write_sweep_report` -- ``OUT/report.html`` + ``report.md`` of a
  sweep, from its ``results.csv`` (every ``synthvec sweep`` writes one).

Stages make data appear in the reports by file conventions (PNG figures,
curve CSVs, error/FSC arrays in their NetCDF/HDF5 outputs): see
:mod:`synthvec.report.collect`.
"""

from __future__ import annotations

from .run import write_run_report

__all__ = ["write_run_report", "run_compare", "write_sweep_report"]


def run_compare(*args, **kwargs):
    """See :func:`synthvec.report.compare.run_compare`."""
    from .compare import run_compare as _run

    return _run(*args, **kwargs)


def write_sweep_report(*args, **kwargs):
    """See :func:`synthvec.report.sweep.write_sweep_report`."""
    from .sweep import write_sweep_report as _write

    return _write(*args, **kwargs)
