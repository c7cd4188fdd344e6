"""Configs of the phantom (fcc Ni-in-silica superlattice) and texture stages."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Section, param


@dataclass(frozen=True, kw_only=True)
class PhantomConfig(Section):
    """The sample: silica spheres in close-packed layers, nickel in the interstices."""

    sphere_diameter_nm: float = param(60.0, doc="Silica sphere diameter, nm (paper: ~60-69).", gt=0)
    voxel_nm: float = param(5.0, doc="Reconstruction voxel edge, nm (paper: 5).", gt=0)


@dataclass(frozen=True, kw_only=True)
class TextureConfig(Section):
    """Seeded hedgehog / anti-hedgehog magnetization texture."""

    n_hedgehogs: int = param(4, doc="Number of seeded hedgehogs (charge +1).", ge=0)
    n_antihedgehogs: int = param(4, doc="Number of seeded anti-hedgehogs (charge -1).", ge=0)
