"""The settings pane: a form over every engine option, generated from the config schema.

Each field of each section of ``studio.config.schema`` gets an editor chosen from its
type and metadata (choices -> combo box, bool -> check box, int -> spin box with the
schema's range, float / str -> line edit, tuple of str -> one item per line, tuple of
tables -> inline TOML), its help text as the tooltip, and a red message under it while
its value is invalid. Validation is ``studio.config.io`` itself, so the form and the CLI
reject the same values with the same words. Valid values are written straight to the
project (``project.set_config``). Fields marked ``advanced`` live in a collapsible
Advanced section. "Copy as CLI command" gives the ``studio train`` line that reproduces
the form.
"""

from __future__ import annotations

import dataclasses
import shlex
import tomllib
import typing
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.config import budget, config_from_dict, config_to_dict, families
from studio.config.io import _parse_override_value, _toml_value, plain
from studio.config.schema import SECTIONS, RunConfig, choices_of
from studio.config.validate import problems
from studio.core.errors import ConfigError
from studio.qt.widgets.wheel import wheel_only_when_focused
from studio.state.project import Project

ERROR_COLOR = "#d64541"
SECTION_TITLES = {"run": "Run", "model": "Model", "data": "Data", "train": "Training",
                  "eval": "Evaluation", "sample": "Samples", "checkpoint": "Checkpoints",
                  "freeze": "Freezing and LoRA"}
# Identity, not tuning: "Restore defaults" leaves these alone.
KEEP_ON_RESTORE = {("run", "name"), ("run", "runs_dir"), ("run", "family"), ("run", "project"),
                   ("model", "source"), ("model", "revision"), ("model", "trust_remote_code"),
                   ("data", "paths"), ("data", "text_field"), ("data", "csv_column"),
                   ("freeze", "groups")}
_INT_MAX = 2**31 - 1


def family_defaults(family: str, cfg: RunConfig | None = None) -> RunConfig:
    """The default settings of a model family (its spec's, as the CLI applies them); with
    ``cfg``, those that follow its model too (text-to-image: the model's resolution)."""
    defaults = families.default_config(family)
    if cfg is None:
        return defaults
    return families.follow_model(dataclasses.replace(defaults, model=cfg.model,
                                                     base_dir=cfg.base_dir))


LABELS = {"lr": "Learning rate", "ema_decay": "EMA decay", "val_fraction": "Validation fraction",
          "grad_accum": "Gradient accumulation", "grad_clip": "Gradient clip norm",
          "runs_dir": "Runs folder", "min_lr_ratio": "Final LR ratio", "eps": "Epsilon",
          "beta1": "Beta 1", "beta2": "Beta 2", "top_k": "Top-k", "top_p": "Top-p",
          "lr_first_ratio": "First group LR ratio", "lora_rank": "LoRA rank",
          "lora_alpha": "LoRA alpha", "lora_dropout": "LoRA dropout",
          "csv_column": "CSV column", "text_field": "JSONL text field",
          "max_new_tokens": "New tokens", "keep_best": "Keep the best weights",
          "every": "Every (steps)", "keep_last": "Keep last", "max_batches": "Max batches",
          "loudness_db": "Loudness (dBFS)", "noise_snr_db": "Noise SNR (dB)",
          "gain_db": "Gain (± dB)", "codes_cache": "Codes cache folder",
          "midi_tracks": "Tracks that train", "midi_tokenizer": "Tokenizer (MidiTok)",
          "midi_vocab": "Vocabulary (BPE)", "midi_cache_gb": "Token cache (GB)",
          "midi_transpose": "Transpose (± semitones)", "midi_velocity": "Velocity (±)",
          "midi_tempo": "Tempo (± share)", "midi_primer": "Primer file",
          "midi_primer_bars": "Primer bars", "midi_bars": "Bars per sample",
          "midi_free": "Pieces from scratch"}


def _label(key: str) -> str:
    if key in LABELS:
        return LABELS[key]
    text = key.replace("_", " ")
    return text[:1].upper() + text[1:]


