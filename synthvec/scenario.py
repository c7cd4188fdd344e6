"""Scenarios: one TOML file, one section per stage, each a frozen config dataclass.

A scenario states exactly what is simulated and how it is inverted. Every key
carries its unit in its name. Missing keys take the documented defaults; the
defaults *are* the quick scenario (``scenarios/quick.toml`` spells them out),
so ``synthvec run`` with no argument runs it. ``synthvec show FILE`` prints the
fully resolved scenario.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .analysis.config import AnalysisConfig
from .config import Section, param, section_from_dict, section_to_dict, suggest
from .errors import ConfigError, InputError
from .forward.config import SimulateConfig
from .geometry import GeometryConfig
from .invert.ptycho.config import PtychoConfig
from .invert.tomo.config import TomoConfig, VectorConfig
from .phantom.config import PhantomConfig, TextureConfig
from .scoring.config import ScoreConfig

__all__ = ["RunConfig", "Scenario", "load_scenario", "parse_scenario", "scenario_to_toml",
           "scenario_hash", "section_hash", "read_toml"]


@dataclass(frozen=True, kw_only=True)
class RunConfig(Section):
    """What the run is called and its random seed."""

    name: str = param("quick", doc="Scenario name, used in reports and default run directories.")
    description: str = param("", doc="What question the scenario answers (free text).")
    seed: int = param(0, doc="Seed of every random draw (sub-streams per stage via "
                      "numpy.random.SeedSequence).", ge=0)


@dataclass(frozen=True, kw_only=True)
class Scenario(Section):
    """The whole scenario: one field per TOML section."""

    run: RunConfig = param(default_factory=RunConfig, doc="Name and seed.")
    phantom: PhantomConfig = param(default_factory=PhantomConfig, doc="The sample.")
    texture: TextureConfig = param(default_factory=TextureConfig, doc="Seeded magnetization.")
    geometry: GeometryConfig = param(default_factory=GeometryConfig, doc="Tilt series.")
    simulate: SimulateConfig = param(default_factory=SimulateConfig, doc="Forward model.")
    ptycho: PtychoConfig = param(default_factory=PtychoConfig, doc="Ptychographic inversion.")
    tomo: TomoConfig = param(default_factory=TomoConfig, doc="Scalar tomography.")
    vector: VectorConfig = param(default_factory=VectorConfig, doc="Vector tomography.")
    analysis: AnalysisConfig = param(default_factory=AnalysisConfig, doc="Topology analysis.")
    score: ScoreConfig = param(default_factory=ScoreConfig, doc="Scoring against truth.")

    def check(self) -> None:
        ph = self.phantom
        if ph.voxel_nm >= ph.sphere_diameter_nm:
            raise ConfigError("phantom.voxel_nm", f"must be smaller than "
                              f"phantom.sphere_diameter_nm ({ph.sphere_diameter_nm:g})"
                              f" (got {ph.voxel_nm:g})")


def parse_scenario(data: dict[str, Any], source: str | None = None) -> Scenario:
    """Build a :class:`Scenario` from a parsed TOML document.

    Raises
    ------
    ConfigError
        Naming the source file, the dotted key and what is allowed.
    """
    sections = [f.name for f in dataclasses.fields(Scenario)]
    for key, value in data.items():
        if key not in sections:
            raise ConfigError(key, "unknown section" + suggest(key, sections) +
                              f"; allowed sections: {', '.join(sections)}", source)
        if not isinstance(value, dict):
            raise ConfigError(key, f"must be a table [{key}] (got {value!r})", source)
    try:
        return section_from_dict(Scenario, data)
    except ConfigError as err:
        raise (err.with_source(source) if source else err) from None


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """Parse a TOML file; a missing file or a syntax error is an :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such {what} file")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{path}: TOML syntax error: {err}") from None


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Read a scenario file; ``None`` gives the embedded default (the quick scenario)."""
    if path is None:
        return Scenario()
    return parse_scenario(read_toml(path, "scenario"), str(path))


def scenario_to_dict(scn: Scenario) -> dict[str, Any]:
    """Fully resolved scenario as nested plain values."""
    return section_to_dict(scn)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(type(v))


def scenario_to_toml(scn: Scenario, *, with_docs: bool = True) -> str:
    """The resolved scenario as TOML text (round-trips through :func:`parse_scenario`)."""
    lines: list[str] = []

    def emit(prefix: str, section: Section) -> None:
        docs = type(section).field_docs()
        plain, nested = [], []
        for f in dataclasses.fields(section):
            v = getattr(section, f.name)
            (nested if isinstance(v, Section) else plain).append((f.name, v))
        lines.append(f"[{prefix}]")
        for name, v in plain:
            if v is None:
                continue
            if with_docs:
                lines.append(f"# {docs[name]}")
            lines.append(f"{name} = {_toml_value(section_to_dict(section)[name])}")
        lines.append("")
        for name, v in nested:
            emit(f"{prefix}.{name}", v)

    for f in dataclasses.fields(scn):
        emit(f.name, getattr(scn, f.name))
    return "\n".join(lines)


def section_hash(section: Section) -> str:
    """Stable hash of a resolved section (hex, 16 chars)."""
    text = json.dumps(section_to_dict(section), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def scenario_hash(scn: Scenario) -> str:
    """Stable hash of the whole resolved scenario."""
    return section_hash(scn)
