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
    from ..forward import projection_error_report, simulate_experiment
    from ..io import read_netcdf
    from ..phantom import refine_truth

    scn = ctx.scenario
    truth = read_netcdf(ctx.inputs["truth"] / "truth.nc")
    fine = refine_truth(truth, scn.phantom, scn.phantom.supersample)
    index = simulate_experiment(fine, scn.geometry, scn.simulate, ctx.out / "cxi", rng=ctx.rng,
                                recon_voxel_nm=scn.phantom.voxel_nm)
    index.to_csv(ctx.out / "scans.csv", index=False)
    # How far the projection approximation (what the inversion assumes) is from multislice.
    approx = projection_error_report(fine, scn.geometry, scn.simulate,
                                     recon_voxel_nm=scn.phantom.voxel_nm)
    errs = [(f"simulate_projection_approx_{k}", float(v), "1") for k, v in approx.items()
            if k.endswith("deg")]
    return errs + [("simulate_n_scans", float(len(index)), "1"),
            ("simulate_n_frames", float(index["n_frames"].sum()), "1"),
            ("simulate_n_corrupt", float(index["n_corrupt"].sum()), "1")]


def _ptycho_job(datas, cfg, rng):
    """One Dask task: a scan, or a helicity pair sharing one probe."""
    from ..invert.ptycho import reconstruct, reconstruct_shared

    if len(datas) == 1:
        return [reconstruct(datas[0], cfg, rng=rng)]
    return reconstruct_shared(datas, cfg, rng=rng)


def _ptycho(ctx: StageContext) -> list[Metric]:
    """rPIE on every scan (Dask tasks), then OD, registration, background -> projection set.

    Reads only the CXI files (their nominal geometry and probe), never truth.
    """
    import dask
    import numpy as np
    import pandas as pd

    from ..invert.ptycho import projection_set, read_cxi
    from ..io import write_netcdf
    from ..threads import n_threads

    cfg = ctx.scenario.ptycho
    files = sorted((ctx.inputs["simulate"] / "cxi").glob("*.cxi"))
    datas = [read_cxi(f) for f in files]
    if cfg.shared_probe:  # one probe per helicity pair at one tilt
        groups: dict[tuple, list[int]] = {}
        for i, d in enumerate(datas):
            groups.setdefault((round(d.phi_deg or 0.0, 6), round(d.theta_deg or 0.0, 6)), []).append(i)
        jobs = list(groups.values())
    else:
        jobs = [[i] for i in range(len(datas))]
    rngs = ctx.rng.spawn(len(jobs))
    tasks = [dask.delayed(_ptycho_job)([datas[i] for i in idx], cfg, r) for idx, r in zip(jobs, rngs)]
    done = dask.compute(*tasks, scheduler="threads", num_workers=n_threads())
    results = [None] * len(datas)
    for idx, res in zip(jobs, done):
        for i, r in zip(idx, res):
            results[i] = r
    proj = projection_set(results, phi_deg=[d.phi_deg for d in datas],
                          theta_deg=[d.theta_deg for d in datas],
                          helicity=[d.helicity for d in datas], cfg=cfg)
    write_netcdf(proj, ctx.out / "projections.nc", attrs=ctx.attrs(cfg.method))
    table = pd.DataFrame({
        "file": [f.name for f in files], "phi_deg": [d.phi_deg for d in datas],
        "theta_deg": [d.theta_deg for d in datas], "helicity": [d.helicity for d in datas],
        "n_frames": [len(d.frames) for d in datas],
        "dropped_frames": [" ".join(map(str, r.dropped_frames)) for r in results],
        "final_error": [float(r.error[-1]) for r in results],
        "seconds_per_iteration": [r.seconds_per_iteration for r in results]})
    table.to_csv(ctx.out / "scans.csv", index=False)
    np.save(ctx.out / "errors.npy", np.stack([r.error for r in results]))
    return [("ptycho_seconds_per_iteration_mean", float(table.seconds_per_iteration.mean()), "s"),
            ("ptycho_final_error_median", float(table.final_error.median()), "1"),
            ("ptycho_frames_dropped", float(sum(len(r.dropped_frames) for r in results)), "1")]


