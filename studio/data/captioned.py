"""Captioned images: the one reader of image + caption-sidecar datasets (text-to-image
and captioning families both read through it), the caption rules applied at training
time, aspect-ratio buckets, and safe caption writing with undo.

Sidecars
    ``photo.png`` is captioned by ``photo.txt``, else ``photo.caption`` (kohya's two
    conventions; ``.txt`` wins when both exist, and ``CaptionedImage.source`` says which
    file was read). An image without a usable caption trains with the trigger word when
    one is set, else with its folder's name (kohya's ``10_my_style`` folders give
    ``my_style``), and ``missing_summary`` says how many and as what.

Caption rules (``compose_caption``, applied each time an image is drawn)
    trigger word prepended once; caption dropout (an empty caption, so the model also
    learns the unconditional case); comma-tag shuffle keeping the first N tags in place.

Buckets
    ``make_buckets`` gives kohya-style equal-area resolutions, ``bucket_for`` the one
    closest to an image's aspect, and ``fit_to_bucket`` scales the image to cover the
    bucket and crops the *centre* (the crop box, in the image's own pixels, is returned
    so previews can draw it: nothing is cropped off-centre unseen).

Writing
    ``write_caption`` replaces a sidecar atomically (temp file + ``os.replace``) as UTF-8
    and returns what was there before; ``CaptionEdits`` is the undo journal that the
    caption editor and the auto-captioner write through, so no caption is overwritten
    without its old bytes being recoverable.

Images themselves are read by ``studio.data.image.read_image`` (bombs, CMYK, 16-bit,
EXIF rotation, truncated files each keep their reason).
"""

from __future__ import annotations

import base64
import json
import math
import os
import random
import re
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from studio.core.errors import DataError
from studio.data.files import Skipped
from studio.data.image import MAX_PIXELS_DEFAULT, collect_images, read_image
from studio.data.text import encoding_name, legacy_encoding

__all__ = [
    "CAPTION_EXTENSIONS", "MAX_CAPTION_BYTES", "BucketPreview", "CaptionBook", "CaptionEdit",
    "CaptionEdits", "CaptionedImage", "Fit", "bucket_for", "bucket_step", "buckets_of", "caption_for", "preview_bucket", "caption_file_of", "compose_caption",
    "crop_box", "find_replace", "fit_to_bucket", "flip_conflicts", "folder_caption", "has_trigger",
    "load_captioned", "make_buckets", "missing_summary", "prepend_trigger",
    "read_caption_file", "read_captions", "split_tags", "write_caption",
]

CAPTION_EXTENSIONS = (".txt", ".caption")   # in order of precedence
MAX_CAPTION_BYTES = 64 * 1024   # a caption file larger than this is not a caption
FOLDER = "folder name"
TRIGGER = "trigger word"
_REPEATS_PREFIX = re.compile(r"^\d+_(?=.)")    # kohya's "10_my_style" folders
_RESAVE = ("save the caption once in the studio (it writes UTF-8), or re-save the file as "
           "UTF-8 in an editor")


# -- reading captions -----------------------------------------------------------------------


@dataclass(frozen=True)
class CaptionedImage:
    """One image and the caption it trains with.

    ``source`` names where the caption came from: the sidecar's file name (``"x.txt"``,
    ``"x.caption"``), ``"folder name"`` or ``"trigger word"``. ``problem`` is a reason the
    user should read (an empty, non-UTF-8 or huge caption file), "" when all is well."""

    path: Path
    caption: str
    source: str
    problem: str = ""

    @property
    def from_file(self) -> bool:
        """Is the caption the image's own (read from a sidecar)?"""
        return self.source not in (FOLDER, TRIGGER)

    @property
    def caption_file(self) -> Path | None:
        return self.path.with_name(self.source) if self.from_file else None


def caption_file_of(image: str | Path) -> Path | None:
    """The caption sidecar of ``image``: same name with ``.txt``, else ``.caption`` (either
    extension's case); None when there is neither."""
    image = Path(image)
    try:
        names = {n.lower(): n for n in os.listdir(image.parent)}
    except OSError:
        return None
    for ext in CAPTION_EXTENSIONS:
        name = names.get((image.stem + ext).lower())
        if name is not None and name.lower() != image.name.lower():
            return image.with_name(name)
    return None


