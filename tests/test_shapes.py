"""The generated shapes dataset: deterministic, and its captions say what its pixels show."""

from __future__ import annotations

import numpy as np

from studio.data import captioned, shapes


def test_generate_is_deterministic_and_prefix_stable():
    a = shapes.generate(12, 48, seed=3)
    b = shapes.generate(12, 48, seed=3)
    assert [s.caption for s in a] == [s.caption for s in b]
    assert all(np.array_equal(np.asarray(x.image), np.asarray(y.image)) for x, y in zip(a, b))
    assert [s.caption for s in shapes.generate(5, 48, seed=3)] == [s.caption for s in a[:5]]
    assert [s.caption for s in shapes.generate(12, 48, seed=4)] != [s.caption for s in a]


def test_captions_agree_with_pixels():
    for s in shapes.generate(60, 64, seed=0):
        px = np.asarray(s.image)
        assert px.shape == (64, 64, 3)
        cx, cy = s.centre
        assert tuple(px[cy, cx]) == shapes.COLOURS[s.colour], s.caption
        # the background colour covers most of a corner far from the shape
        corner = (0, 0) if cx > 32 or cy > 32 else (63, 63)
        bg = np.asarray(shapes.COLOURS[s.background])
        near = np.abs(px[corner[1], :].astype(int) - bg).sum(axis=1) < 10
        if s.pattern == "plain":
            assert near.mean() > 0.5, s.caption
        # the caption is the generator's own description
        assert s.caption.startswith("a ")
        assert f"{s.colour} {s.shape}" in s.caption
        assert s.caption.endswith(f"{s.background} background")
        assert ("striped" in s.caption) == (s.pattern == "striped")


def test_positions_put_the_shape_where_the_caption_says():
    left = shapes.render("circle", "red", position="left", background="white")
    right = shapes.render("circle", "red", position="right", background="white")
    top = shapes.render("circle", "red", position="top left", background="white")
    assert left.centre[0] < 32 < right.centre[0]
    assert top.centre[0] < 32 and top.centre[1] < 32
    assert left.caption == "a red circle on the left on a white background"
    assert shapes.render("circle", "red").caption == "a red circle on a blue background"
    assert (shapes.render("square", "green", "small", "top left", "yellow", "striped").caption
            == "a small green square in the top left on a striped yellow background")
    # the red pixels sit on the left
    px = np.asarray(left.image).astype(int)
    ys, xs = np.nonzero(np.abs(px - shapes.COLOURS["red"]).sum(axis=2) == 0)
    assert xs.mean() < 24 and xs.max() <= 33 and abs(ys.mean() - 32) < 2


def test_vocabulary_is_small_and_covers_every_caption():
    vocab = set(shapes.vocabulary())
    assert len(vocab) < 40
    for s in shapes.generate(100, 32, seed=1):
        assert set(s.caption.split()) <= vocab


def test_write_folder_reads_back_through_the_captioned_reader(tmp_path):
    paths = shapes.write_folder(tmp_path / "shapes", 6, size=32, seed=2)
    items = captioned.read_captions(paths)
    assert [i.caption for i in items] == [s.caption for s in shapes.generate(6, 32, seed=2)]
    assert all(i.source.endswith(".txt") and not i.problem for i in items)
