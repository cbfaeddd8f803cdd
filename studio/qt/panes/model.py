"""The model pane: choose the base model and see what it is.

Sources: a shipped starter ("starter:text", offline), a local folder saved with
``save_pretrained``, or a Hugging Face hub id (downloaded with progress into the normal
HF cache on a worker thread; cancellable; a plain message when offline). The choice is
written to the project (``project.set_model_source``).

What it is: an architecture summary read at once from ``config.json`` and the
safetensors headers (no weights loaded), then the layer groups the family defines
(``get_family(...).layer_groups``), loaded on a worker thread, with parameter counts.
The groups are read-only here; the interactive freeze tree is its own feature.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.paths import resolve_model_source, starters_dir
from studio.qt.widgets.tasks import Task, run_in_background
from studio.state.project import Project

ERROR_CSS = "color: #d64541;"


# -- reading a model folder cheaply (no torch) -------------------------------------------------

_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
                "I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
_DTYPE_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}


def safetensors_header(path: str | os.PathLike) -> dict:
    """The JSON header of a .safetensors file: {tensor name: {dtype, shape, ...}}."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > 100 * 1024 * 1024:
            raise ValueError("not a safetensors file (header too large)")
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return header


@dataclass
class ModelSummary:
    """What a model folder says about itself, from config.json and weight headers."""

    folder: str
    architecture: str = ""
    model_type: str = ""
    layers: int | None = None
    hidden: int | None = None
    heads: int | None = None
    context: int | None = None
    vocab: int | None = None
    parameters: int | None = None        # from the weights' headers (tied weights once)
    weight_files: list[str] = field(default_factory=list)
    weight_bytes: int = 0
    dtype: str = ""
    tokenizer: bool = False
    notes: list[str] = field(default_factory=list)
    # a text-to-music model (MusicGen): sample_rate, channels, frame_rate, codebooks,
    # codebook_size; its layers/hidden/heads/context are the decoder's, vocab the text's
    audio: dict | None = None


def _first(cfg: dict, *keys) -> Any:
    for k in keys:
        v = cfg.get(k)
        if v is not None:
            return v
    return None


def read_model_summary(folder: str | os.PathLike) -> ModelSummary:
    """Summarise a model folder without loading it. Raises OSError when it is not one."""
    d = Path(folder)
    cfg_path = d / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{d} has no config.json (not a model saved with "
                                "save_pretrained)")
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    text_cfg = cfg.get("text_config") if isinstance(cfg.get("text_config"), dict) else {}
    merged = {**text_cfg, **cfg}
    s = ModelSummary(folder=str(d))
    s.architecture = ", ".join(cfg.get("architectures") or []) or "?"
    s.model_type = str(cfg.get("model_type", ""))
    s.layers = _first(merged, "n_layer", "num_hidden_layers", "num_layers")
    s.hidden = _first(merged, "n_embd", "hidden_size", "d_model")
    s.heads = _first(merged, "n_head", "num_attention_heads")
    s.context = _first(merged, "n_positions", "max_position_embeddings", "n_ctx")
    s.vocab = _first(merged, "vocab_size")
    dec, codec = cfg.get("decoder"), cfg.get("audio_encoder")
    if isinstance(dec, dict) and isinstance(codec, dict) and "num_codebooks" in dec:
        text = cfg.get("text_encoder") if isinstance(cfg.get("text_encoder"), dict) else {}
        s.layers = _first(dec, "num_hidden_layers")
        s.hidden = _first(dec, "hidden_size")
        s.heads = _first(dec, "num_attention_heads")
        s.context = _first(dec, "max_position_embeddings")
        s.vocab = _first(text, "vocab_size")
        sr = int(codec.get("sampling_rate") or 0)
        hop = math.prod(int(r) for r in codec.get("upsampling_ratios") or [])
        s.audio = {"sample_rate": sr, "channels": int(codec.get("audio_channels") or 1),
                   "frame_rate": sr / hop if sr else 0.0,
                   "codebooks": int(dec["num_codebooks"]),
                   "codebook_size": int(codec.get("codebook_size") or dec.get("vocab_size")
                                        or 0)}
    s.tokenizer = any((d / n).is_file() for n in ("tokenizer.json", "tokenizer_config.json",
                                                  "vocab.json", "tokenizer.model"))
    files = sorted(d.glob("*.safetensors"))
    if files:
        total = 0
        dtypes: dict[str, int] = {}
        seen: set[str] = set()
        for f in files:
            header = safetensors_header(f)
            for name, meta in header.items():
                if name in seen:
                    continue
                seen.add(name)
                n = 1
                for dim in meta.get("shape", []):
                    n *= int(dim)
                total += n
                dtypes[meta.get("dtype", "?")] = dtypes.get(meta.get("dtype", "?"), 0) + n
            s.weight_bytes += f.stat().st_size
        s.parameters = total
        s.weight_files = [f.name for f in files]
        main = max(dtypes, key=dtypes.get) if dtypes else ""
        s.dtype = _DTYPE_NAMES.get(main, main.lower())
    else:
        bins = sorted(d.glob("*.bin")) + sorted(d.glob("*.pt"))
        s.weight_files = [f.name for f in bins]
        s.weight_bytes = sum(f.stat().st_size for f in bins)
        if bins:
            s.notes.append("weights are in PyTorch pickle files: parameter counts appear "
                           "once the model is loaded")
        else:
            s.notes.append("no weight files found")
    return s


