"""Ground truth: the fcc Ni-in-silica superlattice and its seeded magnetization texture.

Public API
----------
build_phantom(cfg, *, rng, supersample=1) -> xr.Dataset
build_texture(phantom, cfg, *, rng) -> (truth xr.Dataset, seeds pandas.DataFrame)
refine_truth(truth, phantom_cfg, factor) -> xr.Dataset
realised_defects(truth, seeds) -> (defects pandas.DataFrame, metrics dict)
"""

from .build import build_phantom
from .defects import realised_defects
from .config import PhantomConfig, TextureConfig
from .lattice import MATERIAL, SITE
from .texture import build_texture, refine_truth

__all__ = ["build_phantom", "realised_defects", "build_texture", "refine_truth", "PhantomConfig", "TextureConfig", "MATERIAL", "SITE"]
