"""Draw the studio's icon and write every size the installers need.

    python packaging/make_icons.py      # writes packaging/icons/ (committed)

The mark: a rounded tile (indigo to teal) with a falling training curve that ends in a
bright dot: "watch it learn". Small sizes get a thicker line and no faint grid, so the
shape still reads at 16 px. Pillow only; the outputs are committed so builds need nothing.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parent / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
TOP, BOTTOM = (88, 72, 220), (24, 170, 170)      # indigo -> teal
CURVE, DOT = (255, 255, 255), (255, 196, 64)


def _curve_points(n: int, s: float) -> list[tuple[float, float]]:
    """A loss curve: a fast exponential fall with a little wobble, inside the tile."""
    import math

    pts = []
    for i in range(n + 1):
        t = i / n
        y = 0.22 + 0.56 * math.exp(-4.2 * t) + 0.025 * math.sin(t * 19) * (1 - t)
        pts.append(((0.27 + 0.53 * t) * s, (1 - y) * s))
    return pts  # falls from top-left to bottom-right


def draw(size: int) -> Image.Image:
    ss = 4 if size < 256 else 2
    s = size * ss
    tile = Image.new("RGBA", (s, s))
    grad = Image.new("RGBA", (1, s))
    for y in range(s):
        f = y / (s - 1)
        grad.putpixel((0, y), tuple(int(a + (b - a) * f) for a, b in zip(TOP, BOTTOM)) + (255,))
    grad = grad.resize((s, s))
    mask = Image.new("L", (s, s))
    margin = 0.04 * s if size >= 32 else 0
    ImageDraw.Draw(mask).rounded_rectangle([margin, margin, s - margin, s - margin],
                                           radius=0.22 * s, fill=255)
    tile.paste(grad, (0, 0), mask)
    d = ImageDraw.Draw(tile)
    small = size <= 32
    if not small:  # faint axes
        w = max(1, int(0.012 * s))
        d.line([(0.2 * s, 0.2 * s), (0.2 * s, 0.8 * s), (0.82 * s, 0.8 * s)],
               fill=(255, 255, 255, 90), width=w)
    pts = _curve_points(400, s)
    width = int((0.11 if size <= 16 else 0.085 if small else 0.06) * s)
    glow = Image.new("RGBA", (s, s))
    ImageDraw.Draw(glow).line(pts, fill=(255, 255, 255, 110), width=width * 2, joint="curve")
    tile.alpha_composite(glow.filter(ImageFilter.GaussianBlur(width * 0.6)))
    d = ImageDraw.Draw(tile)
    for px, py in pts:  # a round pen: smooth joints and caps at every size
        d.ellipse([px - width / 2, py - width / 2, px + width / 2, py + width / 2],
                  fill=CURVE + (255,))
    x, y = pts[-1]
    r = width * (1.25 if small else 1.4)
    d.ellipse([x - r, y - r, x + r, y + r], fill=DOT + (255,))
    return tile.resize((size, size), Image.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    images = {n: draw(n) for n in SIZES}
    for n, im in images.items():
        if n <= 512:
            im.save(OUT / f"studio-{n}.png")
    images[256].save(OUT / "studio.ico", sizes=[(n, n) for n in (16, 24, 32, 48, 64, 128, 256)],
                     append_images=[images[n] for n in (16, 24, 32, 48, 64, 128)])
    images[1024].save(OUT / "studio.icns",
                      append_images=[images[n] for n in (16, 32, 64, 128, 256, 512)])
    sheet = Image.new("RGBA", (sum(min(n, 256) for n in SIZES[:7]) + 10 * 8, 270), (236, 236, 236, 255))
    x = 10
    for n in SIZES[:7]:
        sheet.alpha_composite(images[n], (x, 260 - n))
        x += n + 10
    preview = OUT.parent.parent / "build" / "icon-sheet.png"  # to look at; not committed
    preview.parent.mkdir(exist_ok=True)
    sheet.save(preview)
    print(f"wrote {sorted(p.name for p in OUT.iterdir())}")


if __name__ == "__main__":
    main()
