"""A project: dataset paths, model source, settings (a RunConfig) — saved as TOML.

The project file is a run config plus a ``[project]`` table, so
``studio train my.project.toml`` runs exactly what the GUI would.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path

from studio.config import config_from_dict, config_to_dict, dumps_toml
from studio.config.schema import DataConfig, RunConfig
from studio.core.errors import ConfigError
from studio.state.observable import Observable


class Project(Observable):
    def __init__(self, config: RunConfig | None = None, path: str | os.PathLike | None = None,
                 name: str = "Untitled", excluded: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._config = config or RunConfig(data=DataConfig(paths=()))
        if excluded:
            self._config = dataclasses.replace(self._config, data=dataclasses.replace(
                self._config.data, exclude=tuple(sorted(set(excluded)))))
        self.path: Path | None = Path(path) if path else None
        self.name = name
        self.dirty = False

    @property
    def excluded(self) -> frozenset[str]:
        """Dataset files the user unticked (stored as data.exclude, so the engine skips
        them too)."""
        return frozenset(self._config.data.exclude)

    # -- the settings -------------------------------------------------------------------
    @property
    def config(self) -> RunConfig:
        return self._config

    def set_config(self, config: RunConfig) -> None:
        old = self._config
        if config.model.source != old.model.source:
            if config.model.trust_remote_code and old.model.trust_remote_code:
                # trust is given to one model's code, never carried over to the next model
                config = dataclasses.replace(
                    config, model=dataclasses.replace(config.model, trust_remote_code=False))
            # a local folder of another family (a diffusers UNet, a MusicGen) switches
            # run.family with it, unless this same change chose the family
            from studio.config.families import family_of_folder
            family = family_of_folder(config.model.source)
            if family is not None and config.run.family == old.run.family != family:
                config = dataclasses.replace(
                    config, run=dataclasses.replace(config.run, family=family))
        if config != self._config:
            self._config = config
            self.dirty = True
            self.changed("config")

    def replace_section(self, section: str, **values) -> None:
        """Change fields of one section, e.g. ``replace_section("train", lr=1e-4)``."""
        current = getattr(self._config, section)
        self.set_config(dataclasses.replace(self._config,
                                            **{section: dataclasses.replace(current, **values)}))

    # -- dataset and model --------------------------------------------------------------
    @property
    def dataset_paths(self) -> tuple[str, ...]:
        return self._config.data.paths

    def add_dataset_path(self, path: str) -> None:
        if path not in self.dataset_paths:
            self.replace_section("data", paths=self.dataset_paths + (path,))
            self.changed("dataset")

    def remove_dataset_path(self, path: str) -> None:
        self.replace_section("data", paths=tuple(p for p in self.dataset_paths if p != path))
        self.changed("dataset")

    def set_excluded(self, path: str, excluded: bool) -> None:
        now = set(self.excluded)
        (now.add if excluded else now.discard)(path)
        if now != self.excluded:
            self.replace_section("data", exclude=tuple(sorted(now)))
            self.changed("excluded")

    @property
    def model_source(self) -> str:
        return self._config.model.source

    def set_model_source(self, source: str) -> None:
        """Use this model (``set_config`` switches the family to the folder's)."""
        self.replace_section("model", source=source)
        self.changed("model")

    # -- files ----------------------------------------------------------------------------
    def to_toml(self) -> str:
        data = {"project": {"name": self.name}}
        cfg = config_to_dict(self._config)
        if self.path is not None:  # store dataset paths relative to the project when inside it
            base = self.path.resolve().parent
            for key in ("paths", "exclude"):
                rel = []
                for p in cfg["data"][key]:
                    try:
                        rel.append(str(Path(p).resolve().relative_to(base)))
                    except ValueError:
                        rel.append(p)
                cfg["data"][key] = rel
        data.update(cfg)
        return dumps_toml(data)

    def save(self, path: str | os.PathLike | None = None) -> Path:
        if path is not None:
            self.path = Path(path)
        if self.path is None:
            raise ValueError("the project has no file yet; give a path")
        text = self.to_toml()
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.path)
        self.dirty = False
        self.changed("saved")
        return self.path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Project":
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8-sig"))
        except FileNotFoundError:
            raise ConfigError(str(p), "project file not found") from None
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(str(p), f"is not a valid project file ({exc})") from None
        meta = data.pop("project", {})
        if not isinstance(meta, dict):
            raise ConfigError(f"{p}: project", "expected a table")
        base = p.resolve().parent
        data.setdefault("data", {})
        if "paths" not in data["data"]:
            data["data"]["paths"] = []
        cfg = _lenient_config(data, base)
        def absolute(qs):
            return tuple(str((base / q).resolve()) if not Path(q).is_absolute() else q
                         for q in qs)

        cfg = dataclasses.replace(cfg, data=dataclasses.replace(
            cfg.data, paths=absolute(cfg.data.paths), exclude=absolute(cfg.data.exclude)))
        return cls(cfg, path=p, name=str(meta.get("name", p.stem)),
                   excluded=tuple(meta.get("excluded", ())))


def _lenient_config(data: dict, base: Path) -> RunConfig:
    """Like config_from_dict, but an empty dataset is allowed in a project being edited."""
    paths = data.get("data", {}).get("paths")
    if not paths:
        data["data"]["paths"] = ["<none>"]
        cfg = config_from_dict(data, base_dir=str(base))
        return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, paths=()))
    return config_from_dict(data, base_dir=str(base))

