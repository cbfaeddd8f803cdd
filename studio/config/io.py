"""TOML in and out, dotted overrides, and validation that names the field."""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import tomllib
import typing
from pathlib import Path
from typing import Any

from studio.config import families
from studio.config.schema import SECTIONS, RunConfig, choices_of
from studio.core.errors import ConfigError


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _suggest(name: str, options) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(options))}"


def _coerce(path: str, value: Any, typ: Any, meta: dict) -> Any:
    """Check one value against its declared type and constraints; return it normalised."""
    origin = typing.get_origin(typ)
    if origin is tuple and dataclasses.is_dataclass(typing.get_args(typ)[0]):
        item_cls = typing.get_args(typ)[0]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(path, f"expected a list of tables, got {value!r}",
                              'write it as [{name = "block.0", mode = "frozen"}]')
        items = []
        for i, item in enumerate(value):
            if dataclasses.is_dataclass(item):
                item = {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
            items.append(_section_from_dict(f"{path}[{i}]", item_cls, item))
        return tuple(items)
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(path, f"expected a list of strings, got {value!r}",
                              'write it as ["a", "b"]')
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise ConfigError(f"{path}[{i}]", f"expected a string, got {item!r}")
        return tuple(value)
    if typ is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"expected true or false, got {value!r}")
        return value
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ConfigError(path, f"expected a whole number, got {value!r}")
    elif typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, f"expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(path, f"expected a finite number, got {value!r}")
    elif typ is str:
        if not isinstance(value, str):
            raise ConfigError(path, f"expected a string, got {value!r}")
    choices = choices_of(meta)
    if choices and value not in choices:
        raise ConfigError(path, f"{value!r} is not one of {', '.join(choices)}",
                          _suggest(str(value), choices))
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None:
        if meta.get("min_exclusive") and value <= lo:
            raise ConfigError(path, f"must be greater than {lo}, got {value!r}")
        if value < lo:
            raise ConfigError(path, f"must be at least {lo}, got {value!r}")
    if hi is not None and value > hi:
        raise ConfigError(path, f"must be at most {hi}, got {value!r}")
    return value


def _section_from_dict(name: str, cls: type, data: Any, base: Any = None) -> Any:
    """The [name] table as a ``cls``; settings it leaves out come from ``base``."""
    if not isinstance(data, dict):
        raise ConfigError(name, f"expected a [{name}] table, got {data!r}")
    types = _field_types(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(f"{name}.{key}", "unknown setting", _suggest(key, fields))
        kwargs[key] = _coerce(f"{name}.{key}", value, types[key], dict(fields[key].metadata))
    return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)


def _cross_check(cfg: RunConfig) -> None:
    t = cfg.train
    if t.nesterov and (t.optimizer != "sgd" or t.momentum <= 0):
        raise ConfigError("train.nesterov", "needs optimizer = \"sgd\" and momentum > 0",
                          "set train.momentum (e.g. 0.9) or turn nesterov off")
    if cfg.model.source.strip() == "":
        raise ConfigError("model.source", "is empty",
                          "use \"starter:text\", a local model folder or a hub id")
    if not cfg.data.paths:
        raise ConfigError("data.paths", "no training files given",
                          'add data.paths = ["my_texts/"] (files or folders)')
    names = [g.name for g in cfg.freeze.groups]
    for i, name in enumerate(names):
        if not name:
            raise ConfigError(f"freeze.groups[{i}].name", "is empty",
                              "use a group name from `studio inspect MODEL`")
        if name in names[:i]:
            raise ConfigError(f"freeze.groups[{i}].name", f"{name!r} is listed twice")
    bg = cfg.data.background
    if not (len(bg) == 7 and bg.startswith("#") and all(c in "0123456789abcdefABCDEF"
                                                         for c in bg[1:])):
        raise ConfigError("data.background", f"{bg!r} is not a colour", 'write it as "#rrggbb"')
    if not cfg.sample.prompts:
        raise ConfigError("sample.prompts", "needs at least one prompt", 'e.g. ["The"]')


