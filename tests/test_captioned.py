"""The captioned-image reader, the caption rules, buckets and safe caption writing."""

from __future__ import annotations

import random

import pytest
from PIL import Image

from studio.core.errors import DataError
from studio.data import captioned as cap


def _image(path, size=(40, 30), colour=(200, 30, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


# -- reading --------------------------------------------------------------------------------


def test_txt_sidecar_wins_over_caption_and_says_which(tmp_path):
    a = _image(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("from txt\n", encoding="utf-8")
    (tmp_path / "a.caption").write_text("from caption", encoding="utf-8")
    b = _image(tmp_path / "b.jpg")
    (tmp_path / "b.caption").write_text("a  red\nsquare ", encoding="utf-8")
    assert cap.caption_file_of(a) == tmp_path / "a.txt"
    items = cap.read_captions([a, b])
    assert [(i.caption, i.source, i.problem) for i in items] == [
        ("from txt", "a.txt", ""), ("a red square", "b.caption", "")]
    assert items[1].caption_file == tmp_path / "b.caption" and items[1].from_file


def test_missing_captions_use_trigger_else_folder_name_and_are_counted(tmp_path):
    folder = tmp_path / "10_my_style"
    images = [_image(folder / f"{i}.png") for i in range(4)]
    (folder / "0.txt").write_text("a lighthouse", encoding="utf-8")
    items = cap.read_captions(images)
    assert [i.source for i in items] == ["0.txt"] + ["folder name"] * 3
    assert items[1].caption == "my_style"            # kohya's repeat count left out
    assert cap.missing_summary(items) == ("3 of 4 images have no caption: they train as "
                                          "'my_style' (the folder's name)")
    with_trigger = cap.read_captions(images, trigger=" sks ")
    assert [i.caption for i in with_trigger] == ["a lighthouse", "sks", "sks", "sks"]
    assert "'sks' (the trigger word)" in cap.missing_summary(with_trigger)
    assert cap.missing_summary(items[:1]) == ""


def test_empty_huge_and_binary_caption_files_get_reasons(tmp_path):
    images = [_image(tmp_path / f"{n}.png") for n in ("empty", "huge", "binary")]
    (tmp_path / "empty.txt").write_text("  \n", encoding="utf-8")
    (tmp_path / "huge.txt").write_bytes(b"word " * 20000)
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    items = cap.read_captions(images, trigger="sks")
    assert all(i.caption == "sks" and i.source == "trigger word" for i in items)
    assert "empty.txt is empty" in items[0].problem
    assert "huge.txt is 98 KB, too large to be a caption" in items[1].problem
    assert "binary.txt is not text" in items[2].problem


def test_non_utf8_caption_is_read_and_named_with_the_fix(tmp_path):
    img = _image(tmp_path / "café.png")
    (tmp_path / "café.txt").write_bytes("crème brûlée, à la carte".encode("cp1252"))
    (item,) = cap.read_captions([img])
    assert item.caption == "crème brûlée, à la carte"
    assert item.source == "café.txt"
    assert "café.txt is not UTF-8" in item.problem and "UTF-8" in item.problem.split(";")[1]


def test_unicode_paths_and_upper_case_extensions(tmp_path):
    img = _image(tmp_path / "写真 ü" / "Bild.PNG")
    (img.parent / "Bild.TXT").write_text("ein Bild", encoding="utf-8")
    (item,) = cap.read_captions([img])
    assert (item.caption, item.source) == ("ein Bild", "Bild.TXT")


def test_load_captioned_passes_sidecars_over_and_skips_others(tmp_path):
    _image(tmp_path / "a.png")
    (tmp_path / "a.caption").write_text("x", encoding="utf-8")
    (tmp_path / "notes.doc").write_bytes(b"hello")
    ds = cap.load_captioned(tmp_path)
    assert [i.path.name for i in ds.items] == ["a.png"]
    assert [s.path.endswith("notes.doc") for s in ds.skipped] == [True]


# -- caption rules --------------------------------------------------------------------------


def test_trigger_is_prepended_once():
    assert cap.compose_caption("a dog", trigger="sks") == "sks, a dog"
    assert cap.compose_caption("sks, a dog", trigger="sks") == "sks, a dog"
    assert cap.compose_caption("a dog, SKS", trigger="sks") == "sks, a dog"
    assert cap.compose_caption("a photo of sks dog", trigger="sks") == "a photo of sks dog"
    assert cap.compose_caption("", trigger="sks") == "sks"
    assert cap.prepend_trigger("a dog", "sks") == "sks, a dog"
    assert cap.prepend_trigger("sks dog", "sks") == "sks dog"
    assert cap.prepend_trigger("a sksdog", "sks") == "sks, a sksdog"   # whole words only


def test_caption_dropout_rate():
    rng = random.Random(0)
    out = [cap.compose_caption("a dog", trigger="sks", dropout=0.25, rng=rng)
           for _ in range(4000)]
    assert set(out) == {"", "sks, a dog"}
    assert 0.22 < out.count("") / len(out) < 0.28
    assert cap.compose_caption("a dog", dropout=1.0) == ""
    assert cap.compose_caption("a dog", dropout=0.0) == "a dog"


def test_shuffle_keeps_the_first_tags_and_the_trigger_in_front():
    rng = random.Random(1)
    tags = "a, b, c, d, e, f"
    seen = set()
    for _ in range(200):
        out = cap.compose_caption(tags, trigger="sks", shuffle_tags=True, keep_tags=2, rng=rng)
        parts = out.split(", ")
        assert parts[:3] == ["sks", "a", "b"]
        assert sorted(parts[3:]) == ["c", "d", "e", "f"]
        seen.add(out)
    assert len(seen) > 10
    sentence = "a red circle on a blue background"
    assert cap.compose_caption(sentence, shuffle_tags=True, rng=rng) == sentence


def test_find_replace_previews_only_what_changes():
    caps = {"1": "a red circle", "2": "a blue circle", "3": "a Red square, reddish"}
    assert cap.find_replace(caps, "red", "green") == {
        "1": "a green circle", "3": "a green square, greendish"}
    assert cap.find_replace(caps, "red", "green", whole_word=True) == {
        "1": "a green circle", "3": "a green square, reddish"}
    assert cap.find_replace(caps, "red", "green", case_sensitive=True, whole_word=True) == {
        "1": "a green circle"}
    assert cap.find_replace(caps, "", "x") == {}


# -- buckets --------------------------------------------------------------------------------


def test_buckets_are_equal_area_multiples_of_step_within_the_ratio():
    buckets = cap.make_buckets(512)
    assert (512, 512) in buckets
    for w, h in buckets:
        assert w % 64 == 0 and h % 64 == 0
        assert w * h <= 512 * 512
        assert w * h >= 0.85 * 512 * 512
        assert max(w, h) / min(w, h) <= 2.0
        assert (h, w) in buckets
    assert len(cap.make_buckets(1024)) > len(buckets)
    with pytest.raises(DataError):
        cap.make_buckets(32)


def test_bucket_for_matches_aspect():
    buckets = cap.make_buckets(512)
    assert cap.bucket_for(1000, 1000, buckets) == (512, 512)
    w, h = cap.bucket_for(1920, 1080, buckets)
    assert w > h
    w, h = cap.bucket_for(1080, 1920, buckets)
    assert h > w
    assert cap.bucket_for(4000, 100, buckets) == max(buckets, key=lambda b: b[0] / b[1])


def test_fit_downscales_and_crops_the_centre_only():
    # a wide image: left third red, middle green, right third blue
    im = Image.new("RGB", (1200, 600), (0, 200, 0))
    im.paste((200, 0, 0), (0, 0, 400, 600))
    im.paste((0, 0, 200), (800, 0, 1200, 600))
    bucket = (640, 384)
    out, box = cap.fit_to_bucket(im, bucket)
    assert out.size == bucket
    left, top, right, bottom = box
    assert (top, bottom) == (0, 600)             # the short side is kept whole
    assert abs(left - (1200 - right)) <= 1       # equal margins: centred
    assert right - left == pytest.approx(600 * 640 / 384, abs=1)
    # both outer colours survive: nothing was cut off one side only
    assert out.getpixel((2, 190))[0] > 150 and out.getpixel((637, 190))[2] > 150
    scale, _ = cap.crop_box(im.size, bucket)
    assert scale < 1                             # downscaled, not cropped to size


def test_fit_file_reads_through_the_image_family(tmp_path):
    img = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6                              # rotate 90° on display
    Image.new("RGB", (300, 100), (10, 200, 10)).save(img, exif=exif)
    fit = cap.fit_file(img, cap.make_buckets(128, step=32))
    assert fit.size == (100, 300)                 # the right way up
    assert fit.bucket[1] > fit.bucket[0]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    with pytest.raises(DataError, match="bad.png"):
        cap.fit_file(bad, cap.make_buckets(128, step=32))


# -- writing --------------------------------------------------------------------------------


def test_write_caption_is_atomic_utf8_and_keeps_the_old_bytes(tmp_path):
    img = _image(tmp_path / "a.png")
    edit = cap.write_caption(img, "  ein  Bild\n ")
    assert edit.path == tmp_path / "a.txt" and edit.old is None
    assert edit.path.read_text(encoding="utf-8") == "ein Bild\n"
    old = "alt: Grüße".encode("cp1252")
    edit.path.write_bytes(old)
    edit2 = cap.write_caption(img, "neu")
    assert edit2.old == old
    assert [p.name for p in tmp_path.iterdir()] == sorted(["a.png", "a.txt"]) or \
        sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a.txt"]   # no temp file left
    # an existing .caption sidecar is written, not a new .txt beside it
    b = _image(tmp_path / "b.png")
    (tmp_path / "b.caption").write_text("old", encoding="utf-8")
    assert cap.write_caption(b, "new").path.name == "b.caption"


def test_write_failure_leaves_the_old_caption(tmp_path, monkeypatch):
    img = _image(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("keep me", encoding="utf-8")

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cap.os, "replace", boom)
    with pytest.raises(OSError):
        cap.write_caption(img, "lost")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a.txt"]


def test_undo_restores_each_step_and_spares_files_changed_since(tmp_path):
    imgs = [_image(tmp_path / f"{i}.png") for i in range(3)]
    (tmp_path / "0.txt").write_bytes("vieux café".encode("cp1252"))
    journal = tmp_path / "history" / "captions.jsonl"
    edits = cap.CaptionEdits(journal)
    edits.write({imgs[0]: "new 0", imgs[1]: "new 1"}, "Find/replace")
    edits.write({imgs[2]: "new 2"}, "Edit caption")
    assert edits.undo_label == "Edit caption"
    restored, problems = edits.undo()
    assert restored == [tmp_path / "2.txt"] and not problems
    assert not (tmp_path / "2.txt").exists()       # it had no caption before
    (tmp_path / "1.txt").write_text("typed by hand", encoding="utf-8")
    restored, problems = edits.undo()
    assert restored == [tmp_path / "0.txt"]
    assert (tmp_path / "0.txt").read_bytes() == "vieux café".encode("cp1252")
    assert problems == ["1.txt changed since it was written; left as it is"]
    assert (tmp_path / "1.txt").read_text(encoding="utf-8") == "typed by hand"
    assert not edits.can_undo
    lines = journal.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and "Find/replace" in lines[0]


def test_every_hostile_image_keeps_its_reason_or_gets_its_bucket(tmp_path):
    from tests.make_hostile_images import UNUSABLE, USABLE, make_hostile_images

    files = make_hostile_images(tmp_path / "hostile")
    buckets = cap.make_buckets(128, step=16)
    for name in USABLE:
        p = cap.preview_bucket(files[name], buckets)
        assert not p.problem and p.bucket in buckets and p.thumbnail, name
    for name, words in UNUSABLE.items():
        p = cap.preview_bucket(files[name], buckets)
        assert words in p.problem, (name, p.problem)
        assert not p.problem.startswith(str(files[name]))   # the tile names the file already
    # a caption next to a hostile image is read as usual
    files["cmyk_jpg"].with_suffix(".txt").write_text("ink", encoding="utf-8")
    (item,) = cap.read_captions([files["cmyk_jpg"]])
    assert item.caption == "ink"
