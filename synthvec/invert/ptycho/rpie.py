"""rPIE (Maiden, Johnson & Li, Optica 4, 736, 2017, doi:10.1364/OPTICA.4.000736), batched.

Update order and why it is exact
--------------------------------
Published rPIE visits positions one at a time. For position j with exit wave
``psi = P O_j`` and its modulus-projected ``psi'``:

    O_j <- O_j + conj(P) (psi' - psi) / ((1 - alpha)|P|^2 + alpha max|P|^2)
    P   <- P   + conj(O_j) (psi' - psi) / ((1 - beta)|O_j|^2 + beta max|O_j|^2)

Here the positions are split once into *update sets* whose probe windows are
mutually disjoint (greedy colouring of the window-overlap graph). A set is
processed together: one batched FFT, one batched inverse FFT, one object
update. Because the windows of a set share no object pixel, the object update
of a set is *identical* to visiting its positions one after another; only the
probe update differs: a set contributes one probe step with the sums over its
members,

    P <- P + sum_k conj(O_k) dpsi_k / ((1 - beta) S + beta max S),  S = sum_k |O_k|^2,

which is the published update when the set has one member. Within an
iteration the sets run in a fresh random order (``set_order='random'``,
default) or in colouring order (``'fixed'``). Consecutive sets in colouring
order are neighbours shifted by one scan step, i.e. a raster sweep, which
is known to imprint a slow raster drift on the probe/object ambiguity;
the random order converges as fast per iteration and without that drift
(see ``bench/bench_rpie.py``). The probe is updated once per set, so a
sweep makes ~(window / step)^2 probe steps instead of one per position; on
P1 that costs nothing measurable in NRMSE (bench).

Positions are rounded to whole object pixels (sub-pixel residuals are not
modelled). The error of an iteration is computed from the same FFTs:
by Parseval (orthonormal FFT), ``||psi' - psi||^2 = sum (|Psi| - sqrt I)^2``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
from numpy.lib.stride_tricks import as_strided

from ...threads import n_threads
from .config import PtychoConfig

__all__ = ["update_sets", "ObjectGrid", "object_grid", "rpie"]


def update_sets(corners: np.ndarray, window: tuple[int, int]) -> list[np.ndarray]:
    """Split positions into sets whose probe windows are mutually disjoint.

    Parameters
    ----------
    corners : (n, 2) int
        Top-left (row, col) of each probe window in the object array.
    window : (H, W)

    Returns
    -------
    list of (k,) int64 index arrays covering ``range(n)`` once each (greedy
    colouring in scan order: each position gets the first set it fits).
    """
    corners = np.asarray(corners, dtype=np.int64)
    n = len(corners)
    d = np.abs(corners[:, None, :] - corners[None, :, :])
    conflict = (d[..., 0] < window[0]) & (d[..., 1] < window[1])
    colour = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        used = np.zeros(n + 1, dtype=bool)
        used[colour[conflict[i] & (colour >= 0)]] = True
        colour[i] = int(np.argmin(used))
    return [np.nonzero(colour == c)[0] for c in range(colour.max() + 1)]


@dataclass(frozen=True)
class ObjectGrid:
    """Object array geometry: shape and the index of the translation origin."""

    shape: tuple[int, int]
    origin: tuple[int, int]
    corners: np.ndarray  # (n, 2) int64 top-left of each window

    def coords_nm(self, pixel_nm: float) -> tuple[np.ndarray, np.ndarray]:
        """(x_nm over columns, y_nm over rows) relative to the translation origin."""
        y = (np.arange(self.shape[0]) - self.origin[0]) * pixel_nm
        x = (np.arange(self.shape[1]) - self.origin[1]) * pixel_nm
        return x, y


def object_grid(positions_px: np.ndarray, window: tuple[int, int], pad: int = 0) -> ObjectGrid:
    """Smallest even, origin-centred object array holding every probe window.

    The origin sits at index ``N // 2`` on each axis (as in P1), so the array
    is symmetric about the translation origin.
    """
    pos = np.rint(np.asarray(positions_px, dtype=float)).astype(np.int64)
    shape, origin = [], []
    for ax in (0, 1):
        h = window[ax]
        half = max(h // 2 - pos[:, ax].min(), pos[:, ax].max() + h - h // 2, h // 2 + 1) + pad
        shape.append(2 * int(half))
        origin.append(int(half))
    corners = pos - np.array([window[0] // 2, window[1] // 2]) + np.array(origin)
    return ObjectGrid(shape=(shape[0], shape[1]), origin=(origin[0], origin[1]), corners=corners)


@dataclass
class _Scan:
    """One scan prepared for the sweep: per-set amplitudes and window corners."""

    obj: np.ndarray          # (Ny, Nx) complex64, updated in place
    view: np.ndarray         # (Ny-H+1, Nx-W+1, H, W) strided windows of obj
    amps: list[np.ndarray]   # per set (k, H, W) float32 sqrt(I), FFT order
    rows: list[np.ndarray]
    cols: list[np.ndarray]
    norm: float              # sum of intensities (error normalization)


def prepare_scan(frames: np.ndarray, grid: ObjectGrid, obj: np.ndarray) -> _Scan:
    """Arrange one scan's amplitudes by update set (DC moved to the corner once)."""
    h, w = frames.shape[1:]
    amp = np.sqrt(np.maximum(np.fft.ifftshift(frames, axes=(-2, -1)), 0)).astype(np.float32)
    sets = update_sets(grid.corners, (h, w))
    view = as_strided(obj, shape=(obj.shape[0] - h + 1, obj.shape[1] - w + 1, h, w),
                      strides=obj.strides * 2)
    return _Scan(obj=obj, view=view, amps=[np.ascontiguousarray(amp[s]) for s in sets],
                 rows=[grid.corners[s, 0] for s in sets], cols=[grid.corners[s, 1] for s in sets],
                 norm=float(np.sum(amp.astype(np.float64) ** 2)) or 1.0)


