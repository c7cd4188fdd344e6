"""Config of the XMCD forward model and ptychography simulation.

One top-level :class:`SimulateConfig` with sub-tables ``[simulate.optics]``,
``[simulate.probe]``, ``[simulate.scan]``, ``[simulate.detector]`` and
``[simulate.errors]``. Every option the experimenter would *not* know (true
defocus error, flux error, position errors, angle errors, corrupt frames) is
marked "truth" in its doc and is written to the ``/entry_1/synthvec/truth``
group of each CXI file, never into the nominal fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..config import Section, param
from ..errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class OpticsConfig(Section):
    """Refractive index n = 1 - delta + i beta of each material at the working energy.

    Sources of the defaults (856 eV, 3 eV above the Ni L3 white line):
    SiO2 (2.2 g/cm3) and the non-resonant Ni values follow the Henke tables
    (Henke, Gullikson & Davis, At. Data Nucl. Data Tables 54, 181 (1993),
    doi:10.1006/adnd.1993.1013). The resonant Ni absorption and its magnetic
    (XMCD) part are estimates scaled from the measured Ni L3 absorption and
    dichroism of Nakajima et al., Phys. Rev. B 59, 6421 (1999),
    doi:10.1103/PhysRevB.59.6421, and the magneto-optical constants of the 3d
    metals of Kortright & Kim, Phys. Rev. B 62, 12216 (2000),
    doi:10.1103/PhysRevB.62.12216: an attenuation length of ~60 nm on the
    high-energy side of the white line and an XMCD asymmetry of ~10 %.
    Override them with measured values for quantitative work.
    """

    ni_delta: float = param(1.0e-3, doc="Ni charge delta (refractive decrement) at the energy.",
                            ge=-1.0, le=1.0)
    ni_beta: float = param(2.0e-3, doc="Ni charge beta (absorption index) at the energy.",
                           ge=0.0, le=1.0)
    ni_delta_mag: float = param(1.0e-4, doc="Ni magnetic delta: change of delta for helicity +1 "
                                "and m parallel to the beam (eq. 2, real part of the i f_m term).",
                                ge=-1.0, le=1.0)
    ni_beta_mag: float = param(2.0e-4, doc="Ni magnetic beta: change of beta for helicity +1 and "
                               "m parallel to the beam (XMCD absorption, eq. 2).", ge=-1.0, le=1.0)
    sio2_delta: float = param(5.8e-4, doc="SiO2 delta at the energy (Henke tables, 2.2 g/cm3).",
                              ge=-1.0, le=1.0)
    sio2_beta: float = param(6.6e-5, doc="SiO2 beta at the energy (Henke tables, 2.2 g/cm3).",
                             ge=0.0, le=1.0)


@dataclass(frozen=True, kw_only=True)
class ProbeConfig(Section):
    """Fresnel zone plate probe (paper: outer zone width 45 nm), defocused for overlap."""

    outer_zone_nm: float = param(45.0, doc="Zone plate outer zone width dr, nm (paper: 45); "
                                 "NA = lambda / (2 dr).", gt=0)
    diameter_um: float = param(240.0, doc="Zone plate diameter D, um; focal length "
                               "f = D dr / lambda.", gt=0)
    central_stop_fraction: float = param(0.4, doc="Central stop diameter as a fraction of D.",
                                         ge=0.0, lt=1.0)
    defocus_um: float = param(3.0, doc="Nominal distance of the sample (rotation centre) "
                              "downstream of the focus, um; sets the beam size.", ge=-1e3, le=1e3)
    defocus_error_nm: float = param(1000.0, doc="Truth: true defocus minus nominal defocus, nm "
                                    "(unknown to the experimenter).", ge=-1e5, le=1e5)
    astigmatism_rad: float = param(0.5, doc="Truth: astigmatism of the true beam, pupil-edge "
                                   "phase amplitude in rad (Zernike cos 2 phi).", ge=-10, le=10)
    n_modes: int = param(1, doc="Coherent modes of the true beam (1: fully coherent); modes are "
                         "laterally shifted copies weighted by a Gaussian source image.",
                         ge=1, le=16)
    source_sigma_nm: float = param(5.0, doc="Truth: rms size of the demagnified source, nm "
                                   "(partial coherence, with n_modes > 1).", ge=0.0)
    defocus_bin_nm: float = param(100.0, doc="Depth offsets are rounded to this bin, nm; each "
                                  "bin shares one propagated probe (pupil-edge phase error <= "
                                  "pi (bin / 2) NA^2 / lambda, 0.03 rad at the defaults).", gt=0)


@dataclass(frozen=True, kw_only=True)
class ScanConfig(Section):
    """Raster scan over the projected sample (paper: 40 nm steps)."""

    step_nm: float = param(40.0, doc="Raster step, nm (paper: 40).", gt=0)
    margin_nm: float = param(20.0, doc="Scan positions reach this far beyond the projected "
                             "sample footprint, nm.", ge=0)
    jitter_nm: float = param(2.0, doc="Rms deviation of the actual from the programmed raster, "
                             "nm; recorded by the encoders, so part of the nominal positions.",
                             ge=0)
    position_error_nm: float = param(3.0, doc="Truth: rms error of the recorded (nominal) "
                                     "positions, nm, per frame.", ge=0)


@dataclass(frozen=True, kw_only=True)
class DetectorConfig(Section):
    """Far-field pixel detector (CCD), dose and noise."""

    n_pixels: int = param(64, doc="Detector frame edge N, pixels; the object pixel is "
                          "lambda z / (N p).", ge=8, le=4096)
    pixel_um: float = param(30.0, doc="Detector pixel p, um (the distance z follows from the "
                            "object pixel).", gt=0)
    photons_per_frame: float = param(1.0e6, doc="Nominal incident photons per frame (dose).", gt=0)
    flux_error: float = param(0.1, doc="Truth: relative error of the flux the experimenter "
                              "assumes (true = nominal * (1 + flux_error)).", gt=-1.0, le=10.0)
    background_counts: float = param(0.05, doc="Mean background (stray light) counts per pixel "
                                     "and frame, Poisson.", ge=0)
    readout_noise_counts: float = param(0.5, doc="Rms Gaussian readout noise, counts.", ge=0)
    saturation_counts: float | None = param(None, doc="Full-well level, counts; pixels are "
                                            "clipped there (absent: no saturation).")
    corrupt_rate: float = param(0.005, doc="Truth: fraction of corrupt frames (detector readout "
                                "malfunction or flux drop, paper fig. S2).", ge=0.0, le=1.0)
    readout_fault_counts: float = param(50.0, doc="Offset added to the faulty rows of a "
                                        "readout-malfunction frame, counts.", ge=0)

    def check(self) -> None:
        if self.n_pixels % 2:
            raise ConfigError("n_pixels", f"must be even (got {self.n_pixels})")
        if self.saturation_counts is not None and self.saturation_counts <= 0:
            raise ConfigError("saturation_counts", f"must be > 0 (got {self.saturation_counts!r})")


@dataclass(frozen=True, kw_only=True)
class ErrorsConfig(Section):
    """Truth: per-projection misalignments (issue 4, item 1), unknown to the inversion."""

    shift_nm: float = param(5.0, doc="Truth: rms per-scan shift of the sample, nm (u and v).", ge=0)
    angle_error_deg: float = param(0.2, doc="Truth: rms error of phi and theta per tilt, "
                                   "degrees (shared by both helicities).", ge=0, le=10)


@dataclass(frozen=True, kw_only=True)
class SimulateConfig(Section):
    """Optics, probe, scan and detector of the simulated experiment."""

    energy_ev: float = param(856.0, doc="Photon energy, eV (paper: 856, just above Ni L3).", gt=0)
    oversample: int = param(2, doc="Exit waves are formed on a grid this many times finer than "
                            "the object pixel and cropped in the far field (no inverse crime).",
                            ge=1, le=4)
    propagation: Literal["projection", "multislice"] = param(
        "projection", doc="Exit waves of the frames: 'projection' (projection approximation, "
        "the probe defocused per scan position by the local depth of the tilted sample) or "
        "'multislice' (angular-spectrum propagation through slabs at their true depths; "
        "~30x slower).")
    multislice_slab_nm: float = param(10.0, doc="Slab thickness of multislice (frames and the "
                                      "projection-error report), nm.", gt=0)
    optics: OpticsConfig = param(default_factory=OpticsConfig, doc="Optical constants.")
    probe: ProbeConfig = param(default_factory=ProbeConfig, doc="Zone plate probe.")
    scan: ScanConfig = param(default_factory=ScanConfig, doc="Raster scan.")
    detector: DetectorConfig = param(default_factory=DetectorConfig, doc="Detector and noise.")
    errors: ErrorsConfig = param(default_factory=ErrorsConfig, doc="Misalignments (truth).")
