"""Stage cache: one folder per finished stage, keyed by what determines its result.

Layout of a run directory::

    RUN/scenario.toml             the resolved scenario
    RUN/stages/<stage>/           files of a finished stage + stage.json
    RUN/<published files>         e.g. truth.nc, hard links into the stage folders
    RUN/metrics.json, metrics.csv

A stage's key hashes its name, the source code of the modules it runs, its
config sections, its upstream stages' keys and (when it draws random numbers)
the seed. A stage is reused when ``stages/<stage>/stage.json`` holds the same
key. A stage is built in a temporary sibling folder and renamed into place
only after ``stage.json`` is written, so a killed run leaves either the old
finished stage or none, never a half-written one.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

from .. import __version__

STAGE_FILE = "stage.json"


def source_hash(modules: Iterable[str]) -> str:
    """Hash of the source files of ``modules`` (packages: every ``.py`` under them)."""
    h = hashlib.sha256()
    for name in sorted(modules):
        mod = importlib.import_module(name)
        path = Path(mod.__file__)
        files = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
        for f in files:
            h.update(str(f.relative_to(path.parent)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def stage_key(name: str, *, code: str, config: dict[str, Any], upstream: dict[str, str],
              seed: int | None) -> str:
    """Key of a stage result (hex, 20 chars)."""
    doc = {"stage": name, "code": code, "config": config, "upstream": upstream, "seed": seed,
           "version": __version__}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:20]


class StageStore:
    """The finished stages of one run directory."""

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.root = self.run_dir / "stages"

    def path(self, name: str) -> Path:
        return self.root / name

    def lookup(self, name: str, key: str) -> dict | None:
        """The stage record when ``name`` finished with ``key``, else ``None``."""
        rec_path = self.path(name) / STAGE_FILE
        try:
            rec = json.loads(rec_path.read_text())
        except (OSError, ValueError):
            return None
        return rec if rec.get("key") == key else None

    def begin(self, name: str) -> Path:
        """A fresh temporary folder to build stage ``name`` in."""
        self.root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=self.root))

    def commit(self, name: str, tmp: Path, record: dict) -> Path:
        """Write ``stage.json`` into ``tmp`` and move it into place atomically."""
        record = dict(record, finished_unix=time.time())
        (tmp / STAGE_FILE).write_text(json.dumps(record, indent=1, sort_keys=True))
        final = self.path(name)
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=self.root))
            os.replace(final, old / name)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def abandon(self, tmp: Path) -> None:
        shutil.rmtree(tmp, ignore_errors=True)

    def clean_partial(self) -> int:
        """Remove temporary folders left by killed runs; returns how many."""
        n = 0
        if self.root.is_dir():
            for p in self.root.iterdir():
                if p.name.startswith(".") and (".tmp-" in p.name or ".old-" in p.name):
                    shutil.rmtree(p, ignore_errors=True)
                    n += 1
        return n

    def publish(self, name: str, files: Iterable[str]) -> None:
        """Expose stage files at the top of the run directory (hard link, else copy)."""
        for f in files:
            src = self.path(name) / f
            if not src.exists():
                continue
            dst = self.run_dir / f
            tmp = self.run_dir / f".{f}.publish"
            if tmp.exists() or tmp.is_symlink():
                tmp.unlink()
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copy2(src, tmp)
            os.replace(tmp, dst)