def _cube_px(proj, phantom) -> int:
    """Cube side >= the detector with the parity of the sample's nominal (centred) voxel grid.

    Reconstruction voxels then coincide with the nominal sample grid instead of
    sitting half a voxel off it (on the odd cube of an odd detector, voxel
    centres fell on the truth's cube centres, where hedgehog cores sit: the truth
    itself resampled there kept 8 of 20 defects).
    """
    n = max(proj.sizes["u"], proj.sizes["v"])
    n_grid = round(phantom.lateral_extent_nm / phantom.voxel_nm)
    return n + (n - n_grid) % 2


def _tomo(ctx: StageContext) -> list[Metric]:
    """RESIRE on the helicity sums, plus the two half-set reconstructions for FSC."""
    from ..invert.tomo import halfset_reconstructions, reconstruct_scalar
    from ..io import read_netcdf, write_netcdf

    cfg = ctx.scenario.tomo
    proj = read_netcdf(ctx.inputs["ptycho"] / "projections.nc")
    cube = _cube_px(proj, ctx.scenario.phantom)
    scalar = reconstruct_scalar(proj, cfg, cube_px=cube)
    write_netcdf(scalar, ctx.out / "density.nc", attrs=ctx.attrs(cfg.method))
    half_a, half_b = halfset_reconstructions(proj, cfg, cube_px=cube)
    write_netcdf(half_a, ctx.out / "halfset_a.nc", attrs=ctx.attrs(cfg.method))
    write_netcdf(half_b, ctx.out / "halfset_b.nc", attrs=ctx.attrs(cfg.method))
    return [("tomo_r1_final", float(scalar["r1"].values[-1]), "1")]


def _vector(ctx: StageContext) -> list[Metric]:
    """Vector tomography of the helicity differences, reusing the scalar alignment."""
    from ..invert.tomo import reconstruct_vector
    from ..io import read_netcdf, write_netcdf

    cfg = ctx.scenario.vector
    proj = read_netcdf(ctx.inputs["ptycho"] / "projections.nc")
    scalar = read_netcdf(ctx.inputs["tomo"] / "density.nc")
    vec = reconstruct_vector(proj, cfg, alignment=scalar)
    out = vec.assign(density=scalar["density"])
    write_netcdf(out, ctx.out / "reconstruction.nc", attrs=ctx.attrs(cfg.method))
    return [("vector_r1_final", float(vec["r1"].values[-1]), "1")]


def _analysis(ctx: StageContext) -> list[Metric]:
    """Topology analysis of the reconstruction (no truth: voids from its own mask)."""
    from ..analysis import analyze_field, write_analysis
    from ..io import read_netcdf
    from ..scoring.frame import reconstruction_material

    rec = read_netcdf(ctx.inputs["vector"] / "reconstruction.nc")
    field = rec[["m", "mask"]].assign(
        material=(("z", "y", "x"), reconstruction_material(rec["mask"].values)))
    field.attrs["voxel_nm"] = float(rec["x"].values[1] - rec["x"].values[0])
    res = analyze_field(field, ctx.scenario.analysis,
                        sphere_radius_nm=ctx.scenario.phantom.sphere_diameter_nm / 2)
    write_analysis(res, ctx.out, figures=True)
    return [("rec_n_hedgehogs", float((res.hedgehogs["charge"] > 0).sum()), "1"),
            ("rec_n_antihedgehogs", float((res.hedgehogs["charge"] < 0).sum()), "1")]


