"""Validation and coercion shared by every config section: the error type, range checks that name the key, and
the builder that turns plain dicts (YAML, Snakemake's ``config``) into frozen dataclasses, refusing unknown
keys and wrong types.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


class ConfigError(ValueError):
    """A configuration value is missing, unknown or invalid."""


def _choice(obj: Any, name: str, valid: tuple[str, ...]) -> None:
    if getattr(obj, name) not in valid:
        section = _SECTION.get(type(obj).__name__, "")
        raise ConfigError(f"{section}{name}: unknown {getattr(obj, name)!r}; valid: {sorted(valid)}")


def _positive(obj: Any, *names: str) -> None:
    section = _SECTION.get(type(obj).__name__, "")
    for n in names:
        if getattr(obj, n) <= 0:
            raise ConfigError(f"{section}{n}: must be > 0, got {getattr(obj, n)!r}")


_SECTION = {
    "DataConfig": "data.",
    "ModelConfig": "model.",
    "RLConfig": "rl.",
    "VerlConfig": "rl.verl.",
    "SamplingConfig": "sampling.",
    "VerificationConfig": "verification.",
    "AnalysisConfig": "analysis.",
    "ModelSpec": "models.<name>.",
    "Config": "",
}


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return _build(tp, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (inner, _) = typing.get_args(tp)
        return tuple(_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        (_, inner) = typing.get_args(tp)
        if dataclasses.is_dataclass(inner):
            return {str(k): _coerce(v, inner, f"{where}.{k}") for k, v in value.items()}
        return dict(value)
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (
        tp is int and isinstance(value, str) and value.strip().lstrip("-").isdigit()
    ):  # snakemake --config lists
        return int(value)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
        try:
            return float(value)
        except ValueError:
            pass
    if (
        tp is bool
        and not isinstance(value, bool)
        or not isinstance(value, tp)
        or (tp is int and isinstance(value, bool))
    ):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"unknown key(s) {[prefix + u for u in unknown]}; valid keys here: {sorted(names)}")
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing required key(s) {missing}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}" if where else k) for k, v in values.items()}
    return cls(**kwargs)
