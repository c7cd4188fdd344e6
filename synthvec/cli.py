"""The ``synthvec`` command: parses, validates, calls the library, reports.

Invalid input exits with code 2 and one line naming the file and the key or
field at fault; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import os

# Size native thread pools before numpy loads them (oversubscription on 2 cores
# slowed a peer package 20x). SYNTHVEC_THREADS overrides the CPU count.
_THREADS = os.environ.get("SYNTHVEC_THREADS") or str(
    len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, _THREADS)

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from .errors import InputError  # noqa: E402

__all__ = ["main"]


def _cmd_run(args: argparse.Namespace) -> int:
    from .pipeline import run_scenario, stage_names
    from .scenario import load_scenario

    scn = load_scenario(args.scenario)
    if args.until is not None and args.until not in stage_names():
        raise InputError(f"--until: unknown stage '{args.until}'; stages: {', '.join(stage_names())}")
    if args.max_hours <= 0:
        raise InputError(f"--max-hours: must be > 0 (got {args.max_hours:g})")
    from .cost import check_fits, estimate_cost
    from .pipeline import default_run_dir

    est = estimate_cost(scn, until=args.until)
    if est.cpu_seconds > 600 and not args.quiet:
        print(f"cost estimate: {est.summary()}")
    reason = check_fits(est, run_dir=args.out or default_run_dir(scn),
                        max_seconds=args.max_hours * 3600.0)
    if reason is not None:
        if not args.allow_large:
            raise InputError(f"{args.scenario or 'quick'}: {reason}; "
                             "--allow-large starts it anyway")
        if not args.quiet:
            print(f"warning: {reason}; starting anyway (--allow-large)")
    from .report import write_run_report

    res = run_scenario(scn, args.out, force=args.force, quiet=args.quiet, until=args.until)
    report = write_run_report(res.run_dir)
    if not args.quiet:
        print(f"report: {report}")
        print(f"run directory: {res.run_dir}")
        if res.cached:
            print(f"served from cache: {', '.join(res.cached)}")
        print(f"metrics: {res.run_dir / 'metrics.json'}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from .scenario import load_scenario, scenario_to_toml

    print(scenario_to_toml(load_scenario(args.scenario), with_docs=not args.bare))
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    from .analysis import run_analyze

    res = run_analyze(args.field, args.out, voxel_nm=args.voxel_nm)
    n = len(res.hedgehogs)
    print(f"{n} defects; tables and figures in {args.out}")
    return 0


def _cmd_ptycho(args: argparse.Namespace) -> int:
    from .invert.ptycho import run_ptycho

    res = run_ptycho(args.cxi, args.out, iterations=args.iterations,
                     probe_update=args.probe_update)
    print(f"wrote {args.out} ({res.seconds_per_iteration:.4f} s/iteration)")
    return 0


def _cmd_tomo(args: argparse.Namespace) -> int:
    from .invert.tomo import run_tomo

    run_tomo(args.projections, args.out, iterations=args.iterations, vector=args.vector,
             support_path=args.support)
    print(f"wrote {args.out}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import SweepError, run_sweep

    try:
        table = run_sweep(args.spec, args.out, scheduler=args.scheduler, progress=not args.quiet)
    except SweepError as err:
        print(f"synthvec sweep: {err}", file=sys.stderr)
        print(f"report: {Path(args.out) / 'report.html'}", file=sys.stderr)
        return 1
    print(f"{table['run_id'].nunique()} runs; results in {Path(args.out) / 'results.csv'}")
    print(f"report: {Path(args.out) / 'report.html'}")
    return 0


def _cmd_regress(args: argparse.Namespace) -> int:
    from .regress import run_regress

    code, table = run_regress(args.suite, update_baselines=args.update_baselines)
    print(table.to_string(index=False))
    return code


def _cmd_compare(args: argparse.Namespace) -> int:
    from .report.compare import run_compare

    path = run_compare(args.spec, args.out, progress=True)
    print(f"report: {path}")
    return 0


def _positive_int(text: str) -> int:
    """argparse type: an integer > 0 (argparse reports a bad one with exit code 2)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer (got {text!r})")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="synthvec",
        description="Simulate 3D soft x-ray vector (XMCD) ptychography end to end and score the "
                    "reconstruction against ground truth.")
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    r = sub.add_parser("run", help="run a scenario end to end (default: the embedded quick scenario)",
                       description="Run every stage of a scenario, reusing finished stages from the "
                                   "run directory's cache.")
    r.add_argument("scenario", nargs="?", help="scenario TOML file (default: embedded quick scenario)")
    r.add_argument("--out", type=Path, help="run directory (default: runs/<scenario name>)")
    r.add_argument("--force", action="store_true", help="recompute every stage")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.add_argument("--until", metavar="STAGE", help="stop after this stage")
    r.add_argument("--allow-large", action="store_true",
                   help="start even when the cost estimate (synthvec.cost) says this machine "
                        "cannot hold the run (memory, disk, or longer than --max-hours)")
    r.add_argument("--max-hours", type=float, default=2.0, metavar="H",
                   help="refuse runs estimated to take longer than H hours on 2 cores "
                        "(default: 2)")
    r.set_defaults(func=_cmd_run)

    s = sub.add_parser("show", help="print the fully resolved scenario (defaults filled in)",
                       description="Print the fully resolved scenario as TOML, with each key's "
                                   "documentation and allowed range.")
    s.add_argument("scenario", nargs="?", help="scenario TOML file (default: embedded quick scenario)")
    s.add_argument("--bare", action="store_true", help="omit the documentation comments")
    s.set_defaults(func=_cmd_show)

    a = sub.add_parser("analyze", help="topology analysis of a magnetization field",
                       description="Find hedgehogs, pair statistics and (with voids) virtual "
                                   "hedgehogs in a field file (NetCDF per DESIGN.md, or .npy "
                                   "(3, Z, Y, X) with --voxel-nm).")
    a.add_argument("field", help="field file (.nc or .npy)")
    a.add_argument("--out", type=Path, required=True, help="output directory")
    a.add_argument("--voxel-nm", type=float, help="voxel edge in nm (needed for .npy)")
    a.set_defaults(func=_cmd_analyze)

    pt = sub.add_parser("ptycho", help="rPIE reconstruction of one CXI scan",
                        description="Reconstruct a CXI 1.6 ptychography file with rPIE.")
    pt.add_argument("cxi", help="CXI file")
    pt.add_argument("--out", type=Path, required=True, help="output HDF5 file")
    pt.add_argument("--iterations", type=_positive_int, help="number of iterations")
    pt.add_argument("--probe-update", action=argparse.BooleanOptionalAction, default=True,
                    help="refine the probe (default: on)")
    pt.set_defaults(func=_cmd_ptycho)

    t = sub.add_parser("tomo", help="scalar (RESIRE) or vector tomography of a projection set",
                       description="Reconstruct a projection set (convention of shared/bench/t1.py).")
    t.add_argument("projections", help="projection set NetCDF file")
    t.add_argument("--out", type=Path, required=True, help="output NetCDF volume")
    t.add_argument("--iterations", type=_positive_int, help="number of iterations")
    t.add_argument("--vector", action="store_true", help="reconstruct m from the xmcd variable")
    t.add_argument("--support", type=Path, help="magnetic mask NetCDF (variable mask (z, y, x))")
    t.set_defaults(func=_cmd_tomo)

    sw = sub.add_parser("sweep", help="run a scenario over parameter axes and seeds (Dask)",
                        description="Run every variant of a sweep file as Dask tasks; a killed "
                                    "sweep resumes without redoing finished runs.")
    sw.add_argument("spec", help="sweep TOML file")
    sw.add_argument("--out", type=Path, default=Path("runs/sweep"), help="output directory")
    sw.add_argument("--scheduler", metavar="ADDRESS", help="address of an existing Dask scheduler")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")
    sw.set_defaults(func=_cmd_sweep)

    rg = sub.add_parser("regress", help="run the regression suite against its baselines",
                        description="Run a suite of scenarios x seeds and compare each metric with "
                                    "its baseline, tolerance and direction; exit 1 on a regression.")
    rg.add_argument("--suite", default="smoke", help="suite name in validation/ (default: smoke)")
    rg.add_argument("--update-baselines", action="store_true",
                    help="rewrite the baselines from this run (keeps tolerances and directions)")
    rg.set_defaults(func=_cmd_regress)

    cp = sub.add_parser("compare", help="method-comparison report on the same upstream data",
                        description="Run several methods per stage on the same simulated data and "
                                    "seeds; write report.html and report.md.")
    cp.add_argument("spec", help="comparison spec TOML file")
    cp.add_argument("--out", type=Path, required=True, help="output directory")
    cp.set_defaults(func=_cmd_compare)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except InputError as err:
        if args.debug:
            raise
        print(f"synthvec: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("synthvec: interrupted; finished stages are kept in the run directory", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
