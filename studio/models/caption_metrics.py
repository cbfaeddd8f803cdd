"""Caption metrics: BLEU-4 and CIDEr-D from ``pycocoevalcap`` (the COCO caption
evaluation code every captioning paper reports), not a re-implementation.

pycocoevalcap scores *tokenized* text: its own tokenizer (PTBTokenizer) runs Stanford
CoreNLP in Java. Here the same normalisation is done in Python: lower case, words and
numbers kept, the punctuation PTBTokenizer drops removed. Its ``Cider`` is CIDEr-D (the
Gaussian length penalty with sigma 6, clipped n-gram counts, x10), the variant the COCO
leaderboard reports. Scores are corpus-level over the captions given (CIDEr-D's IDF comes
from their references, so it needs a few different images to mean anything).

BLEU-4 is in [0, 1]; CIDEr-D in [0, 10] (papers often print both x100).
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(caption: str) -> str:
    """Lower-case words, punctuation dropped, joined by single spaces."""
    return " ".join(_WORD.findall(caption.lower()))


def caption_scores(generated: list[str], references: list[str | list[str]]) -> dict[str, float]:
    """{"BLEU-4": ..., "CIDEr-D": ...} of ``generated[i]`` against ``references[i]`` (one
    caption or several per image)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    if len(generated) != len(references):
        raise ValueError(f"{len(generated)} captions for {len(references)} references")
    if not generated:
        return {}
    res = {i: [tokenize(g) or "_"] for i, g in enumerate(generated)}  # an empty caption scores 0
    gts = {i: [tokenize(r) for r in (refs if isinstance(refs, list) else [refs])]
           for i, refs in enumerate(references)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    return {"BLEU-4": float(bleu[3]), "CIDEr-D": float(cider)}
