"""Config of the ptychographic inversion (one frozen section, ``[ptycho]`` in a scenario)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...config import Section, param
from ...errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class PtychoConfig(Section):
    """rPIE reconstruction of each scan (Maiden, Johnson & Li, Optica 4, 736, 2017).

    The paper's chain (Methods, "Data processing and ptychographic
    reconstructions"): bad-frame removal, rPIE with probe update and a probe
    phase constraint against defocus at high tilt, optical density, helicity
    registration, Laplace background subtraction.
    """

    method: Literal["rpie", "ptylab"] = param(
        "rpie", doc="Engine, by name in the engine table: 'rpie' (synthvec's batched rPIE) or "
        "'ptylab' (PtyLab's own rPIE through invert.ptycho.peers, for method comparisons; "
        "needs pip install ptylab).")
    iterations: int = param(20, doc="Iterations (sweeps over all positions). Quick "
                            "scenario, 24 simulated scans, OD NRMSE against the truth "
                            "projection after 5/10/15/20/30/50 iterations: 0.246/0.231/0.224/"
                            "0.224/0.219/0.222 (old defaults, 100 iterations: 0.37).", gt=0)
    alpha: float = param(0.05, doc="rPIE object regularisation alpha (Maiden 2017 eq. 5): "
                         "denominator (1-alpha)|P|^2 + alpha max|P|^2. On P1 after 100 "
                         "iterations 0.05 gives NRMSE 0.015, 0.1 gives 0.0206 (as the peers).",
                         gt=0, le=1)
    beta: float = param(0.5, doc="rPIE probe regularisation beta (Maiden 2017 eq. 6): "
                        "denominator (1-beta)|O|^2 + beta max|O|^2. 0.1 diverged (Fourier "
                        "error rising from 0.009 to 0.06) on scans that lie wholly on the "
                        "sample (quick scenario, phi = 0: no free-space positions pin the "
                        "probe); 0.5 converges there (0.004) and elsewhere.", gt=0, le=1)
    object_step: float = param(1.0, doc="Step size of the object update (1 = rPIE as published).",
                               gt=0, le=2)
    probe_step: float = param(1.0, doc="Step size of the probe update (1 = rPIE as published).",
                              gt=0, le=2)
    object_momentum: float = param(
        0.0, doc="Momentum eta of the object per iteration (mPIE, Maiden, Johnson & Li 2017): "
        "v <- eta v + (O - O_prev), O <- O + eta v, restarted when the Fourier error rises; "
        "0 = plain rPIE.", ge=0, lt=1)
    probe_momentum: float = param(
        0.0, doc="Momentum of the probe, as object_momentum (iterations with probe updates).",
        ge=0, lt=1)
    probe_update: bool = param(True, doc="Refine the probe (rPIE joint object/probe update).")
    probe_update_start: int = param(2, doc="First iteration (0-based) with probe updates; "
                                    "the object settles on the nominal probe first.", ge=0)
    set_order: Literal["fixed", "random"] = param(
        "random", doc="Order of the non-overlapping update sets within an iteration: 'fixed' "
        "(colouring order) or 'random' (a fresh permutation per iteration from rng).")
    max_set_size: int = param(0, doc="Largest update set (0: as many disjoint windows as the "
                              "colouring finds; 1: the published position-by-position rPIE, "
                              "for comparison).", ge=0)
    thread_mode: Literal["fft", "split"] = param(
        "fft", doc="No effect since rPIE's sweep is compiled (kernels.py: a set's frames run "
        "in parallel, the thread count chosen per call by measurement); kept so scenario "
        "files that set it still load.")
    shared_probe: bool = param(False, doc="Helicity pair at one tilt shares one probe "
                               "(same beam; ptypy #105); used by reconstruct_shared / pipeline.")
    subpixel_positions: bool = param(False, doc="Apply the sub-pixel part of each position "
                                     "as a Fourier shift of the probe (costs ~2x per "
                                     "iteration; only used when positions are not whole pixels). "
                                     "Off by default: on the simulator's scans (3 nm rms "
                                     "position errors) it changed the OD NRMSE by < 0.005 "
                                     "at twice the time.")
    position_refinement: bool = param(False, doc="Refine each scan position by a "
                                      "Gauss-Newton step on its sub-pixel probe shift per "
                                      "iteration (mean shift removed).")
    position_refinement_start: int = param(10, doc="First iteration (0-based) of position "
                                           "refinement.", ge=0)
    position_gain: float = param(16.0, doc="Gain on the Gauss-Newton position step (the "
                                 "modulus-projection residual underestimates the step; "
                                 "tested stable to 20 on P1-like data with noise).",
                                 gt=0, le=50)
    max_position_shift_px: float = param(3.0, doc="Largest refined shift from the whole-pixel "
                                         "placement, object pixels.", gt=0)
    upsample: int = param(
        1, doc="Object grid this many times finer than the detector's pixel (super-resolved "
        "rPIE, module superres): at sub-pixel scan positions the detector's pixel cannot hold "
        "the object frequencies the data depend on (detector Nyquist plus the probe's pupil "
        "radius), and the two helicities' scans err differently. 1 = plain rPIE; at 2 a fine "
        "iteration costs ~3x a plain one with position refinement (one 88-frame scan, one "
        "thread: 0.049 vs ~0.017 s). The fine iterations (upsample_iterations) follow the plain ones "
        "(iterations), which give their start.", ge=1, le=4)
    upsample_iterations: int = param(
        20, doc="Iterations on the fine grid after the plain ones when upsample > 1 (from the "
        "plain result 20 reach what 60 reach from a flat object).", gt=0)
    object_padding_px: int = param(0, doc="Extra object pixels around the scanned field.", ge=0)
    bad_frames: Literal["off", "detect"] = param(
        "detect", doc="Drop corrupt frames found from the high-angle intensity map "
        "(paper, fig. S2) before reconstruction.")
    bad_frame_q_min: float = param(0.5, doc="High-angle region: |q| >= this fraction of the "
                                   "detector Nyquist radius.", gt=0, lt=1)
    bad_frame_threshold: float = param(7.0, doc="Flag a local maximum of the gradient magnitude "
                                       "when it exceeds median + threshold x MAD-sigma "
                                       "(quick scenario, 192 scans: 7 gives precision 0.99, "
                                       "recall 0.96; 6 gives 0.87 / 0.97).", gt=0)
    bad_frame_flux_map: bool = param(True, doc="Also score the total-intensity map (flux "
                                     "drops); the high-angle map alone is the paper's.")
    defocus_correction: Literal["auto", "off", "pupil_phase", "tilted_plane"] = param(
        "auto", doc="Defocus at high tilt (paper, fig. S3): 'pupil_phase' (the paper's probe "
        "constraint) unwraps the pupil phase each iteration and projects it on low-order "
        "polynomials; 'tilted_plane' propagates the probe to each position's depth "
        "y tan(theta) of the tilted sample plane (needs theta_deg in the data); 'auto' is "
        "'tilted_plane' when the data carry a non-zero theta_deg and the plane's largest "
        "Fresnel phase on the probe exceeds defocus_auto_phase_rad, else 'off'.")
    defocus_auto_phase_rad: float = param(
        1.0, doc="Threshold of defocus_correction='auto': pi wavelength max|y tan(theta)| "
        "q99^2 (q99: the nominal probe's 99 % spectral radius). Quick scenario at +-62 deg: "
        "<= 0.16 rad, and forcing tilted_plane there gave no gain (12 scans at |theta| >= 58: "
        "OD NRMSE 0.237 vs 0.230 off) at twice the time.", gt=0)
    probe_support: bool = param(
        True, doc="Constrain the probe's far field to the nominal probe's pupil support "
        "(a zone plate cannot make spatial frequencies beyond its aperture) after each "
        "iteration with probe updates. Noise-free quick-scenario scan (phi 0, theta -2 deg, "
        "nominal probe, 200 iterations): XMCD NRMSE 0.53 without, 0.02 with.")
    probe_support_threshold: float = param(
        0.05, doc="Pupil support of probe_support: |pupil of the nominal probe| >= this "
        "fraction of its max.", gt=0, lt=1)
    probe_support_dilate_px: int = param(
        1, doc="Dilation of that support, detector pixels.", ge=0)
    pupil_order: int = param(3, doc="Highest polynomial order kept in the pupil phase.", ge=2,
                             le=6)
    pupil_support: float = param(0.02, doc="Pupil support: |pupil| >= this fraction of its max.",
                                 gt=0, lt=1)
    register_helicity: bool = param(True, doc="Register each helicity pair (paper: the two "
                                    "projections were aligned) before mean and difference.")
    register_upsample: int = param(20, doc="Sub-pixel factor of helicity-pair registration "
                                   "(skimage phase_cross_correlation).", ge=1)
    register_max_shift_px: float = param(
        5.0, doc="Largest plausible shift between the two helicities of one tilt, pixels; a "
        "correlation peak beyond it is taken as false and the pair is left unshifted.", gt=0)
    laplace_background: bool = param(True, doc="Background by Laplace's equation inside the "
                                     "sample, exterior as boundary condition (paper, ref. 41).")
    sample_dilate_px: int = param(3, doc="Dilation of the thresholded sample mask (pixels).",
                                  ge=0)
    min_illumination: float = param(0.05, doc="Projection pixels lit below this fraction of "
                                    "the maximum illumination carry no data (set to 0).",
                                    ge=0, lt=1)
    projection_size_px: int = param(0, doc="Side of the (v, u) projection grid; 0 = derived "
                                    "as set by projection_extent.", ge=0)
    projection_extent: Literal["scan", "common"] = param(
        "scan", doc="With projection_size_px = 0: 'scan' = the smallest odd square holding "
        "every scan's probe-centre positions plus projection_margin_px (the raster covers "
        "the sample, so this crops to it; quick scenario: 89 px instead of 111; sample "
        "extent at most 83 px at phi = 120 deg, theta = 0); 'common' = "
        "the largest square common to all reconstructed fields.")
    projection_margin_px: int = param(2, doc="Margin around the scanned positions of "
                                      "projection_extent='scan', pixels (the raster already "
                                      "reaches 20-40 nm past the sample).", ge=0)

    def check(self) -> None:
        if self.upsample > 1:
            for key in ("object_momentum", "probe_momentum"):
                if getattr(self, key):
                    raise ConfigError(key, "is not supported with upsample > 1 (super-resolved "
                                      "rPIE); set it off / 0 or upsample = 1")
        if self.probe_update and self.probe_update_start >= self.iterations:
            raise ConfigError("probe_update_start", f"must be < iterations ({self.iterations}) "
                              f"when probe_update is on (got {self.probe_update_start})")
