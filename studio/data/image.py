"""Image datasets: find the files, read each one as plain 8-bit RGB, resize, crop and augment.

Reading never stops at a bad file: each file that cannot be used becomes a ``Skipped`` entry
whose reason says what is wrong and how to fix it, and only when *nothing* is usable does
``load_image_corpus`` raise ``DataError``.

``read_image`` is the one place where the zoo of image files becomes ``RGB``: EXIF
orientation, transparency (composited on a background colour), greyscale, 1-bit, palette,
CMYK, 16-bit and float images, the first frame of an animation, and a decompression-bomb
guard that looks at the header before a single pixel is decoded.

Pipeline::

    corpus = load_image_corpus(cfg.data.paths, size, scale_jitter=aug.scale_jitter)
    train, val = split_images(len(corpus.images), val_fraction, seed)
    x = augment_batch([corpus.images[i] for i in idx], size, spec, crop, seed)  # training
    v = center_crop_batch([corpus.images[i] for i in val], size)                # validation

torch and torchvision are imported inside the functions that need them, so reading and
collecting images stays cheap (the dataset browser and the scanner use them too).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageColor, ImageOps, UnidentifiedImageError

from studio.core.errors import ConfigError, DataError
from studio.data.files import collect, digest_or_none, os_reason
from studio.data.text import Duplicates, Skipped, _split_indices

if TYPE_CHECKING:
    import torch

__all__ = [
    "IMAGE_EXTENSIONS", "MAX_PIXELS_DEFAULT", "AugmentSpec", "ImageCorpus", "Skipped",
    "augment_batch", "augment_previews", "center_crop_batch", "collect_images",
    "load_image_corpus", "read_image", "split_images", "target_short_side",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
MAX_PIXELS_DEFAULT = 80_000_000  # decompression-bomb guard: never decode more pixels than this
CROPS = ("center", "random")

_SUPPORTED = ", ".join(IMAGE_EXTENSIONS)
_REEXPORT = "re-export it (e.g. as PNG) or remove it from the dataset"
_SNIFF_BYTES = 4096
_MAX_REASONS = 5          # per-file reasons quoted in the "nothing usable" error
_ROTATION_MARGIN = 2      # px trimmed inside the rotated square so no fill colour leaks in

Background = tuple[int, int, int] | str


@dataclass(frozen=True)
class AugmentSpec:
    """Training-time augmentation; mirrors the ``[augment]`` config section.

    Every field is a probability or a strength and 0 turns it off (``hflip`` is on at 0.5 by
    default, as in the config). Geometry first (crop, rotation, scale, flips), then colour,
    then noise.
    """

    hflip: float = 0.5         # probability of a horizontal flip
    vflip: float = 0.0         # probability of a vertical flip
    rotation: float = 0.0      # largest rotation in degrees, applied with probability rotation_p
    rotation_p: float = 0.0
    scale_jitter: float = 0.0  # 0..0.9: crops cover a share in [1 - scale_jitter, 1] of the square
    color_jitter: float = 0.0  # 0..1: brightness / contrast / saturation strength (hue / 10)
    color_p: float = 0.0
    noise_std: float = 0.0     # std of Gaussian noise in the [-1, 1] pixel range
    noise_p: float = 0.0

    @classmethod
    def from_config(cls, cfg) -> AugmentSpec:
        """Build from any object with the same field names (the config's ``AugmentConfig``)."""
        return cls(**{name: float(getattr(cfg, name)) for name in cls.__dataclass_fields__})


@dataclass
class ImageCorpus:
    """Every usable image, decoded once and kept small: ``uint8 [3, h, w]`` tensors whose
    short side is ``target_short_side(size, scale_jitter)``, so crops never need upscaling."""

    images: list[torch.Tensor]
    paths: list[str]
    skipped: list[Skipped]
    size: int


# -- errors ---------------------------------------------------------------------------------


class _Unusable(Exception):
    """One image cannot be used: ``message`` says what is wrong and ``fix`` what to do."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.message = message
        self.fix = fix

    def reason(self) -> str:
        return f"{self.message}; {self.fix}"


def _megapixels(n: float) -> str:
    """200_000_000 -> "200", 4_294_836_225 -> "4,295", 1_500_000 -> "1.5"."""
    return f"{n / 1e6:,.0f}" if n >= 10e6 else f"{n / 1e6:.3g}"


def _too_big(pixels: int, limit: int) -> _Unusable:
    return _Unusable(f"is {_megapixels(pixels)} megapixels, over the "
                     f"{_megapixels(limit)}-megapixel limit",
                     f"downscale it below {_megapixels(limit)} megapixels (a huge image is "
                     f"resized to the training size anyway) or remove it from the dataset")


def _bomb(e: Exception, max_pixels: int) -> _Unusable:
    """Pillow's own guard fired (``Image size (N pixels) exceeds limit of L pixels``)."""
    numbers = [int(n) for n in re.findall(r"\d+", str(e))]
    pixels = numbers[0] if numbers else max_pixels + 1
    limit = min(max_pixels, numbers[1]) if len(numbers) > 1 else max_pixels
    return _too_big(pixels, limit)


def _short(exc: BaseException) -> str:
    text = re.sub(r"\s+", " ", str(exc).strip()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


# What a file that Pillow cannot identify actually is, judged from its first bytes.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or .docx/.xlsx/.kra/.ora document)"),
    (b"8BPS", "a Photoshop document"),
    (b"gimp xcf", "a GIMP document"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a Windows program"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"fLaC", "a FLAC audio file"),
    (b"OggS", "an Ogg audio/video file"),
    (b"ID3", "an MP3 audio file"),
    (b"\x1aE\xdf\xa3", "a Matroska/WebM video"),
)
_FTYP_BRANDS = {b"heic": "a HEIC photo", b"heix": "a HEIC photo", b"mif1": "a HEIF photo",
                b"avif": "an AVIF image", b"qt  ": "a QuickTime video"}


def _identify(head: bytes) -> str | None:
    """A few words naming what ``head`` (a file's first bytes) is, or None if unknown."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(head[8:12], "an MP4/MOV video or audio file")
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "a WAV audio file"
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:   # not just a multi-byte character cut at the end
            return None
        text = head[:e.start].decode("utf-8")
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("<svg") or ("<svg" in stripped[:1000] and stripped.startswith("<")):
        return "an SVG drawing (vector shapes, not pixels)"
    if stripped.lower().startswith(("<!doctype html", "<html")):
        return "a web page (HTML)"
    printable = sum(ch.isprintable() or ch in "\t\r\n" for ch in text)
    if text and printable >= 0.95 * len(text):
        first = " ".join(stripped.split())[:40]
        return f"a text file (it begins \u201c{first}\u201d)" if first else "a text file"
    return None


# -- reading one image ----------------------------------------------------------------------


def _parse_background(background: Background) -> tuple[int, int, int]:
    if isinstance(background, str):
        try:
            rgb = ImageColor.getrgb(background)
        except ValueError:
            raise ConfigError("data.background", f"{background!r} is not a colour",
                              "use e.g. #ffffff or white") from None
        return tuple(int(c) for c in rgb[:3])  # type: ignore[return-value]
    values = tuple(int(c) for c in background)
    if len(values) < 3 or not all(0 <= c <= 255 for c in values[:3]):
        raise ConfigError("data.background", f"{background!r} is not an RGB colour",
                          "give three numbers 0-255 or a colour such as #ffffff")
    return values[:3]  # type: ignore[return-value]


def read_image(path: str | Path, background: Background = (255, 255, 255),
               max_pixels: int = MAX_PIXELS_DEFAULT) -> Image.Image:
    """Read any supported image file as an 8-bit ``RGB`` image the right way up.

    - EXIF orientation is applied; an animation gives its first frame.
    - Transparency (RGBA, LA, palette or colour-key transparency) is composited on
      ``background`` (an RGB tuple or a colour name / ``#rrggbb``).
    - Greyscale, 1-bit, palette and CMYK become RGB; 16-bit images are scaled (65535 -> 255),
      never clipped; 32-bit integer and float images are scaled to their range.
    - The pixel count is read from the header and checked against ``max_pixels`` *before*
      anything is decoded (a decompression bomb costs nothing).

    Every problem is a ``DataError`` naming the file, what is wrong and what to do; no other
    exception escapes.
    """
    try:
        return _read(Path(path), _parse_background(background), max_pixels)
    except _Unusable as e:
        raise DataError(str(path), e.message, e.fix) from None


def _read(path: Path, background: tuple[int, int, int], max_pixels: int,
          draft: int | None = None, min_side: int = 0) -> Image.Image:
    """``read_image`` raising ``_Unusable``. ``draft`` lets a JPEG decode at a reduced scale
    that keeps both sides at least ``draft`` px; ``min_side`` refuses smaller images."""
    with warnings.catch_warnings():
        # Our size check replaces Pillow's bomb warning (its hard error at twice its own
        # limit still applies and is reported the same way), and its "corrupt EXIF" /
        # "possibly corrupt TIFF" chatter is either harmless or ends in an _Unusable anyway.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL(\.|$)")
        return _read_quietly(path, background, max_pixels, draft, min_side)


def _read_quietly(path: Path, background: tuple[int, int, int], max_pixels: int,
                  draft: int | None, min_side: int) -> Image.Image:
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise _Unusable("does not exist", "check the path") from None
    except IsADirectoryError:
        raise _Unusable("is a folder, not an image", "give the folder as a dataset path "
                                                     "to read the images inside it") from None
    except OSError as e:
        raise _Unusable(f"cannot be read: {os_reason(e)}",
                        "check that the file is readable (permissions, a disconnected drive)"
                        ) from None
    with f:
        try:
            head = f.read(_SNIFF_BYTES)
            f.seek(0)
        except OSError as e:
            raise _Unusable(f"cannot be read: {os_reason(e)}", _REEXPORT) from None
        if not head:
            raise _Unusable("is empty (0 bytes)", _REEXPORT)
        try:
            im = Image.open(f)            # reads only the header
        except Image.DecompressionBombError as e:
            raise _bomb(e, max_pixels) from None
        except UnidentifiedImageError:
            kind = _identify(head)
            if kind:
                raise _Unusable(f"is {kind}, not an image",
                                "remove it from the dataset (a caption belongs in a .txt file "
                                "named like its image)" if kind.startswith("a text file")
                                else "remove it from the dataset, or export it as PNG or JPEG"
                                ) from None
            raise _Unusable("is not a readable image (the image format is not recognised)",
                            _REEXPORT) from None
        except Exception as e:  # noqa: BLE001 - any header parser error
            raise _Unusable(f"is not a readable image ({_short(e)})", _REEXPORT) from None
        with im:
            try:
                w, h = im.size
            except Exception as e:  # noqa: BLE001
                raise _Unusable(f"is not a readable image ({_short(e)})", _REEXPORT) from None
            if w <= 0 or h <= 0:
                raise _Unusable(f"is not a readable image (it claims to be {w}×{h} pixels)",
                                _REEXPORT)
            if w * h > max_pixels:
                raise _too_big(w * h, max_pixels)
            if min(w, h) < min_side:
                raise _Unusable(f"is too small ({w}×{h} pixels; images need at least "
                                f"{min_side} px a side)",
                                "use a larger version of it or remove it from the dataset")
            try:
                if draft and im.format == "JPEG":
                    im.draft(None, (draft, draft))   # DCT scaling keeps both sides >= draft
                im.load()
            except Image.DecompressionBombError as e:   # a frame larger than the header said
                raise _bomb(e, max_pixels) from None
            except Exception as e:  # noqa: BLE001 - truncated data, decoder errors, ...
                raise _Unusable(f"is not a readable image ({_short(e)})", _REEXPORT) from None
            try:
                im = ImageOps.exif_transpose(im) or im
            except Exception:  # noqa: BLE001 - a broken EXIF block: keep the stored orientation
                pass
            try:
                return _to_rgb(im, background)
            except _Unusable:
                raise
            except Exception as e:  # noqa: BLE001
                raise _Unusable(f"is not a readable image ({_short(e)})", _REEXPORT) from None


_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def _to_rgb(im: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Any decoded Pillow image -> a new 8-bit RGB image."""
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        return Image.fromarray(_deep_to_uint8(np.asarray(im), mode)).convert("RGB")
    if mode in _ALPHA_MODES or "transparency" in im.info:
        rgba = im.convert("RGBA")
        out = Image.new("RGBA", im.size, (*background, 255))
        out.alpha_composite(rgba)
        return out.convert("RGB")
    if mode in ("LAB", "HSV"):   # Pillow cannot convert these to RGB without a colour profile
        raise _Unusable(f"uses the {mode} colour mode, which cannot be converted to RGB here",
                        "re-export it as an RGB image")
    out = im.convert("RGB")
    return out if out is not im else im.copy()


def _deep_to_uint8(a: np.ndarray, mode: str) -> np.ndarray:
    """16-bit, 32-bit integer and float pixels -> uint8, scaled (never clipped)."""
    if mode.startswith("I;16"):                       # 0..65535: 65535 -> 255, 32768 -> 128
        return np.round(a.astype(np.float32) / 257.0).astype(np.uint8)
    x = a.astype(np.float64)
    finite = np.isfinite(x)
    x = np.where(finite, x, 0.0)
    lo, hi = (float(x[finite].min()), float(x[finite].max())) if finite.any() else (0.0, 0.0)
    if mode == "I" and lo >= 0 and hi <= 255:         # 8-bit values stored as 32-bit ints
        scaled = x
    elif mode == "I" and lo >= 0 and hi <= 65535:     # 16-bit values stored as 32-bit ints
        scaled = x / 257.0
    elif mode == "F" and lo >= 0 and hi <= 1:         # the usual 0..1 float image
        scaled = x * 255.0
    elif hi > lo:                                     # anything else: stretch its own range
        scaled = (x - lo) * (255.0 / (hi - lo))
    else:
        scaled = np.zeros_like(x)
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


# -- finding files --------------------------------------------------------------------------



def collect_images(paths: str | Path | Sequence[str | Path]) -> tuple[list[Path], list[Skipped]]:
    """Expand files and folders into the list of image files to read, in a stable order
    (``studio.data.files.walk``: sorted names, hidden entries left out, link loops walked
    once, a file reached twice read once). A same-name ``.txt`` beside an image is its
    caption and is passed over silently; anything else without an image extension, or
    that is not a regular file, becomes a ``Skipped``. A path that does not exist raises
    ``DataError``."""
    return collect(paths, IMAGE_EXTENSIONS, "image")


# -- the corpus -----------------------------------------------------------------------------


def target_short_side(size: int, scale_jitter: float = 0.0) -> int:
    """Short side an image is stored at so that a crop of ``1 - scale_jitter`` of the square's
    area is still at least ``size`` px (random-resized crops never upscale)."""
    if scale_jitter <= 0:
        return int(size)
    return math.ceil(size / math.sqrt(1.0 - min(scale_jitter, 0.99)) - 1e-9)


def _resize_short_side(im: Image.Image, short: int) -> Image.Image:
    w, h = im.size
    if min(w, h) == short:
        return im
    if w <= h:
        new = (short, max(short, round(h * short / w)))
    else:
        new = (max(short, round(w * short / h)), short)
    return im.resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _to_tensor(im: Image.Image) -> torch.Tensor:
    import torch

    return torch.from_numpy(np.array(im, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def load_image_corpus(paths: str | Path | Sequence[str | Path], size: int,
                      background: Background = (255, 255, 255), scale_jitter: float = 0.0,
                      min_side: int = 8, max_pixels: int = MAX_PIXELS_DEFAULT,
                      progress: Callable[[int, int], None] | None = None) -> ImageCorpus:
    """Read every image under ``paths`` into memory, resized so its short side is
    ``target_short_side(size, scale_jitter)`` (aspect kept; cropping happens per batch).

    Bad files (unreadable, too large, smaller than ``min_side`` on a side) are skipped with
    a reason; ``progress(done, total)`` is called after each file. Raises ``DataError`` when
    no image is usable, naming the first reasons.
    """
    if size < 1:
        raise ConfigError("data.image_size", f"must be at least 1, not {size}")
    bg = _parse_background(background)
    files, skipped = collect_images(paths)
    short = target_short_side(size, scale_jitter)
    images: list[torch.Tensor] = []
    kept: list[str] = []
    duplicates = Duplicates()
    for i, path in enumerate(files):
        repeat = duplicates.repeat(path, digest_or_none(path))
        try:
            if repeat:
                skipped.append(repeat)
                continue
            im = _read(path, bg, max_pixels, draft=max(short, min_side), min_side=min_side)
            images.append(_to_tensor(_resize_short_side(im, short)))
            kept.append(str(path))
        except _Unusable as e:
            skipped.append(Skipped(str(path), e.reason()))
        except Exception as e:  # noqa: BLE001 - e.g. MemoryError while resizing
            skipped.append(Skipped(str(path), f"could not be prepared ({_short(e)}); "
                                              f"{_REEXPORT}"))
        finally:
            if progress is not None:
                progress(i + 1, len(files))
    if not images:
        where = ", ".join(str(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths))
        if not skipped:
            raise DataError(where or "data.paths", "no images found",
                            f"add image files ({_SUPPORTED}) to the dataset")
        reasons = "; ".join(f"{Path(s.path).name}: {s.reason}" for s in skipped[:_MAX_REASONS])
        more = f" (and {len(skipped) - _MAX_REASONS} more)" if len(skipped) > _MAX_REASONS else ""
        raise DataError(where or "data.paths",
                        f"no usable images among {len(skipped)} files: {reasons}{more}",
                        f"add readable image files ({_SUPPORTED})")
    return ImageCorpus(images=images, paths=kept, skipped=skipped, size=int(size))


def split_images(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded train/validation split of ``range(n)`` (the text datasets' rule, so the dataset
    pane's preview holds for images too): at least one validation image when
    ``val_fraction > 0`` and ``n >= 2``, always at least one training image, each side in
    the original order."""
    return _split_indices(n, val_fraction, seed)


# -- cropping and augmentation ------------------------------------------------------------


def _check_crop(crop: str) -> None:
    if crop not in CROPS:
        raise ConfigError("data.crop", f"must be one of {', '.join(CROPS)}, not {crop!r}")


def _square(img: torch.Tensor, crop: str) -> torch.Tensor:
    """The largest square of a ``[C, h, w]`` image: the middle one, or one at a random
    position along the long side (torch's global RNG)."""
    import torch

    _, h, w = img.shape
    m = min(h, w)
    if crop == "random":
        top = int(torch.randint(0, h - m + 1, (1,))) if h > m else 0
        left = int(torch.randint(0, w - m + 1, (1,))) if w > m else 0
    else:
        top, left = (h - m) // 2, (w - m) // 2
    return img[:, top:top + m, left:left + m]


def _resize_square(img: torch.Tensor, size: int) -> torch.Tensor:
    from torchvision.transforms import v2

    if img.shape[-1] == size and img.shape[-2] == size:
        return img
    return v2.functional.resize(img, [size, size], antialias=True)


def _float01(img: torch.Tensor) -> torch.Tensor:
    import torch

    if img.dtype == torch.uint8:
        return img.to(torch.float32) / 255.0
    return img.to(torch.float32)


class _RotateInside:
    """Rotate by a random angle in [-degrees, degrees], then keep the largest square inside
    the rotated one, so no fill colour (black corners) ever reaches the model."""

    def __init__(self, degrees: float):
        self.degrees = float(degrees)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        import torch
        from torchvision.transforms import v2

        angle = float(torch.empty(1).uniform_(-self.degrees, self.degrees))
        m = img.shape[-1]
        rotated = v2.functional.rotate(img, angle,
                                       interpolation=v2.InterpolationMode.BILINEAR)
        t = math.radians(angle)
        side = int(m / (abs(math.cos(t)) + abs(math.sin(t)))) - _ROTATION_MARGIN
        side = max(1, min(m, side))
        return v2.functional.center_crop(rotated, [side, side])


def _pipeline(size: int, spec: AugmentSpec):
    """torchvision v2 transforms on one float [0, 1] square, ending at ``size`` x ``size``."""
    from torchvision.transforms import v2

    steps: list = []
    if spec.rotation > 0 and spec.rotation_p > 0:
        steps.append(v2.RandomApply([_RotateInside(spec.rotation)], p=spec.rotation_p))
    if spec.scale_jitter > 0:
        lo = max(0.01, 1.0 - min(spec.scale_jitter, 0.99))
        steps.append(v2.RandomResizedCrop(size, scale=(lo, 1.0), ratio=(1.0, 1.0),
                                          antialias=True))
    else:
        steps.append(lambda img: _resize_square(img, size))
    if spec.hflip > 0:
        steps.append(v2.RandomHorizontalFlip(p=spec.hflip))
    if spec.vflip > 0:
        steps.append(v2.RandomVerticalFlip(p=spec.vflip))
    if spec.color_jitter > 0 and spec.color_p > 0:
        s = min(float(spec.color_jitter), 1.0)
        steps.append(v2.RandomApply([v2.ColorJitter(brightness=s, contrast=s, saturation=s,
                                                    hue=s / 10)], p=spec.color_p))
    if spec.noise_std > 0 and spec.noise_p > 0:
        # noise of std σ in [-1, 1] is σ/2 in [0, 1]; clipped back into range
        steps.append(v2.RandomApply([v2.GaussianNoise(sigma=spec.noise_std / 2, clip=True)],
                                    p=spec.noise_p))
    return v2.Compose(steps)


def _stack_signed(tensors: list[torch.Tensor], size: int) -> torch.Tensor:
    import torch

    if not tensors:
        return torch.zeros(0, 3, size, size, dtype=torch.float32)
    return torch.stack(tensors).mul_(2.0).sub_(1.0).clamp_(-1.0, 1.0)


def center_crop_batch(images: Sequence[torch.Tensor], size: int) -> torch.Tensor:
    """The middle square of each image, resized to ``size``: ``float32 [B, 3, size, size]`` in
    [-1, 1]. Deterministic; the validation view (and ``augment_batch`` with everything off)."""
    return _stack_signed([_resize_square(_float01(_square(img, "center")), size)
                          for img in images], size)


def augment_batch(images: Sequence[torch.Tensor], size: int, spec: AugmentSpec, crop: str,
                  generator_seed: int) -> torch.Tensor:
    """Crop and augment each image independently: ``float32 [B, 3, size, size]`` in [-1, 1].

    ``crop`` is ``"center"`` (the middle square) or ``"random"`` (a square anywhere along the
    long side); then rotation, scale jitter (a random-resized crop covering
    ``[1 - scale_jitter, 1]`` of the square), flips, colour jitter and noise, each with its
    probability. The result depends only on the inputs and ``generator_seed``: the
    transforms run on a forked CPU generator seeded with it, so the caller's RNG state is
    untouched and a resumed run sees the same augmentations. Works on (and returns) CPU
    tensors; move the batch to the device afterwards.
    """
    import torch

    _check_crop(crop)
    pipe = _pipeline(size, spec)
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(int(generator_seed) & 0xFFFF_FFFF_FFFF_FFFF)
        # on the CPU, so every random draw comes from the seeded generator
        out = [pipe(_float01(_square(img.cpu(), crop))) for img in images]
    return _stack_signed(out, size)


def augment_previews(image: torch.Tensor, size: int, spec: AugmentSpec, crop: str, n: int = 6,
                     seed: int = 0) -> list[torch.Tensor]:
    """``n`` augmented versions of one image as ``uint8 [3, size, size]``, for the dataset
    pane's preview strip (the same seed gives the same strip)."""
    import torch

    batch = augment_batch([image] * n, size, spec, crop, seed)
    return list(((batch + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8).unbind(0))


def preview_strip(path: str | Path, size: int, spec: AugmentSpec, crop: str, n: int = 6,
                  seed: int = 0, background: Background = (255, 255, 255)) -> list[bytes]:
    """The dataset pane's strip: ``n`` augmented ``size`` x ``size`` versions of one file,
    as PNG bytes (what the model will be shown)."""
    import io

    im = read_image(path, background=background)
    im = _resize_short_side(im, target_short_side(size, spec.scale_jitter))
    out = []
    for t in augment_previews(_to_tensor(im), size, spec, crop, n=n, seed=seed):
        buf = io.BytesIO()
        Image.fromarray(t.permute(1, 2, 0).numpy()).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out
