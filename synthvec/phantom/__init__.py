"""Ground truth: the fcc Ni-in-silica superlattice and its seeded magnetization texture.

Public API (the pipeline's calls)
---------------------------------
``build_phantom(cfg: PhantomConfig, *, rng, supersample=1) -> xr.Dataset``
    ``material``, ``site``, ``void_id`` on the grid of voxel
    ``cfg.voxel_nm / supersample``, the sphere table (``sphere_centre_nm``,
    ``sphere_radius_nm``) and the interstitial site table
    (``site_centre_nm``, ``site_kind``, ``site_radius_nm``).
``build_texture(phantom, cfg: TextureConfig, *, rng) -> (truth, seeds)``
    The truth Dataset (``m``, ``mask`` + everything of the phantom) and the
    seeds table (x_nm, y_nm, z_nm, charge, site, kind, void_id).
``refine_truth(truth, phantom_cfg, factor) -> xr.Dataset``
    The truth on a grid ``factor`` times finer, labels exact from the
    sphere geometry, ``m`` interpolated (for the simulator).
``realised_defects(truth, seeds) -> (defects, metrics)``
    Lattice defects of the truth matched to the seeds; metrics
    ``truth_seeds_realised``, ``truth_seeds_lost``,
    ``truth_unseeded_defects``, ...

Modules: ``lattice`` (sphere packing, sites, labels), ``build`` (phantom
Dataset), ``seeds`` (placement), ``field`` (string construction,
relaxation), ``voids`` (void-surface degree guard), ``texture`` (the stage),
``defects`` (realised defects).
"""

from .build import build_phantom
from .config import PhantomConfig, TextureConfig
from .defects import realised_defects
from .lattice import MATERIAL, SITE
from .texture import build_texture, refine_truth

__all__ = ["build_phantom", "build_texture", "refine_truth", "realised_defects", "PhantomConfig",
           "TextureConfig", "MATERIAL", "SITE"]
