"""Typed configuration: dataclasses are the schema, YAML mirrors them, `key=value` overrides patch them.

A config class is any (nested) dataclass. `load_config(Schema, "run.yaml", ["train.lr=3e-4"])` reads the
YAML, applies the dotted overrides, converts every value to its field's declared type and returns an
instance. Unknown keys, wrong types and missing files raise `ConfigError` naming the key (or file) and the
expected type. `save_config` writes the resolved config so every run directory records what it ran with.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the key or file."""


@dataclasses.dataclass(frozen=True)
class Variants:
    """Marks a section whose dataclass depends on one of its keys: a field typed
    ``Annotated[Base, Variants("name", choose)]`` is read into ``choose(section["name"])`` (a subclass of
    ``Base``), so the section holds only that variant's keys (encoder families: ``avssl.encoders``).

    When the section leaves the key out, the default's value is used; the default patches the section only
    when it is of the chosen class (switching variants starts from the new class's defaults).
    """

    key: str
    choose: Callable[[Any], type]


def _convert_variant(value: Any, tp: Any, key: str, base: Any) -> Any:
    """`value` read into the class `Variants.choose` picks for it (see :class:`Variants`)."""
    variants = next((m for m in get_args(tp)[1:] if isinstance(m, Variants)), None)
    if variants is None:
        return _convert(value, get_args(tp)[0], key, base)
    if not isinstance(value, dict):
        raise ConfigError(f"config key '{key}': expected a mapping, got {value!r}")
    if variants.key in value:
        choice = value[variants.key]
    elif base is not None:
        choice = getattr(base, variants.key)
    else:
        raise ConfigError(f"missing required config key(s): {key}.{variants.key}")
    try:
        cls = variants.choose(choice)
    except ConfigError as err:
        raise ConfigError(f"config key '{key}.{variants.key}': {err}") from None
    return _build(cls, value, key, base if type(base) is cls else None)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str, base: Any = None) -> Any:
    """Convert `value` (from YAML or an override string) to type `tp`, or raise ConfigError naming `key`.
    `base`: the default this value patches (a dataclass instance for a section: keys `value` leaves out
    keep the base's values, not the section type's own defaults)."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Annotated:
        return _convert_variant(value, tp, key, base)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key, base)
            except ConfigError as err:
                errors.append(str(err))
        if len(errors) == 1 and isinstance(value, dict):  # one section type: its own error names the key
            raise ConfigError(errors[0])
        raise ConfigError(f"config key '{key}': {value!r} is not a valid {_type_name(tp)}")
    if origin is Literal:
        choices = get_args(tp)
        for choice in choices:
            if value == choice or (isinstance(value, str) and str(choice) == value):
                return choice
        if isinstance(value, bool):  # YAML 1.1 reads a bare no/off/yes/on as a bool: take the word back
            spelled = [c for c in choices if isinstance(c, str) and c.lower() in _YAML_BOOL_WORDS[value]]
            if len(spelled) == 1:
                return spelled[0]
        raise ConfigError(f"config key '{key}': {value!r} is not one of {list(choices)}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': expected a mapping for {tp.__name__}, got {value!r}")
        return _build(tp, value, key, base if isinstance(base, tp) else None)
    if origin in (list, tuple):
        if isinstance(value, str):
            value = _parse_scalar(value)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}': expected a list, got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"config key '{key}': expected {len(args)} items, got {len(value)}")
            return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item_tp = args[0] if args else Any
        items = [_convert(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"config key '{key}': expected a bool, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"config key '{key}': expected an int, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"config key '{key}': expected a float, got {value!r}")
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"config key '{key}': expected a string, got {value!r}")
    raise ConfigError(f"config key '{key}': unsupported field type {_type_name(tp)}")


_YAML_BOOL_WORDS = {False: ("no", "off", "false", "n"), True: ("yes", "on", "true", "y")}


def _parse_scalar(text: str) -> Any:
    """Parse an override's right-hand side with YAML rules (so `[1, 2]`, `null`, `3e-4` work)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _field_default(f: dataclasses.Field, base: Any) -> Any:
    """The value field `f` has when a config leaves it out: the base section's value, else its default."""
    if base is not None:
        return getattr(base, f.name)
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def _build(cls: type[T], data: dict, prefix: str = "", base: Any = None) -> T:
    """`cls` from `data`; a nested section given in part patches its default (the parent's default_factory
    or `base`), so `data.size: 64` keeps the recipe's own data transforms."""
    hints = get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in fields:
            raise ConfigError(f"unknown config key '{key}' (valid keys here: {', '.join(sorted(fields))})")
        default = _field_default(fields[name], base) if isinstance(value, dict) else None
        kwargs[name] = _convert(
            value, hints[name], key, default if dataclasses.is_dataclass(default) else None
        )
    if base is not None:  # fields the data leaves out keep the base's values
        for name in fields:
            if name not in kwargs and fields[name].init:
                kwargs[name] = copy.deepcopy(getattr(base, name))
    missing = [
        n
        for n, f in fields.items()
        if n not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        names = ", ".join(f"{prefix}.{n}" if prefix else n for n in missing)
        raise ConfigError(f"missing required config key(s): {names}")
    return cls(**kwargs)


def from_dict(cls: type[T], data: dict) -> T:
    """Build the dataclass `cls` from a plain dict, checking keys and types."""
    return _build(cls, data or {})


def _variant_of(tp: Any) -> tuple[Any, Variants | None]:
    """(the dataclass a field holds, its Variants marker or None), through ``X | None``."""
    if get_origin(tp) in (Union, types.UnionType):
        inner = [a for a in get_args(tp) if a is not type(None)]
        tp = inner[0] if len(inner) == 1 else tp
    if get_origin(tp) is Annotated:
        marker = next((m for m in get_args(tp)[1:] if isinstance(m, Variants)), None)
        return get_args(tp)[0], marker
    return tp, None


def _without_other_variants_keys(cls: type, data: dict) -> dict:
    """``data`` with the keys a variant section's chosen class does not have removed, recursively."""
    hints = get_type_hints(cls, include_extras=True)
    out = dict(data)
    for name, value in data.items():
        if name not in hints or not isinstance(value, dict):
            continue
        section, variants = _variant_of(hints[name])
        if variants is not None and variants.key in value:
            try:
                section = variants.choose(value[variants.key])
            except ConfigError:
                continue  # from_dict reports the unknown name
            known = {f.name for f in dataclasses.fields(section)}
            value = {k: v for k, v in value.items() if k in known}
        out[name] = (
            _without_other_variants_keys(section, value) if dataclasses.is_dataclass(section) else value
        )
    return out


def from_saved_dict(cls: type[T], data: dict) -> T:
    """Like :func:`from_dict`, for a config a run directory saved: a variant section (see :class:`Variants`)
    written before sections held only their variant's keys carries every variant's keys; those its variant
    does not have are dropped (they never applied), anything else is checked as usual."""
    return _build(cls, _without_other_variants_keys(cls, data or {}))


def to_dict(config: Any) -> dict:
    """The config as plain Python data (lists for tuples), suitable for YAML."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(config)


def apply_overrides(data: dict, overrides: typing.Sequence[str]) -> dict:
    """Return a copy of `data` with `a.b.c=value` overrides set (values parsed with YAML rules); a numeric
    part indexes a list (`data.transforms.0.per_frame=true`)."""
    out = _deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value")
        key, text = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"override '{item}' has an empty key")
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            if isinstance(node, list):
                child = node[_list_index(node, part, key)]
            else:
                child = node.get(part)
                if child is None:
                    child = node[part] = {}
            if not isinstance(child, (dict, list)):
                raise ConfigError(f"override '{key}': '{part}' is not a section")
            node = child
        if isinstance(node, list):
            node[_list_index(node, parts[-1], key)] = _parse_scalar(text)
        else:
            node[parts[-1]] = _parse_scalar(text)
    return out


def _list_index(items: list, part: str, key: str) -> int:
    """The position `part` names in a list of the config (`data.views.1.timing.rule=random`), or a
    ConfigError naming the override."""
    if not part.isdigit() or int(part) >= len(items):
        raise ConfigError(f"override '{key}': '{part}' is not an index of a list of {len(items)} entries")
    return int(part)


def _deepcopy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _deepcopy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deepcopy(v) for v in d]
    return d


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping, raising ConfigError naming the file when it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must contain a mapping at the top level")
    return data


def load_config(cls: type[T], path: str | Path | None = None, overrides: typing.Sequence[str] = ()) -> T:
    """Schema defaults ← YAML file ← `key=value` overrides, converted and validated."""
    data = read_yaml(path) if path is not None else {}
    return from_dict(cls, apply_overrides(data, overrides))


def save_config(config: Any, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically: temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
    tmp.replace(path)
