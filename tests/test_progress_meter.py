"""The data-preparation progress lines (studio.data.progress.Meter)."""

from studio.data import progress


def lines_of(meter_args: dict, done: list[float]) -> list[str]:
    got: list[str] = []
    with progress.reporting(got.append):
        meter = progress.Meter(every=0.0, **meter_args)
        for d in done:
            meter.update(d)
    return got


def test_counted_things_read_as_whole_numbers():
    # text_to_image's latent encoding read "Encoding images to latents: 1.0 of 12.0 images"
    got = lines_of({"what": "Encoding", "total": 12, "unit": "images", "scale": 1}, [1, 12])
    assert got[0].startswith("Encoding: 1 of 12 images (8%)")
    assert got[-1] == "Encoding: 12 of 12 images (100%)"


def test_sizes_keep_their_decimal():
    got = lines_of({"what": "Tokenizing", "total": 12_000_000}, [3_500_000])
    assert got[0].startswith("Tokenizing: 3.5 of 12.0 MB (29%)")
