"""How sizes, memory, durations, clocks, rates and counts are written, everywhere.

One module so the CLI, the log, the panes and the reports agree ("1.5 MB" in the dataset
pane is "1.5 MB" in ``studio inspect``). Stdlib only.
"""

from __future__ import annotations

import math

KB, MB, GB = 1024, 1024 ** 2, 1024 ** 3


def _finite(x: float | None) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def size(n: float) -> str:
    """A file or folder size: "512 B", "1.5 KB", "12.0 MB", "3.2 GB", "1.1 TB"."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def memory(n: float) -> str:
    """A memory estimate: "3.4 MiB", "120 MiB", "1.5 GiB" (three significant figures)."""
    if n >= GB:
        return f"{n / GB:,.1f} GiB"
    return f"{n / MB:,.1f} MiB" if n < 10 * MB else f"{n / MB:,.0f} MiB"


def gigabytes(n: float | None) -> str:
    """Free memory or disk in whole-machine terms: "11.6 GB" ("unknown" for None)."""
    return "unknown" if n is None else f"{n / GB:.1f} GB"


def clock(seconds: float | None, hours_pad: bool = True) -> str:
    """Elapsed time or an ETA as a clock: "03:07", "1:02:03"; "--:--" when unknown.
    ``hours_pad=False`` writes minutes unpadded ("3:07") for tables."""
    if not _finite(seconds) or seconds < 0:
        return "--:--"
    h, rem = divmod(int(round(seconds)), 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}:{m:02d}:{s:02d}"
    return f"{m:02d}:{s:02d}" if hours_pad else f"{m}:{s:02d}"


def duration(seconds: float) -> str:
    """A length of audio or a measured time: "350 ms", "12.5 s", "3:07", "1:02:03"."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return clock(seconds, hours_pad=False)


def rate(value: float, unit: str = "") -> str:
    """A throughput: "12.3k tok/s", "2,400 tok/s", "2.4 clip/s" (no unit: just the number,
    slow rates keep three significant digits)."""
    if not _finite(value):
        return "--"
    if not unit:
        return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    if value >= 10_000:
        return f"{value / 1000:,.1f}k {unit}/s"
    return f"{value:,.0f} {unit}/s" if value >= 100 else f"{value:.1f} {unit}/s"


def count(n: int | None) -> str:
    """A parameter count: "1.23 M (1,234,567)"; "?" when unknown."""
    if n is None:
        return "?"
    if n >= 1e9:
        return f"{n / 1e9:.2f} B ({n:,})"
    if n >= 1e6:
        return f"{n / 1e6:.2f} M ({n:,})"
    return f"{n:,}"
