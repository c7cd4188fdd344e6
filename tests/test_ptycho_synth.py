"""Small P1-like ptychography data made inside the tests (no truth files, no simulator).

Helpers shared by the ptycho tests, plus checks that they follow the P1
convention (frames DC-centred, |FFT_ortho(P O)|^2, positions of the probe
centre relative to the object-array centre N // 2).
"""

from __future__ import annotations

import numpy as np

from synthvec.invert.ptycho import PtychoData


def smooth_field(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    w = rng.standard_normal((n, n))
    f = np.fft.fftfreq(n)
    g = np.exp(-2.0 * (np.pi * sigma) ** 2 * (f[:, None] ** 2 + f[None, :] ** 2))
    s = np.real(np.fft.ifft2(np.fft.fft2(w) * g))
    return (s - s.min()) / (s.max() - s.min())


def make_object(rng: np.random.Generator, n: int = 64, sigma: float = 2.5) -> np.ndarray:
    amp = 0.6 + 0.4 * smooth_field(rng, n, sigma)
    pha = -1.0 + 2.0 * smooth_field(rng, n, sigma)
    return amp * np.exp(1j * pha)


def make_probe(n: int = 32, radius: float = 7.0, stop: float = 2.0, defocus_rad: float = 0.5,
               photons: float = 1e6) -> np.ndarray:
    c = np.arange(n) - n // 2
    r = np.hypot(*np.meshgrid(c, c, indexing="ij"))
    pupil = ((r <= radius) & (r >= stop)).astype(complex)
    pupil *= np.exp(1j * defocus_rad * (r / radius) ** 2)
    probe = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(pupil)))
    return probe * np.sqrt(photons / np.sum(np.abs(probe) ** 2))


def raster_corners(rng: np.random.Generator, n_obj: int, n_pr: int, n_scan: int, step: int,
                   jitter: int = 1) -> np.ndarray:
    base = np.arange(n_scan) * step
    yy, xx = np.meshgrid(base, base, indexing="ij")
    pos = np.stack([yy.ravel(), xx.ravel()], axis=1)
    pos = pos + rng.integers(-jitter, jitter + 1, size=pos.shape)
    return np.clip(pos, 0, n_obj - n_pr).astype(np.int64)


def diffraction(obj: np.ndarray, probe: np.ndarray, corners: np.ndarray,
                rng: np.random.Generator | None = None) -> np.ndarray:
    """DC-centred |FFT_ortho(P O)|^2, Poisson-noisy when ``rng`` is given."""
    n = probe.shape[0]
    patches = np.stack([obj[r:r + n, c:c + n] for r, c in corners])
    clean = np.fft.fftshift(np.abs(np.fft.fft2(probe[None] * patches, norm="ortho")) ** 2,
                            axes=(-2, -1))
    return (rng.poisson(clean) if rng is not None else clean).astype(np.float32)


def dataset(*, seed: int = 0, n_obj: int = 64, n_pr: int = 32, n_scan: int = 9, step: int = 4,
            noise: bool = True, probe: np.ndarray | None = None, nominal: np.ndarray | None = None,
            pixel_nm: float = 5.0, obj: np.ndarray | None = None):
    """A scan in the P1 convention: returns (PtychoData, true object, true probe, corners)."""
    rng = np.random.default_rng(seed)
    obj = make_object(rng, n_obj) if obj is None else obj
    probe = make_probe(n_pr) if probe is None else probe
    corners = raster_corners(rng, n_obj, n_pr, n_scan, step)
    frames = diffraction(obj, probe, corners, rng if noise else None)
    centres = corners + n_pr // 2 - n_obj // 2
    data = PtychoData(frames=frames, positions_px=centres.astype(float),
                      probe=(probe if nominal is None else nominal).astype(np.complex64),
                      pixel_nm=pixel_nm, energy_ev=856.0)
    return data, obj, probe, corners


def nrmse(rec: np.ndarray, true: np.ndarray, interior: slice, mode: str = "phase") -> float:
    """P1's score: after removing a global phase ('phase') or complex scale ('complex')."""
    r = np.asarray(rec)[interior, interior].astype(np.complex128)
    t = np.asarray(true)[interior, interior].astype(np.complex128)
    c = np.vdot(r, t)
    g = np.exp(1j * np.angle(c)) if mode == "phase" else c / np.vdot(r, r)
    return float(np.sqrt(np.sum(np.abs(g * r - t) ** 2) / np.sum(np.abs(t) ** 2)))


def test_frames_follow_p1_convention():
    """A single point scatterer at the window centre gives a flat |FFT|^2 around DC."""
    obj = np.zeros((64, 64), complex)
    obj[32, 32] = 1.0
    probe = np.ones((32, 32), complex)
    frames = diffraction(obj, probe, np.array([[16, 16]]))
    np.testing.assert_allclose(frames[0], 1.0 / 1024, rtol=1e-5)
    # a plane wave: all intensity at the DC pixel, stored at the centre (fftshift)
    frames = diffraction(np.ones((64, 64), complex), probe, np.array([[0, 0]]))
    assert np.unravel_index(np.argmax(frames[0]), frames[0].shape) == (16, 16)
    np.testing.assert_allclose(frames[0].sum(), 1024, rtol=1e-5)


def test_positions_are_centres_relative_to_array_centre():
    data, obj, probe, corners = dataset(n_scan=3, step=8, noise=False)
    np.testing.assert_array_equal(data.positions_px, corners + 16 - 32)
