"""Explicit thread counts (oversubscription on a 2-core machine slowed a peer 20x).

One number, :func:`n_threads`, sizes every pool: ``scipy.fft`` ``workers=``,
BLAS/OpenMP (via threadpoolctl) and Dask's local scheduler. It is
``SYNTHVEC_THREADS`` when set, else the CPUs this process may use.
"""

from __future__ import annotations

import os


def n_threads() -> int:
    """Threads for one compute pool (>= 1)."""
    env = os.environ.get("SYNTHVEC_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def limit_native_pools(threads: int | None = None):
    """Context manager limiting BLAS/OpenMP pools to ``threads`` (default :func:`n_threads`)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads or n_threads())
