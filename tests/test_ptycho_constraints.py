"""Pupil-support probe constraint and epoch momentum (mPIE) of the rPIE engine."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from synthvec.errors import ConfigError
from synthvec.invert.ptycho import PtychoConfig, reconstruct
from synthvec.invert.ptycho.probe import pupil, pupil_support_constraint, pupil_support_mask

from .test_ptycho_synth import dataset, make_probe, nrmse

INTERIOR = slice(16, 48)


def _radius(n: int) -> np.ndarray:
    c = np.arange(n) - n // 2
    return np.hypot(*np.meshgrid(c, c, indexing="ij"))


def _outside_fraction(probe: np.ndarray, mask: np.ndarray) -> float:
    p = np.abs(pupil(probe.astype(np.complex128))) ** 2
    return float(p[~mask].sum() / p.sum())


def test_support_mask_is_the_zone_plate_aperture():
    """make_probe's pupil is the annulus 2 <= r <= 7 px: the mask is the filled disc (+ dilation)."""
    r = _radius(32)
    for dilate in (0, 1, 2):
        mask = pupil_support_mask(make_probe(32, radius=7.0, stop=2.0), dilate_px=dilate)
        assert mask[r <= 7.0].all()                     # the central stop is filled
        assert not mask[r > 7.0 + dilate + 1.0].any()


def test_support_constraint_is_a_projection():
    rng = np.random.default_rng(3)
    probe = make_probe(32)
    mask = pupil_support_mask(probe, dilate_px=1)
    # a probe the optic can make is left alone
    np.testing.assert_allclose(pupil_support_constraint(probe, mask), probe,
                               atol=1e-5 * np.abs(probe).max())
    # idempotent on anything
    x = (rng.standard_normal((32, 32)) + 1j * rng.standard_normal((32, 32))).astype(np.complex64)
    once = pupil_support_constraint(x, mask)
    np.testing.assert_allclose(pupil_support_constraint(once, mask), once, atol=1e-5)
    # a raster-period ripple (4 px step: frequency 8 px from DC, outside the 7 px pupil) is removed
    yy, xx = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    ripple = 0.3 * np.abs(probe).max() * np.cos(2 * np.pi * xx / 4) * np.cos(2 * np.pi * yy / 4)
    cleaned = pupil_support_constraint(probe + ripple, mask)
    assert np.linalg.norm(cleaned - probe) < 1e-3 * np.linalg.norm(ripple)


def test_probe_support_keeps_the_recovered_probe_inside_the_pupil():
    """Strict raster (the pathology's home), nominal = true probe, probe update from the start:
    without the constraint the probe drifts outside the pupil; with it, none, and the object is
    no worse."""
    data, obj, probe, _ = dataset(noise=False, n_scan=9, step=4)
    mask = pupil_support_mask(probe, dilate_px=1)
    cfg = PtychoConfig(iterations=40, bad_frames="off", probe_update_start=0)
    free = reconstruct(data, dataclasses.replace(cfg, probe_support=False))
    held = reconstruct(data, cfg)
    assert _outside_fraction(free.probe, mask) > 1e-5
    assert _outside_fraction(held.probe, mask) < 1e-9
    assert (nrmse(held.object, obj, INTERIOR, "complex")
            <= nrmse(free.object, obj, INTERIOR, "complex") + 1e-3)


def test_momentum_speeds_up_convergence_noise_free():
    data, obj, _, _ = dataset(noise=False)
    cfg = PtychoConfig(iterations=15, probe_update=False, bad_frames="off")
    plain = reconstruct(data, cfg)
    fast = reconstruct(data, dataclasses.replace(cfg, object_momentum=0.7))
    e_plain = nrmse(plain.object, obj, INTERIOR)
    e_fast = nrmse(fast.object, obj, INTERIOR)
    assert e_fast < 0.5 * e_plain
    assert fast.error[-1] < plain.error[-1]


def test_momentum_with_probe_update_still_recovers_the_object():
    data, obj, _, _ = dataset(noise=True)
    res = reconstruct(data, PtychoConfig(iterations=40, bad_frames="off", object_momentum=0.7,
                                         probe_momentum=0.5))
    assert nrmse(res.object, obj, INTERIOR, "complex") < 0.06
    assert np.all(np.isfinite(res.error))


@pytest.mark.parametrize("field,value", [("object_momentum", 1.0), ("probe_momentum", -0.1),
                                         ("probe_support_threshold", 0.0),
                                         ("probe_support_dilate_px", -1)])
def test_config_ranges(field, value):
    with pytest.raises(ConfigError, match=field):
        PtychoConfig(**{field: value})
