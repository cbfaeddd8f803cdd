"""Pre-train the small GPT-2 MIDI starter (MidiTok REMI + BPE) on public-domain folk tunes.

The corpus is music21's copies of two public-domain collections, in ABC: O'Neill's "Music
of Ireland" (1850 tunes, 1903) and Ryan's Mammoth Collection (1883). The Essen folk song
collection, also in music21's corpus, is for non-commercial use only: it is left out.

The recipe, top to bottom:

1. split the ABC books into tunes, read each with symusic (single melody lines), shuffle
   with ``--seed`` and keep ``--tunes`` of them; ``--val-fraction`` is held out by tune;
2. MidiTok REMI (the studio's ``new_tokenizer``) with BPE trained on the training tunes;
3. ``GPT2LMHeadModel`` from a config, its held-out loss measured untrained;
4. AdamW with warm-up and cosine decay on random windows of the training tunes' tokens
   (the text starter's helpers);
5. held-out loss again, two free tunes generated as ``.mid`` files, and model,
   ``miditok.json``, ``starter_info.json`` and ``STARTER.md`` saved into the output folder
   (written beside it and swapped in at the end).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from studio.core.errors import StudioError
from studio.core.paths import starters_dir
from studio.data import midi as md
from studio.starters.text import folder_size, lr_at, make_optimizer, perplexity, random_batch

COLLECTIONS = ("oneills1850", "ryansMammoth")   # public domain; NOT essenFolksong


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=starters_dir() / "midi",
                   help="folder to write the starter into (replaced if it exists)")
    p.add_argument("--tunes", type=int, default=1200, help="tunes kept (of ~2,800)")
    p.add_argument("--steps", type=int, default=1200, help="optimizer steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--block-size", type=int, default=256, help="tokens per window")
    p.add_argument("--lr", type=float, default=1.5e-3)
    p.add_argument("--warmup", type=int, default=60)
    p.add_argument("--min-lr-ratio", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--val-fraction", type=float, default=0.05)
    p.add_argument("--vocab-size", type=int, default=1000, help="MidiTok vocabulary after BPE")
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)


def main(args: argparse.Namespace) -> int:
    info = build(args)
    print(f"saved {info['out']}: {info['parameters']:,} parameters, "
          f"{info['size_bytes'] / 1e6:.1f} MB, held-out loss {info['val_loss']:.3f} "
          f"(untrained {info['untrained_val_loss']:.3f}), {info['build_seconds'] / 60:.1f} min")
    return 0


@contextlib.contextmanager
def _quiet_stderr():
    """symusic's ABC reader prints every ornament it cannot parse to the C stderr."""
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def read_tunes() -> list[tuple[str, object]]:
    """(name, score) of every readable tune with notes in the two collections."""
    import music21
    import symusic

    corpus = Path(music21.__path__[0]) / "corpus"
    tunes = []
    with _quiet_stderr():
        for collection in COLLECTIONS:
            for path in sorted((corpus / collection).glob("*.abc")):
                text = path.read_text(encoding="latin-1")
                for k, tune in enumerate(re.split(r"(?m)^(?=X:)", text)):
                    if not tune.startswith("X:"):
                        continue
                    try:
                        score = symusic.Score.from_abc(tune)
                    except Exception:  # a tune the reader cannot parse: left out
                        continue
                    if md.note_count(score) >= 16:
                        tunes.append((f"{collection}/{path.stem}#{k}", score))
    if not tunes:
        raise StudioError("music21's corpus has no O'Neill / Ryan tunes",
                          "install music21 with its corpus (pip install music21)")
    return tunes


