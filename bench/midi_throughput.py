#!/usr/bin/env python
"""MIDI family numbers: engine tokens/s against a plain PyTorch loop on the same MIDI
tokens, and the time to tokenize 1,000 music files (then again, from the cache).

1. Throughput. One GPT-2 (from a config, fixed seed, saved with ``save_pretrained`` beside
   a MidiTok tokenizer) trains on the same token blocks in both contenders: the engine
   (``studio.engine.run``, family "midi", no validation, interval samples and checkpoints
   off) and ``bench/engine_overhead.py``'s nanoGPT-style plain loop, fed the blocks the
   engine's own MIDI dataset made. Same batch, block, AdamW, schedule, clipping, steps.
   Tokens/s over the steps after ``--warmup``. Many short repeats, interleaved A B, B A,
   A B... (the machine is shared and its load drifts): each repeat's engine/plain ratio
   compares two runs seconds apart, and the figure is the median of those ratios, with
   their range (target >= 0.97x); the medians of each side's tokens/s are printed too.
2. Tokenizing. 1,000 files synthesised from the Bach chorales (each chorale transposed
   and/or concatenated with another), tokenized by the family's dataset code into a fresh
   token cache, timed; then the same again (every file a cache hit).

    python bench/midi_throughput.py                 # CPU defaults
    python bench/midi_throughput.py --files 0       # the throughput ratio only
    python bench/midi_throughput.py --device cuda --steps 200 --n-embd 256
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import engine_overhead as eo  # noqa: E402  (its plain loop, timing marks)

CHORALES = ROOT.parent / "shared" / "data" / "midi"
FALLBACK = ROOT / "resources" / "demo" / "chorales"
TARGET = 0.97


def chorale_files() -> list[Path]:
    folder = CHORALES if CHORALES.is_dir() else FALLBACK
    files = sorted(folder.glob("*.mid"))
    if not files:
        sys.exit(f"no chorales in {CHORALES} or {FALLBACK}")
    return files


def synthesise(out: Path, n: int, seed: int = 0) -> Path:
    """``n`` MIDI files: chorales transposed by -5..6 semitones, every third one followed
    by another chorale (concatenated in time)."""
    from studio.data import midi as md

    scores = [md.read_score(p) for p in chorale_files()]
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        s = scores[i % len(scores)].copy()
        s = md.apply_variant(s, md.Variant(pitch=rng.randint(-5, 6)))
        if i % 3 == 0:
            other = scores[rng.randrange(len(scores))].shift_time(s.end())
            for a, b in zip(s.tracks, other.tracks):
                a.notes.extend(b.notes)
        s.dump_midi(str(out / f"synth_{i:04d}.mid"))
    return out


def time_tokenizing(tmp: Path, n: int) -> tuple[float, float, str]:
    """(first run s, second run s, summary) of the family's dataset over ``n`` files."""
    from studio.config.families import default_config
    from studio.data import midi as md

    data = synthesise(tmp / "synth", n)
    cfg = default_config("midi")
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(
        cfg.data, paths=(str(data),), val_fraction=0.05, midi_tracks="all"))
    tok = md.new_tokenizer("remi")
    files, _ = md.find_music_files([data])
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        built = md.build_midi_data(files, cfg, {"tokenizer": tok}, cache_dir=tmp / "cache")
        times.append(time.perf_counter() - t0)
    return times[0], times[1], built.summary