def _read_analysis(folder, voxel_nm: float):
    """An AnalysisResult rebuilt from the tables an analysis stage wrote (what scoring needs)."""
    import pandas as pd

    from ..analysis import AnalysisResult

    def table(name):
        path = folder / name
        return pd.read_csv(path) if path.exists() and path.stat().st_size > 1 else None

    site = table("site_table.csv")
    return AnalysisResult(
        hedgehogs=table("hedgehogs.csv"), pairs=table("pairs.csv"), gev=table("gev.csv"),
        virtual_hedgehogs=table("virtual_hedgehogs.csv"),
        site_table=site.set_index(site.columns[0]) if site is not None else None,
        skipped=table("skipped_candidates.csv"), voxel_nm=voxel_nm)


def _score(ctx: StageContext) -> list[Metric]:
    """Every figure of the reconstruction against ground truth (the only stage that sees both)."""
    import numpy as np
    import pandas as pd

    from ..invert.ptycho import detection_scores
    from ..io import read_netcdf
    from ..scoring import score
    from ..scoring.frame import assign_true_voids, register_to_truth

    truth = read_netcdf(ctx.inputs["truth"] / "truth.nc")
    rec = read_netcdf(ctx.inputs["vector"] / "reconstruction.nc")
    rec, shift_nm = register_to_truth(rec, truth)
    voxel = ctx.scenario.phantom.voxel_nm
    truth_res = _read_analysis(ctx.inputs["truth_analysis"], voxel)
    rec_res = _read_analysis(ctx.inputs["analysis"], voxel)
    # the reconstruction's defects and voids, moved into the truth frame
    for col, s in zip(("z_nm", "y_nm", "x_nm"), shift_nm):
        rec_res.hedgehogs[col] = rec_res.hedgehogs[col] + s
        if rec_res.virtual_hedgehogs is not None:
            rec_res.virtual_hedgehogs[col] = rec_res.virtual_hedgehogs[col] + s
    rec_res.virtual_hedgehogs = assign_true_voids(rec_res.virtual_hedgehogs, truth)
    halves = [read_netcdf(ctx.inputs["tomo"] / f"halfset_{h}.nc")["density"].values
              for h in ("a", "b")]
    optics = ctx.scenario.simulate.optics
    beta = np.select([truth["material"].values == 2, truth["material"].values == 1],
                     [optics.ni_beta, optics.sio2_beta], 0.0)
    rec_density = rec["density"].interp(z=truth["z"], y=truth["y"], x=truth["x"]).fillna(0.0)
    table = score(truth, truth_res, rec, rec_res, ctx.scenario.score, halfsets=halves,
                  scalars=(beta, rec_density.values))
    table.to_csv(ctx.out / "score.csv", index=False)
    _score_figures(ctx, truth_res, rec_res, halves, voxel)
    rows = [(r.metric, float(r.value), r.unit) for r in table.itertuples()]
    rows += _ceiling_rows(ctx, truth, truth_res, rec, voxel)
    rows += [(f"registration_shift_{d}_nm", float(s), "nm") for d, s in zip("zyx", shift_nm)]
    # bad-frame detection against the simulator's truth list
    sim = pd.read_csv(ctx.inputs["simulate"] / "scans.csv")
    pty = pd.read_csv(ctx.inputs["ptycho"] / "scans.csv", dtype={"dropped_frames": str}).fillna(
        {"dropped_frames": ""})
    truth_bad = _corrupt_frames(ctx.inputs["simulate"], sim)
    tp = n_det = n_true = 0
    for r in pty.itertuples():
        det = np.array([int(x) for x in str(r.dropped_frames).split()], int)
        tru = truth_bad.get(r.file, np.zeros(0, int))
        sc = detection_scores(det, tru)
        tp += sc["true_positives"]
        n_det += len(det)
        n_true += len(tru)
    rows.append(("bad_frame_precision", tp / n_det if n_det else float("nan"), "1"))
    rows.append(("bad_frame_recall", tp / n_true if n_true else float("nan"), "1"))
    return rows


