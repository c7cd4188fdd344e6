"""Texture stage: seeded, relaxed magnetization on the phantom (the ground truth)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError
from .config import PhantomConfig, TextureConfig
from .build import label_like, site_table
from .field import pair_seeds, pin_cores, relax_exchange, string_field
from .lattice import MATERIAL, SITE_NAMES, label_points
from .seeds import candidate_cubes, place_seeds, virtual_seeds
from .voids import VoidDegrees

__all__ = ["build_texture", "refine_truth", "SEED_COLUMNS"]

SEED_COLUMNS = ["x_nm", "y_nm", "z_nm", "charge", "site", "kind", "void_id"]
_REQUIRED = ("material", "site", "void_id", "sphere_centre_nm", "sphere_radius_nm")


def _check_phantom(ds: xr.Dataset, what: str) -> None:
    for name in _REQUIRED:
        if name not in ds:
            raise InputError(f"{what}: variable '{name}' is missing (needs the phantom contract: "
                             f"{', '.join(_REQUIRED)})")
    for c in ("z", "y", "x"):
        if c not in ds.coords:
            raise InputError(f"{what}: coordinate '{c}' (nm) is missing")


def _snap(pos: np.ndarray, axes: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Cube indices (k, j, i) of the cubes whose centres are nearest to ``pos`` (x, y, z)."""
    out = []
    for col, ax in ((2, axes[0]), (1, axes[1]), (0, axes[2])):
        v = ax[1] - ax[0]
        out.append(np.clip(np.floor((pos[:, col] - ax[0]) / v), 0, len(ax) - 2).astype(np.int64))
    return np.stack(out, axis=1)