# -- loading the layer groups through the family (worker thread) -------------------------------

@dataclass
class Inspection:
    source: str
    family: str
    parameters: int
    groups: list  # list[LayerGroup]
    model_class: str
    vocab: int | None = None
    info: dict | None = None  # shapes for the layer tree's memory estimate


def inspect_model(source: str, family: str, revision: str = "",
                  trust_remote_code: bool = False) -> Inspection:
    """Load the model through its family on the CPU and list its layer groups."""
    from studio.models.base import get_family

    fam = get_family(family)
    loaded = fam.load(source, device="cpu", dtype=None, revision=revision,
                      trust_remote_code=trust_remote_code)
    try:
        from studio.qt.layer_tree import describe_model

        groups = fam.layer_groups(loaded)
        params = {id(p): p.numel() for p in loaded.model.parameters()}
        tok = loaded.extras.get("tokenizer")
        return Inspection(source=source, family=family, parameters=sum(params.values()),
                          groups=groups, model_class=type(loaded.model).__name__,
                          vocab=len(tok) if tok is not None else None,
                          info=describe_model(loaded.model, groups))
    finally:
        del loaded


# -- the hub (worker thread) ------------------------------------------------------------------

class DownloadCancelled(Exception):
    pass


class HubProblem(Exception):
    """A download that cannot happen, with a message for a person."""


IGNORE_ALWAYS = ["*.onnx", "onnx/*", "*.tflite", "*.h5", "*.msgpack", "*.ot", "*.gguf",
                 "*.mlmodel", "coreml/*", "*.ckpt", "*.pb"]


def hub_is_offline() -> bool:
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return bool(constants.HF_HUB_OFFLINE) or env in ("1", "true", "yes", "on")


def _progress_class(report: Callable[[dict], None], cancel: threading.Event):
    from tqdm.auto import tqdm as base

    bars: dict[int, tuple] = {}
    last = [0.0]

    class Progress(base):
        """tqdm that reports to the GUI instead of printing, and stops when cancelled."""

        def __init__(self, *args, **kwargs):
            kwargs.pop("name", None)
            kwargs["disable"] = False
            kwargs["file"] = io.StringIO()
            super().__init__(*args, **kwargs)

        def update(self, n=1):
            if cancel.is_set():
                raise DownloadCancelled()
            out = super().update(n)
            bars[id(self)] = (self.unit, self.n, self.total or 0)
            now = time.monotonic()
            if now - last[0] > 0.1:
                last[0] = now
                report(_aggregate(bars))
            return out

    return Progress


def _aggregate(bars: dict) -> dict:
    done_b = total_b = files = files_total = 0
    for unit, n, total in bars.values():
        if unit == "B":
            if total >= total_b:
                done_b, total_b = n, total
        else:
            files, files_total = n, total
    return {"bytes": done_b, "bytes_total": total_b, "files": files, "files_total": files_total}