# Settings edited elsewhere than this form: their names and where to fix them, in the
# window's words (the config's own fixes speak TOML, e.g. data.paths = [...]).
ELSEWHERE = {
    "data.paths": ("Training files", "drop files or a folder on the window, or use File › "
                                     "Add folder…"),
    "model.source": ("Base model", "choose one in the Model pane"),
    "freeze.groups": ("Layer groups", "tick them again in the Model pane's layer tree"),
}
FIXES = {
    "train.nesterov": "choose the sgd optimizer with a Momentum above 0, or untick Nesterov",
    "sample.prompts": "write a prompt in Samples › Prompts",
    "data.background": "write it as #rrggbb",
}


def field_name(path: str) -> str:
    """``train.lr`` -> "Learning rate (Training)": the label the form shows."""
    base = path.split("[", 1)[0]
    if base in ELSEWHERE:
        return ELSEWHERE[base][0]
    section, _, key = base.partition(".")
    return f"{_label(key)} ({SECTION_TITLES.get(section, _label(section))})"


def _bare_message(exc: ConfigError) -> str:
    """The error without its field path and without the config file's fix."""
    head = f"{exc.field}: "
    return exc.message[len(head):] if exc.message.startswith(head) else exc.message


def _gui_fix(exc: ConfigError) -> str:
    base = exc.field.split("[", 1)[0]
    if base in ELSEWHERE:
        return ELSEWHERE[base][1]
    return FIXES.get(base, "")


def describe_error(exc: ConfigError) -> str:
    """A config error in the window's words: the field as the form names it, what is
    wrong, and where to fix it (never TOML)."""
    fix = _gui_fix(exc)
    return f"{field_name(exc.field)}: {_bare_message(exc)}" + (f" — {fix}" if fix else "")


class _Invalid:
    """A field's text that does not even parse; ``message`` says why."""

    def __init__(self, message: str) -> None:
        self.message = message


# -- one editor per field ---------------------------------------------------------------------