def build_texture(phantom: xr.Dataset, cfg: TextureConfig, *, rng: np.random.Generator
                  ) -> tuple[xr.Dataset, pd.DataFrame]:
    """Seed hedgehogs and anti-hedgehogs in the nickel and relax the texture.

    Parameters
    ----------
    phantom : xarray.Dataset
        Output of :func:`synthvec.phantom.build_phantom` (reconstruction grid).
    cfg : TextureConfig
    rng : numpy.random.Generator, keyword-only
        Draws the seed positions and helicities.

    Returns
    -------
    truth : xarray.Dataset
        ``m`` (comp, z, y, x) float32, |m| = 1 in nickel and 0 elsewhere;
        ``mask`` (z, y, x) bool (nickel); ``material``, ``site``, ``void_id``
        and the sphere and site tables of ``phantom``. Attrs: ``voxel_nm``,
        ``background_direction``, ``n_core_repairs``.
    seeds : pandas.DataFrame
        One row per seed: ``x_nm, y_nm, z_nm`` (real seeds at lattice-cube
        centres, virtual ones at void centres), ``charge`` (+1/-1), ``site``
        (octahedral / tetrahedral / between / void), ``kind`` (real /
        virtual), ``void_id`` (sphere index of a virtual seed, else -1).
    """
    _check_phantom(phantom, "phantom")
    z, y, x = (np.asarray(phantom[c].values, dtype=np.float64) for c in ("z", "y", "x"))
    axes = (z, y, x)
    voxel = float(phantom.attrs.get("voxel_nm", x[1] - x[0]))
    material = phantom["material"].values
    mask = material == MATERIAL["nickel"]
    centres = np.asarray(phantom["sphere_centre_nm"].values, dtype=np.float64).reshape(-1, 3)
    radii = np.asarray(phantom["sphere_radius_nm"].values, dtype=np.float64).reshape(-1)
    spos, skind, srad = site_table(phantom)
    scale = float(phantom.attrs.get("site_scale", 1.5))
    half = np.array([x[-1] + voxel / 2, y[-1] + voxel / 2, z[-1] + voxel / 2])
    slab_half = _slab_half(material, z, voxel)
    kk, jj, ii = np.nonzero(mask)
    pts = np.column_stack([x[ii], y[jj], z[kk]])

    from ..analysis.charges import lattice_charge

    cube_ok = _full_cubes(mask)
    failed: list[np.ndarray] = []
    expected = np.zeros(cube_ok.shape)

    closed = np.flatnonzero(np.all(np.abs(centres) + radii[:, None]
                                   <= np.array([half[0], half[1], slab_half]), axis=1))
    void_deg = VoidDegrees(mask, axes, centres[closed], radii[closed], offset_nm=voxel / 2)
    void_vox = np.column_stack([(centres[closed, 2] - z[0]) / voxel, (centres[closed, 1] - y[0])
                                / voxel, (centres[closed, 0] - x[0]) / voxel]) - 0.5
    void_expected = np.zeros(len(closed))

    def same_defects(field: np.ndarray) -> bool:
        q = np.where(cube_ok, lattice_charge(field), 0)
        vq = void_deg(field)
        if np.array_equal(q, expected) and np.array_equal(vq, void_expected):
            return True
        failed.append(np.concatenate([np.argwhere(q != expected).astype(np.float64),
                                      void_vox[vq != void_expected]]))
        return False

    bvec = np.asarray(cfg.background_direction, dtype=np.float64)
    bvec /= np.linalg.norm(bvec)
    attempts = 1 if cfg.seeds_nm else MAX_PLACEMENT_ATTEMPTS
    for attempt in range(1, attempts + 1):
        if cfg.seeds_nm:
            r_pos, r_q, r_idx, v_pos, v_q, v_sph = _explicit_seeds(phantom, cfg, axes, mask, half)
        else:
            cidx, ccen = candidate_cubes(material, axes, cfg.edge_margin_nm)
            csite = label_points(ccen, site_pos=spos, site_kind=skind, site_radius=srad,
                                 site_scale=scale)
            chosen, r_q = place_seeds(ccen, csite, cfg, voxel_nm=voxel, rng=rng)
            r_pos, r_idx = ccen[chosen], cidx[chosen]
            v_sph, v_q = virtual_seeds(centres, radii, cfg.n_virtual_hedgehogs,
                                       cfg.n_virtual_antihedgehogs,
                                       half_extent_nm=(half[0], half[1], slab_half), rng=rng)
            v_pos = centres[v_sph]
        all_pos = np.concatenate([r_pos, v_pos]).reshape(-1, 3)
        all_q = np.concatenate([r_q, v_q]).astype(np.int8)
        # real seeds pair among themselves, virtual ones among themselves (virtual_seeds chose
        # their voids so that each pair's string crosses an octahedral hole); a seed left over
        # pairs with its image beyond the nearer slab face
        rm, rp = pair_seeds(r_pos.reshape(-1, 3), r_q, slab_half_nm=slab_half)
        vm, vp = pair_seeds(v_pos.reshape(-1, 3), v_q, slab_half_nm=slab_half)
        s_minus, s_plus = np.concatenate([rm, vm]), np.concatenate([rp, vp])
        wrap = np.concatenate([np.ones(len(rm)), np.full(len(vm), VIRTUAL_WRAP_SCALE)])
        hel = (rng.uniform(0, 2 * np.pi, len(s_minus)) if cfg.random_helicity
               else np.zeros(len(s_minus)))
        m = np.zeros((3,) + mask.shape)
        if len(s_minus):
            m[:, kk, jj, ii] = string_field(pts, s_minus, s_plus, bvec, hel,
                                            min_width_nm=4 * voxel, screen_nm=1.5 * voxel,
                                            envelope=True, max_sigma_nm=6 * voxel,
                                            scale=wrap).T
        else:
            m[:, kk, jj, ii] = bvec[:, None]
        pinned, repaired = pin_cores(m, r_idx, r_q, lattice_charge)
        expected[...] = 0
        if len(r_idx):
            expected[r_idx[:, 0], r_idx[:, 1], r_idx[:, 2]] = r_q
        # a closed void's degree: its virtual seed plus any real seed inside the test surface
        void_expected[:] = 0
        for n, sph in enumerate(closed):
            void_expected[n] = v_q[v_sph == sph].sum() + r_q[
                np.linalg.norm(r_pos - centres[sph], axis=1) < radii[sph] + voxel / 2].sum()
        initial_ok = same_defects(m)
        if initial_ok:
            break
    if not initial_ok:
        # explicit seeds (or every draw) the lattice cannot resolve: keep at least what the
        # construction gave, so that relaxation never adds defects (the metrics report the rest)
        expected[...] = np.where(cube_ok, lattice_charge(m), 0)
        void_expected[:] = void_deg(m)
    # pinned objects: real cores (already set by pin_cores) and virtual voids' nickel shells
    # (other closed voids join, pinned, if exchange moves a virtual charge onto them)
    v_vox = np.column_stack([(v_pos[:, 2] - z[0]) / voxel, (v_pos[:, 1] - y[0]) / voxel,
                             (v_pos[:, 0] - x[0]) / voxel]) if len(v_pos) else np.zeros((0, 3))
    v_base = (radii[v_sph] + np.linalg.norm(v_pos - centres[v_sph], axis=1)) / voxel + 1.0 \
        if len(v_pos) else np.zeros(0)
    others = np.setdiff1d(closed, v_sph)
    o_base = radii[others] / voxel + 1.0
    obj_c = np.concatenate([r_idx.astype(np.float64).reshape(-1, 3) + 0.5, v_vox,
                            void_vox[np.isin(closed, others)] + 0.5])
    obj_r = np.concatenate([np.full(len(r_idx), np.sqrt(3.0) / 2), v_base, o_base])
    active = np.arange(len(obj_c)) < len(r_idx) + len(v_pos)
    pinned |= _pin_balls(mask, v_vox, v_base)
    m, done, growth = _relax_adaptive(m, mask, pinned, obj_c, obj_r, active, cfg,
                                      same_defects, failed)
    truth = phantom.copy()
    truth["m"] = (("comp", "z", "y", "x"), m.astype(np.float32))
    truth = truth.assign_coords(comp=["x", "y", "z"])
    truth["mask"] = (("z", "y", "x"), mask)
    truth.attrs.update({"voxel_nm": voxel, "background_direction": bvec.tolist(),
                        "n_core_repairs": int(repaired), "relax_iterations_done": int(done),
                        "max_core_growth_vox": float(growth.max()) if len(growth) else 0.0,
                        "initial_field_exact": int(initial_ok),
                        "placement_attempts": int(attempt),
                        "n_pinned_voids": int(active[len(r_idx):].sum())})

    r_site = label_points(r_pos, site_pos=spos, site_kind=skind, site_radius=srad,
                          site_scale=scale) if len(r_pos) else np.zeros(0, dtype=np.int8)
    seeds = pd.DataFrame({
        "x_nm": all_pos[:, 0], "y_nm": all_pos[:, 1], "z_nm": all_pos[:, 2],
        "charge": all_q.astype(np.int64),
        "site": [SITE_NAMES[int(s)] for s in r_site] + ["void"] * len(v_pos),
        "kind": ["real"] * len(r_pos) + ["virtual"] * len(v_pos),
        "void_id": np.concatenate([np.full(len(r_pos), -1), v_sph]).astype(np.int64)},
        columns=SEED_COLUMNS)
    return truth, seeds


