"""Defocus at high tilt: tilted-plane probe propagation and the pupil-phase constraint."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from synthvec.errors import InputError
from synthvec.invert.ptycho import PtychoConfig, reconstruct
from synthvec.invert.ptycho.probe import defocus_probe, pupil_phase_constraint

from .test_ptycho_synth import dataset, make_probe, nrmse

THETA_DEG = 62.0


def _propagate(probe, dz_nm, pixel_nm, wl_nm):
    """Independent angular-spectrum propagation (exact square root, not paraxial)."""
    n = probe.shape[0]
    q = np.fft.fftfreq(n, d=pixel_nm)
    q2 = q[:, None] ** 2 + q[None, :] ** 2
    kz = 2 * np.pi * (np.sqrt(1 / wl_nm ** 2 - q2) - 1 / wl_nm)
    return np.fft.ifft2(np.fft.fft2(probe) * np.exp(1j * kz * dz_nm))


def tilted_scan(seed=0):
    """A flat sample tilted by THETA about x: position j sees the probe at depth y_j tan(theta)."""
    data, obj, probe, corners = dataset(seed=seed, n_obj=96, n_pr=32, n_scan=17, step=4,
                                        noise=False)
    rng = np.random.default_rng(seed + 50)
    wl = data.wavelength_nm
    frames = np.empty_like(data.frames)
    for j, (r, c) in enumerate(corners):
        dz = data.positions_px[j, 0] * data.pixel_nm * np.tan(np.deg2rad(THETA_DEG))
        pj = _propagate(probe, dz, data.pixel_nm, wl)
        psi = pj * obj[r:r + 32, c:c + 32]
        frames[j] = rng.poisson(np.fft.fftshift(np.abs(np.fft.fft2(psi, norm="ortho")) ** 2))
    return dataclasses.replace(data, frames=frames, theta_deg=THETA_DEG), obj


def test_tilted_plane_beats_single_probe_at_high_tilt():
    data, obj = tilted_scan()
    cfg = PtychoConfig(iterations=40, bad_frames="off", defocus_correction="off")
    plain = reconstruct(data, cfg)
    tilted = reconstruct(data, dataclasses.replace(cfg, defocus_correction="tilted_plane"))
    interior = slice(24, 72)
    e_plain = nrmse(plain.object, obj, interior, "complex")
    e_tilted = nrmse(tilted.object, obj, interior, "complex")
    assert e_tilted < 0.05
    assert e_tilted < 0.6 * e_plain


def test_tilted_plane_needs_theta():
    data, _ = tilted_scan()
    with pytest.raises(InputError, match="theta_deg"):
        reconstruct(dataclasses.replace(data, theta_deg=None),
                    PtychoConfig(iterations=3, defocus_correction="tilted_plane",
                                 bad_frames="off"))


def test_pupil_phase_constraint_keeps_a_defocused_probe():
    """A pure (polynomial) defocus is inside the constraint set: the probe is unchanged."""
    probe = make_probe(64, radius=12.0, stop=4.0, defocus_rad=0.0)
    p = defocus_probe(probe, dz_nm=400.0, pixel_nm=5.0, wavelength_nm=1.448)
    out = pupil_phase_constraint(p, order=3)
    np.testing.assert_allclose(out, p, atol=1e-3 * np.abs(p).max())


def test_pupil_phase_constraint_removes_rough_phase():
    """Random high-order pupil phase is projected out, a defocus kept."""
    probe = make_probe(64, radius=12.0, stop=4.0, defocus_rad=0.0)
    target = defocus_probe(probe, dz_nm=300.0, pixel_nm=5.0, wavelength_nm=1.448)
    pup = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(target)))
    rough = np.exp(0.4j * np.random.default_rng(0).standard_normal(pup.shape))
    noisy = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(pup * rough)))
    out = pupil_phase_constraint(noisy, order=3)

    def err(p):
        c = np.vdot(p, target)
        return np.linalg.norm(np.exp(1j * np.angle(c)) * p - target) / np.linalg.norm(target)

    assert err(out) < 0.5 * err(noisy)


def test_auto_defocus_resolves_from_theta():
    """'auto' = tilted_plane when the data carry a non-zero theta_deg and the plane's
    Fresnel phase on the probe is large, else off."""
    from synthvec.invert.ptycho import defocus_mode, defocus_phase_rad

    data, _ = tilted_scan()
    cfg = PtychoConfig()
    assert cfg.defocus_correction == "auto"
    # independent estimate: pupil edge radius 7 px of 32 (make_probe), depth y tan(theta)
    q_edge = 7 / (32 * data.pixel_nm)
    dz = np.abs(data.positions_px[:, 0]).max() * data.pixel_nm * np.tan(np.deg2rad(THETA_DEG))
    expected = np.pi * data.wavelength_nm * dz * q_edge ** 2
    assert 0.7 * expected < defocus_phase_rad(data) < 1.3 * expected
    assert defocus_mode(cfg, data) == "tilted_plane"
    lenient = dataclasses.replace(cfg, defocus_auto_phase_rad=2 * defocus_phase_rad(data))
    assert defocus_mode(lenient, data) == "off"
    assert defocus_mode(cfg, dataclasses.replace(data, theta_deg=None)) == "off"
    assert defocus_mode(cfg, dataclasses.replace(data, theta_deg=0.0)) == "off"
    off = dataclasses.replace(cfg, defocus_correction="off")
    assert defocus_mode(off, data) == "off"
    # and auto reconstructs exactly as tilted_plane on tilted data
    short = dataclasses.replace(cfg, iterations=3, bad_frames="off")
    a = reconstruct(data, short)
    t = reconstruct(data, dataclasses.replace(short, defocus_correction="tilted_plane"))
    np.testing.assert_array_equal(a.object, t.object)
