"""The model pane: choose the base model and see what it is.

The Qt view of one ``studio.state.model_source.ModelSource`` (napari's qt_dims shape: the
view takes its state in ``__init__``, subscribes to its changes, writes user input back).
Sources: a shipped starter ("starter:text", offline), a local folder saved with
``save_pretrained``, or a Hugging Face hub id (downloaded with progress into the normal
HF cache off the GUI thread; cancellable; a plain message when offline).

What it is: an architecture summary read at once from ``config.json`` and the
safetensors headers (no weights loaded), then the layer groups the family defines, loaded
off the GUI thread, with parameter counts, shown in the layer tree. The reading, loading
and downloading live in ``studio.models.inspect``; the pane never imports it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from studio.core import units
from studio.state.model_source import ModelSource, is_local_folder, shown_source
from studio.state.project import Project

ERROR_CSS = "color: #d64541;"


# -- the pane -----------------------------------------------------------------------------------

class ModelPane(QWidget):
    """Choose the base model; see its architecture and layer groups."""

    summary_ready = Signal(object)      # ModelSummary
    inspected = Signal(object)          # Inspection
    download_finished = Signal(bool)    # succeeded
    message_changed = Signal(str)

    def __init__(self, project: Project, parent: QWidget | None = None,
                 state: ModelSource | None = None) -> None:
        super().__init__(parent)
        if state is None:  # built the old way: the app's factory makes the state
            from studio.qt import services

            state = services.current().model_source(project)
        self.project = project
        self.state = state

        # -- choosing ------------------------------------------------------------------
        self.starter_radio = QRadioButton("Starter", self)
        self.folder_radio = QRadioButton("Local folder", self)
        self.hub_radio = QRadioButton("Hugging Face hub", self)
        self.kind_group = QButtonGroup(self)
        for i, r in enumerate((self.starter_radio, self.folder_radio, self.hub_radio)):
            self.kind_group.addButton(r, i)
        self.starter_combo = QComboBox(self)
        self.starter_combo.setToolTip("Small models shipped with the studio: they work offline")
        for s in state.starters:
            self.starter_combo.addItem(s, s)
        self.starter_combo.activated.connect(lambda _i: self.use_starter())
        self.folder_edit = QLineEdit(self)
        self.folder_edit.setPlaceholderText("a folder saved with save_pretrained")
        self.folder_edit.returnPressed.connect(self.use_folder)
        self.browse_button = QPushButton("Browse…", self)
        self.browse_button.clicked.connect(self.choose_folder)
        self.hub_edit = QLineEdit(self)
        self.hub_edit.setPlaceholderText("e.g. gpt2 or HuggingFaceTB/SmolLM2-135M")
        self.hub_edit.returnPressed.connect(self.download)
        self.download_button = QPushButton("Download", self)
        self.download_button.setToolTip("Download into the Hugging Face cache (or use the "
                                        "cached copy) and make it the base model")
        self.download_button.clicked.connect(self.download)
        self.starter_radio.clicked.connect(self.use_starter)
        self.folder_radio.clicked.connect(lambda: self.folder_edit.setFocus())
        self.hub_radio.clicked.connect(lambda: self.hub_edit.setFocus())

        self.progress = QProgressBar(self)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(14)
        self.progress_label = QLabel(self)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel_download)
        self.progress_row = QWidget(self)
        pr = QHBoxLayout(self.progress_row)
        pr.setContentsMargins(0, 0, 0, 0)
        pr.addWidget(self.progress_label)
        pr.addWidget(self.progress, 1)
        pr.addWidget(self.cancel_button)
        self.progress_row.hide()

        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()

        choose = QGroupBox("Base model", self)
        grid = QGridLayout(choose)
        grid.addWidget(self.starter_radio, 0, 0)
        grid.addWidget(self.starter_combo, 0, 1, 1, 2)
        grid.addWidget(self.folder_radio, 1, 0)
        grid.addWidget(self.folder_edit, 1, 1)
        grid.addWidget(self.browse_button, 1, 2)
        grid.addWidget(self.hub_radio, 2, 0)
        grid.addWidget(self.hub_edit, 2, 1)
        grid.addWidget(self.download_button, 2, 2)
        grid.addWidget(self.progress_row, 3, 0, 1, 3)
        grid.addWidget(self.message, 4, 0, 1, 3)
        grid.setColumnStretch(1, 1)

        # -- architecture ----------------------------------------------------------------
        arch = QGroupBox("Architecture", self)
        self.form = QFormLayout(arch)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.fields: dict[str, QLabel] = {}
        for key, label in (("source", "Source"), ("architecture", "Architecture"),
                           ("shape", "Shape"), ("context", "Context"),
                           ("vocab", "Vocabulary"), ("parameters", "Parameters"),
                           ("weights", "Weights")):
            value = QLabel("—", arch)
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.fields[key] = value
            self.form.addRow(label + ":", value)

        # -- the layer tree: tick what trains, drag when it starts ---------------------------
        from studio.qt.layer_tree import LayerTreePane

        layers = QGroupBox("Layer tree — what trains, how, and from which step", self)
        self.layer_tree = LayerTreePane(project, layers)
        self.tree_status = QLabel(layers)
        self.tree_status.setWordWrap(True)
        self.tree_status.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        ll = QVBoxLayout(layers)
        ll.setContentsMargins(2, 2, 2, 2)
        ll.addWidget(self.layer_tree, 1)
        ll.addWidget(self.tree_status)

        # the three boxes scroll together rather than hold the dock (and with it the
        # window) at ~670x620 once a model is shown: the window must fit a 1366x768 screen
        body = QWidget(self)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(choose)
        lay.addWidget(arch)
        lay.addWidget(layers, 1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        self._unsubscribe = state.subscribe(self._on_state)

        def detach(*_a, u=self._unsubscribe, st=state):
            u()
            st.close()  # a load or download for a pane that is gone is not wanted

        self.destroyed.connect(detach)
        state.visible = False  # not on screen until shown: the layer groups wait
        if state.source is None:
            state.refresh()
        else:
            self._on_state("source")
            self._on_state("summary")
            self._on_state("inspection")
            self._on_state("status")

    # -- what the state holds ---------------------------------------------------------------
    @property
    def summary(self):
        return self.state.summary

    @property
    def inspection(self):
        return self.state.inspection

    @property
    def downloading(self) -> bool:
        return self.state.downloading

    # -- choosing -----------------------------------------------------------------------
    def use_starter(self) -> None:
        self.starter_radio.setChecked(True)
        self._set_source(self.starter_combo.currentData() or "starter:text")

    def choose_folder(self) -> None:
        start = self.folder_edit.text() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder", start)
        if folder:
            self.folder_edit.setText(folder)
            self.use_folder()

    def use_folder(self) -> None:
        self.folder_radio.setChecked(True)
        self.state.use_folder(self.folder_edit.text())

    def download(self) -> None:
        """Fetch the hub id into the HF cache (off the GUI thread), then use it."""
        self.hub_radio.setChecked(True)
        self.state.download(self.hub_edit.text())

    def cancel_download(self) -> None:
        self.state.cancel_download()

    def _set_source(self, source: str) -> None:
        self.state.use(source)

    def _show_download(self) -> None:
        st = self.state
        busy = st.downloading
        self.progress_row.setVisible(busy)
        self.download_button.setEnabled(not busy)
        if not busy:
            return
        repo, p = st.download_repo, st.progress or {}
        self.cancel_button.setEnabled(not st.cancelling)
        if st.cancelling:
            self.progress_label.setText("Cancelling…")
        elif p.get("bytes_total"):
            scale = max(1, p["bytes_total"] // 2**31 + 1)  # keep within int range
            self.progress.setRange(0, int(p["bytes_total"] // scale))
            self.progress.setValue(int(p["bytes"] // scale))
            files = (f" · {p['files']} of {p['files_total']} files" if p["files_total"] else "")
            self.progress_label.setText(f"Downloading {repo}: {units.size(p['bytes'])} of "
                                        f"{units.size(p['bytes_total'])}{files}")
        else:
            self.progress.setRange(0, 0)
            self.progress_label.setText(f"Looking up {repo}…" if not p.get("files_total")
                                        else f"Downloading {repo}…")

    # -- showing -----------------------------------------------------------------------
    def _on_state(self, what: str) -> None:
        st = self.state
        if what == "source":
            self._show_source(st.source or "")
        elif what == "summary" and st.summary is not None:
            self._show_summary(st.summary)
            self.summary_ready.emit(st.summary)
        elif what == "inspection":
            self._show_inspection()
        elif what == "status":
            self.tree_status.setText(st.status)
        elif what == "message":
            self.message.setText(st.message)
            self.message.setStyleSheet(ERROR_CSS if st.message_is_error else "")
            self.message.setVisible(bool(st.message))
            self.message_changed.emit(st.message)
        elif what == "download":
            self._show_download()
        elif what in ("downloaded", "download-failed"):
            self.download_finished.emit(what == "downloaded")

    def refresh(self, force: bool = False) -> None:
        self.state.refresh(force)

    def _show_source(self, source: str) -> None:
        """Reflect the source in the chooser; clear what was shown for the last one."""
        if source.startswith("starter:"):
            self.starter_radio.setChecked(True)
            i = self.starter_combo.findData(source)
            if i < 0:
                self.starter_combo.addItem(source, source)
                i = self.starter_combo.count() - 1
            self.starter_combo.setCurrentIndex(i)
        elif is_local_folder(source):
            self.folder_radio.setChecked(True)
            self.folder_edit.setText(source)
        else:
            self.hub_radio.setChecked(True)
            self.hub_edit.setText(source)
        for v in self.fields.values():
            v.setText("—")
        self.layer_tree.clear()
        self.fields["source"].setText(shown_source(self.state))

    def _show_inspection(self) -> None:
        result = self.state.inspection
        if result is None:
            if self.state.status.startswith("Cannot load"):
                self.layer_tree.clear(self.state.status)
                self.inspected.emit(None)
            return
        self.layer_tree.set_groups(result.groups, result.info)
        self.fields["parameters"].setText(units.count(result.parameters))
        self.inspected.emit(result)

    def _show_summary(self, s) -> None:
        """``s``: a ``studio.models.inspect.ModelSummary``."""
        f = self.fields
        f["architecture"].setText(f"{s.architecture}" + (f" ({s.model_type})" if s.model_type
                                                          else ""))
        bits = []
        if s.layers is not None:
            bits.append(f"{s.layers} layers")
        if s.hidden is not None:
            bits.append(f"hidden size {s.hidden}")
        if s.heads is not None:
            bits.append(f"{s.heads} attention heads")
        a = s.audio
        if a:  # MusicGen: the decoder's sizes, then the codec that sets its positions
            channels = {1: "mono", 2: "stereo"}.get(a["channels"], f"{a['channels']} channels")
            f["shape"].setText(f"decoder: {' · '.join(bits) or '?'}\ncodec: "
                               f"{a['sample_rate'] / 1000:g} kHz {channels}, "
                               f"{a['frame_rate']:g} frames/s, {a['codebooks']} codebooks "
                               f"x {a['codebook_size']:,} codes")
            f["context"].setText(
                f"{s.context:,} codec frames ({s.context / a['frame_rate']:.1f} s of audio)"
                if s.context and a["frame_rate"] else "?")
        elif s.image:  # a diffusion UNet: its resolutions and the images it makes
            im = s.image
            chans = ", ".join(str(c) for c in im["block_out_channels"])
            per = im["layers_per_block"]
            f["shape"].setText(f"UNet: {len(im['block_out_channels'])} resolutions "
                               f"({chans} channels) · {per} layer{'s' * (per != 1)} per "
                               f"block · attention in {im['attention']} of them")
            size = im["sample_size"]
            px = im.get("pixels")  # latent diffusion: the UNet's size is the latents'
            f["context"].setText("?" if not size else
                                 f"{px}×{px} px images ({size}×{size} latents, "
                                 f"{im['in_channels']} channels)" if px else
                                 f"{size}×{size} px images, {im['in_channels']} channels")
        else:
            f["shape"].setText(" · ".join(bits) or "?")
            f["context"].setText(f"{s.context:,} tokens" if s.context else "?")
        words = "text tokens" if a else "tokens"
        f["vocab"].setText(f"{s.vocab:,} {words}" + ("" if s.tokenizer else
                                                    " (no tokenizer files!)") if s.vocab else
                           "none (no text input)" if s.image else "?")
        f["parameters"].setText(units.count(s.parameters) if s.parameters is not None else
                                "counted when loaded…")
        w = ", ".join(s.weight_files[:3]) + (" …" if len(s.weight_files) > 3 else "")
        f["weights"].setText(f"{w or 'none'} · {units.size(s.weight_bytes)}"
                             + (f" · {s.dtype}" if s.dtype else "")
                             + ("".join(f"\n{n}" for n in s.notes)))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.state.set_visible(True)  # the layer groups load now if they waited

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self.state.visible = False
