"""Configs of the phantom (fcc Ni-in-silica superlattice) and texture stages.

The defaults are the quick scenario: a 300 nm x 300 nm x 150 nm slab with three
close-packed layers of 60 nm silica spheres (the paper's sphere size and slab
thickness, Methods "Sample preparation"), 5 nm voxels, ten seeded hedgehogs
and ten anti-hedgehogs placed with the paper's nearest-neighbour statistics
(Fig. 3 D-F) and site preference (table S1), one virtual hedgehog of each sign.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ..config import Section, param
from ..errors import ConfigError

__all__ = ["PhantomConfig", "TextureConfig"]


@dataclass(frozen=True, kw_only=True)
class PhantomConfig(Section):
    """The sample: silica spheres in close-packed layers, nickel in the interstices.

    Close-packed layers lie parallel to the slab (normal z). Layer ``k`` has
    its sphere centres on a triangular lattice of spacing ``d = diameter -
    sintering_overlap``; successive layers are ``d sqrt(2/3)`` apart and are
    centred about z = 0. Inside the slab (|z| <= thickness/2) every voxel
    whose centre is inside a sphere is silica, every other one nickel; outside
    the slab it is vacuum.
    """

    sphere_diameter_nm: float = param(60.0, doc="Mean silica sphere diameter, nm (paper: ~60-69).",
                                      gt=0)
    size_spread_rel: float = param(0.0, doc="Relative standard deviation of the sphere diameter "
                                   "(paper: < 0.05); drawn per sphere, clipped to +-3 sigma.",
                                   ge=0, le=0.2)
    stacking: Literal["fcc", "hcp", "random"] = param(
        "fcc", doc="Layer stacking: 'fcc' = ABC, 'hcp' = AB, 'random' = each layer one of the "
        "two positions that differ from the layer below (the paper's films are 'a mixture of "
        "close-packed structures').")
    sintering_overlap_nm: float = param(0.0, doc="Overlap of touching spheres, nm: the "
                                        "nearest-neighbour centre distance is diameter - overlap.",
                                        ge=0)
    position_jitter_nm: float = param(0.0, doc="Standard deviation of a random displacement of "
                                      "every sphere centre (per axis), nm. Sites keep the ideal "
                                      "lattice positions.", ge=0)
    n_layers: int = param(3, doc="Number of close-packed sphere layers, centred in the slab. The "
                          "default 3 fills the 150 nm slab with 60 nm spheres (layer spacing 49 nm; "
                          "the outer spheres are cut by 4 nm at the faces, as after the paper's "
                          "milling of the overfilled film).", ge=1, le=12)
    slab_thickness_nm: float = param(150.0, doc="Slab thickness along z, nm (paper: ~150). "
                                     "Nickel fills the slab outside the spheres; spheres that "
                                     "reach beyond the slab are cut by its faces.", gt=0)
    lateral_extent_nm: float = param(300.0, doc="Edge of the square simulated region in x and y, "
                                     "nm (reduced field of view).", gt=0)
    vacuum_margin_nm: float = param(0.0, doc="Vacuum added above and below the slab, nm.", ge=0)
    voxel_nm: float = param(5.0, doc="Reconstruction voxel edge, nm (paper: 5).", gt=0)
    supersample: int = param(2, doc="Simulation grid is this many times finer than the "
                             "reconstruction grid (avoids the inverse crime).", ge=1, le=8)
    site_scale: float = param(1.5, doc="A nickel voxel belongs to the octahedral or tetrahedral "
                              "site whose centre is nearest relative to the site radius r_s, if "
                              "that distance is <= site_scale * r_s; otherwise it is 'between' "
                              "(filaments, windows, the film outside the interstitial layers).",
                              gt=0, le=5)

    def check(self) -> None:
        d = self.sphere_diameter_nm
        if self.sintering_overlap_nm >= 0.3 * d:
            raise ConfigError("sintering_overlap_nm", f"must be < 0.3 * sphere_diameter_nm = "
                              f"{0.3 * d:g} (got {self.sintering_overlap_nm:g})")
        if self.voxel_nm >= d:
            raise ConfigError("voxel_nm", f"must be smaller than phantom.sphere_diameter_nm ({d:g}) "
                              f"(got {self.voxel_nm:g})")
        if self.lateral_extent_nm < 2 * self.voxel_nm:
            raise ConfigError("lateral_extent_nm", f"must be >= 2 * voxel_nm = {2 * self.voxel_nm:g}"
                              f" (got {self.lateral_extent_nm:g})")
        if self.slab_thickness_nm < 2 * self.voxel_nm:
            raise ConfigError("slab_thickness_nm", f"must be >= 2 * voxel_nm = {2 * self.voxel_nm:g}"
                              f" (got {self.slab_thickness_nm:g})")

    @property
    def nn_distance_nm(self) -> float:
        """Nearest-neighbour centre distance of the close-packed lattice, nm."""
        return self.sphere_diameter_nm - self.sintering_overlap_nm

    @property
    def layer_spacing_nm(self) -> float:
        """Distance between successive close-packed layers, nm (d sqrt(2/3))."""
        return self.nn_distance_nm * math.sqrt(2.0 / 3.0)


@dataclass(frozen=True, kw_only=True)
class TextureConfig(Section):
    """Seeded hedgehog / anti-hedgehog magnetization texture.

    Seeds sit at centres of lattice cubes whose eight corner voxels are nickel
    (so that the per-cube lattice charge sees them). Pairs are placed with
    distances drawn from Gumbel distributions (GEV with shape 0) of the given
    location and scale: the hedgehog-anti-hedgehog, hedgehog-hedgehog and
    anti-anti nearest-neighbour distances of the paper's Fig. 3 D-F (mu = 18.3,
    36.1, 43.1 nm) are the defaults. Virtual seeds sit at sphere centres, their
    zero inside the silica.
    """

    n_hedgehogs: int = param(10, doc="Number of seeded hedgehogs (charge +1) in the nickel.", ge=0,
                             le=10000)
    n_antihedgehogs: int = param(10, doc="Number of seeded anti-hedgehogs (charge -1).", ge=0,
                                 le=10000)
    n_virtual_hedgehogs: int = param(1, doc="Virtual hedgehogs: +1 seeds at void (sphere) "
                                     "centres, zero inside the silica.", ge=0, le=1000)
    n_virtual_antihedgehogs: int = param(1, doc="Virtual anti-hedgehogs: -1 seeds at void "
                                         "centres.", ge=0, le=1000)
    site_weights: tuple[float, float, float] = param(
        (0.65, 0.2, 0.15), doc="Relative preference for (octahedral, tetrahedral, between) seed "
        "sites (paper table S1: 90 of 138 defects octahedral).", ge=0)
    ha_distance_nm: tuple[float, float] = param(
        (18.3, 3.0), doc="Hedgehog to anti-hedgehog pair distance: Gumbel (location, scale), nm "
        "(paper Fig. 3D: mu = 18.3 nm).", gt=0)
    hh_distance_nm: tuple[float, float] = param(
        (36.1, 4.0), doc="Hedgehog to nearest hedgehog distance: Gumbel (location, scale), nm "
        "(paper Fig. 3E: mu = 36.1 nm).", gt=0)
    aa_distance_nm: tuple[float, float] = param(
        (43.1, 4.0), doc="Anti-hedgehog to nearest anti-hedgehog distance: Gumbel (location, "
        "scale), nm (paper Fig. 3F: mu = 43.1 nm).", gt=0)
    min_separation_nm: float = param(10.0, doc="No two seeds closer than this, nm (>= 2 voxels "
                                     "keeps their lattice cubes apart).", gt=0)
    edge_margin_nm: float = param(10.0, doc="Seeds keep at least this distance from the faces of "
                                  "the volume, nm.", ge=0)
    seeds_nm: tuple[tuple[float, float, float, float], ...] = param(
        (), doc="Explicit seeds (x_nm, y_nm, z_nm, charge +1/-1); when given they replace the "
        "random placement and counts. A seed in silica is virtual. Positions snap to the "
        "nearest lattice-cube centre.")
    background_direction: tuple[float, float, float] = param(
        (1.0, 0.0, 0.0), doc="Magnetization far from the defects (x, y, z), normalised; "
        "in-plane by default (thin-film shape anisotropy).")
    random_helicity: bool = param(True, doc="Rotate each defect pair's texture about its axis by "
                                  "a random angle (Bloch- to Neel-like hedgehogs).")
    relax_iterations: int = param(300, doc="Exchange-only projected-gradient relaxation steps on "
                                  "|m| = 1 in the nickel, seed cores pinned.", ge=0, le=100000)
    relax_step: float = param(0.15, doc="Relaxation step (fraction of the discrete Laplacian; "
                              "stable for <= 1/6).", gt=0, le=1.0 / 6.0)

    def check(self) -> None:
        if sum(self.site_weights) <= 0:
            raise ConfigError("site_weights", f"must have a positive sum (got {self.site_weights})")
        b = self.background_direction
        if math.fsum(v * v for v in b) < 1e-12:
            raise ConfigError("background_direction", f"must be a nonzero vector (got {b})")
        for i, s in enumerate(self.seeds_nm):
            if s[3] not in (1.0, -1.0):
                raise ConfigError(f"seeds_nm[{i}][3]", f"charge must be +1 or -1 (got {s[3]:g})")
