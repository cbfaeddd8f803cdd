"""The layer tree pane: the model as a tree you tick, with an unfreeze timeline you drag.

The Qt view of one ``studio.state.freeze_tree.FreezeTree`` (which reads and writes the
project's ``freeze`` section): a tick per group (ticked = trains) with tri-state parents,
per-group mode (Full / LoRA / Frozen), learning-rate multiplier and start step, the
timeline beside the tree with a draggable handle per group, presets, the discriminative
rates helper, LoRA settings, and a live line of trainable parameters and estimated
training memory (``estimate_memory`` and ``positions`` of ``studio.models.freeze``, which
the app injects: the pane imports neither torch nor ``studio.models``).

Use: ``pane = LayerTreePane(project)``; once a model is loaded,
``pane.set_groups(inspection.groups, inspection.info)`` (``studio.models.inspect``)
(or a plain dict with n_layer, d_model, vocab, n_head, total_params). When the number of
training examples is known, ``pane.set_train_examples(n)`` lets a run set in epochs show
its length in steps.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QTreeWidgetItemIterator,
    QVBoxLayout,
    QWidget,
)

from studio.config.schema import FreezeConfig
from studio.core import units
from studio.qt.layer_tree.timeline import (
    FROZEN_COLOR,
    MODE_COLORS,
    Track,
    UnfreezeTimeline,
    nice_ceil,
)
from studio.state.freeze_tree import (
    MODE_TITLES,
    FreezeTree,
    GroupInfo,
    approx_lora_per_rank,
    discriminative_factor,
    run_length,
)
from studio.state.project import Project

ERROR_CSS = "color: #d64541;"
MODES = ("full", "lora", "frozen")
OPTIMIZER_TITLES = {"adamw": "AdamW", "adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}
COL_GROUP, COL_PARAMS, COL_MODE, COL_LR, COL_START = range(5)
KEY_ROLE = Qt.ItemDataRole.UserRole
_INT_MAX = 2**31 - 1
MAX_STEPS = 9_999_999  # spin boxes: wide enough for any run, narrow on screen
PRESETS = (("none", "Everything", "Every group trains, in full, from step 0"),
           ("head_only", "Head only", "Only the head (and the final norm) trains; a tied head "
                                      "trains through the embeddings"),
           ("gradual", "Gradual (top-down)", "ULMFiT's gradual unfreezing: the head first, "
                                             "then one more group every N steps, top down"),
           ("lower_half_frozen", "Lower half frozen", "The embeddings and the lower half of "
                                                      "the blocks stay frozen"))


def _help(name: str) -> str:
    import dataclasses
    for f in dataclasses.fields(FreezeConfig):
        if f.name == name:
            return f.metadata.get("help", "")
    return ""


class _NoWheelUnlessFocused(QObject):
    """Scrolling the tree must not change the combo or spin box under the mouse."""

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Wheel and not obj.hasFocus():
            event.ignore()
            return True
        return False


class RateSpin(QDoubleSpinBox):
    """A learning-rate multiplier: three significant digits, steps that fit the size."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(6)
        self.setRange(1e-6, 100.0)
        self.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self.setKeyboardTracking(False)
        self.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("0.00123") + 30)

    def textFromValue(self, value: float) -> str:
        return f"{value:.3g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text.replace(",", "."))
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        from PySide6.QtGui import QValidator
        t = text.replace(",", ".")
        if t in ("", ".", "0", "0."):
            return QValidator.State.Intermediate, text, pos
        try:
            v = float(t)
        except ValueError:
            return QValidator.State.Invalid, text, pos
        ok = self.minimum() <= v <= self.maximum()
        return (QValidator.State.Acceptable if ok else QValidator.State.Intermediate), text, pos


