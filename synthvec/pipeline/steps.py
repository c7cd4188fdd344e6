"""The stages of ``synthvec run``: glue between the stage libraries and the run directory.

Each function reads its upstream stage folders, calls the stage library (pure
functions of data and config), writes its files into ``ctx.out`` and returns
its metrics. Truth reaches only the truth, simulation and scoring stages: the
inversion stages read the diffraction files and nominal geometry alone.
"""

from __future__ import annotations

from .runner import Metric, Stage, StageContext

__all__ = ["STAGES", "stage_names"]


def _phantom(ctx: StageContext) -> list[Metric]:
    from ..io import write_netcdf
    from ..phantom import build_phantom

    ph = build_phantom(ctx.scenario.phantom, rng=ctx.rng)
    write_netcdf(ph, ctx.out / "phantom.nc", attrs=ctx.attrs())
    mat = ph["material"].values
    inside = mat > 0
    return [("phantom_ni_fraction", float((mat == 2).sum() / max(inside.sum(), 1)), "1"),
            ("phantom_n_spheres", float(ph.sizes.get("sphere", 0)), "1")]


def _truth(ctx: StageContext) -> list[Metric]:
    from ..io import read_netcdf, write_netcdf
    from ..phantom import build_texture, realised_defects

    ph = read_netcdf(ctx.inputs["phantom"] / "phantom.nc")
    truth, seeds = build_texture(ph, ctx.scenario.texture, rng=ctx.rng)
    write_netcdf(truth, ctx.out / "truth.nc", attrs=ctx.attrs())
    seeds.to_csv(ctx.out / "truth_seeds.csv", index=False)
    defects, metrics = realised_defects(truth, seeds)
    defects.to_csv(ctx.out / "truth_defects.csv", index=False)
    return [(k, float(v), "1") for k, v in metrics.items()]


def _truth_analysis(ctx: StageContext) -> list[Metric]:
    from ..analysis import analyze_field, write_analysis
    from ..io import read_netcdf

    truth = read_netcdf(ctx.inputs["truth"] / "truth.nc")
    res = analyze_field(truth, ctx.scenario.analysis, site=truth["site"], void_id=truth["void_id"])
    write_analysis(res, ctx.out, figures=False)
    return [("truth_n_hedgehogs", float((res.hedgehogs["charge"] > 0).sum()), "1"),
            ("truth_n_antihedgehogs", float((res.hedgehogs["charge"] < 0).sum()), "1")]


def _simulate(ctx: StageContext) -> list[Metric]:
    from ..forward import simulate_experiment
    from ..io import read_netcdf
    from ..phantom import refine_truth

    scn = ctx.scenario
    truth = read_netcdf(ctx.inputs["truth"] / "truth.nc")
    fine = refine_truth(truth, scn.phantom, scn.phantom.supersample)
    index = simulate_experiment(fine, scn.geometry, scn.simulate, ctx.out / "cxi", rng=ctx.rng,
                                recon_voxel_nm=scn.phantom.voxel_nm)
    index.to_csv(ctx.out / "scans.csv", index=False)
    return [("simulate_n_scans", float(len(index)), "1"),
            ("simulate_n_frames", float(index["n_frames"].sum()), "1"),
            ("simulate_n_corrupt", float(index["n_corrupt"].sum()), "1")]


STAGES: tuple[Stage, ...] = (
    Stage("phantom", _phantom, sections=("phantom",), modules=("synthvec.phantom",),
          random=True, description="fcc Ni-in-silica superlattice with site and void labels"),
    Stage("truth", _truth, sections=("texture",), modules=("synthvec.phantom", "synthvec.analysis"),
          upstream=("phantom",), random=True, publish=("truth.nc", "truth_seeds.csv"),
          description="seeded, relaxed magnetization texture and its realised defects"),
    Stage("truth_analysis", _truth_analysis, sections=("analysis",),
          modules=("synthvec.analysis",), upstream=("truth",),
          description="topology analysis of the ground truth"),
    Stage("simulate", _simulate, sections=("phantom", "geometry", "simulate"),
          modules=("synthvec.forward", "synthvec.phantom", "synthvec.geometry"),
          upstream=("truth",), random=True, description="XMCD ptychography data (CXI files)"),
)


def stage_names() -> list[str]:
    return [s.name for s in STAGES]