def build(args: argparse.Namespace) -> dict:
    from transformers import GPT2Config, GPT2LMHeadModel

    t0 = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    tunes = read_tunes()
    found = len(tunes)
    random.Random(args.seed).shuffle(tunes)
    tunes = tunes[:args.tunes]
    n_val = max(1, int(len(tunes) * args.val_fraction))
    val, train = tunes[:n_val], tunes[n_val:]
    print(f"{found} tunes read, {len(train)} train, {len(val)} held out")

    tok = md.new_tokenizer("remi")
    md.train_bpe(tok, [s for _, s in train], args.vocab_size)
    train_ids = torch.from_numpy(np.concatenate([md.encode(tok, s) for _, s in train]))
    val_ids = torch.from_numpy(np.concatenate([md.encode(tok, s) for _, s in val]))
    print(f"tokenizer: {len(tok)} tokens; {len(train_ids):,} training tokens, "
          f"{len(val_ids):,} held out ({time.time() - t0:.0f} s)")

    config = GPT2Config(vocab_size=len(tok), n_positions=args.block_size, n_embd=args.n_embd,
                        n_layer=args.n_layer, n_head=args.n_head, tie_word_embeddings=True,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                        bos_token_id=tok["BOS_None"], eos_token_id=tok["EOS_None"],
                        pad_token_id=tok.pad_token_id)
    model = GPT2LMHeadModel(config)
    val_loss = lambda: math.log(perplexity(model, val_ids, args.block_size))  # noqa: E731
    untrained = val_loss()
    print(f"untrained held-out loss {untrained:.3f}")
    opt = make_optimizer(model, args)
    gen = torch.Generator().manual_seed(args.seed)
    model.train()
    curve = []
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        x, y = random_batch(train_ids, args.batch_size, args.block_size, gen)
        logits = model(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)),
                                                 y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            v = val_loss()
            curve.append((step + 1, round(loss.item(), 4), round(v, 4)))
            print(f"step {step + 1}: train {loss.item():.3f}, held out {v:.3f} "
                  f"({(time.time() - t0) / 60:.1f} min)", flush=True)
    final = val_loss()
    return save(args, model, tok, train, val, untrained, final, curve, t0, found)


def save(args, model, tok, train, val, untrained, final, curve, t0, found) -> dict:
    out = Path(args.out)
    tmp = out.with_name(out.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    model.config.resid_pdrop = model.config.embd_pdrop = model.config.attn_pdrop = 0.1
    model.eval()
    model.save_pretrained(tmp)
    md.save_tokenizer(tok, tmp)
    samples = starter_samples(tmp, val[0], [s for _, s in train], args.steps)
    write_reference(tmp, val)
    info = {
        "out": str(out), "parameters": sum(p.numel() for p in model.parameters()),
        "tunes_found": found, "train_tunes": len(train), "val_tunes": len(val),
        "vocab": len(tok), "steps": args.steps, "block_size": args.block_size,
        "untrained_val_loss": round(untrained, 4), "val_loss": round(final, 4),
        "val_perplexity": round(math.exp(final), 2), "curve": curve,
        "samples": [{"file": f"samples/{Path(s.path).name}", "prompt": s.prompt,
                     "what": s.text} for s in samples],
        "build_seconds": round(time.time() - t0, 1), "argv": getattr(args, "argv", []),
    }
    (tmp / "starter_info.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    info["size_bytes"] = folder_size(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return info


def starter_samples(folder: Path, primer: tuple[str, object], train_scores: list,
                    step: int) -> list:
    """A continuation of ``primer`` and two free tunes, through the family's own sampling
    (default sample settings), written to ``folder/samples``."""
    from studio.config.families import default_config
    from studio.models.midi import MidiFamily

    fam = MidiFamily()
    loaded = fam.load(str(folder), "cpu")
    tok = loaded.extras["midi_tokenizer"]
    some = train_scores[:300]
    stats = md.music_stats(some)
    per_bar = sum(len(md.encode(tok, s)) for s in some) / max(1.0, stats.bars)
    loaded.extras.update(midi_primers=[primer], midi_train_stats=stats,
                         midi_tokens_per_bar=per_bar)
    shutil.rmtree(folder / "samples", ignore_errors=True)
    return fam.sample(loaded, default_config("midi").sample, step, folder / "samples")


REFERENCE_TUNES = 8


def write_reference(folder: Path, val: list) -> Path:
    """Held-out tunes (not the samples' primer) as .mid files in ``folder/reference``: the
    forgetting probe's default set for MIDI models (does fine-tuning on chorales cost the
    starter its reels?)."""
    ref = folder / "reference"
    shutil.rmtree(ref, ignore_errors=True)
    ref.mkdir(parents=True)
    for k, (name, score) in enumerate(val[1:1 + REFERENCE_TUNES]):
        score.dump_midi(str(ref / f"{k:02d}_{re.sub(r'[^A-Za-z0-9]+', '_', name)}.mid"))
    return ref
