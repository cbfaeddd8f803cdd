"""File › Export for a cluster…: the project's run config plus torchrun / accelerate / SLURM
launch scripts (studio.config.cluster, the same code as ``studio cluster``)."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.config.cluster import export_cluster
from studio.config.schema import RunConfig

STRATEGIES = {
    "ddp": "DDP: a model copy per GPU (fastest)",
    "fsdp": "FSDP: sharded (models too big for one GPU)",
}


class ClusterDialog(QDialog):
    """Choose nodes, GPUs per node, the parallel strategy and a folder; Export writes them."""

    def __init__(self, cfg: RunConfig, default_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export for a cluster")
        self.cfg = cfg
        self.written: list[Path] = []
        intro = QLabel(
            "Writes this project's settings as a config plus launch scripts for torchrun, "
            "accelerate and SLURM. Copy the folder to the cluster (with your data at the same "
            "paths, or edit config.toml) and run one of the scripts there.")
        intro.setWordWrap(True)
        self.nodes = QSpinBox(minimum=1, maximum=1024, value=1)
        self.gpus = QSpinBox(minimum=1, maximum=64, value=8)
        self.strategy = QComboBox()
        for key, text in STRATEGIES.items():
            self.strategy.addItem(text, key)
        self.strategy.setCurrentIndex(list(STRATEGIES).index(cfg.train.parallel))
        self.strategy.setToolTip("DDP keeps a whole model copy on every GPU. FSDP shards the "
                                 "weights, gradients and optimizer state across the GPUs and "
                                 "gathers each block for its forward and backward pass.")
        self.folder = QLineEdit(str(default_dir))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.batch = QLabel()
        self.batch.setWordWrap(True)
        for w in (self.nodes, self.gpus):
            w.valueChanged.connect(self._update)
        form = QFormLayout()
        form.addRow("Nodes", self.nodes)
        form.addRow("GPUs per node", self.gpus)
        form.addRow("Strategy", self.strategy)
        form.addRow("Folder", row)
        form.addRow("", self.batch)
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = self.buttons.addButton("Export",
                                                    QDialogButtonBox.ButtonRole.ActionRole)
        self.export_button.clicked.connect(self.export)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addWidget(self.result)
        lay.addWidget(self.buttons)
        self.setMinimumWidth(620)
        self._update()

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export into", self.folder.text())
        if path:
            self.folder.setText(path)

    def _update(self) -> None:
        t = self.cfg.train
        world = self.nodes.value() * self.gpus.value()
        self.batch.setText(
            f"{world} processes. Each optimizer step sees batch_size {t.batch_size} x "
            f"grad_accum {t.grad_accum} x {world} = {t.batch_size * t.grad_accum * world} "
            "examples; lower train.batch_size to keep the global batch of a one-GPU run.")

    def export(self) -> list[Path]:
        """Write the folder; shows what was written and the command to run."""
        out = Path(self.folder.text()).expanduser()
        train = dataclasses.replace(self.cfg.train, parallel=self.strategy.currentData())
        cfg = dataclasses.replace(self.cfg, train=train)
        try:
            self.written = export_cluster(cfg, out, nodes=self.nodes.value(),
                                          gpus_per_node=self.gpus.value())
        except OSError as exc:
            self.result.setText(f"Could not write {out}: {exc.strerror or exc}. Choose a "
                                "folder you can write to.")
            return []
        names = ", ".join(p.name for p in self.written)
        self.result.setText(f"Wrote {names} to {out}.\nOn the cluster run:  "
                            f"bash {shlex.quote(str(out / 'launch_torchrun.sh'))}  (or sbatch "
                            "slurm.sbatch; README.md there explains each).")
        self.adjustSize()
        return self.written
