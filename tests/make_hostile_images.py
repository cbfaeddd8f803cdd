"""Build a folder of odd, broken and hostile image files for the image-data tests.

    python -m tests.make_hostile_images OUT_FOLDER

``make_hostile_images(folder)`` writes every file and returns ``{name: path}``. ``USABLE``
names the files ``read_image`` must turn into RGB; ``UNUSABLE`` maps the rest to a few words
their refusal must contain. Everything is tiny on disk (the 200-megapixel PNG is about 25 KB
and the bomb GIFs a few dozen bytes), and the big ones are written by hand so building them
never allocates their pixels.
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
GREY = (128, 128, 128)

USABLE = (
    "rgb_png", "rgb_jpg", "rgb_webp", "rgb_bmp", "rgb_tiff", "rgb_gif", "animated_gif",
    "exif6_jpg", "rgba_png", "la_png", "p_transparent_png", "rgb_colorkey_png", "grey_png",
    "onebit_png", "palette_png", "cmyk_jpg", "cmyk_tiff", "grey16_png", "rgb16_png",
    "int32_tiff", "float_tiff", "unicode_png", "tiny_png",
)
UNUSABLE = {
    "huge_png": "megapixels, over the",
    "bomb_gif": "megapixels, over the",
    "big_gif": "megapixels, over the",
    "truncated_jpg": "is not a readable image",
    "truncated_png": "is not a readable image",
    "corrupt_png": "is not a readable image",
    "text_png": "is a text file",
    "pdf_png": "is a PDF document",
    "empty_png": "is empty",
    "noise_jpg": "is not a readable image",
}


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int,
              rows, extra: list[tuple[bytes, bytes]] = ()) -> bytes:
    """A PNG from raw scanlines (each row without its filter byte), streamed through zlib."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    z = zlib.compressobj(9)
    idat = b"".join(z.compress(b"\x00" + row) for row in rows) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    for kind, data in extra:
        out += chunk(kind, data)
    return out + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def gif_bytes(screen_w: int, screen_h: int) -> bytes:
    """A GIF whose logical screen is ``screen_w`` x ``screen_h`` but whose only frame is 1x1:
    a decompression bomb for a reader that allocates the screen."""
    header = b"GIF89a" + struct.pack("<HHBBB", screen_w, screen_h, 0x80, 0, 0)
    palette = bytes([0, 0, 0, 255, 255, 255])
    frame = b"," + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return header + palette + frame + b";"


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _quadrants(size: int = 32) -> Image.Image:
    """Red top-left, green top-right, blue bottom-left, grey bottom-right."""
    im = Image.new("RGB", (size, size), GREY)
    h = size // 2
    im.paste(RED, (0, 0, h, h))
    im.paste(GREEN, (h, 0, size, h))
    im.paste(BLUE, (0, h, h, size))
    return im