class FieldEditor(QWidget):
    """An editor for one ``section.key``: ``value()`` (or an ``_Invalid``), ``set_value``,
    ``edited`` when the user changes it, and a red message line under it."""

    edited = Signal()

    def __init__(self, section: str, f: dataclasses.Field, typ: Any,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.section, self.key, self.typ = section, f.name, typ
        self.meta = dict(f.metadata)
        self.kind = self._kind()
        self.editor = self._make_editor()
        self.error = QLabel(self)
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {ERROR_COLOR};")
        self.error.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.editor)
        lay.addWidget(self.error)

    @property
    def path(self) -> str:
        return f"{self.section}.{self.key}"

    def _kind(self) -> str:
        origin = typing.get_origin(self.typ)
        if origin is tuple:
            inner = typing.get_args(self.typ)[0]
            return "tables" if dataclasses.is_dataclass(inner) else "strings"
        if choices_of(self.meta):
            return "choice"
        return {bool: "bool", int: "int", float: "float"}.get(self.typ, "str")

    def _make_editor(self) -> QWidget:
        k = self.kind
        if k == "bool":
            w = QCheckBox(self)
            w.toggled.connect(self.edited)
        elif k == "choice":
            w = wheel_only_when_focused(QComboBox(self))
            for c in choices_of(self.meta):
                w.addItem(str(c), c)
            w.activated.connect(lambda _i: self.edited.emit())
        elif k == "int":
            w = QSpinBox(self)
            lo = self.meta.get("min")
            hi = self.meta.get("max")
            lo = int(lo) + (1 if self.meta.get("min_exclusive") else 0) if lo is not None \
                else -_INT_MAX
            w.setRange(lo, int(hi) if hi is not None else _INT_MAX)
            wheel_only_when_focused(w)  # scrolling the form never changes a number
            w.setKeyboardTracking(False)  # one change per Enter / focus-out / arrow
            w.setAccelerated(True)
            w.valueChanged.connect(lambda _v: self.edited.emit())
        elif k == "strings":
            w = _ListEdit(self)
            w.setPlaceholderText("one per line")
            w.setTabChangesFocus(True)
            w.setFixedHeight(w.fontMetrics().lineSpacing() * 3 + 12)
            w.textChanged.connect(self._typing)
            w.focus_lost.connect(self._finished)
        else:  # float, str, tables
            w = QLineEdit(self)
            if k == "tables":
                w.setPlaceholderText('[{name = "block.0", mode = "frozen"}]')
            w.textEdited.connect(self._typing)
            w.editingFinished.connect(self._finished)
        return w

    # Line edits: checked on every keystroke, written on Enter / focus-out.
    def _typing(self, *_a) -> None:
        self.typing = True
        self.edited.emit()

    def _finished(self) -> None:
        self.typing = False
        self.edited.emit()

    typing = False

    def value(self) -> Any:
        w, k = self.editor, self.kind
        if k == "bool":
            return w.isChecked()
        if k == "choice":
            return w.currentData()
        if k == "int":
            return w.value()
        if k == "strings":
            return tuple(line.strip() for line in w.toPlainText().splitlines() if line.strip())
        text = w.text()
        if k == "float":
            try:
                return float(text.strip())
            except ValueError:
                return _Invalid(f"expected a number, got {text.strip()!r}"
                                if text.strip() else "needs a number")
        if k == "tables":
            t = text.strip()
            if not t:
                return ()
            try:
                v = tomllib.loads(f"v = {t}")["v"]
            except tomllib.TOMLDecodeError as exc:
                return _Invalid(f"not a list of tables ({exc})")
            return v
        return text

    def set_value(self, value: Any) -> None:
        w, k = self.editor, self.kind
        w.blockSignals(True)
        try:
            if k == "bool":
                w.setChecked(bool(value))
            elif k == "choice":
                w.setCurrentIndex(max(0, w.findData(value)))
            elif k == "int":
                w.setValue(int(value))
            elif k == "strings":
                w.setPlainText("\n".join(value))
            elif k == "float":
                w.setText(repr(float(value)))
            elif k == "tables":
                plain = [{f.name: getattr(g, f.name) for f in dataclasses.fields(g)}
                         if dataclasses.is_dataclass(g) else g for g in value]
                w.setText(_toml_value(plain) if plain else "")
            else:
                w.setText(str(value))
        finally:
            w.blockSignals(False)

    def same_as(self, value: Any) -> bool:
        mine = self.value()
        if self.kind == "tables":
            plain = [{f.name: getattr(g, f.name) for f in dataclasses.fields(g)}
                     if dataclasses.is_dataclass(g) else g for g in value]
            return mine == plain or (mine == () and not plain)
        return mine == value

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))



class _ListEdit(QPlainTextEdit):
    """One item per line; ``focus_lost`` ends an edit like a line edit's editingFinished."""

    focus_lost = Signal()

    def focusOutEvent(self, event) -> None:
        super().focusOutEvent(event)
        self.focus_lost.emit()