class DiscriminativeDialog(QDialog):
    """Spread the rates geometrically from the first group to the last (fastai's slice)."""

    def __init__(self, tree: FreezeTree, base_lr: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Discriminative rates")
        self.tree = tree
        self.base_lr = base_lr
        intro = QLabel(
            "Lower layers hold general knowledge; higher ones are closer to the task. "
            "Give the first group a fraction of the learning rate, rising geometrically "
            "to the full rate at the head (ULMFiT's discriminative fine-tuning, fastai's "
            "<tt>slice(lo, hi)</tt>). Each group's own multiplier goes back to 1.", self)
        intro.setWordWrap(True)
        self.ratio_spin = RateSpin(self)
        self.ratio_spin.setRange(0.0001, 1.0)
        self.ratio_spin.setValue(tree.config.lr_first_ratio)
        self.ratio_spin.setKeyboardTracking(True)
        self.ratio_spin.setToolTip(_help("lr_first_ratio"))
        self.ratio_spin.valueChanged.connect(self._preview)
        off = QPushButton("Turn off", self)
        off.setToolTip("Every group at the full rate (ratio 1)")
        off.clicked.connect(lambda: self.ratio_spin.setValue(1.0))
        row = QHBoxLayout()
        row.addWidget(QLabel("First group's rate:", self))
        row.addWidget(self.ratio_spin)
        row.addWidget(QLabel("× the last group's", self))
        row.addStretch(1)
        row.addWidget(off)
        self.preview = QTreeWidget(self)
        self.preview.setRootIsDecorated(False)
        self.preview.setHeaderLabels(["Group", "LR ×", "Learning rate"])
        self.preview.setAlternatingRowColors(True)
        self.preview.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.preview.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.preview.setMinimumHeight(200)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Apply")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(row)
        lay.addWidget(self.preview, 1)
        lay.addWidget(buttons)
        self.resize(440, 420)
        self._preview()

    @property
    def ratio(self) -> float:
        return self.ratio_spin.value()

    def _preview(self) -> None:
        self.preview.clear()
        n = len(self.tree.groups)
        for i, g in enumerate(self.tree.groups):
            f = discriminative_factor(i, n, self.ratio)
            item = QTreeWidgetItem([g.title or g.name, f"{f:.3g}", f"{self.base_lr * f:.3g}"])
            for c in (1, 2):
                item.setTextAlignment(c, Qt.AlignmentFlag.AlignRight
                                      | Qt.AlignmentFlag.AlignVCenter)
            self.preview.addTopLevelItem(item)
        for c in (1, 2):
            self.preview.resizeColumnToContents(c)


class LayerTreePane(QWidget):
    """Tick what trains, choose how, drag when it starts. Writes ``project.config.freeze``."""

    plan_changed = Signal()       # after every change of the plan shown
    groups_changed = Signal()     # after set_groups

    def __init__(self, project: Project, parent: QWidget | None = None,
                 memory=None) -> None:
        """``memory``: what estimates training memory (``estimate_memory(...)``,
        ``positions(shape, data)``); the app's (``services.current().memory``) when None."""
        super().__init__(parent)
        self.project = project
        self._memory = memory
        self.state: FreezeTree | None = None
        self.model_info: dict = {}
        self.train_examples: int | None = None
        self._items: dict[str, QTreeWidgetItem] = {}
        self._combos: dict[str, QComboBox] = {}
        self._lr_spins: dict[str, RateSpin] = {}
        self._start_spins: dict[str, QSpinBox] = {}
        self._syncing = False
        self._fitted = False
        self._no_wheel = _NoWheelUnlessFocused(self)
        self._layout_timer = QTimer(self)
        self._layout_timer.setSingleShot(True)
        self._layout_timer.setInterval(0)
        self._layout_timer.timeout.connect(self._place_tracks)

        # -- presets and helpers -------------------------------------------------------------
        self.preset_group = QButtonGroup(self)
        self.preset_group.setExclusive(True)
        self.preset_buttons: dict[str, QPushButton] = {}
        presets = QHBoxLayout()
        presets.setSpacing(4)
        presets.addWidget(QLabel("Start from:", self))
        for key, title, tip in PRESETS:
            b = QPushButton(title, self)
            b.setCheckable(True)
            b.setToolTip(tip + ". Pressing it again clears your changes to the preset.")
            b.clicked.connect(lambda _c=False, k=key: self.apply_preset(k))
            self.preset_group.addButton(b)
            self.preset_buttons[key] = b
            presets.addWidget(b)
            if key == "gradual":
                self.gradual_every_spin = QSpinBox(self)
                self.gradual_every_spin.setRange(1, 99_999)
                self.gradual_every_spin.setPrefix("every ")
                self.gradual_every_spin.setSuffix(" steps")
                self.gradual_every_spin.setKeyboardTracking(False)
                self.gradual_every_spin.setToolTip(_help("gradual_every"))
                self.gradual_every_spin.valueChanged.connect(self._on_gradual_every)
                self.gradual_every_spin.setSizePolicy(QSizePolicy.Policy.Fixed,
                                                      QSizePolicy.Policy.Fixed)
                presets.addWidget(self.gradual_every_spin)
        presets.addStretch(1)
        self.disc_button = QPushButton("Discriminative rates…", self)
        self.disc_button.setToolTip(_help("lr_first_ratio"))
        self.disc_button.clicked.connect(self.open_discriminative)
        self.disc_label = QLabel(self)
        self.disc_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self._disc_dialog: DiscriminativeDialog | None = None

        # -- the tree and the timeline ---------------------------------------------------------
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(5)
        self.tree.setHeaderLabels(["Group", "Parameters", "Mode", "LR ×", "Starts at step"])
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.tree.setIndentation(14)
        header = self.tree.header()
        header.setStretchLastSection(False)
        # every column as wide as its contents, the group names too: stretched, "Group"
        # got what the others left and read "Blo…" in a docked window; a narrow dock
        # scrolls the tree sideways instead
        for c in (COL_GROUP, COL_PARAMS, COL_MODE, COL_LR, COL_START):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(40)
        for c, tip in ((COL_GROUP, "Ticked groups train"),
                       (COL_PARAMS, "Parameters in the group (tied weights counted once)"),
                       (COL_MODE, "Full: every weight trains · LoRA: small adapters train, "
                                  "the weights stay frozen · Frozen: untouched"),
                       (COL_LR, "The group's learning rate as a multiple of train.lr "
                                "(discriminative rates included)"),
                       (COL_START, "Optimizer step at which the group starts training "
                                   "(drag its handle on the timeline)")):
            self.tree.headerItem().setToolTip(c, tip)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.currentItemChanged.connect(self._on_current_item)
        self.tree.itemExpanded.connect(lambda _i: self._layout_timer.start())
        self.tree.itemCollapsed.connect(lambda _i: self._layout_timer.start())
        self.tree.verticalScrollBar().valueChanged.connect(lambda _v: self._place_tracks())
        self.tree.viewport().installEventFilter(self)
        header.geometriesChanged.connect(self._layout_timer.start)

        self.timeline = UnfreezeTimeline(self)
        self.timeline.wheel_target = self.tree.viewport()
        self.timeline.start_changed.connect(self._on_timeline_start)
        self.timeline.start_previewed.connect(self._on_timeline_preview)
        self.timeline.selection_changed.connect(self._on_timeline_selected)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.tree)
        self.splitter.addWidget(self.timeline)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.splitterMoved.connect(lambda *_a: self._layout_timer.start())

        self.axis_label = QLabel(self)
        self.axis_label.setWordWrap(True)
        self.axis_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.problems_label = QLabel(self)
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet(ERROR_CSS)
        self.problems_label.linkActivated.connect(self._on_problem_link)
        self.problems_label.hide()

        # -- LoRA and warm-up ------------------------------------------------------------------
        self.lora_rank_spin = QSpinBox(self)
        self.lora_rank_spin.setRange(1, 1024)
        self.lora_rank_spin.setToolTip(_help("lora_rank"))
        self.lora_alpha_spin = QDoubleSpinBox(self)
        self.lora_alpha_spin.setRange(0.01, 10_000.0)
        self.lora_alpha_spin.setDecimals(2)
        self.lora_alpha_spin.setToolTip(_help("lora_alpha"))
        self.lora_dropout_spin = QDoubleSpinBox(self)
        self.lora_dropout_spin.setRange(0.0, 0.9)
        self.lora_dropout_spin.setSingleStep(0.05)
        self.lora_dropout_spin.setDecimals(2)
        self.lora_dropout_spin.setToolTip(_help("lora_dropout"))
        self.warmup_spin = QSpinBox(self)
        self.warmup_spin.setRange(0, MAX_STEPS)
        self.warmup_spin.setSuffix(" steps")
        self.warmup_spin.setToolTip(_help("unfreeze_warmup_steps"))
        for s in (self.lora_rank_spin, self.lora_alpha_spin, self.lora_dropout_spin,
                  self.warmup_spin):
            s.setKeyboardTracking(False)
        self.lora_rank_spin.valueChanged.connect(lambda v: self._edit("set_lora", rank=v))
        self.lora_alpha_spin.valueChanged.connect(lambda v: self._edit("set_lora", alpha=v))
        self.lora_dropout_spin.valueChanged.connect(
            lambda v: self._edit("set_lora", dropout=round(v, 4)))
        self.warmup_spin.valueChanged.connect(lambda v: self._edit("set_unfreeze_warmup", v))
        self.lora_row = QWidget(self)
        grid = QGridLayout(self.lora_row)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setVerticalSpacing(4)
        self.lora_title = QLabel("LoRA adapters:", self)
        grid.addWidget(self.lora_title, 0, 0)
        row = QHBoxLayout()
        row.setSpacing(6)
        for label, w in (("rank", self.lora_rank_spin), ("alpha", self.lora_alpha_spin),
                         ("dropout", self.lora_dropout_spin)):
            row.addWidget(QLabel(label, self))
            row.addWidget(w)
            row.addSpacing(6)
        row.addStretch(1)
        grid.addLayout(row, 0, 1)
        grid.addWidget(QLabel("Learning rates:", self), 1, 0)
        row = QHBoxLayout()
        row.setSpacing(6)
        row.addWidget(self.disc_button)
        row.addWidget(self.disc_label)
        row.addSpacing(12)
        row.addWidget(QLabel("warm-up after unfreezing", self))
        row.addWidget(self.warmup_spin)
        row.addStretch(1)
        grid.addLayout(row, 1, 1)
        grid.setColumnStretch(1, 1)

        # -- the live line -------------------------------------------------------------------
        self.estimate_label = QLabel(self)
        self.estimate_label.setWordWrap(True)
        self.estimate_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        f = QFont(self.estimate_label.font())
        f.setBold(True)
        self.estimate_label.setFont(f)
        self.estimate_detail = QLabel(self)
        self.estimate_detail.setWordWrap(True)
        self.estimate_detail.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        self.placeholder = QLabel("The layer tree appears here once a model is loaded.", self)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        self.body = QWidget(self)
        body = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(6)
        body.addLayout(presets)
        body.addWidget(self.splitter, 1)
        body.addWidget(self.axis_label)
        body.addWidget(self.problems_label)
        line = QFrame(self)
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        body.addWidget(line)
        body.addWidget(self.lora_row)
        body.addWidget(self.estimate_label)
        body.addWidget(self.estimate_detail)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.placeholder, 1)
        lay.addWidget(self.body, 1)
        self.body.hide()

        self._unsubscribe = project.subscribe(self._on_project)
        self._states: list[FreezeTree] = []  # what to detach from the project at the end

        def detach(*_a, u=self._unsubscribe, states=self._states):
            u()
            for s in states:
                s.detach()

        self.destroyed.connect(detach)

    # -- public ----------------------------------------------------------------------------------
    def set_groups(self, groups: Sequence[Any], model_info: dict | None = None) -> None:
        """Show a model's layer groups (``family.layer_groups(loaded)``). ``model_info``:
        n_layer, d_model, vocab, n_head, total_params, and optionally lora_per_rank and
        param_shapes (``studio.models.inspect.describe_model`` gives all of them)."""
        info = dict(model_info or {})
        self.model_info = info
        d, vocab = int(info.get("d_model", 0) or 0), int(info.get("vocab", 0) or 0)
        exact = info.get("lora_per_rank") or {}
        modules = info.get("lora_modules") or {}
        infos = []
        for g in groups:
            gi = GroupInfo.of(g)
            if gi.name in exact:
                lpr, ok = int(exact[gi.name]), True
            else:
                lpr, ok = approx_lora_per_rank(gi.name, gi.count, d, vocab), False
            infos.append(GroupInfo(gi.name, gi.title, gi.count, gi.note, lpr, ok,
                                   tuple((modules.get(gi.name) or {}).items())))
        if self.state is not None:
            self.state.detach()
        self.state = FreezeTree(infos, project=self.project)
        self._states[:] = [self.state]
        self.state.subscribe(self._on_state)
        self._build(list(groups))
        self._fitted = False
        self.placeholder.hide()
        self.body.show()
        self._sync(first=True)
        self.groups_changed.emit()

    def clear(self, message: str = "") -> None:
        """Back to the placeholder (no model, or it could not be loaded)."""
        if self.state is not None:
            self.state.detach()
            self.state = None
        self.tree.clear()
        self._items.clear()
        self._combos.clear()
        self._lr_spins.clear()
        self._start_spins.clear()
        self.timeline.set_tracks([], 0, 0)
        self.placeholder.setText(message or "The layer tree appears here once a model is "
                                            "loaded.")
        self.body.hide()
        self.placeholder.show()

    def set_train_examples(self, n: int | None) -> None:
        """Training examples (blocks) of the dataset, for a run length set in epochs."""
        self.train_examples = n
        if self.state is not None:
            self._sync_axis()
            self._place_tracks()

    def apply_preset(self, preset: str) -> None:
        if self.state is not None:
            self.state.apply_preset(preset, self.gradual_every_spin.value())

    def open_discriminative(self) -> DiscriminativeDialog | None:
        """The discriminative-rates dialog (window-modal; Apply writes the ratio)."""
        if self.state is None:
            return None
        dlg = DiscriminativeDialog(self.state, self.project.config.train.lr, self)
        dlg.accepted.connect(lambda: self.state and self.state.set_discriminative(dlg.ratio))
        dlg.finished.connect(dlg.deleteLater)
        self._disc_dialog = dlg
        dlg.open()
        return dlg

    def item(self, key: str) -> QTreeWidgetItem:
        return self._items[key]

    def mode_combo(self, key: str) -> QComboBox:
        return self._combos[key]

    def lr_spin(self, name: str) -> RateSpin:
        return self._lr_spins[name]

    def start_spin(self, name: str) -> QSpinBox:
        return self._start_spins[name]

    # -- building ---------------------------------------------------------------------------------
    def _build(self, groups: list[Any]) -> None:
        st = self.state
        self._syncing = True
        self.tree.clear()
        self._items.clear()
        self._combos.clear()
        self._lr_spins.clear()
        self._start_spins.clear()
        shapes = self.model_info.get("param_shapes") or {}
        params_of = {g.name: list(getattr(g, "params", []) or []) for g in groups}
        total = max(1, st.total_params)
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter

        def add(node, parent):
            item = QTreeWidgetItem()
            item.setData(COL_GROUP, KEY_ROLE, node.key)
            item.setText(COL_GROUP, node.title)
            if parent is None:
                self.tree.addTopLevelItem(item)
            else:
                parent.addChild(item)
            self._items[node.key] = item
            members = node.members()
            count = sum(st.row(n).info.count for n in members)
            row = st.row(node.group) if node.is_group else None
            if row is not None and not row.info.has_params:
                item.setFirstColumnSpanned(True)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                tip = row.info.note or "no parameters of its own"
                item.setText(COL_GROUP, f"{node.title} — {tip}")
                if row.info.tied:
                    tip += (". Its output layer is the embedding matrix, counted once, under "
                            f"{st.tied_to(node.group).title}")
                item.setToolTip(COL_GROUP, f"{node.title}: {tip}.")
                item.setForeground(COL_GROUP, self.palette().brush(
                    QPalette.ColorRole.PlaceholderText))
                return item
            item.setText(COL_PARAMS, f"{count:,}")
            item.setTextAlignment(COL_PARAMS, right)
            item.setToolTip(COL_PARAMS, f"{count:,} parameters · {count / total:.1%} of the "
                                        "model")
            tip = node.title if node.is_group else f"{node.title}: {len(members)} groups"
            if row is not None and row.info.note:
                tip += f"\n{row.info.note}"
            if row is not None:
                tip += f"\n(freeze.groups name: {row.name})"
            item.setToolTip(COL_GROUP, tip)
            flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
            if st.checkable(node.key):
                flags |= Qt.ItemFlag.ItemIsUserCheckable
            item.setFlags(flags)
            if st.checkable(node.key):
                combo = QComboBox(self.tree)
                for m in MODES:
                    combo.addItem(MODE_TITLES[m], m)
                combo.setPlaceholderText("Mixed")
                combo.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
                combo.installEventFilter(self._no_wheel)
                if node.is_group and not row.info.lora_possible:
                    combo.model().item(MODES.index("lora")).setEnabled(False)
                    combo.setItemData(MODES.index("lora"), "No linear or conv layers to adapt",
                                      Qt.ItemDataRole.ToolTipRole)
                if not node.is_group:
                    combo.setToolTip(f"Set every group of {node.title}. LoRA applies where "
                                     "a group has linear layers; the others are frozen.")
                combo.activated.connect(lambda i, k=node.key, c=combo:
                                        self._edit("set_mode", k, c.itemData(i)))
                self.tree.setItemWidget(item, COL_MODE, combo)
                self._combos[node.key] = combo
            if node.is_group:
                lr = RateSpin(self.tree)
                lr.installEventFilter(self._no_wheel)
                lr.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
                lr.valueChanged.connect(lambda v, k=node.key: self._edit("set_lr", k, v))
                self.tree.setItemWidget(item, COL_LR, lr)
                self._lr_spins[node.key] = lr
                start = QSpinBox(self.tree)
                start.setRange(0, MAX_STEPS)
                start.setKeyboardTracking(False)
                start.setAlignment(Qt.AlignmentFlag.AlignRight)
                start.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
                start.installEventFilter(self._no_wheel)
                start.valueChanged.connect(
                    lambda v, k=node.key: self._edit("set_start_step", k, v))
                self.tree.setItemWidget(item, COL_START, start)
                self._start_spins[node.key] = start
                self._add_params(item, node.key, params_of.get(node.key, []), shapes)
            for c in node.children:
                add(c, item)
            return item

        for top in st.nodes:
            add(top, None)
        # open the parents, keep the parameter lists closed
        for key, item in self._items.items():
            item.setExpanded(not st.node(key).is_group)
        self._syncing = False

    def _add_params(self, item: QTreeWidgetItem, name: str, params: list[str],
                    shapes: dict) -> None:
        """The group's parameters, read-only (they follow the group's tick)."""
        if not params:
            return
        prefix = _common_prefix(params)
        grey = self.palette().brush(QPalette.ColorRole.PlaceholderText)
        small = QFont(self.tree.font())
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.92))
        for p in params:
            child = QTreeWidgetItem([p[len(prefix):] or p])
            child.setData(COL_GROUP, KEY_ROLE, None)
            child.setToolTip(COL_GROUP, p)
            child.setFlags(Qt.ItemFlag.ItemIsEnabled)
            shape = shapes.get(p)
            if shape is not None:
                n = math.prod(shape) if shape else 1
                child.setText(COL_PARAMS, f"{n:,}")
                child.setTextAlignment(COL_PARAMS, Qt.AlignmentFlag.AlignRight
                                       | Qt.AlignmentFlag.AlignVCenter)
                if len(shape) >= 2:
                    child.setText(COL_MODE, " × ".join(str(s) for s in shape))
                child.setToolTip(COL_PARAMS, f"shape {tuple(shape)}")
            for c in range(5):
                child.setForeground(c, grey)
                child.setFont(c, small)
            item.addChild(child)

    # -- state -> widgets --------------------------------------------------------------------------
    def _sync(self, first: bool = False) -> None:
        st = self.state
        if st is None:
            return
        self._syncing = True
        try:
            states = {"checked": Qt.CheckState.Checked, "unchecked": Qt.CheckState.Unchecked,
                      "partial": Qt.CheckState.PartiallyChecked}
            run = self._run_steps()
            for key, item in self._items.items():
                cs = st.check_state(key)
                if cs is not None:
                    item.setCheckState(COL_GROUP, states[cs])
                combo = self._combos.get(key)
                if combo is not None:
                    mode = st.mode_of(key)
                    combo.blockSignals(True)
                    combo.setCurrentIndex(MODES.index(mode) if mode else -1)
                    combo.blockSignals(False)
                node = st.node(key)
                if not node.is_group:
                    continue
                r = st.row(key)
                if not r.info.has_params:
                    continue
                lr, start = self._lr_spins[key], self._start_spins[key]
                for w in (lr, start):
                    w.blockSignals(True)
                lr.setMaximum(100.0 * r.lr_scale / r.own_lr)  # own lr_scale <= 100
                lr.setValue(r.lr_scale)
                start.setValue(r.start_step)
                for w in (lr, start):
                    w.blockSignals(False)
                    w.setEnabled(r.mode != "frozen")
                lr.setToolTip(self._lr_tip(r))
                late = r.mode != "frozen" and run is not None and r.start_step >= run
                start.setStyleSheet(ERROR_CSS if late else "")
                start.setToolTip(f"Never trains: the run ends at step {run:,}" if late else
                                 "Optimizer step at which this group starts training "
                                 "(0: from the start)")
                font = item.font(COL_GROUP)
                font.setItalic(r.explicit)
                item.setFont(COL_GROUP, font)
            fc = st.config
            # the gradual spin keeps what the user typed until the gradual preset is used
            spins = [(self.lora_rank_spin, fc.lora_rank), (self.lora_alpha_spin, fc.lora_alpha),
                     (self.lora_dropout_spin, fc.lora_dropout),
                     (self.warmup_spin, fc.unfreeze_warmup_steps)]
            if fc.preset == "gradual" or first:
                spins.append((self.gradual_every_spin, fc.gradual_every))
            for w, v in spins:
                w.blockSignals(True)
                w.setValue(v)
                w.blockSignals(False)
            self.preset_buttons[fc.preset].setChecked(True)
            changed = len(fc.groups)
            for key, b in self.preset_buttons.items():
                b.setText(dict((k, t) for k, t, _ in PRESETS)[key]
                          + (f" +{changed}" if key == fc.preset and changed else ""))
                b.setToolTip(dict((k, tip) for k, _, tip in PRESETS)[key]
                             + (f". {changed} group{'s' if changed != 1 else ''} changed "
                                "from it (shown in italics); press to clear"
                                if key == fc.preset and changed
                                else ". Pressing it again clears your changes to the preset."))
            self.disc_label.setText(f"first group × {fc.lr_first_ratio:.3g}")
            self.disc_label.setVisible(fc.lr_first_ratio < 1)
            any_lora = any(r.mode == "lora" for r in st.rows())
            self.lora_title.setEnabled(any_lora)
            self.lora_title.setToolTip("" if any_lora else "No group uses LoRA yet: choose "
                                       "LoRA in a group's Mode")
            problems = st.problems()
            if problems:
                text = " · ".join(problems)
                if st.unknown_entries():
                    text += ' — <a href="remove-unknown">remove them</a>'
                self.problems_label.setText(text)
            self.problems_label.setVisible(bool(problems))
        finally:
            self._syncing = False
        self._sync_axis()
        self._update_estimate()
        self._place_tracks()
        self.plan_changed.emit()

    def _lr_tip(self, r) -> str:
        base = self.project.config.train.lr
        tip = f"Learning rate {base * r.lr_scale:.3g} = train.lr {base:g} × {r.lr_scale:.3g}"
        fc = self.state.config
        if fc.lr_first_ratio < 1:
            f = discriminative_factor(r.index, len(self.state.groups), fc.lr_first_ratio)
            tip += f"\n(its own × {r.own_lr:.4g} × discriminative {f:.3g})"
        return tip

    def _run_steps(self) -> int | None:
        return run_length(self.project.config.train, self.train_examples)

    def _epoch_steps(self) -> float | None:
        t = self.project.config.train
        if not self.train_examples:
            return None
        return math.ceil(self.train_examples / t.batch_size) / t.grad_accum

    def _sync_axis(self) -> None:
        st = self.state
        run = self._run_steps()
        last = st.last_start()
        if run is not None and last < run:
            maximum = run
        else:
            floor = max(run or 0, 100)
            maximum = nice_ceil(max(floor, last * 1.15, last + 10))
        fc = st.config
        self.timeline.set_axis(run, maximum, self._epoch_steps(), fc.unfreeze_warmup_steps)
        t = self.project.config.train
        if t.max_steps > 0:
            where = f"the run is {run:,} steps (train.max_steps)"
        elif run is not None:
            where = (f"the run is {run:,} steps ({t.epochs:g} epoch{'s' if t.epochs != 1 else ''}"
                     f" of {self._epoch_steps():g} steps)")
        else:
            where = (f"the run is set in epochs ({t.epochs:g}); its length in steps is known "
                     f"once the dataset is read, so the axis shows 0–{maximum:,}")
        legend = " ".join(f'<span style="color:{c}">■</span>&nbsp;{name}' for c, name in (
            (MODE_COLORS["full"].name(), "full"), (MODE_COLORS["lora"].name(), "LoRA"),
            (FROZEN_COLOR.name(), "frozen (hatched)")))
        self.axis_label.setText(
            f"{legend} · Timeline: {where}. Drag a handle to set when a group starts "
            "training (Shift: single steps), or select a row and use ←/→ (Shift ×10), "
            "Home/End.")

    def _update_estimate(self) -> None:
        memory = self._memory
        if memory is None:
            from studio.qt import services

            memory = self._memory = services.current().memory
        estimate_memory, positions = memory.estimate_memory, memory.positions
        st, cfg, info = self.state, self.project.config, self.model_info
        run = self._run_steps()
        trainable, approx = st.trainable_params(run)
        total = int(info.get("total_params") or st.total_params)
        t = cfg.train
        block, per_example = positions(info, cfg.data)
        est = estimate_memory(
            total + st.lora_params(run), trainable, optimizer=t.optimizer,
            momentum=t.momentum, batch=t.batch_size, block=block,
            n_layer=int(info.get("n_layer") or sum(1 for g in st.groups
                                                   if g.name.startswith("block."))),
            d_model=int(info.get("d_model") or 256), vocab=int(info.get("vocab") or 0),
            n_head=int(info.get("n_head") or 1), frozen_below_blocks=st.frozen_below_blocks(run))
        self.estimate = est
        share = trainable / total if total else 0.0
        staged = any(r.trains and 0 < r.start_step < (run or _INT_MAX) for r in st.rows())
        late = st.never_starts(run)
        self.estimate_label.setText(
            f"Trainable {'≈ ' if approx else ''}{trainable:,} of {total:,} parameters "
            f"({share:.1%}) · est. training memory ≈ {units.memory(est.total)}")
        notes = []
        if staged:
            notes.append("once every group has started")
        if late:
            names = ", ".join(r.title for r in late)
            notes.append(f"not counting {names}: {'it starts' if len(late) == 1 else 'they start'}"
                         " after the run ends")
        if approx:
            notes.append("LoRA adapters counted from the layer sizes (≈)")
        self.estimate_detail.setText(
            f"weights {units.memory(est.weights)}, gradients {units.memory(est.gradients)}, optimizer "
            f"{units.memory(est.optimizer)}, activations {units.memory(est.activations)} — batch "
            f"{t.batch_size} × {per_example}, "
            f"{OPTIMIZER_TITLES.get(t.optimizer, t.optimizer)}"
            + "".join(f"; {n}" for n in notes))
        self.estimate_label.setToolTip(
            "fp32 weights and gradients; the optimizer keeps "
            f"{'two values' if t.optimizer in ('adam', 'adamw') else 'its state'} per "
            "trainable parameter; activations follow Korthikanti et al. (2022) and skip "
            "the blocks below the lowest one that trains. A rough guide: within tens of "
            "percent.")

    # -- the timeline's rows -------------------------------------------------------------------
    def _visible_items(self):
        it = QTreeWidgetItemIterator(self.tree)
        while it.value() is not None:
            item = it.value()
            parent, shown = item.parent(), True
            while parent is not None:
                shown = shown and parent.isExpanded()
                parent = parent.parent()
            if shown:
                yield item
            it += 1

    def _fit_tree(self) -> None:
        """Give the tree the width its columns need (once per model); the timeline gets
        the rest. The user's splitter drags are kept afterwards."""
        total = self.splitter.width()
        if self._fitted or total <= 0 or not self.splitter.isVisible():
            return
        self._fitted = True
        tree = self.tree
        need = tree.frameWidth() * 2 + tree.verticalScrollBar().sizeHint().width() + 4
        for c in range(tree.columnCount()):
            need += max(tree.sizeHintForColumn(c), tree.header().sectionSizeHint(c))
        # names first: a cramped "Blo…" helps nobody; the timeline shrinks before the tree
        room = max(self.timeline.minimumWidth(), total - need - self.splitter.handleWidth())
        if total - room < need:
            room = max(self.timeline.minimumWidth(), total - need)
        self.splitter.setSizes([total - room - self.splitter.handleWidth(), room])

    def _place_tracks(self) -> None:
        st = self.state
        if st is None:
            return
        self._fit_tree()
        vp = self.tree.viewport()
        top = self.timeline.mapFrom(self, vp.mapTo(self, QPoint(0, 0))).y()
        bottom = top + vp.height()
        tracks = []
        run = self._run_steps()
        ep = self._epoch_steps()
        for k, item in enumerate(self._visible_items()):
            rect = self.tree.visualItemRect(item)
            y = top + rect.top()
            key = item.data(COL_GROUP, KEY_ROLE)
            common = dict(top=y, height=rect.height(), alternate=k % 2 == 1)
            if key is None:
                tracks.append(Track(key=f"param:{k}", kind="blank", **common))
                continue
            node = st.node(key)
            if node.is_group:
                r = st.row(key)
                if not r.info.has_params and not r.info.tied:
                    tracks.append(Track(key=key, kind="blank", **common))
                    continue
                if r.info.tied:
                    owner = st.tied_to(key)
                    tracks.append(Track(key=key, kind="tied", title=r.title,
                                        mode=owner.mode, start=owner.start_step,
                                        tip=f"{r.title}: {r.info.note} — "
                                            f"{self._when(owner, run, ep)}", **common))
                    continue
                tracks.append(Track(key=key, kind="group", title=r.title, mode=r.mode,
                                    start=r.start_step, editable=r.mode != "frozen",
                                    tip=self._track_tip(r, run, ep), **common))
            else:
                rows = [st.row(n) for n in node.members()]
                live = [r for r in rows if r.trains]
                tip = (f"{node.title}: " + (", ".join(
                    f"{r.title} from step {r.start_step:,}" for r in live) if live
                    else "all frozen"))
                tracks.append(Track(key=key, kind="parent", title=node.title,
                                    starts=tuple(r.start_step for r in live),
                                    tip=tip, **common))
        self.timeline.set_tracks(tracks, top, bottom)

    def _when(self, r, run: int | None, ep: float | None) -> str:
        if r.mode == "frozen":
            return "frozen"
        at = "from the start" if r.start_step == 0 else f"from step {r.start_step:,}"
        if ep and r.start_step:
            at += f" (epoch {r.start_step / ep:.2f})"
        if run is not None and r.start_step >= run:
            at += f" — after the run ends at step {run:,}: never trains"
        return f"trains ({MODE_TITLES[r.mode]}) {at}"

    def _track_tip(self, r, run, ep) -> str:
        if r.mode == "frozen":
            return f"{r.title}: frozen (tick it, or choose Full or LoRA, to train it)"
        tip = f"{r.title}: {self._when(r, run, ep)}"
        tip += f"\nLR × {r.lr_scale:.3g}"
        warm = self.state.config.unfreeze_warmup_steps
        if r.start_step > 0 and warm:
            tip += f", warming up over {warm} steps"
        return tip + "\nDrag the handle; Shift for single steps"

    # -- widgets -> state ------------------------------------------------------------------------
    def _edit(self, method: str, *args, **kwargs) -> None:
        if self._syncing or self.state is None:
            return
        getattr(self.state, method)(*args, **kwargs)

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if self._syncing or column != COL_GROUP:
            return
        key = item.data(COL_GROUP, KEY_ROLE)
        if key is None or not self.state.checkable(key):
            return
        trains = item.checkState(COL_GROUP) != Qt.CheckState.Unchecked
        want = "checked" if trains else "unchecked"
        if self.state.check_state(key) != want:
            self.state.set_trains(key, trains)
        else:
            self._sync()

    def _on_gradual_every(self, value: int) -> None:
        if self._syncing or self.state is None:
            return
        if self.state.config.preset == "gradual":
            self.state.set_gradual_every(value)

    def _on_timeline_start(self, key: str, step: int) -> None:
        self.state.set_start_step(key, step)
        self._sync_axis()
        self._place_tracks()

    def _on_timeline_preview(self, key: str, step: int) -> None:
        spin = self._start_spins.get(key)
        if spin is not None:
            spin.blockSignals(True)
            spin.setValue(step)
            spin.blockSignals(False)

    def _on_timeline_selected(self, key: str) -> None:
        item = self._items.get(key)
        if item is not None and self.tree.currentItem() is not item:
            self.tree.setCurrentItem(item)

    def _on_current_item(self, item, _previous) -> None:
        key = item.data(COL_GROUP, KEY_ROLE) if item is not None else None
        self.timeline.set_selected(key)

    def _on_problem_link(self, link: str) -> None:
        if link == "remove-unknown" and self.state is not None:
            self.state.remove_unknown()

    def _on_state(self, _what: str) -> None:
        self._sync()

    def _on_project(self, what: str) -> None:
        if self.state is not None and what == "config":
            # training settings change the axis and the estimate (the plan itself arrives
            # through the state)
            self._sync_axis()
            self._update_estimate()
            self._place_tracks()

    # -- events -----------------------------------------------------------------------------------
    def eventFilter(self, obj, event) -> bool:
        if obj is self.tree.viewport() and event.type() in (QEvent.Type.Resize,
                                                            QEvent.Type.Show):
            self._layout_timer.start()
        return super().eventFilter(obj, event)

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        self._layout_timer.start()

    def showEvent(self, e) -> None:
        super().showEvent(e)
        self._layout_timer.start()


def _common_prefix(names: list[str]) -> str:
    """The dotted prefix all names share ("transformer.h.0."), to show short names."""
    if len(names) < 2:
        return names[0].rsplit(".", 1)[0] + "." if names and "." in names[0] else ""
    parts = [n.split(".") for n in names]
    out = []
    for seg in zip(*parts):
        if len(set(seg)) != 1:
            break
        out.append(seg[0])
    out = out[: min(len(p) for p in parts) - 1]
    return ".".join(out) + "." if out else ""
