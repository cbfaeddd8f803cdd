"""The captioning family's dataset: images and their caption sidecars, read through the one
captioned-image reader (``studio.data.captioned``, which text-to-image reads through too),
as pixel tensors for the vision encoder and caption tokens for the decoder.

* Images without a caption file of their own are left out (a captioner would learn to
  answer with a folder name), and the summary says how many, and that Auto-caption writes
  them.
* Captions longer than the decoder's limit (its position embeddings) are cut there, the
  closing token kept; the summary counts them.
* Augmentation never contradicts a caption: a horizontal flip swaps left and right, a
  vertical one top and bottom, a colour jitter shifts hues; when the captions use such
  words the transform is turned off and the summary says which and why
  (``caption_safe``).
* Images are decoded once, at the encoder's square size (resized like the model's own
  image processor, not cropped: a crop could cut off what the caption names).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from studio.core.errors import DataError
from studio.data.image import AugmentSpec, augment_batch, read_image, split_images

# transform (AugmentSpec field) -> (words a caption may use that it would make wrong, why);
# left / right is studio.data.captioned.flip_conflicts' rule (text-to-image asks it too)
CONTRADICTIONS: dict[str, tuple[frozenset[str], str]] = {
    "vflip": (frozenset({"top", "bottom", "above", "below", "upper", "lower", "upside",
                         "beneath", "under"}), "a vertical flip swaps top and bottom"),
    "color_jitter": (frozenset({"red", "green", "blue", "yellow", "purple", "orange", "pink",
                                "brown", "grey", "gray", "violet", "cyan", "magenta",
                                "turquoise", "golden", "crimson", "scarlet"}),
                     "a colour jitter shifts hues"),
}
_WORDS = re.compile(r"[a-z]+")
_SIDE_WORDS = re.compile(r"left|right", re.IGNORECASE)


def caption_safe(spec: AugmentSpec, items: list) -> tuple[AugmentSpec, list[str]]:
    """``spec`` with every transform that some caption contradicts turned off, and one note
    per transform turned off (naming a caption that says so). ``items`` are
    ``CaptionedImage``s."""
    from studio.data.captioned import flip_conflicts

    notes = []
    changes: dict[str, float] = {}
    captions = [it.caption for it in items]

    def turn_off(name: str, hits: list[int], said: list[str], why: str) -> None:
        changes[name] = 0.0
        notes.append(f"augment.{name} turned off: {len(hits)} caption(s) say "
                     f"{'/'.join(said)} (e.g. \"{captions[hits[0]][:60]}\") and {why}")

    if spec.hflip:
        sided = {id(it) for it in flip_conflicts(items)}
        hits = [k for k, it in enumerate(items) if id(it) in sided]
        if hits:
            said = sorted({w.lower() for w in _SIDE_WORDS.findall(captions[hits[0]])})
            turn_off("hflip", hits, said, "a horizontal flip swaps left and right")
    words_of = [set(_WORDS.findall(c.lower())) for c in captions]
    for name, (words, why) in CONTRADICTIONS.items():
        if not getattr(spec, name):
            continue
        hits = [k for k, w in enumerate(words_of) if w & words]
        if hits:
            turn_off(name, hits, sorted(words_of[hits[0]] & words), why)
    return dataclasses.replace(spec, **changes), notes


# -- the batch (what a step trains on) ------------------------------------------------------------------------------


@dataclass
class CaptionBatch:
    """Images and their caption tokens. Behaves like a tensor where the engine needs it."""

    pixel_values: torch.Tensor   # [B, 3, H, W], normalised for the vision encoder
    input_ids: torch.Tensor      # [B, L]
    attention_mask: torch.Tensor  # [B, L]
    labels: torch.Tensor         # [B, L], -100 where no loss is taken

    def _map(self, fn) -> "CaptionBatch":
        return CaptionBatch(fn(self.pixel_values), fn(self.input_ids), fn(self.attention_mask),
                            fn(self.labels))

    def to(self, device: Any, non_blocking: bool = False) -> "CaptionBatch":
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> "CaptionBatch":
        return self._map(lambda t: t.pin_memory())

    def __len__(self) -> int:
        return int(self.pixel_values.shape[0])


def load_pixels(path: str | Path, size: int) -> torch.Tensor:
    """One image as ``uint8 [3, size, size]``, resized (not cropped) as image processors do."""
    import numpy as np
    from PIL import Image

    im = read_image(path).resize((size, size), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1)


def pixels_of(cap: Any, paths: list[Path]) -> torch.Tensor:
    """Normalised pixel values of image files, for ``generate`` (auto-captioning)."""
    size = cap.image_size
    x = torch.stack([load_pixels(p, size) for p in paths]).float() / 255.0
    return cap.normalise(x)


@dataclass
class CaptionData:
    cap: Any                       # studio.models.captioning.Captioner
    paths: list[Path]
    captions: list[str]
    images: list[torch.Tensor]     # uint8 [3, s, s]
    tokens: list[list[int]]
    train_ids: list[int]
    val_ids: list[int]
    augment: AugmentSpec
    summary: str = ""
    skipped: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def n_train(self) -> int:
        return len(self.train_ids)

    @property
    def n_val(self) -> int:
        return len(self.val_ids)

    @property
    def size(self) -> int:
        return int(self.images[0].shape[-1]) if self.images else self.cap.image_size

    def _batch(self, ids: list[int], pixels01: torch.Tensor):
        input_ids, mask, labels = self.cap.pad([self.tokens[i] for i in ids])
        return CaptionBatch(self.cap.normalise(pixels01), input_ids, mask, labels)

    def train_batch(self, idx: torch.Tensor, seed: int):
        """Training images ``idx``, augmented with the (caption-safe) spec; the dice depend
        only on ``seed``, so a resumed run sees the same batches."""
        ids = [self.train_ids[int(i)] for i in idx]
        x = augment_batch([self.images[i] for i in ids], self.size, self.augment, "center",
                          seed)
        return self._batch(ids, (x + 1.0) / 2.0)

    def val_pixels(self, which: list[int]) -> torch.Tensor:
        """Normalised pixels of held-out images ``which`` (positions in the split)."""
        ids = [self.val_ids[j] for j in which]
        return self.cap.normalise(torch.stack([self.images[i] for i in ids]).float() / 255.0)

    def val_batch(self, b: int, bs: int):
        which = list(range(b * bs, min((b + 1) * bs, self.n_val)))
        ids = [self.val_ids[j] for j in which]
        x = torch.stack([self.images[i] for i in ids]).float() / 255.0
        return self._batch(ids, x)

    def val_caption(self, j: int) -> str:
        return self.captions[self.val_ids[j]]

    def val_path(self, j: int) -> Path:
        return self.paths[self.val_ids[j]]

    @staticmethod
    def items_in(batch) -> int:
        return len(batch)  # images


def load_caption_data(cap: Any, cfg: Any, resolve=lambda p: Path(p)) -> CaptionData:
    """Read ``cfg.data.paths`` (images + sidecars) for the captioner ``cap``."""
    from studio.data.captioned import load_captioned
    from studio.data.files import Skipped

    d = cfg.data
    found = load_captioned([resolve(p) for p in d.paths],
                           exclude=[resolve(p) for p in d.exclude])
    skipped = list(found.skipped) + list(found.problems)
    uncaptioned = [it for it in found.items if not it.from_file]
    size = cap.image_size
    paths, captions, images, kept = [], [], [], []
    for it in found.items:
        if not it.from_file:
            continue
        try:
            images.append(load_pixels(it.path, size))
        except DataError as e:
            skipped.append(Skipped(str(it.path), str(e)))
            continue
        paths.append(Path(it.path))
        captions.append(it.caption)
        kept.append(it)
    if not images:
        where = ", ".join(str(p) for p in d.paths) or "data.paths"
        why = (f"none of its {len(uncaptioned)} images has a caption file"
               if uncaptioned else "it holds no readable image with a caption")
        raise DataError(where, why, "put a .txt caption beside each image (photo.png + "
                                    "photo.txt), or write them with Auto-caption "
                                    "(`studio caption FOLDER --model ...`)")
    toks = [cap.caption_ids(c) for c in captions]
    tokens = [t for t, _ in toks]
    cut = sum(1 for _, c in toks if c)
    train_ids, val_ids = split_images(len(images), d.val_fraction, d.split_seed)
    spec, notes = caption_safe(AugmentSpec.from_config(cfg.augment),
                               [kept[i] for i in train_ids])
    summary = (f"Read {len(images)} captioned images ({len(skipped)} skipped) at "
               f"{size}x{size}. Training: {len(train_ids)} images; validation: "
               f"{len(val_ids)} held-out images (their generated captions are scored with "
               f"BLEU-4 and CIDEr-D at each evaluation). Captions: "
               f"{sum(len(t) for t in tokens) / len(tokens):.1f} tokens on average.")
    if cut:
        summary += (f" {cut} caption(s) were longer than the decoder's limit of "
                    f"{cap.max_tokens} tokens and were cut there.")
    if uncaptioned:
        summary += (f" {len(uncaptioned)} image(s) have no caption file and were left out "
                    f"(Auto-caption writes them).")
    if notes:
        summary += " " + " ".join(n + "." for n in notes)
    return CaptionData(cap, paths, captions, images, tokens, train_ids, val_ids, spec,
                       summary, skipped, notes)
