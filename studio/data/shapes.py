"""A generated captioned dataset: flat shapes on coloured, possibly patterned backgrounds,
each with the caption that describes it ("a red circle on a blue background", "a small
green square in the top left on a striped yellow background").

The text-to-image and captioning starters pre-train on it, so its vocabulary is small and
its grammar regular enough for a tiny model to learn: a word is said only when it differs
from the default (medium size, centred, plain background), always in the same order::

    a [small|large] <colour> <shape> [<where>] on a [striped|dotted] <colour> background

where <where> is "on the left/right", "at the top/bottom" or "in the top left" (and the
other corners).

Pixels are flat palette colours (no anti-aliasing), so a test can check that the shape
the caption calls red *is* red. ``generate(n, size, seed)`` is deterministic, and sample
``i`` depends only on ``(seed, i)`` (a longer set starts with the shorter one).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

__all__ = ["COLOURS", "PATTERNS", "POSITIONS", "SHAPES", "SIZES", "ShapeSample", "caption_of",
           "generate", "render", "vocabulary", "write_folder"]

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220),
    "yellow": (240, 210, 40), "purple": (140, 60, 190), "orange": (245, 140, 30),
    "white": (245, 245, 245), "black": (25, 25, 25),
}
SHAPES = ("circle", "square", "triangle", "star")
SIZES = {"small": 0.14, "medium": 0.22, "large": 0.30}   # radius as a share of the side
# centre of the shape as a share of the free room on each axis (0: against the edge)
POSITIONS = {"centre": (0.5, 0.5), "left": (0.0, 0.5), "right": (1.0, 0.5),
             "top": (0.5, 0.0), "bottom": (0.5, 1.0), "top left": (0.0, 0.0),
             "top right": (1.0, 0.0), "bottom left": (0.0, 1.0), "bottom right": (1.0, 1.0)}
# how a caption says the position (the default, centre, is not said)
_POSITION_WORDS = {"left": "on the left", "right": "on the right", "top": "at the top",
                   "bottom": "at the bottom", "top left": "in the top left",
                   "top right": "in the top right", "bottom left": "in the bottom left",
                   "bottom right": "in the bottom right"}
PATTERNS = ("plain", "striped", "dotted")
_PATTERN_WORDS = {"plain": "", "striped": "striped", "dotted": "dotted"}
_EDGE = 0.06        # gap between a shape and the image's edge, share of the side


@dataclass(frozen=True)
class ShapeSample:
    image: Image.Image
    caption: str
    shape: str
    colour: str
    size: str
    position: str
    background: str
    pattern: str
    centre: tuple[int, int]   # the shape's centre pixel (inside the shape for every kind)
    radius: int


def caption_of(shape: str, colour: str, size: str, position: str, background: str,
               pattern: str) -> str:
    """The generator's caption: defaults (medium, centre, plain) are not said."""
    words = ["a"]
    if size != "medium":
        words.append(size)
    words += [colour, shape]
    if position != "centre":
        words.append(_POSITION_WORDS[position])
    words.append("on a")
    if _PATTERN_WORDS[pattern]:
        words.append(_PATTERN_WORDS[pattern])
    words += [background, "background"]
    return " ".join(words)


def vocabulary() -> list[str]:
    """Every word a caption can hold (for a starter's tokenizer)."""
    words = {"a", "on", "background", *COLOURS, *SHAPES}
    words |= {s for s in SIZES if s != "medium"}
    words |= {w for p in _POSITION_WORDS.values() for w in p.split()}
    words |= {w for w in _PATTERN_WORDS.values() if w}
    return sorted(words)


def _second_colour(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """The pattern's other colour: the background's colour, lighter (darker when light),
    so the background still reads as that colour."""
    target = 0 if sum(rgb) > 600 or rgb == COLOURS["yellow"] else 255
    return tuple(round(c + (target - c) * 0.4) for c in rgb)  # type: ignore[return-value]


def _background(size: int, colour: str, pattern: str) -> Image.Image:
    rgb = COLOURS[colour]
    im = Image.new("RGB", (size, size), rgb)
    draw = ImageDraw.Draw(im)
    other = _second_colour(rgb)
    period = max(4, size // 8)
    if pattern == "striped":
        for y in range(0, size, period):
            draw.rectangle([0, y, size - 1, y + period // 2 - 1], fill=other)
    elif pattern == "dotted":
        r = max(1, period // 5)
        for y in range(period // 2, size, period):
            for x in range(period // 2, size, period):
                draw.ellipse([x - r, y - r, x + r, y + r], fill=other)
    return im


def _star(cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    import math

    points = []
    for k in range(10):
        rad = r if k % 2 == 0 else r * 0.45
        a = -math.pi / 2 + k * math.pi / 5
        points.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    return points


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: int, cy: int, r: int,
                rgb: tuple[int, int, int]) -> None:
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=rgb)
    elif shape == "square":
        s = round(r * 0.85)
        draw.rectangle([cx - s, cy - s, cx + s, cy + s], fill=rgb)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx + r * 0.95, cy + r * 0.7), (cx - r * 0.95, cy + r * 0.7)],
                     fill=rgb)
    elif shape == "star":
        draw.polygon(_star(cx, cy, r), fill=rgb)
    else:
        raise ValueError(f"unknown shape {shape!r}; one of {', '.join(SHAPES)}")


def render(shape: str, colour: str, size: str = "medium", position: str = "centre",
           background: str = "blue", pattern: str = "plain", side: int = 64) -> ShapeSample:
    """Draw one sample (``side`` x ``side`` pixels) with its caption."""
    if colour == background:
        raise ValueError("the shape and the background need different colours")
    im = _background(side, background, pattern)
    r = max(2, round(SIZES[size] * side))
    edge = round(_EDGE * side)
    fx, fy = POSITIONS[position]
    cx = round(edge + r + fx * (side - 2 * (edge + r)))
    cy = round(edge + r + fy * (side - 2 * (edge + r)))
    _draw_shape(ImageDraw.Draw(im), shape, cx, cy, r, COLOURS[colour])
    return ShapeSample(im, caption_of(shape, colour, size, position, background, pattern),
                       shape, colour, size, position, background, pattern, (cx, cy), r)


def _draw_one(rng: random.Random, side: int) -> ShapeSample:
    colours = list(COLOURS)
    colour = rng.choice(colours)
    background = rng.choice([c for c in colours if c != colour])
    # defaults come up more often, so the short captions ("a red circle on a blue
    # background") are well represented
    size = rng.choice(("small", "medium", "medium", "large"))
    position = rng.choice(("centre", "centre", *[p for p in POSITIONS if p != "centre"]))
    pattern = rng.choice(("plain", "plain", "striped", "dotted"))
    return render(rng.choice(SHAPES), colour, size, position, background, pattern, side)


def generate(n: int, size: int = 64, seed: int = 0) -> list[ShapeSample]:
    """``n`` samples of ``size`` x ``size`` pixels; the same (n, size, seed) gives the same
    images and captions, and sample i depends only on (seed, i)."""
    return [_draw_one(random.Random(f"shapes-{seed}-{i}"), size) for i in range(n)]


def write_folder(folder: str | Path, n: int, size: int = 64, seed: int = 0) -> list[Path]:
    """Write ``generate(n, size, seed)`` as ``shape_0000.png`` + ``shape_0000.txt`` pairs;
    returns the image paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, sample in enumerate(generate(n, size, seed)):
        path = folder / f"shape_{i:04d}.png"
        sample.image.save(path)
        path.with_suffix(".txt").write_text(sample.caption + "\n", encoding="utf-8")
        paths.append(path)
    return paths
