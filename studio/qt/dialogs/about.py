"""Help > About: name, version, what is inside, and the licences of everything shipped."""

from __future__ import annotations

import sys
from importlib import metadata

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from studio.core.paths import resources_dir
from studio.qt.dialogs.icon import app_icon

APP_NAME = "Fine-Tuning Studio"

# (component, what it is here, licence). Kept next to the About text so adding a
# dependency to pyproject.toml and here is one review.
THIRD_PARTY = (
    ("Python", "the language runtime (bundled in the installers)", "PSF License 2.0"),
    ("Qt 6 via PySide6", "the window toolkit, incl. QtMultimedia (FFmpeg backend) for "
     "audio playback; linked dynamically, so you may replace the Qt libraries in the "
     "install folder", "LGPL-3.0 (Qt, PySide6, Shiboken6); FFmpeg LGPL-2.1+"),
    ("PyTorch", "tensors, autograd, training", "BSD-3-Clause"),
    ("NVIDIA CUDA runtime, cuDNN, NCCL ...", "only in the GPU (CUDA) editions",
     "NVIDIA software licence (redistributable)"),
    ("AMD ROCm libraries", "only in the ROCm edition", "MIT / Apache-2.0 (per library)"),
    ("torchvision, torchaudio", "image and audio transforms", "BSD-3-Clause / BSD-2-Clause"),
    ("Hugging Face transformers, diffusers, peft, accelerate, huggingface_hub, "
     "safetensors, tokenizers", "models, LoRA, hub downloads, weights files", "Apache-2.0"),
    ("pyqtgraph", "live curves", "MIT"),
    ("NumPy", "arrays", "BSD-3-Clause"),
    ("Pillow", "images", "MIT-CMU (HPND)"),
    ("soundfile / libsndfile", "audio files", "BSD-3-Clause / LGPL-2.1"),
)


def _version_of(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def credits_markdown() -> str:
    """resources/CREDITS.md: the data and models shipped in resources/."""
    path = resources_dir() / "CREDITS.md"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return f"*{path} is missing: this install is incomplete.*"


def third_party_markdown() -> str:
    rows = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in THIRD_PARTY)
    return ("# Software inside Fine-Tuning Studio\n\n"
            "| component | used for | licence |\n|---|---|---|\n" + rows +
            "\n\nThe full licence texts of the Python packages are in their folders "
            "(`*.dist-info/`) inside the install folder.")


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {APP_NAME}")
        self.setWindowIcon(app_icon())
        self.resize(760, 560)
        from studio import __version__  # pyproject reads its version from here
        self.version = __version__

        head = QHBoxLayout()
        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(96, 96))
        logo.setAlignment(Qt.AlignmentFlag.AlignTop)
        head.addWidget(logo)
        self.title = QLabel(
            f"<h2 style='margin-bottom:2px'>{APP_NAME}</h2>"
            f"<p style='margin-top:0'>Version {self.version}</p>"
            "<p>Fine-tune pre-trained text, image and audio models on your own files, and "
            "watch the curves and samples as it learns. Everything the window does, "
            "<code>studio train project.toml</code> does headless.</p>"
            f"<p>Licence: Apache-2.0. &nbsp;Python {sys.version.split()[0]}, Qt "
            f"{_version_of('PySide6')}, PyTorch {_version_of('torch')}, transformers "
            f"{_version_of('transformers')}, diffusers {_version_of('diffusers')}.</p>")
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        head.addWidget(self.title, 1)

        self.tabs = QTabWidget()
        self.credits = QTextBrowser()
        self.credits.setOpenExternalLinks(True)
        self.credits.setMarkdown(credits_markdown())
        self.software = QTextBrowser()
        self.software.setOpenExternalLinks(True)
        self.software.setMarkdown(third_party_markdown())
        self.tabs.addTab(self.credits, "Bundled data and models")
        self.tabs.addTab(self.software, "Third-party software")

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)