def config_from_dict(data: dict, base_dir: str | os.PathLike = "") -> RunConfig:
    if not isinstance(data, dict):
        raise ConfigError("<config>", "expected a table of sections")
    for key in data:
        if key != "project" and key not in SECTIONS:  # [project]: a project file's GUI state
            raise ConfigError(key, "unknown section", _suggest(key, SECTIONS))
    # settings a file leaves out take the family's defaults (an image config without
    # train.lr trains at the image family's rate, in the CLI as in the window)
    run = _section_from_dict("run", SECTIONS["run"], data.get("run", {}))
    defaults = families.default_config(run.family)
    sections = {key: _section_from_dict(key, SECTIONS[key], value, getattr(defaults, key))
                for key, value in data.items() if key in SECTIONS}
    cfg = dataclasses.replace(defaults, **sections, base_dir=str(base_dir))
    cfg = families.follow_model(cfg)  # e.g. text-to-image's resolution: the model's size
    _cross_check(cfg)
    return cfg


def plain(value: Any) -> Any:
    """A config value as plain TOML-able data (dataclasses -> dicts, tuples -> lists)."""
    if dataclasses.is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    return value


def config_to_dict(cfg: RunConfig) -> dict:
    out = {}
    for name in SECTIONS:
        section = getattr(cfg, name)
        out[name] = {f.name: plain(getattr(section, f.name)) for f in dataclasses.fields(section)}
    return out


def loads_config(text: str, base_dir: str | os.PathLike = "", source: str = "<config>") -> RunConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, f"is not valid TOML ({exc})", "fix the line it names") from None
    return config_from_dict(data, base_dir)


def load_config(path: str | os.PathLike, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(p), "config file not found", "check the path") from None
    except OSError as exc:
        raise ConfigError(str(p), f"cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(str(p), "is not UTF-8 text", "save it as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), f"is not valid TOML ({exc})", "fix the line it names") from None
    data = _apply_overrides_to_dict(data, overrides)
    cfg = config_from_dict(data, base_dir=str(p.resolve().parent))
    if "project" in data and not cfg.run.project:  # a project file: its runs are its own
        cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run,
                                                               project=str(p.resolve())))
    return cfg


def _parse_override_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw  # bare words are strings: train.optimizer=sgd


def _apply_overrides_to_dict(data: dict, overrides) -> dict:
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(item, "override must look like section.key=value",
                              "e.g. train.lr=1e-4")
        key, raw = item.split("=", 1)
        key = key.strip()
        if key.count(".") != 1:
            raise ConfigError(key, "override key must be section.key", "e.g. train.lr=1e-4")
        section, name = key.split(".")
        if section not in SECTIONS:
            raise ConfigError(section, "unknown section", _suggest(section, SECTIONS))
        data.setdefault(section, {})[name] = _parse_override_value(raw.strip())
    return data


def apply_overrides(cfg: RunConfig, overrides) -> RunConfig:
    """Return a new config with dotted ``section.key=value`` overrides applied and validated."""
    data = _apply_overrides_to_dict(config_to_dict(cfg), overrides)
    return config_from_dict(data, base_dir=cfg.base_dir)


# -- writing -------------------------------------------------------------------

def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        out = value.replace("\\", "\\\\").replace('"', '\\"')
        out = out.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
        return f'"{out}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} to TOML")


def dumps_toml(data: dict, comments: bool = False) -> str:
    """Write a {section: {key: value}} dict as TOML; ``comments`` adds each knob's help."""
    lines: list[str] = []
    for section, values in data.items():
        cls = SECTIONS.get(section)
        helps = {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)} if cls else {}
        if lines:
            lines.append("")
        lines.append(f"[{section}]")
        for key, value in values.items():
            if comments and helps.get(key):
                lines.append(f"# {helps[key]}")
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def save_config(cfg: RunConfig, path: str | os.PathLike, comments: bool = False) -> None:
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(dumps_toml(config_to_dict(cfg), comments=comments), encoding="utf-8")
    os.replace(tmp, p)


def resolve_path(cfg: RunConfig, path: str) -> Path:
    """A config path made absolute against the config file's folder."""
    p = Path(os.path.expanduser(path))
    if not p.is_absolute() and cfg.base_dir:
        p = Path(cfg.base_dir) / p
    return p