MAX_CORE_GROWTH_VOX = 3.0
MAX_PLACEMENT_ATTEMPTS = 8
#: Mobius scaling of a virtual pair's stereographic coordinate: the void surface then wraps the
#: sphere of directions in a small cap where the string leaves it (through nickel), and stays near
#: the background elsewhere, including at the contacts with neighbouring spheres, where the
#: surface is open; so the open-surface charge is close to +-1 (paper: |Q| >= 0.9 counts).
VIRTUAL_WRAP_SCALE = 0.18


def _explicit_seeds(phantom, cfg, axes, mask, half):
    """Seeds from ``cfg.seeds_nm``: real ones snapped to cube centres, virtual ones in silica."""
    z, y, x = axes
    voxel = float(x[1] - x[0])
    arr = np.asarray(cfg.seeds_nm, dtype=np.float64)
    pos, charge = arr[:, :3], arr[:, 3].astype(np.int8)
    inside = np.all(np.abs(pos) <= half, axis=1)
    if not inside.all():
        bad = int(np.flatnonzero(~inside)[0])
        raise InputError(f"texture.seeds_nm[{bad}]: position {tuple(pos[bad])} nm is outside "
                         f"the volume (|x|,|y|,|z| <= {tuple(np.round(half, 3))})")
    idx = _snap(pos, axes)
    corners_ni = np.array([mask[k:k + 2, j:j + 2, i:i + 2].all() for k, j, i in idx])
    cube_c = np.column_stack([x[idx[:, 2]] + voxel / 2, y[idx[:, 1]] + voxel / 2,
                              z[idx[:, 0]] + voxel / 2])
    in_vox = _voxel_of(pos, axes)
    vid = phantom["void_id"].values[in_vox[:, 0], in_vox[:, 1], in_vox[:, 2]]
    virtual = ~corners_ni & (vid >= 0)
    real = ~virtual
    if (real & ~corners_ni).any():
        bad = int(np.flatnonzero(real & ~corners_ni)[0])
        raise InputError(f"texture.seeds_nm[{bad}]: the lattice cube at {tuple(pos[bad])} nm "
                         f"is not entirely nickel (and the point is not in silica)")
    return (cube_c[real], charge[real], idx[real], pos[virtual], charge[virtual],
            vid[virtual].astype(np.int64))


