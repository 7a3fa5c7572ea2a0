"""Strict binding of plain YAML data to (frozen) dataclasses.

Unknown keys and values of the wrong type are errors naming the file and the dotted key, so a
typo in an overlay fails at start-up instead of silently falling back to a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

from mlhops.errors import ConfigError

T = TypeVar("T")


def bind(cls: type[T], data: Any, *, where: str, key: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; ``where`` names the file(s) for error messages."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: {key or '<root>'} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known))
    if unknown:
        names = ", ".join(_join(key, u) for u in unknown)
        raise ConfigError(f"{where}: unknown key(s) {names}")
    kwargs: dict[str, Any] = {}
    for name, f in known.items():
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], where=where, key=_join(key, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing required key {_join(key, name)}")
    try:
        obj = cls(**kwargs)
    except (ValueError, TypeError) as exc:  # __post_init__ validation
        raise ConfigError(f"{where}: {key or '<root>'}: {exc}") from None
    return obj


def _container(tp: Any) -> type | tuple[type, ...] | None:
    """The YAML type a container type is written as (None for scalars)."""
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return (list, tuple)
    if origin is dict or dataclasses.is_dataclass(tp):
        return dict
    return None


_KINDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
_PLURAL = {str: "strings", int: "integers", float: "numbers", bool: "booleans"}


def _describe(tp: Any) -> str:
    """What a value of ``tp`` is, for error messages ("a string", "a list of strings")."""
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        inner = typing.get_args(tp)[:1]
        return f"a list of {_PLURAL[inner[0]]}" if inner and inner[0] in _PLURAL else "a list"
    if origin is dict or dataclasses.is_dataclass(tp):
        return "a mapping"
    return _KINDS.get(tp, repr(tp))


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else str(name)


def _coerce(tp: Any, value: Any, *, where: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors: list[tuple[Any, str]] = []
        for arg in options:
            try:
                return _coerce(arg, value, where=where, key=key)
            except ConfigError as exc:
                errors.append((arg, str(exc)))
        if not errors:
            raise ConfigError(f"{where}: {key}: bad value")
        # The error of the alternative of the value's own kind (a list's bad item), else all kinds.
        same_kind = [msg for arg, msg in errors if _container(arg) is not None and isinstance(value, _container(arg))]
        if len(errors) == 1 or same_kind:
            raise ConfigError((same_kind or [errors[0][1]])[0])
        kinds = " or ".join(_describe(a) for a in options)
        raise ConfigError(f"{where}: {key} must be {kinds}, got {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {key} must be one of {list(args)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return bind(tp, value, where=where, key=key)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: {key} must be a list, got {type(value).__name__}")
        inner = args[0] if args else Any
        items = [_coerce(inner, v, where=where, key=f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: {key} must be a mapping, got {type(value).__name__}")
        kt, vt = args if args else (Any, Any)
        return {
            _coerce(kt, k, where=where, key=key): _coerce(vt, v, where=where, key=f"{key}.{k}")
            for k, v in value.items()
        }
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: {key} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: {key} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if isinstance(value, (dict, list)) or value is None:
            raise ConfigError(f"{where}: {key} must be a string, got {value!r}")
        return str(value)
    raise ConfigError(f"{where}: {key}: unsupported config type {tp!r}")
