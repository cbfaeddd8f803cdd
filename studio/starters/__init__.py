"""Builders of the offline starter models shipped in ``resources/starters/``.

A starter is a tiny instance of a real library class (for text: transformers' GPT-2),
pre-trained here on public-domain data, so the app's ordinary loading code path
(``from_pretrained`` on a folder) works with no network. Build one with::

    python -m studio.starters build text --data ../shared/data/text/austen.txt

Each builder lives in its own module and is imported lazily (torch is heavy).
"""

from __future__ import annotations

# name -> module that provides ``add_arguments(parser)`` and ``main(args)``
BUILDERS: dict[str, str] = {
    "text": "studio.starters.text",
    "image": "studio.starters.image",
    "audio": "studio.starters.audio",
    "midi": "studio.starters.midi",
    "captioning": "studio.starters.captioning",
    "text_to_image": "studio.starters.text_to_image",
}