def _pin_balls(mask: np.ndarray, centres: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Magnetic voxels within ``radius`` (voxels) of ``centres`` ((n, 3) in (k, j, i) voxel units)."""
    pinned = np.zeros(mask.shape, dtype=bool)
    for c, r in zip(centres, radius):
        lo = np.maximum(np.floor(c - r).astype(int), 0)
        hi = np.minimum(np.ceil(c + r).astype(int) + 1, mask.shape)
        if np.any(hi <= lo):
            continue
        sub = np.indices(tuple(hi - lo)).reshape(3, -1).T + lo
        sub = sub[np.linalg.norm(sub - c, axis=1) <= r + 1e-9]
        pinned[sub[:, 0], sub[:, 1], sub[:, 2]] = True
    return pinned & mask


def _relax_adaptive(m, mask, pinned, centres, base, active, cfg, check, failed):
    """Relax with the seeded cores pinned, widening a core whenever a defect nucleates next to it.

    ``centres`` ((n, 3), voxel units (k, j, i)) and ``base`` (n,) radii
    describe the pinned objects: the 2 x 2 x 2 core of every real seed
    (radius sqrt(3)/2) and the nickel shell one voxel deep around every
    virtual seed's void (without it exchange unwinds the virtual hedgehog
    through the contact points of the spheres, where the void surface is
    open), plus, inactive until needed, the shells of the other closed voids.
    Pure exchange favours screening a pinned core by a lattice-scale defect
    of opposite sign nucleated beside it (the pair then unwinds), and a
    virtual charge by an opposite one on a touching void. When the check sees
    an unseeded defect or a changed void charge, the field goes back to the
    last good state, the object nearest to each offence is pinned (if it was
    not) or grows by one voxel, and relaxation resumes. It ends after ``cfg.relax_iterations``
    kept steps or when an object would grow by more than
    ``MAX_CORE_GROWTH_VOX``.

    Returns the field, the kept steps and the growth of each object (voxels).
    """
    growth = np.zeros(len(centres))
    remaining, total = cfg.relax_iterations, 0
    while remaining > 0:
        failed.clear()
        m, done = relax_exchange(m, mask, pinned, iterations=remaining, step=cfg.relax_step,
                                 check=check)
        total += done
        remaining -= done
        if not failed or remaining <= 0 or not len(centres):
            break
        bad = failed[-1] + 0.5
        d = np.linalg.norm(bad[:, None, :] - centres[None, :, :], axis=2) - (base + growth)[None]
        near = np.unique(np.argmin(d, axis=1))
        growth[near[active[near]]] += 1.0
        active[near] = True
        if growth.max() > MAX_CORE_GROWTH_VOX:
            break
        pinned = _pin_balls(mask, centres[active], (base + growth)[active])
    return m, total, growth


def _full_cubes(mask: np.ndarray) -> np.ndarray:
    """(Z-1, Y-1, X-1) bool: cubes whose eight corners are all in ``mask``."""
    ok = np.ones(tuple(n - 1 for n in mask.shape), dtype=bool)
    for dk in (0, 1):
        for dj in (0, 1):
            for di in (0, 1):
                ok &= mask[dk:dk + ok.shape[0], dj:dj + ok.shape[1], di:di + ok.shape[2]]
    return ok


def _lerp_axis(a: np.ndarray, t: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation of ``a`` along ``axis`` at fractional indices ``t`` (clamped)."""
    n = a.shape[axis]
    t = np.clip(t, 0.0, n - 1.0)
    i0 = np.minimum(np.floor(t).astype(np.int64), max(n - 2, 0))
    i1 = np.minimum(i0 + 1, n - 1)
    w = t - i0
    shape = [1] * a.ndim
    shape[axis] = len(t)
    w = w.reshape(shape)
    return np.take(a, i0, axis=axis) * (1.0 - w) + np.take(a, i1, axis=axis) * w