def download_model(repo_id: str, revision: str = "", *, report, cancel,
                   cache_dir: str | None = None) -> str:
    """Download a hub model into the HF cache; return its snapshot folder."""
    import huggingface_hub as hf
    from huggingface_hub import errors

    repo_id = repo_id.strip()
    try:
        hf.utils.validate_repo_id(repo_id)
    except errors.HFValidationError:
        raise HubProblem(f"“{repo_id}” is not a hub id. A hub id looks like "
                         "“gpt2” or “HuggingFaceTB/SmolLM2-135M”.") from None
    rev = revision or None
    # Already in the cache? Then nothing to download (and it works offline).
    try:
        return hf.snapshot_download(repo_id, revision=rev, local_files_only=True,
                                    cache_dir=cache_dir)
    except (errors.LocalEntryNotFoundError, FileNotFoundError, OSError):
        pass
    if hub_is_offline():
        raise HubProblem(f"You are offline (HF_HUB_OFFLINE is set), and “{repo_id}” is not in "
                         "the Hugging Face cache yet. Connect to the internet and unset "
                         "HF_HUB_OFFLINE to download it, or choose the starter or a local "
                         "folder.")
    ignore = list(IGNORE_ALWAYS)
    try:
        info = hf.HfApi().model_info(repo_id, revision=rev)
        names = [s.rfilename for s in (info.siblings or [])]
        if any(n.endswith(".safetensors") for n in names):
            ignore += ["*.bin", "*.pt", "*.pth"]  # transformers prefers safetensors
        report({"bytes": 0, "bytes_total": 0, "files": 0, "files_total": len(names)})
        return hf.snapshot_download(repo_id, revision=rev, cache_dir=cache_dir,
                                    ignore_patterns=ignore,
                                    tqdm_class=_progress_class(report, cancel))
    except DownloadCancelled:
        raise
    except errors.GatedRepoError:
        raise HubProblem(f"“{repo_id}” is gated: accept its licence on its hub page, then log "
                         "in with `hf auth login`.") from None
    except errors.RepositoryNotFoundError:
        raise HubProblem(f"There is no model “{repo_id}” on the hub (or it is private: log in "
                         "with `hf auth login`).") from None
    except errors.RevisionNotFoundError:
        raise HubProblem(f"“{repo_id}” has no revision “{revision}”.") from None
    except (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled, ConnectionError,
            TimeoutError) as exc:
        raise HubProblem(f"Cannot reach the Hugging Face hub to download “{repo_id}” (no "
                         "internet connection?). Choose the starter or a local folder, or try "
                         f"again when online. ({type(exc).__name__})") from None
    except Exception as exc:  # noqa: BLE001 - httpx errors and the like, said plainly
        if cancel.is_set():
            raise DownloadCancelled() from None
        if "connect" in str(exc).lower() or "resolve" in str(exc).lower():
            raise HubProblem(f"Cannot reach the Hugging Face hub to download “{repo_id}” (no "
                             "internet connection?). Choose the starter or a local folder.") \
                from None
        raise


def cached_snapshot(repo_id: str, revision: str = "") -> str | None:
    try:
        import huggingface_hub as hf

        return hf.snapshot_download(repo_id, revision=revision or None, local_files_only=True)
    except Exception:  # noqa: BLE001 - not cached, or not a hub id
        return None


