"""A fourth model family that exists only in the tests: "poems".

It proves that adding a family is its model module and a spec entry, with no edit
anywhere else: the CLI, the engine, the Settings and dataset panes and the gallery all
learn about it from ``studio.config.families``. Its model code wraps the text family
(composition: a tiny GPT-2 on text files), but its name, defaults, item noun, export
loader, perplexity and model-folder detection are its own.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from studio.config import families

MARKER = "POEMS_MODEL"  # a model folder holding this file belongs to the poems family


class PoemFamily:
    name = "poems"
    throughput_unit = "tok"

    def __init__(self) -> None:
        from studio.models.text import TextFamily

        self._text = TextFamily()

    def __getattr__(self, attr):  # everything else: the text family's code
        return getattr(self._text, attr)


SPEC = families.FamilySpec(
    name="poems", title="Poems", summary="verse, one poem per file (test family)",
    implementation="tests.fake_family:PoemFamily",
    file_kinds=("text",), sample_kind="text", has_perplexity=False, item_noun="poems",
    export_loader="poems.load(folder)", split_note="Poems are shuffled with this seed.",
    defaults={"train": {"lr": 2e-3, "weight_decay": 0.0}, "sample": {"prompts": ("Roses",)}},
    extra_knobs=("data.block_size",),
    detect=lambda config, folder: (Path(folder) / MARKER).is_file(),
)


@contextlib.contextmanager
def poems_registered():
    families.register(SPEC)
    try:
        yield SPEC
    finally:
        families.unregister(SPEC.name)


def make_poems_model(tiny_text_model: Path, out: Path) -> Path:
    """A copy of the tiny text model marked as a poems model."""
    import shutil

    shutil.copytree(tiny_text_model, out)
    (out / MARKER).write_text("", encoding="utf-8")
    return out
