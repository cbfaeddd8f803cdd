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
        self.unsaved_runs: list[Path] = []  # runs made before the first save (moved then)
        self.moved_runs: list[Path] = []    # ...and where the last save moved them
        self.auto_budget = False  # a new project: its step budget follows its data
        self.data_items: int | None = None  # training items an epoch holds (the scan's)
        self._own_identity()

    def _own_identity(self) -> None:
        """run.project names the saved project file, so its runs are known as its own."""
        ident = str(self.path.resolve()) if self.path is not None else ""
        if self._config.run.project != ident:
            self._config = dataclasses.replace(
                self._config, run=dataclasses.replace(self._config.run, project=ident))

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
        if (config.model.source, config.run.family) != (old.model.source, old.run.family):
            from studio.config.families import follow_model
            config = follow_model(config, old)  # e.g. the resolution the model was made for
        if self.auto_budget:
            if _budget_fields(config) != _budget_fields(old):
                self.auto_budget = False  # the user set the budget: it is theirs now
            elif self.data_items:
                config = _fit_budget(config, self.data_items)
        if config != self._config:
            self._config = config
            self.dirty = True
            self.changed("config")

    def set_data_items(self, items: int | None) -> None:
        """The dataset was scanned: an epoch holds ``items`` training items. A new
        project's step budget, evaluations and early stopping follow it until the user
        sets them (``studio.config.budget``)."""
        self.data_items = items
        if items and self.auto_budget:
            config = _fit_budget(self._config, items)
            if config != self._config:
                self._config = config
                self.dirty = True
                self.changed("config")
        self.changed("data_items")

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

    # -- runs -----------------------------------------------------------------------------
    def runs_dir(self) -> Path:
        """Where this project's runs go. One rule: ``run.runs_dir`` when absolute, else
        relative to the saved project file's folder; an unsaved project's runs go to the
        user's data folder (never the process's current folder) and move beside the file
        when the project is first saved."""
        from studio.core.paths import unsaved_runs_dir

        rd = Path(os.path.expanduser(self._config.run.runs_dir))
        if rd.is_absolute():
            return rd
        if self.path is None:
            return unsaved_runs_dir()
        return (self.path.resolve().parent / rd).resolve()

    def last_run_config(self) -> RunConfig | None:
        """The settings of this project's latest run (what the next run's name compares
        with), or None."""
        from studio.config import load_config
        from studio.runs.store import list_runs

        for info in list_runs(self.runs_dir(), project=self._config.run.project):
            try:
                return load_config(info.path / "config.toml")
            except ConfigError:
                continue
        return None

    def run_config(self, previous: RunConfig | None = None) -> RunConfig:
        """Exactly what a run of this project trains: the settings, with the project's
        runs folder and a name that says what the run is and what differs from
        ``previous`` (default: this project's last run)."""
        from studio.config.naming import named

        cfg = dataclasses.replace(self._config, run=dataclasses.replace(
            self._config.run, runs_dir=str(self.runs_dir())))
        return named(cfg, self.name, previous if previous is not None
                     else self.last_run_config())

    def note_run(self, run_dir: str | os.PathLike) -> None:
        """A run of this project was made in ``run_dir``: kept to move beside the project
        file on its first save (moved now if that save came while it trained)."""
        from studio.core.paths import unsaved_runs_dir

        run = Path(run_dir)
        if self.path is None:
            self.unsaved_runs.append(run)
        elif run.parent == unsaved_runs_dir():
            self.unsaved_runs.append(run)
            self.moved_runs = self._move_unsaved_runs()

    def detach(self, name: str) -> None:
        """Make this an untitled copy (the shipped demo: its file is never overwritten)."""
        self.path = None
        self.name = name
        self._own_identity()
        self.dirty = False

    def _move_unsaved_runs(self) -> list[Path]:
        """On the first save: move the runs made so far beside the project file (a run
        still training stays where it is; the Runs pane keeps listing it)."""
        import shutil

        from studio.runs.store import read_status

        target = self.runs_dir()
        moved, kept = [], []
        for run in self.unsaved_runs:
            if not run.is_dir():
                continue
            if read_status(run).get("state") in ("starting", "running", "paused", "stopping"):
                kept.append(run)
                continue
            target.mkdir(parents=True, exist_ok=True)
            dest = target / run.name
            if not dest.exists():
                shutil.move(str(run), str(dest))
                _rewrite_project(dest, str(self.path.resolve()), str(target))
                moved.append(dest)
        self.unsaved_runs = kept
        return moved

    # -- files ----------------------------------------------------------------------------
    def to_toml(self) -> str:
        data = {"project": {"name": self.name}}
        cfg = config_to_dict(self._config)
        cfg["run"].pop("project", None)  # the file's own path: known when it is read
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
        self._own_identity()
        self.moved_runs = self._move_unsaved_runs()
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


def _budget_fields(cfg: RunConfig) -> tuple:
    return (cfg.train.max_steps, cfg.train.epochs, cfg.eval.every,
            cfg.eval.early_stopping_patience)


def _fit_budget(cfg: RunConfig, items: int) -> RunConfig:
    from studio.config import budget

    return budget.apply(cfg, budget.suggest(items, cfg))


def _rewrite_project(run_dir: Path, project_file: str, runs_dir: str) -> None:
    """A moved run's config.toml names its project and its new runs folder (edited as
    TOML: exactly what ran stays, whatever it holds)."""
    cfg_path = run_dir / "config.toml"
    try:
        data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    data.setdefault("run", {}).update(project=project_file, runs_dir=runs_dir)
    tmp = cfg_path.with_name(cfg_path.name + ".tmp")
    tmp.write_text(dumps_toml(data), encoding="utf-8")
    os.replace(tmp, cfg_path)


def _lenient_config(data: dict, base: Path) -> RunConfig:
    """Like config_from_dict, but an empty dataset is allowed in a project being edited."""
    paths = data.get("data", {}).get("paths")
    if not paths:
        data["data"]["paths"] = ["<none>"]
        cfg = config_from_dict(data, base_dir=str(base))
        return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, paths=()))
    return config_from_dict(data, base_dir=str(base))