def list_starters() -> list[str]:
    names = {"text"}
    root = starters_dir()
    if root.is_dir():
        names.update(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [f"starter:{n}" for n in sorted(names)]


def _count(n: int | None) -> str:
    if n is None:
        return "?"
    if n >= 1e9:
        return f"{n / 1e9:.2f} B ({n:,})"
    if n >= 1e6:
        return f"{n / 1e6:.2f} M ({n:,})"
    return f"{n:,}"


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


# -- the pane -----------------------------------------------------------------------------------

class ModelPane(QWidget):
    """Choose the base model; see its architecture and layer groups."""

    summary_ready = Signal(object)      # ModelSummary
    inspected = Signal(object)          # Inspection
    download_finished = Signal(bool)    # succeeded
    message_changed = Signal(str)

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self._download: Task | None = None
        self._inspect: Task | None = None
        self._shown_source: str | None = None
        self.summary: ModelSummary | None = None
        self.inspection: Inspection | None = None
        self._inspect_when_shown: str | None = None

        # -- choosing ------------------------------------------------------------------
        self.starter_radio = QRadioButton("Starter", self)
        self.folder_radio = QRadioButton("Local folder", self)
        self.hub_radio = QRadioButton("Hugging Face hub", self)
        self.kind_group = QButtonGroup(self)
        for i, r in enumerate((self.starter_radio, self.folder_radio, self.hub_radio)):
            self.kind_group.addButton(r, i)
        self.starter_combo = QComboBox(self)
        self.starter_combo.setToolTip("Small models shipped with the studio: they work offline")
        for s in list_starters():
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

        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(choose)
        lay.addWidget(arch)
        lay.addWidget(layers, 1)

        self._unsubscribe = project.subscribe(self._on_project)
        self._tasks: list[Task] = []  # cancelled if the pane goes away

        def detach(*_a, u=self._unsubscribe, tasks=self._tasks):
            u()
            for t in tasks:
                t.cancel()

        self.destroyed.connect(detach)
        self.refresh()

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
        folder = os.path.expanduser(self.folder_edit.text().strip())
        if not folder:
            return
        if not (Path(folder) / "config.json").is_file():
            self._say(f"{folder} is not a model folder (it has no config.json). Choose a "
                      "folder written by save_pretrained.", error=True)
            return
        self._set_source(os.path.abspath(folder))

    def download(self) -> None:
        """Fetch the hub id into the HF cache (worker thread), then use it."""
        repo = self.hub_edit.text().strip()
        self.hub_radio.setChecked(True)
        if not repo:
            self._say("Type a hub id first, e.g. gpt2.", error=True)
            return
        self.cancel_download()
        self._say("")
        self.progress_row.show()
        self.progress.setRange(0, 0)
        self.progress_label.setText(f"Looking up {repo}…")
        self.cancel_button.setEnabled(True)
        self.download_button.setEnabled(False)
        self._download = run_in_background(
            download_model, repo, self.project.config.model.revision,
            progress=self._on_download_progress, done=self._on_downloaded,
            error=self._on_download_error, pool_name="model")
        self._download.setProperty("repo", repo)
        self._tasks.append(self._download)

    def cancel_download(self) -> None:
        if self._download is not None and self._download.running:
            self._download.cancel()
            self.progress_label.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    @property
    def downloading(self) -> bool:
        return self._download is not None and self._download.running

    def _on_download_progress(self, p: dict) -> None:
        if self.sender() is not self._download:
            return
        repo = self._download.property("repo")
        if p["bytes_total"]:
            scale = max(1, p["bytes_total"] // 2**31 + 1)  # keep within int range
            self.progress.setRange(0, int(p["bytes_total"] // scale))
            self.progress.setValue(int(p["bytes"] // scale))
            files = (f" · {p['files']} of {p['files_total']} files" if p["files_total"] else "")
            self.progress_label.setText(f"Downloading {repo}: {_bytes(p['bytes'])} of "
                                        f"{_bytes(p['bytes_total'])}{files}")
        else:
            self.progress.setRange(0, 0)
            self.progress_label.setText(f"Downloading {repo}…")

    def _on_downloaded(self, folder: str) -> None:
        if self.sender() is not self._download:
            return
        repo = self._download.property("repo")
        self._end_download()
        self._say(f"{repo} is in the Hugging Face cache ({folder}).")
        self._set_source(repo)
        self.download_finished.emit(True)

    def _on_download_error(self, exc: BaseException) -> None:
        if self.sender() is not self._download:
            return
        self._end_download()
        if isinstance(exc, DownloadCancelled):
            self._say("Download cancelled. What was fetched so far stays in the cache and is "
                      "reused next time.")
        elif isinstance(exc, HubProblem):
            self._say(str(exc), error=True)
        else:
            self._say(f"The download failed: {type(exc).__name__}: {exc}", error=True)
        self.download_finished.emit(False)

    def _end_download(self) -> None:
        self.progress_row.hide()
        self.download_button.setEnabled(True)

    def _set_source(self, source: str) -> None:
        if source != self.project.model_source:
            self.project.set_model_source(source)  # refresh() follows via the project
        else:
            self.refresh(force=True)

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(ERROR_CSS if error else "")
        self.message.setVisible(bool(text))
        self.message_changed.emit(text)

    # -- showing --------------------------------------------------------------------------
    def _on_project(self, what: str) -> None:
        if what in ("model", "config") and self.project.model_source != self._shown_source:
            self.refresh()

    def local_folder(self, source: str) -> str | None:
        """The folder a source lives in, when it is on this machine."""
        path = resolve_model_source(source)
        if Path(path).is_dir():
            return path
        return cached_snapshot(source, self.project.config.model.revision)

    def refresh(self, force: bool = False) -> None:
        source = self.project.model_source
        if source == self._shown_source and not force:
            return
        self._shown_source = source
        # reflect the source in the chooser
        if source.startswith("starter:"):
            self.starter_radio.setChecked(True)
            i = self.starter_combo.findData(source)
            if i < 0:
                self.starter_combo.addItem(source, source)
                i = self.starter_combo.count() - 1
            self.starter_combo.setCurrentIndex(i)
        elif Path(os.path.expanduser(source)).is_dir():
            self.folder_radio.setChecked(True)
            self.folder_edit.setText(source)
        else:
            self.hub_radio.setChecked(True)
            self.hub_edit.setText(source)
        for v in self.fields.values():
            v.setText("—")
        self.layer_tree.clear()
        self.summary = None
        self.inspection = None
        folder = self.local_folder(source)
        self.fields["source"].setText(source if folder is None or folder == source
                                      else f"{source}  ({folder})")
        if folder is None:
            where = ("is not downloaded yet — press Download" if not source.startswith(
                "starter:") else "is missing from this installation")
            self.tree_status.setText(f"{source} {where}.")
            return
        try:
            self.summary = read_model_summary(folder)
        except (OSError, ValueError) as exc:
            self.tree_status.setText(f"Cannot read this model: {exc}")
            return
        self._show_summary(self.summary)
        self.summary_ready.emit(self.summary)
        self._start_inspection(source)

    def _show_summary(self, s: ModelSummary) -> None:
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
        else:
            f["shape"].setText(" · ".join(bits) or "?")
            f["context"].setText(f"{s.context:,} tokens" if s.context else "?")
        words = "text tokens" if a else "tokens"
        f["vocab"].setText(f"{s.vocab:,} {words}" + ("" if s.tokenizer else
                                                    " (no tokenizer files!)") if s.vocab else "?")
        f["parameters"].setText(_count(s.parameters) if s.parameters is not None else
                                "counted when loaded…")
        w = ", ".join(s.weight_files[:3]) + (" …" if len(s.weight_files) > 3 else "")
        f["weights"].setText(f"{w or 'none'} · {_bytes(s.weight_bytes)}"
                             + (f" · {s.dtype}" if s.dtype else "")
                             + ("".join(f"\n{n}" for n in s.notes)))

    def _start_inspection(self, source: str) -> None:
        """Load the model on a worker to list its layer groups. Waits until the pane is
        shown: loading a model costs seconds of CPU, so a pane behind a tab does not."""
        if not self.isVisible():
            self._inspect_when_shown = source
            self.tree_status.setText("The layer groups are listed when this pane is shown.")
            return
        self._inspect_when_shown = None
        if self._inspect is not None:
            self._inspect.cancel()
        cfg = self.project.config
        self.tree_status.setText("Loading the model to list its layer groups…")
        self._inspect = run_in_background(inspect_model, source, cfg.run.family,
                                          cfg.model.revision, cfg.model.trust_remote_code,
                                          done=self._on_inspected, error=self._on_inspect_error,
                                          pool_name="model")
        self._inspect.setProperty("source", source)
        self._tasks[:] = [t for t in self._tasks if t.running] + [self._inspect]

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._inspect_when_shown is not None and \
                self._inspect_when_shown == self._shown_source:
            self._start_inspection(self._inspect_when_shown)

    def _on_inspected(self, result: Inspection) -> None:
        if self.sender() is not self._inspect or result.source != self._shown_source:
            return
        self.inspection = result
        self.layer_tree.set_groups(result.groups, result.info)
        self.fields["parameters"].setText(_count(result.parameters))
        self.tree_status.setText(
            f"{len(result.groups)} groups · {result.parameters:,} parameters "
            f"({result.model_class}). Untick a group to freeze it; drag its handle on the "
            "timeline to start it later.")
        self.inspected.emit(result)

    def _on_inspect_error(self, exc: BaseException) -> None:
        if self.sender() is not self._inspect:
            return
        self.tree_status.setText(f"Cannot load the model's layers: {exc}")
        self.layer_tree.clear(f"Cannot load the model's layers: {exc}")
        self.inspected.emit(None)