def make_hostile_images(folder: str | Path) -> dict[str, Path]:
    """Write every test file into ``folder`` (created if needed); return ``{name: path}``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, tuple[str, bytes]] = {}
    q = _quadrants()

    files["rgb_png"] = ("rgb.png", _save(q, "PNG"))
    files["rgb_jpg"] = ("rgb.jpg", _save(q, "JPEG", quality=95))
    files["rgb_webp"] = ("rgb.webp", _save(q, "WEBP", lossless=True))
    files["rgb_bmp"] = ("rgb.bmp", _save(q, "BMP"))
    files["rgb_tiff"] = ("rgb.tiff", _save(q, "TIFF"))
    files["rgb_gif"] = ("rgb.gif", _save(q.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"))
    frames = [Image.new("RGB", (16, 16), c) for c in (RED, GREEN, BLUE)]
    files["animated_gif"] = ("animated.gif", _save(frames[0], "GIF", save_all=True,
                                                   append_images=frames[1:], duration=100,
                                                   loop=0))

    # Stored 40 wide x 20 high with a red block top-left; orientation 6 means "turn 90°
    # clockwise to display", so it shows 20 wide x 40 high with the red block top-right.
    stored = Image.new("RGB", (40, 20), GREY)
    stored.paste(RED, (0, 0, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    files["exif6_jpg"] = ("exif6.jpg", _save(stored, "JPEG", quality=95, exif=exif.tobytes()))

    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 255))
    rgba.putpixel((0, 0), (12, 34, 56, 0))          # fully transparent, colour must not show
    rgba.putpixel((1, 0), (0, 0, 255, 128))         # half transparent blue
    files["rgba_png"] = ("rgba.png", _save(rgba, "PNG"))
    la = Image.new("LA", (8, 8), (100, 255))
    la.putpixel((0, 0), (0, 0))
    files["la_png"] = ("la.png", _save(la, "PNG"))
    pal = Image.new("P", (8, 8), 1)
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9))
    pal.putpixel((0, 0), 0)                          # index 0 is the transparent one
    pal.putpixel((1, 0), 2)
    files["p_transparent_png"] = ("p_transparent.png", _save(pal, "PNG", transparency=0))
    key = Image.new("RGB", (8, 8), RED)
    key.putpixel((0, 0), (1, 2, 3))                  # the colour-key (tRNS) colour
    files["rgb_colorkey_png"] = ("rgb_colorkey.png", _save(key, "PNG", transparency=(1, 2, 3)))
    files["palette_png"] = ("palette.png", _save(q.convert("P", palette=Image.Palette.ADAPTIVE,
                                                           colors=8), "PNG"))
    grey = Image.new("L", (8, 8), 77)
    files["grey_png"] = ("grey.png", _save(grey, "PNG"))
    bit = Image.new("1", (8, 8), 0)
    bit.putpixel((0, 0), 1)
    files["onebit_png"] = ("onebit.png", _save(bit, "PNG"))
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))   # pure red in CMYK
    files["cmyk_jpg"] = ("cmyk.jpg", _save(cmyk, "JPEG", quality=95))
    files["cmyk_tiff"] = ("cmyk.tiff", _save(cmyk, "TIFF"))

    # 16-bit greyscale, 8x8: every row is 65535, 32768, 0, 257 twice (big-endian samples)
    g16 = struct.pack(">8H", *[65535, 32768, 0, 257] * 2)
    files["grey16_png"] = ("grey16.png", png_bytes(8, 8, 16, 0, [g16] * 8))
    rgb16 = struct.pack(">6H", 65535, 32768, 0, 0, 257, 65535) * 4
    files["rgb16_png"] = ("rgb16.png", png_bytes(8, 8, 16, 2, [rgb16] * 8))
    ints = np.array([[0, 1000, 65535, 32768] * 2] * 8, dtype=np.int32)
    files["int32_tiff"] = ("int32.tiff", _save(Image.fromarray(ints), "TIFF"))
    floats = np.array([[0.0, 0.25, 0.5, 1.0] * 2] * 8, dtype=np.float32)
    files["float_tiff"] = ("float.tiff", _save(Image.fromarray(floats), "TIFF"))
    # rgb.png's pixels in other bytes (another compression level): not a duplicate file
    files["unicode_png"] = ("ünïcødé folder/my phötö ☕ 1.png", _save(q, "PNG", compress_level=1))
    files["tiny_png"] = ("tiny.png", _save(Image.new("RGB", (4, 4), GREEN), "PNG"))

    # 20000 x 10000 one-bit PNG: 200 megapixels, 25 MB of scanlines, ~25 KB on disk
    files["huge_png"] = ("huge.png", png_bytes(20000, 10000, 1, 0,
                                               (bytes(2500) for _ in range(10000))))
    files["bomb_gif"] = ("bomb.gif", gif_bytes(65535, 65535))   # 4295 megapixels
    files["big_gif"] = ("big.gif", gif_bytes(10000, 9000))      # 90: only our limit catches it
    jpg = _save(q, "JPEG", quality=95)
    files["truncated_jpg"] = ("truncated.jpg", jpg[: len(jpg) // 2])
    png = _save(Image.effect_noise((64, 64), 60).convert("RGB"), "PNG")
    files["truncated_png"] = ("truncated.png", png[: len(png) // 2])
    corrupt = bytearray(png)
    idat = corrupt.find(b"IDAT")
    corrupt[idat + 20: idat + 60] = bytes(40)               # IDAT data no longer matches its CRC
    files["corrupt_png"] = ("corrupt.png", bytes(corrupt))
    files["text_png"] = ("notes.png", "These are my notes about the painting.\n".encode())
    files["pdf_png"] = ("document.png", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
    files["empty_png"] = ("empty.png", b"")
    files["noise_jpg"] = ("noise.jpg", bytes((i * 37 + 11) % 256 for i in range(300)))

    out: dict[str, Path] = {}
    for name, (rel, data) in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        out[name] = path
    assert set(out) == set(USABLE) | set(UNUSABLE), "USABLE/UNUSABLE out of date"
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.make_hostile_images OUT_FOLDER")
    for name, path in make_hostile_images(sys.argv[1]).items():
        print(f"{name:20s} {path}")