def prepare_model(args, tmp: Path) -> tuple[Path, Path]:
    """A GPT-2 + MidiTok folder, and a data folder of chorales."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from studio.data import midi as md

    data = tmp / "data"
    data.mkdir()
    for p in chorale_files():
        shutil.copy(p, data / p.name)
    tok = md.new_tokenizer("remi")
    md.train_bpe(tok, [md.read_score(p) for p in chorale_files()], 1000)
    torch.manual_seed(args.seed)
    model_dir = tmp / "model"
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=args.block, n_embd=args.n_embd,
                               n_layer=args.n_layer, n_head=args.n_head, bos_token_id=1,
                               eos_token_id=2)).save_pretrained(model_dir)
    md.save_tokenizer(tok, model_dir)
    return model_dir, data


def engine_config(args, model_dir: Path, data: Path, tmp: Path):
    from studio.config import config_from_dict

    return config_from_dict({
        "run": {"name": "bench-midi", "runs_dir": str(tmp / "runs"), "family": "midi"},
        "model": {"source": str(model_dir)},
        "data": {"paths": [str(data)], "block_size": args.block, "val_fraction": 0.0,
                 "midi_tracks": "all"},
        "train": {"optimizer": "adamw", "lr": args.lr, "weight_decay": 0.0, "beta1": 0.9,
                  "beta2": 0.999, "eps": 1e-8, "schedule": "cosine",
                  "warmup_steps": args.lr_warmup, "min_lr_ratio": 0.0,
                  "batch_size": args.batch, "grad_accum": 1, "grad_clip": 1.0,
                  "max_steps": args.steps, "seed": args.seed, "device": args.device,
                  "precision": args.precision, "log_every": args.log_every},
        "eval": {"every": 0, "keep_best": False},
        # the step-0 and final samples (one bar, no free piece) fall outside the window
        "sample": {"every": 0, "midi_bars": 1, "midi_free": 0, "midi_primer_bars": 0},
        "checkpoint": {"every": 0, "keep_last": 1},
    }, tmp)


def run_engine(s: eo.Setup, marks: eo.Marks, cfg) -> eo.Result:
    from studio.core import events as ev
    from studio.engine import run

    class Sink:
        last = float("nan")

        def emit(self, e: object) -> None:
            if isinstance(e, ev.StepLogged):
                marks.hit(e.step)
                Sink.last = e.loss

    res = run(cfg, Sink())
    shutil.rmtree(res.run_dir, ignore_errors=True)
    return eo.result("engine", s, marks, Sink.last)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5, help="steps left out of the timing")
    p.add_argument("--repeats", type=int, default=8, help="0: only the tokenizing timing")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--block", type=int, default=128)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--lr-warmup", type=int, default=5)
    p.add_argument("--log-every", type=int, default=5,
                   help="the engine logs (and is timed) every N steps: --warmup must be a multiple")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--files", type=int, default=1000, help="files to tokenize (0: skip)")
    args = p.parse_args(argv)

    import torch
    torch.set_num_threads(max(1, torch.get_num_threads()))
    from studio.models.base import get_family

    tmp = Path(tempfile.mkdtemp(prefix="bench-midi-"))
    try:
        model_dir, data = prepare_model(args, tmp)
        cfg = engine_config(args, model_dir, data, tmp)
        fam = get_family("midi")
        loaded = fam.load(str(model_dir), "cpu")
        blocks = fam.datasets(loaded, cfg).train      # the engine's own MIDI token blocks
        del loaded
        s = eo.Setup(args=args, tmp=tmp, model_dir=model_dir, text_path=data, blocks=blocks,
                     n_params=0, n_params_flops=0, n_layer=args.n_layer, n_embd=args.n_embd,
                     tokenizer_from="MidiTok REMI+BPE", text_note=str(data))
        print(f"{len(blocks)} blocks of {args.block} MIDI tokens; {args.steps} steps x "
              f"{s.tokens_per_step} tokens, timed after step {args.warmup}")
        rates: dict[str, list[float]] = {"engine": [], "plain": []}
        pairs: list[float] = []   # engine / plain of each repeat (two runs side by side)
        if not args.repeats:
            print("--repeats 0: throughput skipped")
        with open(tmp / "plain.log", "w") as log:
            for r in range(args.repeats):
                order = ("engine", "plain") if r % 2 == 0 else ("plain", "engine")
                for who in order:
                    marks = eo.Marks(args.warmup, args.steps, args.device)
                    res = (run_engine(s, marks, cfg) if who == "engine"
                           else eo.run_plain(s, marks, log))
                    rates[who].append(res.tokens_per_s)
                    print(f"  repeat {r + 1} {who:<6} {res.tokens_per_s:,.0f} tok/s "
                          f"(final loss {res.final_loss:.3f})", flush=True)
                pairs.append(rates["engine"][-1] / rates["plain"][-1])
        if args.repeats:
            eng, plain = statistics.median(rates["engine"]), statistics.median(rates["plain"])
            ratio = statistics.median(pairs)
            print(f"engine {eng:,.0f} tok/s, plain loop {plain:,.0f} tok/s (medians); "
                  f"engine/plain per repeat: median {ratio:.3f}x, range {min(pairs):.3f}-"
                  f"{max(pairs):.3f} over {len(pairs)} repeats "
                  f"(target >= {TARGET}x: {'met' if ratio >= TARGET else 'NOT met'})")
        if args.files:
            first, second, summary = time_tokenizing(tmp, args.files)
            print(f"tokenizing {args.files} files: {first:.1f} s; again (cache): "
                  f"{second:.1f} s\n  {summary}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
