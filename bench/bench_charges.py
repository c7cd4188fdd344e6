"""Speed of lattice charges + defect detection on a 256 x 256 x 32 field.

Prints microseconds per cube for ``lattice_charge`` and ``find_defects``
(default smoothing and none) and the ratio to a numpy floor measured in the
same run: one Van Oosterom-Strackee solid angle per cube (triple product,
three dot products, one arctan2, float32) -- the irreducible unit of work;
the algorithm needs six per cube (three faces of two triangles each, every
face shared by two cubes) plus the normalisation. Acceptance (issue 3):
charges + detection <= 0.3 us per cube, under 5 s in all.

Run: ``SYNTHVEC_THREADS=1 OMP_NUM_THREADS=1 python bench/bench_charges.py``
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from synthvec.analysis.charges import lattice_charge  # noqa: E402
from synthvec.analysis.defects import find_defects  # noqa: E402
from synthvec.threads import limit_native_pools  # noqa: E402

SHAPE = (32, 256, 256)


def field(rng: np.random.Generator) -> np.ndarray:
    """A smooth random texture with defects: superposed Coulomb fields of 24 point charges."""
    z, y, x = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in SHAPE), indexing="ij")
    m = np.zeros((3,) + SHAPE, np.float32)
    for n in range(24):
        c = [rng.uniform(3, s - 4) + 0.5 for s in SHAPE[::-1]]
        r = np.stack([x - c[0], y - c[1], z - c[2]])
        m += (1 if n % 2 else -1) * r / np.maximum(np.linalg.norm(r, axis=0), 1e-3) ** 3
    return m


def floor(m: np.ndarray) -> None:
    """One solid angle per cube with numpy (float32)."""
    a, b, c = m[:, :-1, :-1, :-1], m[:, :-1, :-1, 1:], m[:, :-1, 1:, 1:]
    num = (a[0] * (b[1] * c[2] - b[2] * c[1]) + a[1] * (b[2] * c[0] - b[0] * c[2])
           + a[2] * (b[0] * c[1] - b[1] * c[0]))
    den = 1.0 + (a * b).sum(0) + (b * c).sum(0) + (c * a).sum(0)
    np.arctan2(num, den)


def best_of(fn, repeats=3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    m = field(rng)
    unit = (m / np.linalg.norm(m, axis=0)).astype(np.float32)
    cubes = (SHAPE[0] - 1) * (SHAPE[1] - 1) * (SHAPE[2] - 1)
    with limit_native_pools(1):
        t_floor = best_of(lambda: floor(unit))
        t_q = best_of(lambda: lattice_charge(m))
        t_d0 = best_of(lambda: find_defects(m, sigma_vox=0.0))
        t_d = best_of(lambda: find_defects(m))
    n = len(find_defects(m).defects)
    print(f"field {SHAPE[::-1]} (x, y, z), {cubes} cubes, {n} defects found")
    print(f"numpy floor (1 solid angle/cube): {t_floor:.3f} s = {t_floor / cubes * 1e6:.3f} us/cube")
    for name, t in (("lattice_charge", t_q), ("find_defects sigma=0", t_d0),
                    ("find_defects default", t_d)):
        print(f"{name:24s}: {t:.3f} s = {t / cubes * 1e6:.3f} us/cube, ratio to floor "
              f"{t / t_floor:.2f}")


if __name__ == "__main__":
    main()