def folder_caption(image: str | Path) -> str:
    """The caption of an image without one: its folder's name, without kohya's leading
    repeat count (``10_my_style/a.png`` -> ``my_style``)."""
    name = Path(os.path.realpath(image)).parent.name
    return _REPEATS_PREFIX.sub("", name)


def read_caption_file(path: str | Path) -> tuple[str, str]:
    """(caption text, problem) of one caption file. Never raises: what cannot be read
    gives "" and a reason naming the file and the fix. Lines are joined with spaces
    (a caption is one prompt); text in a legacy encoding is read and flagged."""
    path = Path(path)
    name = path.name
    try:
        size = path.stat().st_size
        if size > MAX_CAPTION_BYTES:
            return "", (f"{name} is {size / 1024:,.0f} KB, too large to be a caption (at most "
                        f"{MAX_CAPTION_BYTES // 1024} KB); is it the right file? Shorten it or "
                        f"rename it")
        data = path.read_bytes()
    except OSError as e:
        return "", f"{name} cannot be read ({e.strerror or e}); check its permissions"
    text, problem = _decode_caption(data, name)
    text = " ".join(text.split())
    if not text and not problem:
        problem = f"{name} is empty; write a caption in it or delete it"
    return text, problem


def _decode_caption(data: bytes, name: str) -> tuple[str, str]:
    if b"\x00" in data and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "", f"{name} is not text (it holds NUL bytes); replace it with a text caption"
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"),
                     (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(enc), ""
            except UnicodeDecodeError:
                break
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError as e:
        offset = e.start
    legacy = legacy_encoding(data)
    if legacy is None:   # nothing explains it: keep what UTF-8 can read
        return (data.decode("utf-8", errors="replace").replace("\ufffd", ""),
                f"{name} is not UTF-8 (byte {offset} cannot be read; the unreadable bytes "
                f"were left out); {_RESAVE}")
    return data.decode(legacy), (f"{name} is not UTF-8 (read as {encoding_name(legacy)}); "
                                 f"{_RESAVE}")


def read_captions(images: Iterable[str | Path], *, trigger: str = "") -> list[CaptionedImage]:
    """The caption of each image (in order). Images without a usable caption get the
    trigger word when one is set, else their folder's name; a caption file that could not
    be used keeps its reason in ``problem``."""
    out = []
    for image in images:
        sidecar = caption_file_of(image)
        text, problem = read_caption_file(sidecar) if sidecar else ("", "")
        out.append(caption_for(image, text, sidecar, problem, trigger=trigger))
    return out


def caption_for(image: str | Path, text: str, sidecar: str | Path | None, problem: str = "",
                *, trigger: str = "") -> CaptionedImage:
    """The ``CaptionedImage`` of a caption already read (the scanner reads them once):
    ``text`` from ``sidecar``, else the trigger word, else the folder's name."""
    image = Path(image)
    trigger = trigger.strip()
    if text and sidecar:
        return CaptionedImage(image, text, Path(sidecar).name, problem)
    if trigger:
        return CaptionedImage(image, trigger, TRIGGER, problem)
    return CaptionedImage(image, folder_caption(image), FOLDER, problem)


def missing_summary(items: Sequence[CaptionedImage]) -> str:
    """One line for the dataset pane: "7 of 20 images have no caption: they train as
    'my_style'" ("" when every image has its own caption)."""
    missing = [it for it in items if not it.from_file]
    if not missing:
        return ""
    n, total = len(missing), len(items)
    verb = "has" if n == 1 else "have"
    what = "image" if total == 1 else "images"
    used = sorted({it.caption for it in missing})
    if len(used) == 1:
        as_what = f"'{used[0]}'" + (" (the trigger word)" if missing[0].source == TRIGGER
                                    else " (the folder's name)")
    else:
        shown = ", ".join(f"'{u}'" for u in used[:3]) + (", ..." if len(used) > 3 else "")
        as_what = f"their folders' names ({shown})"
    they = "it trains" if n == 1 else "they train"
    return f"{n} of {total} {what} {verb} no caption: {they} as {as_what}"


@dataclass
class CaptionedDataset:
    """``load_captioned``'s answer: the images with their captions, and the files that
    cannot be used (with reasons)."""

    items: list[CaptionedImage]
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def problems(self) -> list[Skipped]:
        """Caption files that need a look (the image still trains)."""
        return [Skipped(str(it.path), it.problem) for it in self.items if it.problem]


def load_captioned(paths: str | Path | Sequence[str | Path], *, trigger: str = "",
                   exclude: Iterable[str | Path] = ()) -> CaptionedDataset:
    """Every image under ``paths`` (the image family's walker: sidecars are passed over,
    anything else is skipped with a reason) with its caption. Images are not decoded
    here: ``fit_to_bucket(read_image(path), ...)`` does that, with the image family's
    reasons for bad files."""
    files, skipped = collect_images(paths)
    leave_out = {os.path.abspath(p) for p in exclude}
    files = [f for f in files if os.path.abspath(f) not in leave_out]
    return CaptionedDataset(read_captions(files, trigger=trigger), skipped)


# -- caption rules --------------------------------------------------------------------------


def split_tags(caption: str) -> list[str]:
    """Comma-separated tags, stripped, empty ones dropped."""
    return [t.strip() for t in caption.split(",") if t.strip()]


def has_trigger(caption: str, trigger: str) -> bool:
    """Does ``caption`` contain ``trigger`` as a whole word (case-insensitive)?"""
    trigger = trigger.strip()
    if not trigger:
        return True
    return re.search(rf"(?<!\w){re.escape(trigger)}(?!\w)", caption, re.IGNORECASE) is not None


def prepend_trigger(caption: str, trigger: str) -> str:
    """``trigger, caption`` unless the caption already holds the trigger word."""
    trigger = trigger.strip()
    caption = caption.strip()
    if not trigger or has_trigger(caption, trigger):
        return caption
    return f"{trigger}, {caption}" if caption else trigger


def compose_caption(caption: str, *, trigger: str = "", dropout: float = 0.0,
                    shuffle_tags: bool = False, keep_tags: int = 0,
                    rng: random.Random | None = None) -> str:
    """The caption one training step sees (kohya's rules).

    - with probability ``dropout`` the caption is "" (the unconditional case);
    - ``shuffle_tags``: the comma-separated tags after the first ``keep_tags`` are
      shuffled (a sentence without commas is one tag and stays as it is);
    - the trigger word leads, once: a tag equal to it is moved to the front, and it is
      prepended when the caption does not mention it.
    """
    rng = rng or random.Random()
    if dropout > 0 and rng.random() < dropout:
        return ""
    trigger = trigger.strip()
    tags = split_tags(caption)
    lead: list[str] = []
    if trigger:
        rest = [t for t in tags if t.casefold() != trigger.casefold()]
        if len(rest) != len(tags) or not has_trigger(", ".join(rest), trigger):
            lead = [trigger]
        tags = rest
    if shuffle_tags and len(tags) > keep_tags + 1:
        keep = max(0, int(keep_tags))
        tail = tags[keep:]
        rng.shuffle(tail)
        tags = tags[:keep] + tail
    return ", ".join(lead + tags)


_SIDES = re.compile(r"(?<!\w)(left|right|leftmost|rightmost|left-hand|right-hand)(?!\w)",
                    re.IGNORECASE)


def flip_conflicts(items: Iterable[CaptionedImage]) -> list[CaptionedImage]:
    """The images whose caption says "left" or "right": a horizontal flip would make their
    caption wrong, so a family that flips says so (and turns flips off for them)."""
    return [it for it in items if _SIDES.search(it.caption)]


def find_replace(captions: dict[str, str], find: str, replace: str, *,
                 case_sensitive: bool = False, whole_word: bool = False) -> dict[str, str]:
    """The captions that change when ``find`` becomes ``replace`` (path -> new text); the
    caption editor previews its count before writing."""
    if not find:
        return {}
    pattern = re.escape(find)
    if whole_word:
        pattern = rf"(?<!\w){pattern}(?!\w)"
    rx = re.compile(pattern, 0 if case_sensitive else re.IGNORECASE)
    out = {}
    for path, text in captions.items():
        new = " ".join(rx.sub(lambda _m: replace, text).split())
        if new != text:
            out[path] = new
    return out


# -- aspect-ratio buckets -------------------------------------------------------------------

Bucket = tuple[int, int]   # (width, height)


def make_buckets(resolution: int, step: int = 64, max_ratio: float = 2.0) -> list[Bucket]:
    """Bucket sizes of about ``resolution``² pixels (never more), both sides multiples of
    ``step``, aspect at most ``max_ratio``: kohya's equal-area buckets. Sorted by aspect
    (tallest first); always holds the square ``resolution`` x ``resolution`` (rounded down
    to ``step``)."""
    if resolution < step or step < 1:
        raise DataError("data.resolution", f"{resolution} is smaller than the bucket step "
                                           f"{step}", f"use at least {step}")
    area = resolution * resolution
    side = resolution // step * step
    buckets = {(side, side)}
    w = step
    while w <= area // step:
        h = area // w // step * step
        if h >= step and max(w, h) / min(w, h) <= max_ratio + 1e-9:
            buckets.add((w, h))
            buckets.add((h, w))
        w += step
    return sorted(buckets, key=lambda b: (b[0] / b[1], b[0]))


def bucket_step(resolution: int) -> int:
    """Bucket sides are multiples of this: 64 px from 256 up (SD's VAE divides by 8 and
    its UNet by 8 more), 16 px below (the tiny starters' small UNets)."""
    return 64 if resolution >= 256 else 16


def buckets_of(resolution: int, bucketing: bool = True) -> list[Bucket]:
    """The buckets the settings ``data.resolution`` and ``data.bucketing`` give: the engine
    and the dataset pane's preview both ask here. Bucketing off: one square.
    ``resolution`` 0 (the model's own size) must be resolved first (the family's
    ``resolution``): a DataError says so."""
    if resolution < 1:
        raise DataError("data.resolution", f"{resolution} means \"the model's own size\", "
                        "which is known only once the model is read (a hub id or a "
                        "single-file checkpoint)", "set data.resolution to the model's size: "
                        "512 for SD 1.5, 1024 for SDXL")
    if not bucketing:
        side = resolution // bucket_step(resolution) * bucket_step(resolution)
        return [(side, side)]
    return make_buckets(resolution, step=bucket_step(resolution))


def bucket_for(width: int, height: int, buckets: Sequence[Bucket]) -> Bucket:
    """The bucket whose aspect is closest to the image's (in log ratio: 2:1 and 1:2 are as
    far from square); ties go to the larger bucket."""
    if width <= 0 or height <= 0 or not buckets:
        raise ValueError(f"no bucket for a {width}x{height} image among {len(buckets)}")
    aspect = math.log(width / height)
    return min(buckets, key=lambda b: (round(abs(math.log(b[0] / b[1]) - aspect), 9),
                                       -b[0] * b[1]))


def crop_box(size: tuple[int, int], bucket: Bucket) -> tuple[float, tuple[int, int, int, int]]:
    """(scale, box) for an image of ``size`` = (w, h) fitted to ``bucket``: the scale that
    makes it cover the bucket, and the centred box (left, top, right, bottom) in the
    image's own pixels that becomes the bucket."""
    w, h = size
    bw, bh = bucket
    scale = max(bw / w, bh / h)
    cw, ch = min(w, bw / scale), min(h, bh / scale)
    left, top = (w - cw) / 2, (h - ch) / 2
    return scale, (round(left), round(top), round(left + cw), round(top + ch))


@dataclass(frozen=True)
class Fit:
    image: Image.Image      # bucket-sized RGB
    bucket: Bucket
    crop: tuple[int, int, int, int]   # the centred box of the original that was kept
    scale: float            # < 1 downscaled, > 1 upscaled (a small image)
    size: tuple[int, int]   # the original's (width, height), the right way up

    @property
    def cropped_share(self) -> float:
        """Share of the original's area that was cut off (0 when the aspect matched)."""
        w, h = self.crop[2] - self.crop[0], self.crop[3] - self.crop[1]
        return 1.0 - (w * h) / (self.size[0] * self.size[1])


def fit_to_bucket(image: Image.Image, bucket: Bucket) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """Resize ``image`` so it covers ``bucket`` (downscaled when larger, upscaled when
    smaller) and cut the small remainder off equally on both sides: (bucket-sized image,
    the centred crop box in the original's pixels)."""
    _, box = crop_box(image.size, bucket)
    out = image.resize(bucket, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
    return out, box


def fit_file(path: str | Path, buckets: Sequence[Bucket],
             max_pixels: int = MAX_PIXELS_DEFAULT) -> Fit:
    """Read one image (``read_image``: a ``DataError`` with the image family's reason for a
    bad file) and fit it to its bucket."""
    im = read_image(path, max_pixels=max_pixels)
    bucket = bucket_for(im.width, im.height, buckets)
    scale, _ = crop_box(im.size, bucket)
    out, box = fit_to_bucket(im, bucket)
    return Fit(out, bucket, box, scale, im.size)


@dataclass(frozen=True)
class BucketPreview:
    """What the bucket preview shows for one image: its size the right way up, its bucket,
    the centred crop box (original pixels), the scale, and a small thumbnail (PNG bytes,
    the whole image: the box is drawn over it). ``problem`` is the image family's reason
    when the image cannot be used (everything else is then empty)."""

    path: str
    size: tuple[int, int] = (0, 0)
    bucket: Bucket = (0, 0)
    crop: tuple[int, int, int, int] = (0, 0, 0, 0)
    scale: float = 1.0
    thumbnail: bytes = b""
    problem: str = ""

    @property
    def cropped_share(self) -> float:
        w, h = self.crop[2] - self.crop[0], self.crop[3] - self.crop[1]
        return 1.0 - (w * h) / (self.size[0] * self.size[1]) if self.size[0] else 0.0

    def describe(self) -> str:
        """"640×384 · 4% cut from the sides · downscaled to 36%"."""
        if self.problem:
            return self.problem
        w, h = self.size
        left, top, right, bottom = self.crop
        share = self.cropped_share
        amount = f"{share:.0%}" if share >= 0.005 else "under 1%"
        if right - left < w:
            cut = f"{amount} cut from the sides"
        elif bottom - top < h:
            cut = f"{amount} cut from top and bottom"
        else:
            cut = "nothing cut"
        how = (f"downscaled to {self.scale:.0%}" if self.scale < 0.999 else
               f"upscaled ×{self.scale:.2g}" if self.scale > 1.001 else "full size")
        return f"{self.bucket[0]}×{self.bucket[1]} · {cut} · {how}"


def preview_bucket(path: str | Path, buckets: Sequence[Bucket], thumb: int = 160,
                   max_pixels: int = MAX_PIXELS_DEFAULT) -> BucketPreview:
    """One image's ``BucketPreview`` (never raises: a bad image gives its reason)."""
    import io

    try:
        im = read_image(path, max_pixels=max_pixels)
    except DataError as e:
        why = e.message.removeprefix(f"{e.path}: ")
        return BucketPreview(str(path), problem=f"{why}; {e.fix}" if e.fix else why)
    bucket = bucket_for(im.width, im.height, buckets)
    scale, box = crop_box(im.size, bucket)
    small = im.copy()
    small.thumbnail((thumb, thumb))
    buf = io.BytesIO()
    small.save(buf, "PNG")
    return BucketPreview(str(path), im.size, bucket, box, scale, buf.getvalue())


# -- writing captions, with undo ------------------------------------------------------------


@dataclass(frozen=True)
class CaptionEdit:
    """One sidecar write: ``old`` is the file's bytes before (None: there was no file)."""

    path: Path               # the caption file written
    old: bytes | None
    new: bytes


def sidecar_for(image: str | Path) -> Path:
    """The caption file a new caption of ``image`` goes to: its existing sidecar (``.txt``
    or ``.caption``), else ``name.txt``."""
    return caption_file_of(image) or Path(image).with_suffix(".txt")


def write_caption(image: str | Path, text: str) -> CaptionEdit:
    """Write ``text`` as the caption of ``image`` (into its existing sidecar, else
    ``name.txt``): UTF-8, one line, through a temporary file and ``os.replace`` so a crash
    never leaves half a caption. Returns the edit, which holds the old bytes for undo."""
    target = sidecar_for(image)
    line = " ".join(text.split())
    new = (line + "\n").encode("utf-8") if line else b""
    try:
        old = target.read_bytes()
    except FileNotFoundError:
        old = None
    _atomic_write(target, new)
    return CaptionEdit(target, old, new)


def _atomic_write(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class CaptionEdits:
    """The undo journal of caption writes. ``write({image: text}, label)`` is one undoable
    step; ``undo()`` puts back the bytes each file had (deleting a sidecar that did not
    exist), unless the file changed since (that file is left alone and named).

    With ``journal`` (a file path), each step is also appended there as a JSON line
    holding the old bytes, so even after a crash the old captions can be recovered."""

    def __init__(self, journal: str | Path | None = None) -> None:
        self.journal = Path(journal) if journal else None
        self._steps: list[tuple[str, list[CaptionEdit]]] = []

    @property
    def can_undo(self) -> bool:
        return bool(self._steps)

    @property
    def undo_label(self) -> str:
        return self._steps[-1][0] if self._steps else ""

    def write(self, texts: dict[str | Path, str], label: str = "edit captions"
              ) -> list[CaptionEdit]:
        """Write each image's caption; one undo step. A file that cannot be written raises
        OSError after the ones before it were written (they stay undoable)."""
        edits: list[CaptionEdit] = []
        try:
            for image, text in texts.items():
                edit = write_caption(image, text)
                if edit.old != edit.new:
                    edits.append(edit)
        finally:
            if edits:
                self._steps.append((label, edits))
                self._log(label, edits)
        return edits

    def undo(self) -> tuple[list[Path], list[str]]:
        """Undo the last step: (files restored, reasons for files left alone)."""
        if not self._steps:
            return [], []
        _, edits = self._steps.pop()
        restored, problems = [], []
        for edit in reversed(edits):
            try:
                now = edit.path.read_bytes()
            except FileNotFoundError:
                now = None
            if now != edit.new:
                problems.append(f"{edit.path.name} changed since it was written; left as it is")
                continue
            try:
                if edit.old is None:
                    edit.path.unlink()
                else:
                    _atomic_write(edit.path, edit.old)
                restored.append(edit.path)
            except OSError as e:
                problems.append(f"{edit.path.name} could not be restored ({e.strerror or e})")
        return restored, problems

    def _log(self, label: str, edits: list[CaptionEdit]) -> None:
        if self.journal is None:
            return
        record = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "label": label,
                  "files": [{"path": str(e.path),
                             "old": None if e.old is None else base64.b64encode(e.old).decode(),
                             "new": e.new.decode("utf-8")} for e in edits]}
        try:
            self.journal.parent.mkdir(parents=True, exist_ok=True)
            with open(self.journal, "a", encoding="utf-8") as f:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        except OSError:
            pass   # the in-memory undo still holds the old bytes


class CaptionBook:
    """The caption editor's model (Qt-free): every image's caption as it is on disk, the
    previews of bulk changes, and the writes (through ``CaptionEdits``, so each is one
    undoable step). After a write or an undo the captions are read back from disk."""

    def __init__(self, images: Iterable[str | Path], *, trigger: str = "",
                 edits: CaptionEdits | None = None) -> None:
        self.trigger = trigger.strip()
        self.edits = edits if edits is not None else CaptionEdits()
        self.items: list[CaptionedImage] = read_captions(images, trigger=self.trigger)

    def item(self, path: str | Path) -> CaptionedImage | None:
        key = Path(path)
        return next((it for it in self.items if it.path == key), None)

    def own_captions(self) -> dict[str, str]:
        """Path -> caption of the images that have their own caption file."""
        return {str(it.path): it.caption for it in self.items if it.from_file}

    @property
    def missing(self) -> int:
        return sum(not it.from_file for it in self.items)

    def preview_replace(self, find: str, replace: str, *, case_sensitive: bool = False,
                        whole_word: bool = False) -> dict[str, str]:
        return find_replace(self.own_captions(), find, replace,
                            case_sensitive=case_sensitive, whole_word=whole_word)

    def preview_prepend(self, trigger: str) -> dict[str, str]:
        """The captions that gain the trigger word (those without it). Images without a
        caption are left alone: they train as the trigger word already."""
        out = {}
        for path, text in self.own_captions().items():
            new = prepend_trigger(text, trigger)
            if new != text:
                out[path] = new
        return out

    def apply(self, changes: dict[str, str], label: str) -> list[CaptionEdit]:
        """Write ``changes`` (path -> caption) as one undo step and read them back."""
        try:
            return self.edits.write(dict(changes), label)
        finally:
            self.reload()

    def undo(self) -> tuple[list[Path], list[str]]:
        try:
            return self.edits.undo()
        finally:
            self.reload()

    def reload(self) -> None:
        self.items = read_captions([it.path for it in self.items], trigger=self.trigger)
