"""Config sections: frozen dataclasses validated on construction.

Every stage (and every method of a stage) has one config class derived from
:class:`Section`. Fields are declared with :func:`param`, which records the
documentation, the unit (also carried by the key name) and the allowed range;
``__post_init__`` checks type and range and raises :class:`ConfigError` naming
the field. Nested sections (a TOML sub-table) are fields whose type is itself
a :class:`Section`.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True, kw_only=True)
... class Demo(Section):
...     voxel_nm: float = param(5.0, doc="Voxel edge.", gt=0)
>>> Demo(voxel_nm=-1)
Traceback (most recent call last):
...
synthvec.errors.ConfigError: voxel_nm: must be > 0 (got -1)
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Literal, get_args, get_origin

from .errors import ConfigError

__all__ = ["param", "Section", "section_from_dict", "section_to_dict", "suggest"]

_MISSING = dataclasses.MISSING


def param(default: Any = _MISSING, *, doc: str, ge: float | None = None, gt: float | None = None,
          le: float | None = None, lt: float | None = None, default_factory: Any = _MISSING) -> Any:
    """Declare a config field with its documentation and allowed range.

    Parameters
    ----------
    default : object
        Default value (immutable: tuples, not lists).
    doc : str
        What the field means, its unit and, where it applies, the paper's
        equation or section it follows.
    ge, gt, le, lt : float, optional
        Bounds for numbers (applied to every element of a tuple).
    """
    meta = {"doc": doc, "ge": ge, "gt": gt, "le": le, "lt": lt}
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def suggest(word: str, choices: typing.Iterable[str]) -> str:
    """A ' (did you mean X?)' hint for a misspelt key, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(tp))
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_describe(args[0])}"
        return "a list of " + str(len(args)) + " values (" + ", ".join(_describe(a) for a in args) + ")"
    if tp is type(None):
        return "absent"
    if isinstance(tp, type) and issubclass(tp, Section):
        return "a table"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it normalised (lists -> tuples)."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in get_args(tp):
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                continue
        raise ConfigError(key, f"must be {_describe(tp)} (got {value!r})")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(key, f"must be absent (got {value!r})")
    if origin is Literal:
        allowed = get_args(tp)
        if value in allowed and type(value) is type(allowed[allowed.index(value)]):
            return value
        hint = suggest(value, [str(a) for a in allowed]) if isinstance(value, str) else ""
        raise ConfigError(key, f"must be {_describe(tp)} (got {value!r}){hint}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(key, f"must be {_describe(tp)} (got {value!r})")
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(key, f"must be {_describe(tp)} (got {len(value)} values)")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(key, f"must be true or false (got {value!r})")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(key, f"must be an integer (got {value!r})")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(key, f"must be a number (got {value!r})")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(key, f"must be a string (got {value!r})")
    if isinstance(tp, type) and issubclass(tp, Section):
        if isinstance(value, tp):
            return value
        if isinstance(value, dict):
            try:
                return section_from_dict(tp, value)
            except ConfigError as err:
                raise err.under(key) from None
        raise ConfigError(key, f"must be a table (got {value!r})")
    raise TypeError(f"unsupported config annotation {tp!r} for {key}")


def _check_bounds(value: Any, meta: dict, key: str) -> None:
    if isinstance(value, tuple):
        for i, v in enumerate(value):
            _check_bounds(v, meta, f"{key}[{i}]")
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    if value != value:  # NaN
        raise ConfigError(key, "must be a finite number (got nan)")
    for name, ok, sym in (("ge", lambda v, b: v >= b, ">="), ("gt", lambda v, b: v > b, ">"),
                          ("le", lambda v, b: v <= b, "<="), ("lt", lambda v, b: v < b, "<")):
        bound = meta.get(name)
        if bound is not None and not ok(value, bound):
            raise ConfigError(key, f"must be {_range_text(meta) or sym + ' ' + repr(bound)} (got {value!r})")


def _range_text(meta: dict) -> str:
    lo = f">= {meta['ge']:g}" if meta.get("ge") is not None else (
        f"> {meta['gt']:g}" if meta.get("gt") is not None else "")
    hi = f"<= {meta['le']:g}" if meta.get("le") is not None else (
        f"< {meta['lt']:g}" if meta.get("lt") is not None else "")
    return " and ".join(t for t in (lo, hi) if t)


class Section:
    """Base of every config class: type and range checks from :func:`param` metadata.

    Subclasses are ``@dataclass(frozen=True, kw_only=True)`` and may add
    cross-field checks in :meth:`check`, raising :class:`ConfigError`.
    """

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _coerce(getattr(self, f.name), hints[f.name], f.name)
            _check_bounds(value, f.metadata, f.name)
            object.__setattr__(self, f.name, value)
        self.check()

    def check(self) -> None:
        """Cross-field validation; override in subclasses."""

    @classmethod
    def field_docs(cls) -> dict[str, str]:
        """Field name -> documentation (with the allowed range)."""
        out = {}
        for f in dataclasses.fields(cls):
            rng = _range_text(f.metadata)
            out[f.name] = f.metadata.get("doc", "") + (f" Allowed: {rng}." if rng else "")
        return out


def section_from_dict(cls: type[Section], data: dict[str, Any]) -> Section:
    """Build ``cls`` from a TOML table; unknown keys are errors with a suggestion."""
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    for key in data:
        if key not in names:
            raise ConfigError(key, "unknown key" + suggest(key, names) +
                              f"; allowed keys: {', '.join(names)}")
    return cls(**data)


def section_to_dict(section: Section) -> dict[str, Any]:
    """The fully resolved section as plain TOML-compatible values (tuples -> lists)."""
    def plain(v: Any) -> Any:
        if isinstance(v, Section):
            return section_to_dict(v)
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        return v
    return {f.name: plain(getattr(section, f.name)) for f in dataclasses.fields(section)
            if getattr(section, f.name) is not None}
