"""``studio caption FOLDER --model SOURCE``: auto-caption a dataset folder.

Writes ``.txt`` sidecars for the images that have none; ``--all`` captions every image
into a review file instead (nothing written beside the images); ``--accept FILE`` writes a
(hand-edited) review file. An existing caption file is replaced only with ``--overwrite``,
and its old text is kept in the undo journal either way it is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from studio.core.errors import DataError


def add_parser(sub) -> None:
    ca = sub.add_parser("caption", help="auto-caption images: write .txt captions for the "
                                        "images that have none (--all: a review file)")
    ca.add_argument("folder", help="folder of images (searched recursively)")
    ca.add_argument("--model", default="starter:captioning",
                    help="captioning model: starter:captioning, a run's export folder, a "
                         "local folder or a hub id (e.g. Salesforce/blip-image-captioning-base)")
    ca.add_argument("--all", action="store_true",
                    help="caption every image into a review file; no caption file is written")
    ca.add_argument("--review", type=Path,
                    help="the review file --all writes (default: <folder>-captions-review.jsonl "
                         "beside the folder)")
    ca.add_argument("--accept", type=Path, metavar="REVIEW",
                    help="write the captions of a review file (edit it first if you like)")
    ca.add_argument("--overwrite", action="store_true",
                    help="with --accept: replace existing caption files too (their old text "
                         "stays recoverable in the undo journal)")
    ca.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    ca.add_argument("--max-new-tokens", type=int, default=32)


def _say(text: str) -> None:
    print(text, flush=True)


def run(args: argparse.Namespace) -> int:
    from studio.models import autocaption as ac

    folder = Path(args.folder)
    if not folder.exists():
        raise DataError(str(folder), "no such folder", "give the folder of images to caption")
    if args.accept:
        written, kept = ac.apply(ac.read_review(args.accept), overwrite=args.overwrite,
                                 label=f"accept {args.accept.name}")
        _report(written, kept)
        return 0
    todo = ac.find_images(folder, args.all)
    if not todo:
        _say("Every image already has a caption file; nothing to do (--all captions them "
             "all into a review file).")
        return 0
    _say(f"Captioning {len(todo)} image(s) with {args.model}...")

    def progress(done: int, total: int) -> None:
        print(f"\r  {done}/{total}", end="", file=sys.stderr, flush=True)

    proposals = ac.propose(args.model, todo, device=args.device,
                           max_new_tokens=args.max_new_tokens, progress=progress)
    print(file=sys.stderr)
    if args.all:
        review = args.review or folder.resolve().parent / f"{folder.resolve().name}" \
                                                          f"-captions-review.jsonl"
        ac.write_review(proposals, review)
        _say(f"Wrote {len(proposals)} proposed captions to {review} (no caption file "
             f"changed). Edit it, then: studio caption {folder} --accept {review}"
             " [--overwrite]")
        return 0
    written, kept = ac.apply(proposals, overwrite=False)
    _report(written, kept)
    return 0


def _report(written: list, kept: list) -> None:
    from studio.models.autocaption import journal_path

    _say(f"Wrote {len(written)} caption file(s); undo journal: {journal_path()}")
    if kept:
        _say(f"Left {len(kept)} existing caption file(s) as they are (--overwrite replaces "
             f"them), e.g. {kept[0]}")
