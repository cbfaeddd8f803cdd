"""One place that checks a run config: ``validate(cfg)`` for a config already built (the
window's Train, Queue, trial, learning-rate test and cluster export all ask it), and
``problems(data)`` for a form's values, which reports every bad field at once.

Both apply exactly the checks ``studio train`` applies to a TOML file (``config.io``), so
the window and the CLI reject the same values with the same words.
"""

from __future__ import annotations

import dataclasses
import os
import typing

from studio.config.io import _coerce, config_from_dict, config_to_dict
from studio.config.schema import SECTIONS, RunConfig
from studio.core.errors import ConfigError


def validate(cfg: RunConfig) -> RunConfig:
    """``cfg`` checked as a config file would be (types, ranges, choices, cross-field
    rules); returns the normalised config or raises the first ``ConfigError``."""
    return config_from_dict(config_to_dict(cfg), base_dir=cfg.base_dir)


def problems(data: dict, base_dir: str | os.PathLike = "") -> list[ConfigError]:
    """Every error of a ``{section: {key: value}}`` dict: one per bad field (so a form can
    mark them all at once), then, when every field is fine on its own, the first
    cross-field error (e.g. no training files). Empty when the config is valid."""
    errors: list[ConfigError] = []
    for section, values in data.items():
        cls = SECTIONS.get(section)
        if cls is None or not isinstance(values, dict):
            continue  # config_from_dict names unknown sections below
        types = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key, value in values.items():
            if key not in fields:
                continue
            try:
                _coerce(f"{section}.{key}", value, types[key], dict(fields[key].metadata))
            except ConfigError as exc:
                errors.append(exc)
    if errors:
        return errors
    try:
        config_from_dict(data, base_dir=base_dir)  # the cross-field rules, and unknown keys
    except ConfigError as exc:
        errors.append(exc)
    return errors
