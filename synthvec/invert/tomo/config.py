"""Configs of scalar (RESIRE) and vector tomography."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...config import Section, param
from ...errors import ConfigError


def _check_solver(cfg: "TomoConfig | VectorConfig") -> None:
    """Rules shared by the scalar and vector solvers."""
    if cfg.interp_order not in (1, 3, 5):
        raise ConfigError("interp_order", f"must be 1, 3 or 5 (got {cfg.interp_order})")
    if cfg.acceleration == "nesterov" and cfg.step > 1.0:
        raise ConfigError("step", f"must be <= 1 with Nesterov acceleration (got {cfg.step:g})")


@dataclass(frozen=True, kw_only=True)
class TomoConfig(Section):
    """Scalar tomography of the helicity sums (RESIRE, Pham et al., arXiv:2004.10445)."""

    method: Literal["resire"] = param("resire", doc="Scalar method, by name in the method table.")
    iterations: int = param(100, doc="RESIRE iterations (Methods, scalar tomography).", gt=0)
    step: float = param(1.0, doc="Normalised step t: the update is O <- O - t/(N n) sum_i "
                        "P_i^T (P_i O - b_i), N projections, n voxels along the beam (RESIRE). "
                        "Converges for t < 2 without acceleration, t <= 1 with Nesterov.",
                        gt=0.0, lt=2.0)
    acceleration: Literal["nesterov", "none"] = param(
        "nesterov", doc="'none' is the paper's plain gradient step; 'nesterov' adds Nesterov "
        "momentum (FISTA-style), same fixed point, about 2x fewer iterations.")
    positivity: bool = param(True, doc="Clip the density at zero after every step (RESIRE).")
    tv_weight: float = param(2.5e-4, doc="Weight of a smoothed total-variation term that fills "
                             "the missing cone (0 = the paper's plain RESIRE). Dimensionless: "
                             "mu = tv_weight * N n * a, a = 99.9th percentile of the density "
                             "read off the iterate after min(10, iterations/2) iterations (T1 "
                             "seeds 0-4 NRMSE after 100 it: <= 0.058 with 2.5e-4, up to 0.098 "
                             "with 0).", ge=0.0, le=0.01)
    tv_smoothing: float = param(0.01, doc="Smoothing eps of the TV term as a fraction of the "
                                "density amplitude a (sqrt(|grad|^2 + eps^2)); the step shrinks "
                                "by 1 + 12 tv_weight / tv_smoothing, its Lipschitz bound.",
                                gt=0.0, le=1.0)
    projector: Literal["real", "fourier"] = param(
        "real", doc="'real': separable real-space projector with exact adjoint (fast); "
        "'fourier': the paper's pair, Fourier-slice forward and linear-interpolation back "
        "projection.")
    interp_order: int = param(3, doc="Interpolation of the real-space projector (in-plane "
                              "rotation and across rays): 1 linear, 3 Keys cubic, 5 Lanczos-3 "
                              "(T1 seed 0, plain RESIRE, NRMSE after 100 it: 0.069 with 3, "
                              "0.067 with 5 at 1.5x the cost).",
                              ge=1, le=5)
    oversampling: float = param(2.0, doc="Zero-padding factor of the Fourier-slice forward "
                                "projection (paper: oversampled 3D FFT).", ge=1.0, le=4.0)
    align: bool = param(True, doc="Pre-align before RESIRE: cross-correlation, centre of mass, "
                        "common lines within and across series (Methods).")
    center_of_mass: bool = param(True, doc="Use centre-of-mass alignment (needs an object "
                                 "inside the field of view).")
    register_series: Literal["off", "translation", "rigid"] = param(
        "off", doc="Also register the separate reconstructions of each tilt series to the "
        "first before RESIRE (the paper's transformation matrices): 3D translation, or "
        "translation and rotation about z ('rigid'; the rotation is rough, biased by the "
        "series' different missing wedges, and best combined with refine_angles).")
    refine_every: int = param(10, doc="Spatial (shift) refinement by projection matching every "
                              "this many iterations; 0 disables.", ge=0)
    refine_angles: bool = param(False, doc="Angular refinement of phi and theta per projection "
                                "at each refinement step.")
    refine_until: float = param(0.8, doc="Fraction of the iterations after which refinement "
                                "stops (the last iterations polish at fixed alignment).",
                                gt=0.0, le=1.0)
    max_shift_px: float = param(8.0, doc="Largest shift correction per refinement, pixels.",
                                gt=0.0)
    angle_delta_deg: float = param(0.5, doc="Probe step of the angular refinement, degrees.",
                                   gt=0.0, le=5.0)
    precision: Literal["float32", "float64"] = param("float32", doc="Arithmetic precision.")

    def check(self) -> None:
        _check_solver(self)


@dataclass(frozen=True, kw_only=True)
class VectorConfig(Section):
    """Vector tomography of the helicity differences (eq. 3-6, gradient descent)."""

    method: Literal["gd"] = param("gd", doc="Vector method, by name in the method table.")
    iterations: int = param(100, doc="Gradient-descent iterations (eq. 6).", gt=0)
    step: float = param(1.0, doc="Normalised step t of eq. 6: t/(N n) with N projections and n "
                        "voxels along the beam.", gt=0.0, lt=2.0)
    acceleration: Literal["nesterov", "none"] = param(
        "nesterov", doc="'none' is eq. 6 as written; 'nesterov' adds momentum.")
    regularization: float = param(0.0, doc="Weight of an optional smoothness (Tikhonov "
                                  "gradient) term; 0 = off, as in the paper.", ge=0.0)
    tv_weight: float = param(0.0, doc="Weight of an optional vectorial total-variation term "
                             "sum sqrt(sum_c |grad m_c|^2 + eps^2), the three components "
                             "coupled (0 = off, the paper's plain eq. 6). Dimensionless as "
                             "TomoConfig.tv_weight: mu = tv_weight * N n * a, a = 99.9th "
                             "percentile of |m| in the support, read off the iterate after "
                             "min(10, iterations/2) iterations. Quick scenario at 1e8 photons/frame: median "
                             "angle of m 30 deg with 0, 15 with 1e-3, 4.9 with 4e-3; hedgehog F1 "
                             "(analysis smoothing 0.5) 0.04, 0.38, 0.09: above ~1e-3 the cores "
                             "are smoothed away.", ge=0.0, le=0.1)
    tv_smoothing: float = param(0.01, doc="As TomoConfig.tv_smoothing (a = the amplitude of "
                                "|m|).", gt=0.0, le=1.0)
    projector: Literal["real", "fourier"] = param("real", doc="As TomoConfig.projector.")
    interp_order: int = param(3, doc="As TomoConfig.interp_order.", ge=1, le=5)
    oversampling: float = param(2.0, doc="As TomoConfig.oversampling.", ge=1.0, le=4.0)
    support_fraction: float = param(
        0.2, doc="When no support is given but a scalar density is: magnetic support = "
        "density > this fraction of its 99.5th percentile; 0 = whole volume.", ge=0.0, lt=1.0)
    precision: Literal["float32", "float64"] = param("float32", doc="Arithmetic precision.")

    def check(self) -> None:
        _check_solver(self)
