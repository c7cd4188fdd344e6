"""Wall time and peak resident memory of a block of work (a stage)."""

from __future__ import annotations

import resource
import threading
import time
from pathlib import Path

_STATUS = Path("/proc/self/status")


def _rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc; falls back to the process peak)."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Monitor:
    """Context manager sampling RSS every ``interval_s`` in a daemon thread.

    ``peak_mb`` is the largest RSS seen during the block (process-wide, so it
    includes what earlier stages still hold); ``wall_s`` its duration.
    """

    def __init__(self, interval_s: float = 0.02):
        self.interval_s = interval_s
        self.peak_mb = 0.0
        self.wall_s = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, _rss_mb())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "Monitor":
        self.peak_mb = _rss_mb()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_mb = max(self.peak_mb, _rss_mb())
        self.wall_s = time.perf_counter() - self._t0