def _voxel_of(pos: np.ndarray, axes) -> np.ndarray:
    out = []
    for col, ax in ((2, axes[0]), (1, axes[1]), (0, axes[2])):
        v = ax[1] - ax[0]
        out.append(np.clip(np.rint((pos[:, col] - ax[0]) / v), 0, len(ax) - 1).astype(np.int64))
    return np.stack(out, axis=1)


def _slab_half(material: np.ndarray, z: np.ndarray, voxel: float) -> float:
    """Half thickness of the slab (outermost non-vacuum voxel plane + half a voxel), nm."""
    filled = np.flatnonzero((material > 0).any(axis=(1, 2)))
    if len(filled) == 0:
        return float(z[-1] + voxel / 2)
    return float(max(abs(z[filled[0]]), abs(z[filled[-1]])) + voxel / 2)


def refine_truth(truth: xr.Dataset, phantom_cfg: PhantomConfig, factor: int) -> xr.Dataset:
    """The truth on a grid ``factor`` times finer, for the simulator (no inverse crime).

    Labels (``material``, ``site``, ``void_id``, ``mask``) are sampled exactly
    from the sphere geometry at the fine voxel centres; ``m`` is the coarse
    field, first extended from every nickel voxel into its non-nickel
    neighbourhood (nearest nickel value), then trilinearly interpolated,
    renormalised inside the fine nickel and set to 0 elsewhere.

    Parameters
    ----------
    truth : xarray.Dataset
        Output of :func:`build_texture` on the reconstruction grid of ``phantom_cfg``.
    phantom_cfg : PhantomConfig
        The config the phantom was built with (grid and site rule).
    factor : int
        Refinement (1 returns a copy).

    Returns
    -------
    xarray.Dataset
        Same variables as ``truth`` on the fine grid (voxel ``voxel_nm / factor``).
    """
    from scipy import ndimage

    _check_phantom(truth, "truth")
    if "m" not in truth:
        raise InputError("truth: variable 'm' (comp, z, y, x) is missing")
    if factor < 1:
        raise InputError(f"refine_truth: factor must be >= 1 (got {factor})")
    fine = label_like(truth, phantom_cfg, factor)
    zc, yc, xc = (np.asarray(truth[c].values, dtype=np.float64) for c in ("z", "y", "x"))
    zf, yf, xf = (np.asarray(fine[c].values, dtype=np.float64) for c in ("z", "y", "x"))
    if (len(zf), len(yf), len(xf)) != (len(zc) * factor, len(yc) * factor, len(xc) * factor) \
            or not np.isclose(xf[-1] - xf[0] + (xf[1] - xf[0] if len(xf) > 1 else 0),
                              xc[-1] - xc[0] + (xc[1] - xc[0] if len(xc) > 1 else 0)):
        raise InputError("refine_truth: truth grid does not match phantom config "
                         f"(truth {truth['m'].shape[1:]}, config grid {fine['material'].shape} at "
                         f"factor {factor})")
    m = np.asarray(truth["m"].values, dtype=np.float64)
    cmask = np.asarray(truth["mask"].values, dtype=bool) if "mask" in truth else \
        np.linalg.norm(m, axis=0) > 0
    if cmask.any() and not cmask.all():
        _, ind = ndimage.distance_transform_edt(~cmask, return_indices=True)
        m = m[:, ind[0], ind[1], ind[2]]
    vc = xc[1] - xc[0]
    out = m
    for axis, (ax_f, ax_c) in enumerate(((zf, zc), (yf, yc), (xf, xc)), start=1):
        out = _lerp_axis(out, (ax_f - ax_c[0]) / vc, axis)
    fmask = fine["material"].values == MATERIAL["nickel"]
    norm = np.sqrt(np.einsum("c...,c...->...", out, out))
    ok = fmask & (norm > 1e-12)
    out = np.where(ok, out / np.where(norm > 1e-12, norm, 1.0), 0.0)
    fine["m"] = (("comp", "z", "y", "x"), out.astype(np.float32))
    fine = fine.assign_coords(comp=["x", "y", "z"])
    fine["mask"] = (("z", "y", "x"), ok)
    for key in ("background_direction",):
        if key in truth.attrs:
            fine.attrs[key] = truth.attrs[key]
    return fine