def _object_weight(probe: np.ndarray, alpha: float, step: float) -> np.ndarray:
    a2 = probe.real ** 2 + probe.imag ** 2
    return (step * np.conj(probe) / ((1 - alpha) * a2 + alpha * a2.max())).astype(np.complex64)


def rpie(scans: list[_Scan], probe: np.ndarray, cfg: PtychoConfig, *,
         rng: np.random.Generator, probe_constraint=None) -> tuple[np.ndarray, np.ndarray, float]:
    """Run ``cfg.iterations`` of batched rPIE on one or more scans sharing one probe.

    Parameters
    ----------
    scans : list of prepared scans (their objects are updated in place)
    probe : (H, W) complex64 initial probe (copied)
    probe_constraint : callable (H, W) complex64 -> same, optional
        Applied to the probe after each iteration with probe updates
        (the defocus constraint).

    Returns
    -------
    probe : (H, W) complex64
    error : (iterations, len(scans)) float64
    seconds_per_iteration : float
    """
    workers = n_threads()
    P = np.array(probe, dtype=np.complex64, copy=True)
    h, w = P.shape
    kmax = max(len(a) for s in scans for a in s.amps)
    psi_b = np.empty((kmax, h, w), np.complex64)
    mag_b = np.empty((kmax, h, w), np.float32)
    a, b = cfg.alpha, cfg.beta
    errors = np.zeros((cfg.iterations, len(scans)))
    order = [(i, j) for j in range(max(len(s.amps) for s in scans))
             for i, s in enumerate(scans) if j < len(s.amps)]
    t0 = time.perf_counter()
    for it in range(cfg.iterations):
        upd_probe = cfg.probe_update and it >= cfg.probe_update_start
        if cfg.set_order == "random":
            perms = [rng.permutation(len(s.amps)) for s in scans]
            sched = [(i, perms[i][j]) for i, j in order]
        else:
            sched = order
        wO = _object_weight(P, a, cfg.object_step)
        err = errors[it]
        for i, s in sched:
            sc = scans[i]
            am = sc.amps[s]
            k = len(am)
            psi, mag = psi_b[:k], mag_b[:k]
            r, c = sc.rows[s], sc.cols[s]
            op = sc.view[r, c]                       # gather (copy)
            np.multiply(op, P, out=psi)
            Psi = sfft.fft2(psi, norm="ortho", workers=workers)
            np.abs(Psi, out=mag)
            np.maximum(mag, 1e-30, out=mag)
            np.divide(am, mag, out=mag)
            Psi *= mag                               # modulus projection
            d = sfft.ifft2(Psi, norm="ortho", workers=workers, overwrite_x=True)
            d -= psi                                 # psi' - psi
            err[i] += np.vdot(d, d).real
            np.multiply(d, wO, out=psi)
            psi += op
            sc.view[r, c] = psi                      # disjoint windows: exact
            if upd_probe:
                np.abs(op, out=mag)
                mag *= mag
                den = mag.sum(axis=0)
                np.conjugate(op, out=op)
                op *= d
                num = op.sum(axis=0)
                dmax = den.max()
                den *= (1 - b)
                den += b * dmax
                num /= den
                if cfg.probe_step != 1.0:
                    num *= cfg.probe_step
                P += num
                wO = _object_weight(P, a, cfg.object_step)
        if upd_probe and probe_constraint is not None:
            P = probe_constraint(P).astype(np.complex64)
        for i, sc in enumerate(scans):
            err[i] /= sc.norm
    spi = (time.perf_counter() - t0) / cfg.iterations
    return P, errors, spi
