"""Image data: reading every oddity as RGB, refusing bombs and broken files with a reason,
collecting folders, the corpus, the split, cropping and seeded augmentation."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from studio.core.errors import ConfigError, DataError
from studio.data.image import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS_DEFAULT,
    AugmentSpec,
    augment_batch,
    augment_previews,
    center_crop_batch,
    collect_images,
    load_image_corpus,
    read_image,
    split_images,
    target_short_side,
)
from tests.make_hostile_images import (
    BLUE,
    GREEN,
    GREY,
    RED,
    UNUSABLE,
    USABLE,
    make_hostile_images,
)

ROOT = Path(__file__).resolve().parent.parent
OFF = AugmentSpec(hflip=0.0)   # every augmentation off


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, Path]:
    return make_hostile_images(tmp_path_factory.mktemp("hostile"))


def px(im: Image.Image, xy) -> tuple[int, int, int]:
    return tuple(im.getpixel(xy))


def close(a, b, tol: int = 6) -> bool:
    return all(abs(int(x) - int(y)) <= tol for x, y in zip(a, b, strict=True))


# -- read_image: what must work -------------------------------------------------------------


@pytest.mark.parametrize("name", USABLE)
def test_every_usable_oddity_reads_as_rgb(hostile, name):
    im = read_image(hostile[name])
    assert im.mode == "RGB"
    assert min(im.size) >= 4


@pytest.mark.parametrize("name", ["rgb_png", "rgb_webp", "rgb_bmp", "rgb_tiff", "rgb_gif",
                                  "palette_png", "unicode_png", "rgb_jpg"])
def test_formats_keep_their_colours(hostile, name):
    im = read_image(hostile[name])
    assert im.size == (32, 32)
    tol = 6 if name == "rgb_jpg" else 0
    for xy, colour in (((4, 4), RED), ((27, 4), GREEN), ((4, 27), BLUE), ((27, 27), GREY)):
        assert close(px(im, xy), colour, tol), (name, xy, px(im, xy))


def test_animated_gif_gives_its_first_frame(hostile):
    with Image.open(hostile["animated_gif"]) as raw:
        assert getattr(raw, "n_frames", 1) == 3
    im = read_image(hostile["animated_gif"])
    assert np.all(np.asarray(im) == np.array(RED, dtype=np.uint8))


def test_exif_orientation_is_applied(hostile):
    im = read_image(hostile["exif6_jpg"])
    assert im.size == (20, 40)                       # stored 40x20: the sides swapped
    assert close(px(im, (17, 2)), RED, 12)           # stored top-left is now top-right
    assert close(px(im, (2, 2)), GREY, 12)
    assert close(px(im, (17, 37)), GREY, 12)


def test_transparency_is_composited_on_the_background(hostile):
    bg = (10, 200, 30)
    rgba = read_image(hostile["rgba_png"], background=bg)
    assert px(rgba, (0, 0)) == bg                    # fully transparent: exactly the background
    assert px(rgba, (5, 5)) == RED                   # opaque: untouched
    half = tuple(round(b * 127 / 255 + c * 128 / 255) for b, c in zip(bg, BLUE))
    assert close(px(rgba, (1, 0)), half, 1)
    assert px(read_image(hostile["rgba_png"]), (0, 0)) == (255, 255, 255)
    assert px(read_image(hostile["rgba_png"], background="#000000"), (0, 0)) == (0, 0, 0)
    la = read_image(hostile["la_png"], background=bg)
    assert px(la, (0, 0)) == bg and px(la, (3, 3)) == (100, 100, 100)
    pal = read_image(hostile["p_transparent_png"], background=bg)
    assert px(pal, (0, 0)) == bg and px(pal, (1, 0)) == GREEN and px(pal, (4, 4)) == RED
    key = read_image(hostile["rgb_colorkey_png"], background=bg)
    assert px(key, (0, 0)) == bg and px(key, (4, 4)) == RED


def test_greyscale_one_bit_and_cmyk_become_rgb(hostile):
    assert px(read_image(hostile["grey_png"]), (3, 3)) == (77, 77, 77)
    bit = read_image(hostile["onebit_png"])
    assert px(bit, (0, 0)) == (255, 255, 255) and px(bit, (1, 0)) == (0, 0, 0)
    for name in ("cmyk_jpg", "cmyk_tiff"):
        assert close(px(read_image(hostile[name]), (8, 8)), RED, 4), name


def test_deep_images_are_scaled_not_clipped(hostile):
    with Image.open(hostile["grey16_png"]) as raw:
        assert raw.mode.startswith("I")              # Pillow hands these over as 16/32-bit
    g = np.asarray(read_image(hostile["grey16_png"]))
    assert list(g[0, :4, 0]) == [255, 128, 0, 1]     # 65535, 32768, 0, 257
    assert (g[..., 0] == g[..., 1]).all() and (g[..., 1] == g[..., 2]).all()
    rgb = read_image(hostile["rgb16_png"])
    assert close(px(rgb, (0, 0)), (255, 128, 0), 1) and close(px(rgb, (1, 0)), (0, 1, 255), 1)
    ints = np.asarray(read_image(hostile["int32_tiff"]))[0, :4, 0]
    assert list(ints) == [0, 4, 255, 128]            # 0, 1000, 65535, 32768 as 16-bit values
    floats = np.asarray(read_image(hostile["float_tiff"]))[0, :4, 0]
    assert list(floats) == [0, 64, 128, 255]         # 0, 0.25, 0.5, 1.0


def test_shared_photographs(shared_data):
    folder = shared_data / "images"
    names = ["astronaut", "brick", "camera", "chelsea", "coffee", "grass", "gravel", "horse",
             "logo", "rocket"]
    modes = {}
    for name in names:
        path = next(folder.glob(name + ".*"))
        with Image.open(path) as raw:
            modes[name] = raw.mode
            src = np.asarray(raw.convert("RGBA")) if raw.mode == "RGBA" else None
        im = read_image(path, background=(0, 255, 0))
        assert im.mode == "RGB" and im.size == raw.size
        if modes[name] == "L":
            a = np.asarray(im)
            assert (a[..., 0] == a[..., 1]).all() and (a[..., 0] == a[..., 2]).all()
        if src is not None:                          # composited exactly as alpha says
            alpha = src[..., 3:].astype(np.float64) / 255
            want = src[..., :3] * alpha + np.array([0, 255, 0]) * (1 - alpha)
            assert np.abs(np.asarray(im).astype(np.float64) - want).max() <= 1.0
    assert modes["camera"] == "L" and modes["astronaut"] == "RGB"
    assert modes["horse"] == "RGBA" and modes["logo"] == "RGBA"


# -- read_image: what must be refused -------------------------------------------------------


@pytest.mark.parametrize("name", sorted(UNUSABLE))
def test_every_unusable_oddity_is_refused_with_a_reason(hostile, name):
    with pytest.raises(DataError) as info:
        read_image(hostile[name])
    err = info.value
    assert err.path == str(hostile[name])
    assert UNUSABLE[name] in err.message
    assert err.fix


def test_huge_png_message_and_limit(hostile):
    with pytest.raises(DataError) as info:
        read_image(hostile["huge_png"])
    assert "is 200 megapixels, over the 80-megapixel limit" in str(info.value)
    assert MAX_PIXELS_DEFAULT == 80_000_000
    with pytest.raises(DataError, match="over the 0.0005-megapixel limit"):
        read_image(hostile["rgb_png"], max_pixels=500)     # 32x32 = 1024 pixels
    # a limit above Pillow's own hard limit: Pillow's DecompressionBombError, same message
    with pytest.raises(DataError, match="is 200 megapixels, over the 179-megapixel limit"):
        read_image(hostile["huge_png"], max_pixels=10**12)


def test_size_is_checked_before_any_pixel_is_decoded(hostile, monkeypatch, tmp_path):
    big = tmp_path / "big.png"
    Image.new("RGB", (2000, 1000)).save(big)
    decoded = []
    real_load = ImageFile.ImageFile.load

    def spy(self):
        decoded.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    for path, limit in ((big, 1_000_000), (hostile["huge_png"], MAX_PIXELS_DEFAULT),
                        (hostile["bomb_gif"], MAX_PIXELS_DEFAULT),
                        (hostile["big_gif"], MAX_PIXELS_DEFAULT)):
        with pytest.raises(DataError, match="megapixels, over the"):
            read_image(path, max_pixels=limit)
    assert decoded == []
    read_image(big)                                  # under the limit it is decoded
    assert decoded and set(decoded) == {(2000, 1000)}


def test_refusing_bombs_keeps_memory_low(hostile):
    """In a fresh process: decoding the 200-megapixel PNG would need >= 200 MB (Pillow keeps
    a byte per pixel) and the bomb GIF gigabytes; refusing them must cost almost nothing."""
    code = (
        "import json, resource, sys\n"
        "from studio.core.errors import DataError\n"
        "from studio.data.image import read_image\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "errors = []\n"
        "for p in sys.argv[1:]:\n"
        "    try:\n"
        "        read_image(p)\n"
        "    except DataError as e:\n"
        "        errors.append(e.message)\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'grew_kb': after - before, 'errors': errors,\n"
        "                  'torch': 'torch' in sys.modules}))\n"
    )
    paths = [str(hostile[n]) for n in ("huge_png", "bomb_gif", "big_gif")]
    out = subprocess.run([sys.executable, "-c", code, *paths], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(result["errors"]) == 3
    assert all("megapixels, over the" in e for e in result["errors"])
    assert result["grew_kb"] < 40_000, result        # well under the 200 MB a decode needs
    assert result["torch"] is False                  # reading images does not import torch


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(DataError, match="is a folder"):
        read_image(tmp_path)
    with pytest.raises(ConfigError):
        read_image(tmp_path / "x.png", background="not-a-colour")


def _seed_images() -> list[bytes]:
    import io
    out = []
    im = Image.effect_noise((12, 10), 50).convert("RGB")
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"):
        buf = io.BytesIO()
        im.save(buf, fmt)
        out.append(buf.getvalue())
    return out


_SEEDS = _seed_images()


@st.composite
def _mutated(draw):
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    cut = draw(st.integers(1, len(data)))
    return bytes(data[:cut])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=600), _mutated()),
       ext=st.sampled_from([".png", ".jpg", ".gif", ".tif"]))
def test_arbitrary_bytes_give_rgb_or_data_error(tmp_path, data, ext):
    path = tmp_path / ("f" + ext)
    path.write_bytes(data)
    try:
        im = read_image(path, max_pixels=4_000_000)
    except DataError as e:
        assert e.path == str(path) and e.message
    else:
        assert im.mode == "RGB" and im.size[0] > 0 and im.size[1] > 0


# -- collect_images -------------------------------------------------------------------------


def _png(path: Path, size=(16, 12), colour=RED) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, "PNG" if path.suffix.lower() == ".png"
                                        else None)
    return path


def test_collect_images_walks_sorts_and_explains(tmp_path):
    root = tmp_path / "my art ✎"
    b = _png(root / "b.png")
    a = _png(root / "a.JPG")
    (root / "a.txt").write_text("a caption for a.JPG")       # sidecar: silently ignored
    (root / "notes.txt").write_text("no image called notes")  # a stray .txt: skipped
    (root / "readme.md").write_text("# hi")
    (root / ".DS_Store").write_bytes(b"\0\0")
    _png(root / ".hidden" / "secret.png")
    c = _png(root / "sub dir" / "ünï c.png")
    (root / "sub dir" / "loop").symlink_to(root, target_is_directory=True)   # a link loop
    (root / "sub dir" / "gone.png").symlink_to(root / "missing.png")
    (root / "sub dir" / "again.png").symlink_to(b)                        # b reached twice
    files, skipped = collect_images([root])
    assert files == [a, b, c]
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert set(reasons) == {"notes.txt", "readme.md", "gone.png"}
    assert "unsupported file type .txt" in reasons["notes.txt"]
    assert ".png" in reasons["readme.md"] and "broken link" in reasons["gone.png"]
    # a caption given directly is ignored too; a single file path works
    files, skipped = collect_images([root / "a.txt", b])
    assert files == [b] and skipped == []
    with pytest.raises(DataError, match="does not exist"):
        collect_images([tmp_path / "nowhere"])
    assert set(IMAGE_EXTENSIONS) >= {".png", ".jpg", ".jpeg", ".webp", ".gif", ".tif"}


# -- load_image_corpus ----------------------------------------------------------------------


def test_corpus_reads_the_good_and_skips_the_bad(hostile):
    folder = hostile["rgb_png"].parent
    calls = []
    corpus = load_image_corpus([folder], size=8, progress=lambda d, t: calls.append((d, t)))
    got = {Path(p).name for p in corpus.paths}
    want = {hostile[n].name for n in USABLE if n != "tiny_png"}
    assert got == want
    reasons = {Path(s.path).name: s.reason for s in corpus.skipped}
    assert set(reasons) == {hostile[n].name for n in UNUSABLE} | {"tiny.png"}
    assert "too small (4×4 pixels" in reasons["tiny.png"]
    for name, words in UNUSABLE.items():
        assert words in reasons[hostile[name].name]
    assert calls[-1] == (len(USABLE) + len(UNUSABLE), len(USABLE) + len(UNUSABLE))
    assert [d for d, _ in calls] == list(range(1, len(calls) + 1))
    for img in corpus.images:
        assert img.dtype == torch.uint8 and img.shape[0] == 3 and min(img.shape[1:]) == 8
    assert corpus.size == 8


def test_corpus_short_side_leaves_room_for_scale_jitter(shared_data):
    corpus = load_image_corpus([shared_data / "images"], size=32, scale_jitter=0.36)
    short = target_short_side(32, 0.36)
    assert short == math.ceil(32 / math.sqrt(0.64)) == 40
    assert len(corpus.images) == 10 and [Path(s.path).name for s in corpus.skipped] == [
        "SKIMAGE_DATA_README.txt"]
    for img, path in zip(corpus.images, corpus.paths, strict=True):
        with Image.open(path) as raw:
            w, h = raw.size
        assert min(img.shape[1:]) == short
        assert abs(img.shape[2] / img.shape[1] - w / h) < 0.05   # aspect kept
    assert target_short_side(32, 0.0) == 32


def test_corpus_with_nothing_usable_names_the_reasons(hostile, tmp_path):
    with pytest.raises(DataError) as info:
        load_image_corpus([hostile["empty_png"], hostile["text_png"]], size=8)
    text = str(info.value)
    assert "no usable images" in text and "is empty" in text and "is a text file" in text
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        load_image_corpus([tmp_path / "empty"], size=8)


# -- split ----------------------------------------------------------------------------------


def test_split_images_is_seeded_and_never_empty():
    train, val = split_images(10, 0.2, seed=3)
    assert (train, val) == split_images(10, 0.2, seed=3)
    assert len(val) == 2 and sorted(train + val) == list(range(10))
    assert any(split_images(10, 0.2, seed=s)[1] != val for s in range(4, 10))
    assert split_images(2, 0.01, 0) in (([0], [1]), ([1], [0]))   # >= 1 each side
    assert split_images(5, 0.99, 0)[0] != []
    assert split_images(1, 0.5, 0) == ([0], [])
    assert split_images(4, 0.0, 0) == ([0, 1, 2, 3], [])


# -- cropping and augmentation --------------------------------------------------------------


def _ramp(h: int, w: int) -> torch.Tensor:
    """uint8 [3, h, w]: red = column, green = row, blue = a checker (every pixel distinct)."""
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return torch.stack([xs * 255 // max(1, w - 1), ys * 255 // max(1, h - 1),
                        ((xs // 2 + ys // 2) % 2) * 255]).to(torch.uint8)


def _signed(img: torch.Tensor) -> torch.Tensor:
    return img.float() / 255 * 2 - 1


def test_center_crop_batch_takes_the_middle_square():
    wide = _ramp(8, 16)
    tall = _ramp(12, 8)
    out = center_crop_batch([wide, tall], 8)
    assert out.shape == (2, 3, 8, 8) and out.dtype == torch.float32
    assert torch.equal(out[0], _signed(wide[:, :, 4:12]))
    assert torch.equal(out[1], _signed(tall[:, 2:10, :]))
    assert out.min() >= -1 and out.max() <= 1
    half = center_crop_batch([_ramp(16, 16)], 8)      # larger images are resized down
    assert half.shape == (1, 3, 8, 8)


def test_everything_off_is_the_center_crop():
    imgs = [_ramp(8, 12), _ramp(10, 8)]
    for seed in (0, 1, 2):
        assert torch.equal(augment_batch(imgs, 8, OFF, "center", seed),
                           center_crop_batch(imgs, 8))


def test_flips_at_probability_one():
    img = _ramp(8, 8)
    base = center_crop_batch([img], 8)
    h = augment_batch([img], 8, AugmentSpec(hflip=1.0), "center", 0)
    assert torch.equal(h, base.flip(-1))
    v = augment_batch([img], 8, AugmentSpec(hflip=0.0, vflip=1.0), "center", 0)
    assert torch.equal(v, base.flip(-2))
    hv = augment_batch([img], 8, AugmentSpec(hflip=1.0, vflip=1.0), "center", 0)
    assert torch.equal(hv, base.flip(-1).flip(-2))


def test_random_crop_is_a_window_of_the_image():
    img = _ramp(8, 24)
    windows = [_signed(img[:, :, x:x + 8]) for x in range(17)]
    lefts = set()
    for seed in range(12):
        out = augment_batch([img], 8, OFF, "random", seed)[0]
        matches = [x for x, w in enumerate(windows) if torch.equal(out, w)]
        assert len(matches) == 1
        lefts.add(matches[0])
    assert len(lefts) > 3


def test_rotation_turns_without_black_corners():
    flat = torch.full((3, 32, 32), 200, dtype=torch.uint8)
    spec = AugmentSpec(hflip=0.0, rotation=45.0, rotation_p=1.0)
    out = augment_batch([flat] * 4, 16, spec, "center", 0)
    assert torch.allclose(out, torch.full_like(out, 200 / 255 * 2 - 1), atol=1e-4)
    img = _ramp(32, 32)
    turned = augment_batch([img], 16, spec, "center", 0)
    base = center_crop_batch([img], 16)
    assert (turned - base).abs().mean() > 0.05
    # a rotated horizontal ramp is no longer constant down its columns
    col_spread = (turned[0, 0].max(0).values - turned[0, 0].min(0).values).mean()
    assert col_spread > 0.05 and (base[0, 0].max(0).values - base[0, 0].min(0).values).max() < 1e-6


def test_scale_jitter_zooms_in():
    img = _ramp(40, 40)               # red goes 0..255 left to right
    base = center_crop_batch([img], 32)
    spec = AugmentSpec(hflip=0.0, scale_jitter=0.5)
    out = augment_batch([img] * 8, 32, spec, "center", 0)
    full = (base[0, 0].max() - base[0, 0].min()).item()
    spans = [(o[0].max() - o[0].min()).item() for o in out]
    assert all(s < full - 1e-3 for s in spans)           # a crop sees less of the ramp
    assert all(s > full * math.sqrt(0.5) * 0.85 for s in spans)   # but at least ~71% of it
    assert len({round(s, 4) for s in spans}) > 1


def test_color_jitter_changes_colour():
    img = _ramp(16, 16)
    base = center_crop_batch([img], 16)
    spec = AugmentSpec(hflip=0.0, color_jitter=0.8, color_p=1.0)
    out = augment_batch([img] * 6, 16, spec, "center", 0)
    diffs = [(o - base[0]).abs().mean().item() for o in out]
    assert all(d > 0.01 for d in diffs)
    assert out.min() >= -1 and out.max() <= 1
    # geometry untouched: a channel-mean map keeps the ramp's left-to-right order
    assert (out[:, 0, :, -1].mean() > out[:, 0, :, 0].mean())


def test_noise_adds_the_asked_std_and_stays_in_range():
    grey = torch.full((3, 32, 32), 128, dtype=torch.uint8)
    spec = AugmentSpec(hflip=0.0, noise_std=0.1, noise_p=1.0)
    out = augment_batch([grey] * 4, 32, spec, "center", 0)
    noise = out - center_crop_batch([grey], 32)
    assert abs(noise.std().item() - 0.1) < 0.01 and abs(noise.mean().item()) < 0.01
    loud = augment_batch([_ramp(16, 16)] * 4, 16,
                         AugmentSpec(hflip=0.0, noise_std=1.0, noise_p=1.0), "center", 0)
    assert loud.min() >= -1 and loud.max() <= 1 and (loud == 1).any() and (loud == -1).any()
    off = augment_batch([grey], 32, AugmentSpec(hflip=0.0, noise_std=0.5, noise_p=0.0),
                        "center", 0)
    assert torch.equal(off, center_crop_batch([grey], 32))


ALL_ON = AugmentSpec(hflip=0.5, vflip=0.5, rotation=20, rotation_p=0.5, scale_jitter=0.3,
                     color_jitter=0.4, color_p=0.5, noise_std=0.05, noise_p=0.5)


def test_augment_batch_is_seeded_and_leaves_the_callers_rng_alone():
    imgs = [_ramp(20, 28), _ramp(24, 20), _ramp(20, 20)]
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    expected_next = torch.rand(3)
    torch.set_rng_state(state)
    a = augment_batch(imgs, 16, ALL_ON, "random", 7)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(torch.rand(3), expected_next)
    b = augment_batch(imgs, 16, ALL_ON, "random", 7)
    c = augment_batch(imgs, 16, ALL_ON, "random", 8)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (3, 3, 16, 16) and a.dtype == torch.float32
    assert a.min() >= -1 and a.max() <= 1
    # each image gets its own draw: three copies of one image do not all come out alike
    same = augment_batch([imgs[2]] * 3, 16, ALL_ON, "random", 7)
    assert not (torch.equal(same[0], same[1]) and torch.equal(same[1], same[2]))
    with pytest.raises(ConfigError, match="data.crop"):
        augment_batch(imgs, 16, ALL_ON, "middle", 0)
    assert augment_batch([], 16, ALL_ON, "random", 0).shape == (0, 3, 16, 16)


def test_augment_previews_strip():
    img = _ramp(24, 32)
    strip = augment_previews(img, 16, ALL_ON, "random", n=5, seed=3)
    assert len(strip) == 5
    assert all(t.dtype == torch.uint8 and t.shape == (3, 16, 16) for t in strip)
    again = augment_previews(img, 16, ALL_ON, "random", n=5, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(strip, again, strict=True))
    assert len({t.numpy().tobytes() for t in strip}) > 1
    plain = augment_previews(img, 16, OFF, "center", n=2)
    want = ((center_crop_batch([img], 16)[0] + 1) * 127.5).round().to(torch.uint8)
    assert torch.equal(plain[0], want) and torch.equal(plain[1], want)


def test_spec_from_config():
    from types import SimpleNamespace
    cfg = SimpleNamespace(hflip=0.1, vflip=0.2, rotation=3, rotation_p=0.4, scale_jitter=0.5,
                          color_jitter=0.6, color_p=0.7, noise_std=0.8, noise_p=0.9)
    spec = AugmentSpec.from_config(cfg)
    assert spec == AugmentSpec(0.1, 0.2, 3.0, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    from studio.config.schema import AugmentConfig
    assert AugmentSpec.from_config(AugmentConfig()) == AugmentSpec()   # same fields, defaults
