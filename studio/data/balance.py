"""Dataset balance report for image and audio datasets: which words their captions /
descriptions use, and how groups of words you name compare (``man|woman|person``).

A model learns what its data shows: if 90% of the captions say "man", prompts and
samples will lean that way. The report counts, per word, how many captions contain it
(document frequency, so a word repeated in one caption counts once), leaving out common
function words. Captions are the same-name ``.txt`` sidecars (``cat.png`` + ``cat.txt``).
Torch-free: it reads only captions.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Iterable

from studio.data.scan import folder_description, kind_of, list_files, read_caption

STOP_WORDS = frozenset("""
a an the and or but of in on at to for with from by as is are was were be been being it its
this that these those there here he she they his her their them we you i my our your me us
not no so very into over under up down out off than then also just only has have had do does
did will would can could should may might must about after before while when where which who
whom what why how all any some each both few more most other such own same too s t
""".split())

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?|\d+", re.UNICODE)


def words(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


def parse_group(text: str, where: str = "probe.balance_groups") -> tuple[str, ...]:
    from studio.core.errors import ConfigError

    members = tuple(w.strip().lower() for w in text.split("|") if w.strip())
    if len(members) < 2:
        raise ConfigError(where, f"{text!r} needs at least two words separated by |",
                          'e.g. "man|woman|person"')
    return members


@dataclass
class BalanceReport:
    media: int = 0                      # image / audio files
    captioned: int = 0                  # ... with a non-empty caption
    top: list[tuple[str, int]] = field(default_factory=list)   # (word, captions with it)
    groups: list[dict] = field(default_factory=list)  # {"group", "counts", "ratio"}
    uncaptioned_examples: list[str] = field(default_factory=list)
    from_folder: int = 0                # audio without a sidecar: described by its folder

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        lines = [f"{self.media} image/audio files, {self.captioned} with a caption "
                 f"({self.captioned / self.media:.0%})" if self.media else
                 "no image or audio files found"]
        if self.from_folder:
            lines.append(f"  {self.from_folder} audio files have no .txt caption and are "
                         "described by their folder's name (what training uses); counted "
                         "as captions")
        if self.uncaptioned_examples:
            lines.append("  without a caption, e.g. " + ", ".join(self.uncaptioned_examples))
        if self.groups:
            lines.append("\ngroups (captions that contain each word):")
            for g in self.groups:
                counts = "  ".join(f"{w} {n}" for w, n in g["counts"].items())
                lines.append(f"  {g['group']:<28} {counts}   {verdict(g)}")
        if self.top:
            lines.append(f"\nmost frequent words (of {self.captioned} captions):")
            width = max(len(w) for w, _ in self.top)
            most = self.top[0][1] or 1
            for w, n in self.top:
                bar = "#" * max(1, round(30 * n / most))
                lines.append(f"  {w:<{width}}  {n:>5}  {n / max(1, self.captioned):>5.0%}  {bar}")
        return "\n".join(lines)


def verdict(group: dict) -> str:
    ratio = group["ratio"]
    if ratio is None:
        return "none of these words appear"
    if ratio == float("inf"):
        missing = [w for w, n in group["counts"].items() if n == 0]
        return (f"unbalanced: {', '.join(missing)} never "
                f"appear{'s' if len(missing) == 1 else ''}")
    if ratio >= 3:
        return f"unbalanced: {ratio:.1f}x between the most and least frequent"
    if ratio >= 1.5:
        return f"leans: {ratio:.1f}x"
    return f"balanced ({ratio:.1f}x)"


def balance_report(paths: Iterable[str], groups: Iterable[str] = (), top: int = 20
                   ) -> BalanceReport:
    rep = BalanceReport()
    docs: Counter[str] = Counter()
    seen_words: list[set[str]] = []
    for entry in list_files(paths):
        if getattr(entry, "missing", False) or kind_of(entry.path) not in ("image", "audio"):
            continue
        rep.media += 1
        caption = read_caption(entry.caption_path) if entry.caption_path else ""
        if not caption and kind_of(entry.path) == "audio":
            # the audio family's text condition: the sidecar, else the folder's name
            caption = folder_description(entry.path)
            rep.from_folder += bool(caption)
        if not caption:
            if len(rep.uncaptioned_examples) < 3:
                rep.uncaptioned_examples.append(os.path.basename(entry.path))
            continue
        rep.captioned += 1
        ws = set(words(caption))
        seen_words.append(ws)
        docs.update(w for w in ws if w not in STOP_WORDS and len(w) > 1)
    rep.top = docs.most_common(top)
    for i, g in enumerate(groups):
        members = parse_group(g, f"probe.balance_groups[{i}]")
        counts = {m: sum(1 for ws in seen_words if m in ws) for m in members}
        hi, lo = max(counts.values()), min(counts.values())
        ratio = None if hi == 0 else (float("inf") if lo == 0 else hi / lo)
        rep.groups.append({"group": "|".join(members), "counts": counts, "ratio": ratio})
    return rep