class Collapsible(QWidget):
    """A titled section that folds away (closed by default)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.button = QToolButton(self)
        self.button.setText(title)
        self.button.setCheckable(True)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.setArrowType(Qt.ArrowType.RightArrow)
        self.button.setStyleSheet("QToolButton { border: none; font-weight: bold; }")
        self.body = QWidget(self)
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setContentsMargins(0, 0, 0, 0)
        self.body.hide()
        self.button.toggled.connect(self.set_open)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.button)
        lay.addWidget(self.body)

    def set_open(self, on: bool) -> None:
        self.button.blockSignals(True)
        self.button.setChecked(on)
        self.button.blockSignals(False)
        self.button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.body.setVisible(on)

    @property
    def is_open(self) -> bool:
        return self.body.isVisibleTo(self)


# -- the pane -------------------------------------------------------------------------------------

class SettingsPane(QWidget):
    """Every run setting, validated as you type, written through to the project."""

    cli_copied = Signal(str)

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.editors: dict[str, FieldEditor] = {}
        self._labels: dict[str, QLabel] = {}
        self._pending: dict[str, Any] = {}

        self.family_label = QLabel(self)
        self.restore_button = QPushButton("Restore defaults", self)
        self.restore_button.setToolTip("Put every training setting back to the model family's "
                                       "defaults (the dataset, model and run name stay)")
        self.restore_button.clicked.connect(self._ask_restore)
        self.copy_button = QPushButton("Copy as CLI command", self)
        self.copy_button.setToolTip("Copy a `studio train` command that runs these settings "
                                    "from a terminal")
        self.copy_button.clicked.connect(self.copy_cli_command)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.family_label.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.restore_button)
        buttons.addWidget(self.copy_button)
        buttons.addStretch(1)
        top = QVBoxLayout()
        top.addWidget(self.family_label)
        top.addLayout(buttons)

        body = QWidget(self)
        body_lay = QVBoxLayout(body)
        body_lay.setContentsMargins(0, 0, 4, 0)
        self.advanced = Collapsible("Advanced", body)
        self._rows: dict = {}
        for section, cls in SECTIONS.items():
            if section == "freeze":
                continue  # the layer tree in the Model pane is the freeze plan's editor
            types = typing.get_type_hints(cls)
            shown = [f for f in dataclasses.fields(cls) if not f.metadata.get("hidden")]
            plain = [f for f in shown if not f.metadata.get("advanced")]
            adv = [f for f in shown if f.metadata.get("advanced")]
            if plain:
                body_lay.addWidget(self._group(section, plain, types, body))
            if adv:
                self.advanced.body_layout.addWidget(self._group(section, adv, types,
                                                                self.advanced.body))
        body_lay.addWidget(self.advanced)
        body_lay.addStretch(1)
        # one label column for every group, so the fields line up down the form
        width = max(label.sizeHint().width() for label in self._labels.values())
        for label in self._labels.values():
            label.setMinimumWidth(width)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(top)
        lay.addWidget(self.status)
        lay.addWidget(scroll, 1)
        self.status.hide()

        self._unsubscribe = project.subscribe(self._on_project)
        self.destroyed.connect(lambda *_a, u=self._unsubscribe: u())
        self.load_from_project()

    def _group(self, section: str, fields, types, parent) -> QGroupBox:
        box = QGroupBox(SECTION_TITLES.get(section, _label(section)), parent)
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        for f in fields:
            ed = FieldEditor(section, f, types[f.name], box)
            ed.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            label = QLabel(_label(f.name), box)
            label.setBuddy(ed.editor)
            tip = self._tooltip(section, f)
            label.setToolTip(tip)
            ed.editor.setToolTip(tip)
            ed.edited.connect(lambda ed=ed: self._edited(ed))
            form.addRow(label, ed)
            self.editors[ed.path] = ed
            self._labels[ed.path] = label
            self._rows[ed.path] = (form, box, f.metadata.get("families"))
            if ed.path == "train.epochs":  # what the step count means for this data
                self.budget_label = QLabel(box)
                self.budget_label.setWordWrap(True)
                self.budget_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
                form.addRow("", self.budget_label)
        return box

    def confirm_remote_code(self) -> bool:
        """Ticking trust_remote_code runs the model's own Python code: say so, default No.
        The answer holds for this model only (Project drops it when the source changes)."""
        source = self.project.config.model.source or "this model"
        answer = QMessageBox.warning(
            self, "Run code shipped with the model?",
            f"Trusting remote code lets {source} run its own Python files on this computer "
            "when it loads, with your user's rights: it can read and change your files and "
            "use the network.\n\nOnly tick this for a model whose authors you trust and whose "
            "code you have read. The studio never needs it for its starters or for models of "
            "the standard architectures.\n\nTrust the code of this model?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _show_family_fields(self, family: str) -> None:
        """Only the settings the chosen family honours are shown (no knob that does nothing)."""
        boxes: dict = {}
        for path, (form, box, knob_families) in self._rows.items():
            visible = families.knob_applies(family, path, knob_families)
            form.setRowVisible(self._labels[path], visible)
            boxes[box] = boxes.get(box, False) or visible
        for box, any_visible in boxes.items():
            box.setVisible(any_visible)

    def _tooltip(self, section: str, f: dataclasses.Field) -> str:
        m = f.metadata
        lines = [f"<b>{section}.{f.name}</b>", m.get("help", "")]
        rng = []
        if choices_of(m):
            rng.append("one of " + ", ".join(map(str, choices_of(m))))
        if m.get("min") is not None:
            rng.append(f"{'>' if m.get('min_exclusive') else '≥'} {m['min']}")
        if m.get("max") is not None:
            rng.append(f"≤ {m['max']}")
        if rng:
            lines.append("Allowed: " + ", ".join(rng))
        cfg = self.project.config
        default = getattr(getattr(family_defaults(cfg.run.family, cfg), section), f.name)
        if not (isinstance(default, tuple) and default and dataclasses.is_dataclass(default[0])):
            lines.append(f"Default ({self.project.config.run.family}): "
                         f"{_toml_value(list(default) if isinstance(default, tuple) else default)}")
        return "<br>".join(lines)

    # -- project -> form -----------------------------------------------------------------
    def load_from_project(self) -> None:
        cfg = self.project.config
        defaults = family_defaults(cfg.run.family, cfg)
        for path, ed in self.editors.items():
            if path in self._pending:
                continue  # the user's unfinished edit wins until it is valid
            value = getattr(getattr(cfg, ed.section), ed.key)
            if not ed.same_as(value):
                ed.set_value(value)
            ed.show_error("")
            changed = value != getattr(getattr(defaults, ed.section), ed.key)
            font: QFont = self._labels[path].font()
            font.setBold(changed)
            self._labels[path].setFont(font)
        self.family_label.setText(f"Settings for the <b>{families.get(cfg.run.family).title}</b> family "
                                  f"(bold: changed from its defaults)")
        self._show_family_fields(cfg.run.family)
        self._show_budget()

    def _show_budget(self) -> None:
        text = budget.describe(self.project.config, self.project.data_items)
        if self.project.auto_budget and text:
            text += " — set from the size of your data (change it and it stays yours)"
        self.budget_label.setText(text)
        self.budget_label.setVisible(bool(text))

    def _on_project(self, what: str) -> None:
        if what in ("config", "model", "dataset", "saved", "loaded"):
            self.load_from_project()
        elif what == "data_items":
            self._show_budget()

    # -- form -> project -----------------------------------------------------------------
    def validate_form(self) -> tuple[RunConfig | None, dict[str, str]]:
        """The project's config with every pending edit, and the errors of the form by
        field path (all of them at once); the config is None while any error remains."""
        errors = {p: v.message for p, v in self._pending.items() if isinstance(v, _Invalid)}
        data = config_to_dict(self.project.config)
        for path, value in self._pending.items():
            if not isinstance(value, _Invalid):
                section, key = path.split(".", 1)
                data[section][key] = value
        placeholder = not data["data"]["paths"]
        if placeholder:  # a project being edited may have no files yet (not this form's)
            data["data"]["paths"] = ["<none>"]
        for exc in problems(data, base_dir=self.project.config.base_dir):
            where = self._editor_for(exc.field)
            path = where.path if where is not None else next(iter(self._pending), exc.field)
            fix = _gui_fix(exc)
            errors.setdefault(path, _bare_message(exc) + (f" — {fix}" if fix else ""))
        if errors:
            return None, errors
        cfg = config_from_dict(data, base_dir=self.project.config.base_dir)
        if placeholder:
            cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, paths=()))
        return cfg, {}

    def _show_errors(self, errors: dict[str, str]) -> None:
        """Each message under its field; a closed Advanced section opens to show one."""
        for path, ed in self.editors.items():
            ed.show_error(errors.get(path, ""))
            if path in errors and self.advanced.body.isAncestorOf(ed):
                self.advanced.set_open(True)

    def _edited(self, ed: FieldEditor) -> None:
        value = ed.value()
        if ed.path == "model.trust_remote_code" and value is True \
                and not self.project.config.model.trust_remote_code \
                and not self.confirm_remote_code():
            ed.set_value(False)
            return
        self._pending[ed.path] = value
        cfg, errors = self.validate_form()
        self._show_errors(errors)
        if errors or ed.typing:
            return  # valid so far while typing: written on Enter or when focus leaves
        self._commit(cfg)

    def _commit(self, cfg: RunConfig) -> None:
        self._pending.clear()
        self.project.set_config(cfg)
        self.load_from_project()

    def apply_pending(self) -> dict[str, str]:
        """Before a run: write what the form shows to the project, so the run uses exactly
        that. Returns the errors ({field path: "Label (Section): message"}) when any field
        is invalid; then nothing is written and every error shows on its field."""
        if not self._pending:
            return {}
        cfg, errors = self.validate_form()
        self._show_errors(errors)
        if errors:
            return {p: f"{field_name(p)}: {m}" for p, m in errors.items()}
        self._commit(cfg)
        return {}

    def _editor_for(self, field_path: str) -> FieldEditor | None:
        base = field_path.split("[", 1)[0]
        return self.editors.get(base)

    @property
    def errors(self) -> dict[str, str]:
        return {p: ed.error.text() for p, ed in self.editors.items()
                if not ed.error.isHidden() and ed.error.text()}

    # -- restore defaults ----------------------------------------------------------------
    def _ask_restore(self) -> None:
        fam = self.project.config.run.family
        answer = QMessageBox.question(
            self, "Restore defaults",
            f"Put every training setting back to the {fam} family's defaults? The dataset, "
            "the model and the run name stay as they are.")
        if answer == QMessageBox.StandardButton.Yes:
            self.restore_defaults()

    def restore_defaults(self) -> int:
        """Reset the tuning settings to the family's defaults; return how many changed."""
        cfg = self.project.config
        defaults = family_defaults(cfg.run.family, cfg)
        changes = 0
        new = cfg
        for section in SECTIONS:
            current = getattr(new, section)
            values = {}
            for f in dataclasses.fields(current):
                if (section, f.name) in KEEP_ON_RESTORE:
                    continue
                d = getattr(getattr(defaults, section), f.name)
                if getattr(current, f.name) != d:
                    values[f.name] = d
            if values:
                changes += len(values)
                new = dataclasses.replace(new, **{section: dataclasses.replace(current,
                                                                               **values)})
        self._pending.clear()
        self.project.set_config(new)
        self.load_from_project()
        self._say(f"Restored {changes} setting{'s' if changes != 1 else ''} to the "
                  f"{cfg.run.family} defaults." if changes else "Already at the defaults.")
        return changes

    # -- the CLI ---------------------------------------------------------------------------
    def cli_overrides(self) -> list[str]:
        """``section.key=value`` for the settings that differ from the saved project file
        (every setting when the project has not been saved)."""
        cfg = self.project.config
        base: RunConfig | None = None
        path = self.project.path
        if path is not None and Path(path).is_file():
            try:
                base = Project.load(path).config
            except ConfigError:
                base = None
        out = []
        for section in SECTIONS:
            now, then = getattr(cfg, section), getattr(base, section) if base else None
            for f in dataclasses.fields(now):
                v = getattr(now, f.name)
                if f.metadata.get("hidden") or then is not None and getattr(then, f.name) == v:
                    continue
                out.append(f"{section}.{f.name}={_cli_value(v)}")
        return out

    def copy_cli_command(self) -> str:
        """Return ``studio train <project file> section.key=value ...`` and put it on the
        clipboard."""
        path = self.project.path
        target = str(path) if path is not None else "PROJECT.toml"
        parts = ["studio", "train", target] + self.cli_overrides()
        command = " ".join(shlex.quote(p) for p in parts)
        QApplication.clipboard().setText(command)
        if path is None:
            self._say("Copied. The project is not saved yet, so the command lists every "
                      "setting; save the project as PROJECT.toml (or edit the name).")
        elif self.project.dirty:
            self._say("Copied: the saved project plus the settings changed since it was "
                      "saved. Excluded files are only in the saved project.")
        else:
            self._say("Copied: the project file holds every setting.")
        self.cli_copied.emit(command)
        return command

    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))


def _cli_value(value: Any) -> str:
    """A value as the CLI's override parser reads it back (bare words where unambiguous)."""
    if isinstance(value, str):
        if value and value == value.strip() and _parse_override_value(value) == value \
                and "=" not in value and "#" not in value:
            return value
        return _toml_value(value)
    return _toml_value(plain(value))
