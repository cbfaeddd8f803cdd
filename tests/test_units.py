"""One way to write sizes, memory, durations, clocks, rates and counts (studio.core.units)."""

from studio.core import units


def test_sizes_and_memory():
    assert units.size(512) == "512 B"
    assert units.size(1536) == "1.5 KB"
    assert units.size(12 * units.MB) == "12.0 MB"
    assert units.size(3 * units.GB) == "3.0 GB"
    assert units.size(2048 * units.GB) == "2.0 TB"
    assert units.memory(3.4 * units.MB) == "3.4 MiB"
    assert units.memory(120 * units.MB) == "120 MiB"
    assert units.memory(1.5 * units.GB) == "1.5 GiB"
    assert units.gigabytes(None) == "unknown" and units.gigabytes(units.GB * 11.6) == "11.6 GB"


def test_times():
    assert units.clock(187) == "03:07" and units.clock(3723) == "1:02:03"
    assert units.clock(187, hours_pad=False) == "3:07"
    assert units.clock(float("nan")) == units.clock(-1) == units.clock(None) == "--:--"
    assert units.duration(0.35) == "350 ms" and units.duration(12.49) == "12.5 s"
    assert units.duration(187) == "3:07" and units.duration(3723) == "1:02:03"


def test_rates_and_counts():
    assert units.rate(12_345, "tok") == "12.3k tok/s"
    assert units.rate(2_400, "tok") == "2,400 tok/s" and units.rate(2.4, "clip") == "2.4 clip/s"
    assert units.rate(12_345) == "12,345" and units.rate(2.414) == "2.41"
    assert units.rate(float("inf"), "tok") == "--"
    assert units.count(None) == "?" and units.count(999) == "999"
    assert units.count(1_234_567) == "1.23 M (1,234,567)"