def _ceiling_rows(ctx: StageContext, truth, truth_res, rec, voxel: float) -> list[Metric]:
    """What an ideal reconstruction on the registered grid would score (scoring.ceiling)."""
    from ..phantom import refine_truth
    from ..scoring.ceiling import CEILING_METRICS, ceiling_scores, ideal_reconstruction

    scn = ctx.scenario
    fine = refine_truth(truth, scn.phantom, scn.phantom.supersample)
    ideal = ideal_reconstruction(fine, rec, ni_beta=scn.simulate.optics.ni_beta,
                                 sio2_beta=scn.simulate.optics.sio2_beta,
                                 support_fraction=scn.vector.support_fraction)
    vals = ceiling_scores(ideal, truth, truth_res, scn.analysis,
                          max_distance_nm=scn.score.match_distance_vox * voxel,
                          sphere_radius_nm=scn.phantom.sphere_diameter_nm / 2)
    return [(k, float(vals[k]), CEILING_METRICS[k]) for k in CEILING_METRICS]


def _score_figures(ctx: StageContext, truth_res, rec_res, halves, voxel: float) -> None:
    """Matched / unmatched defect map and the half-set FSC curve (table and figure)."""
    from ..analysis import fsc
    from ..scoring import match_defects
    from ..scoring.plots import fsc_plot, match_map

    matches = match_defects(truth_res.hedgehogs, rec_res.hedgehogs,
                            max_distance_nm=ctx.scenario.score.match_distance_vox * voxel)
    match_map(truth_res.hedgehogs, rec_res.hedgehogs, matches, ctx.out / "defect_matches.png")
    curve = fsc(halves[0], halves[1], voxel_nm=voxel)
    curve.to_csv(ctx.out / "fsc_halfset.csv", index=False)
    fsc_plot({"half sets (scalar)": curve}, ctx.out / "fsc_halfset.png")


def _corrupt_frames(sim_dir, index) -> dict:
    """File name -> indices of the frames the simulator corrupted (its truth group)."""
    import h5py
    import numpy as np

    out = {}
    for f in sorted((sim_dir / "cxi").glob("*.cxi")):
        with h5py.File(f, "r") as h5:
            grp = h5.get("entry_1/synthvec/truth")
            out[f.name] = (np.asarray(grp["corrupt_frames"][()], int)
                           if grp is not None and "corrupt_frames" in grp else np.zeros(0, int))
    return out


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
    Stage("ptycho", _ptycho, sections=("ptycho",), modules=("synthvec.invert.ptycho",),
          upstream=("simulate",), random=True, publish=("projections.nc",),
          description="rPIE per scan, OD, helicity registration, Laplace background"),
    Stage("tomo", _tomo, sections=("tomo", "phantom.lateral_extent_nm", "phantom.voxel_nm"),
          modules=("synthvec.invert.tomo",), upstream=("ptycho",), description="RESIRE scalar tomography and half-set reconstructions"),
    Stage("vector", _vector, sections=("vector",), modules=("synthvec.invert.tomo",),
          upstream=("ptycho", "tomo"), publish=("reconstruction.nc",),
          description="vector tomography of the helicity differences"),
    Stage("analysis", _analysis, sections=("analysis", "phantom.sphere_diameter_nm"),
          modules=("synthvec.analysis", "synthvec.scoring"), upstream=("vector",),
          description="topology analysis of the reconstruction"),
    Stage("score", _score, sections=("score", "simulate.optics", "phantom", "analysis",
                                     "vector.support_fraction"),
          modules=("synthvec.scoring", "synthvec.analysis", "synthvec.invert.ptycho",
                   "synthvec.phantom"),
          upstream=("truth", "truth_analysis", "simulate", "ptycho", "tomo", "vector", "analysis"),
          publish=("score.csv",), description="the reconstruction against ground truth"),
)


def stage_names() -> list[str]:
    return [s.name for s in STAGES]
