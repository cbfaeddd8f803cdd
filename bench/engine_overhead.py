#!/usr/bin/env python
"""Engine overhead: the studio engine against a plain PyTorch loop and transformers Trainer.

All three contenders train the SAME model (a GPT-2 built from a config with a fixed seed,
saved with ``save_pretrained`` into a temp folder and loaded by each contender), on the same
packed token blocks (austen.txt tokenised with the model's tokenizer, packed by the studio's
own text pipeline), with the same batch, block size, AdamW settings, warm-up + cosine
schedule, gradient clipping, precision and number of steps:

  engine   ``studio.engine.run`` with a RunConfig: no validation split (so no evaluation),
           interval sampling and checkpoints off (its step-0 / final sample and final
           checkpoint fall outside the timed window), ``log_every`` = the plain loop's
           print interval.
  plain    a nanoGPT-style loop: get_lr, get_batch, forward under autocast, backward,
           clip, step, ``loss.item()`` + print every ``log_every`` steps.
  trainer  ``transformers.Trainer``: no evaluation, no saving, ``report_to="none"``,
           ``dataloader_num_workers=0``, ``logging_steps`` = ``log_every``.

Tokens/s are measured over the steps after ``--warmup`` steps (model loading, data
preparation and the first steps are excluded): at the end of step ``warmup`` and of the
last step each contender takes a timestamp (after ``torch.cuda.synchronize()`` on CUDA):
the engine in an event sink on its StepLogged events, the plain loop in the loop, the
Trainer in a callback's ``on_step_end``. Repeats are interleaved (and the order rotated
each repeat) because the machine is shared and noisy; the table reports medians.

    python bench/engine_overhead.py                          # CPU, the "small" model
    python bench/engine_overhead.py --size gpt2-small --device cuda --precision bf16

Targets (the issue): engine >= 0.97x the plain loop and >= 1.0x Trainer.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_TEXT = ROOT.parent / "shared" / "data" / "text" / "austen.txt"
# Where austen.txt may also be (a lent GPU machine gets the checkout only), then a
# shipped public-domain text as the last resort.
FALLBACK_TEXTS = (ROOT / "shared" / "data" / "text" / "austen.txt",
                  ROOT / "resources" / "demo" / "sonnets.txt")

TARGET_VS_PLAIN = 0.97
TARGET_VS_TRAINER = 1.0

# Model shapes and the defaults that go with them. "vocab" is the BPE vocabulary built
# when there is no shipped starter tokenizer; "model_vocab" (gpt2-small) pads the
# embedding to GPT-2's 50257 rows so the compute is the real 124M model's.
SIZES = {
    "tiny": dict(n_layer=2, n_head=2, n_embd=64, vocab=512, batch=4, block=64, steps=12,
                 warmup=2, min_chars=50_000),
    "small": dict(n_layer=4, n_head=4, n_embd=128, vocab=4096, batch=8, block=64, steps=24,
                  warmup=4, min_chars=200_000),
    "gpt2-small": dict(n_layer=12, n_head=12, n_embd=768, vocab=4096, model_vocab=50257,
                       batch=16, block=1024, steps=100, warmup=10, min_chars=200_000),
}

# Peak dense bf16 tensor-core FLOP/s, by a piece of torch.cuda.get_device_name().
# Checked in order: the first match wins.
PEAK_BF16 = (
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),          # SXM (e.g. "NVIDIA H100 80GB HBM3")
    ("H800", 989e12),
    ("GH200", 989e12),
    ("A100", 312e12),
    ("A800", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
    ("A10G", 70e12),
    ("A10", 125e12),
)

SYNCS = {
    "engine": "every log_every steps: float(loss) + float(grad_norm) (GPU->CPU syncs), a "
              "metrics.jsonl line, the step kept in memory (a heartbeat thread writes status.json every 2 s); timestamps from a sink on "
              "StepLogged",
    "plain": "every log_every steps: loss.item() (a sync) + one printed line (to a log "
             "file); timestamps in the loop",
    "trainer": "every step: isnan/isinf test of the loss (logging_nan_inf_filter, a sync); "
               "every logging_steps: loss + grad-norm .item() + one printed dict (to a log "
               "file); timestamps from a callback's on_step_end",
}

CONTENDERS = ("engine", "plain", "trainer")


# -- set-up: one model, one tokenizer, one set of blocks --------------------------------


@dataclass
class Setup:
    args: argparse.Namespace
    tmp: Path
    model_dir: Path
    text_path: Path
    blocks: object            # torch.LongTensor [n_blocks, block]
    n_params: int             # all parameters (tied embedding counted once)
    n_params_flops: int       # without the position embedding (nanoGPT's count)
    n_layer: int
    n_embd: int
    tokenizer_from: str
    text_note: str

    @property
    def tokens_per_step(self) -> int:
        return self.args.batch * self.args.block


def pick_text(path: Path | None) -> tuple[Path, str]:
    if path is not None:
        if not path.is_file():
            sys.exit(f"--text {path}: no such file")
        return path, str(path)
    for p in (DEFAULT_TEXT, *FALLBACK_TEXTS):
        if p.is_file():
            note = str(p) if p == DEFAULT_TEXT else f"{p} (austen.txt not found at {DEFAULT_TEXT})"
            return p, note
    sys.exit(f"no text to train on: {DEFAULT_TEXT} is missing; pass --text FILE")


def build_tokenizer(text: str, vocab: int):
    """The shipped starter tokenizer if there is one, else a byte-level BPE trained here."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    from studio.core.paths import starters_dir

    starter = starters_dir() / "text"
    if (starter / "tokenizer.json").is_file() or (starter / "tokenizer_config.json").is_file():
        tok = AutoTokenizer.from_pretrained(starter)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        return tok, f"shipped starter tokenizer ({starter}, {len(tok)} tokens)"
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator([text[:1_000_000]], trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>",
                                  eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    return tok, f"byte-level BPE trained here on the text ({len(tok)} tokens)"


def prepare(args: argparse.Namespace, tmp: Path) -> Setup:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from studio.config import config_from_dict
    from studio.models.base import Loaded, get_family

    shape = SIZES[args.size]
    src, text_note = pick_text(args.text)
    full = src.read_text(encoding="utf-8")
    # Every step must get a full batch of fresh blocks: no epoch may end inside the run,
    # because the engine's and Trainer's last batch of an epoch is a short one. So the text
    # is cut to what the run needs (each engine run tokenises it again, outside the timed
    # window but on the clock) or, when the file is too short, repeated.
    need_blocks = args.steps * args.batch
    chars = max(shape["min_chars"], int(4.5 * need_blocks * args.block))
    tok, tok_note = build_tokenizer(full[:chars], shape["vocab"])
    torch.manual_seed(args.seed)
    cfg = GPT2Config(vocab_size=shape.get("model_vocab", len(tok)),
                     n_positions=max(args.block, 64 if args.size == "tiny" else 256),
                     n_embd=shape["n_embd"], n_layer=shape["n_layer"], n_head=shape["n_head"],
                     bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)
    model = GPT2LMHeadModel(cfg)
    model_dir = tmp / "model"
    model.save_pretrained(model_dir)
    tok.save_pretrained(model_dir)

    data_dir = tmp / "data"
    data_dir.mkdir()
    text_path = data_dir / src.name
    # The blocks the engine will build for itself, made by the same code for the others.
    run_cfg = config_from_dict(engine_config_dict(args, model_dir, text_path, tmp), tmp)
    for _ in range(5):
        text_path.write_text((full * (chars // len(full) + 1))[:chars], encoding="utf-8")
        data = get_family("text").datasets(Loaded(model=model, extras={"tokenizer": tok}),
                                           run_cfg)
        if len(data.train) >= need_blocks:
            break
        chars = int(chars * 1.1 * need_blocks / max(1, len(data.train)))
    else:
        sys.exit(f"could not make {need_blocks} blocks of {args.block} tokens from {src}")
    if chars < len(full):
        text_note += f", first {chars:,} of {len(full):,} characters"
    elif chars > len(full):
        text_note += f", repeated to {chars:,} characters ({chars / len(full):.1f}x)"
    n_params = sum(p.numel() for p in model.parameters())
    n_pos = model.transformer.wpe.weight.numel()
    return Setup(args=args, tmp=tmp, model_dir=model_dir, text_path=text_path,
                 blocks=data.train, n_params=n_params, n_params_flops=n_params - n_pos,
                 n_layer=cfg.n_layer, n_embd=cfg.n_embd, tokenizer_from=tok_note,
                 text_note=text_note)


# -- timing -----------------------------------------------------------------------------


def _sync(device: str) -> None:
    if device == "cuda":
        import torch
        torch.cuda.synchronize()


@dataclass
class Marks:
    """Timestamps at the end of step ``start`` and of step ``end`` (after a device sync)."""

    start: int
    end: int
    device: str
    t: dict = field(default_factory=dict)

    cpu: dict = field(default_factory=dict)

    def hit(self, step: int) -> None:
        if step in (self.start, self.end) and step not in self.t:
            _sync(self.device)
            self.t[step] = time.perf_counter()
            self.cpu[step] = time.process_time()

    def seconds(self) -> float:
        if self.start not in self.t or self.end not in self.t:
            raise RuntimeError(f"timing marks missing: got steps {sorted(self.t)}, "
                               f"wanted {self.start} and {self.end}")
        return self.t[self.end] - self.t[self.start]

    def cpu_seconds(self) -> float:
        """CPU time of this process (all its threads) over the window: on a shared CPU it
        moves much less than wall time when other processes take the cores, but it leaves
        out waiting (an fsync, a GPU)."""
        self.seconds()
        return self.cpu[self.end] - self.cpu[self.start]


@dataclass
class Result:
    contender: str
    tokens_per_s: float
    seconds: float
    timed_steps: int
    final_loss: float
    extra: dict = field(default_factory=dict)
    tokens_per_cpu_s: float = float("nan")


def result(contender: str, s: "Setup", marks: Marks, final_loss: float, **extra) -> Result:
    tokens = (marks.end - marks.start) * s.tokens_per_step
    seconds, cpu = marks.seconds(), marks.cpu_seconds()
    return Result(contender, tokens / seconds, seconds, marks.end - marks.start, final_loss,
                  extra, tokens / cpu if cpu > 0 else float("nan"))


def lr_at(step: int, args: argparse.Namespace) -> float:
    """nanoGPT's get_lr with the engine's shape: linear warm-up, then cosine to 0."""
    warm, total = args.lr_warmup, args.steps
    if step < warm:
        return args.lr * (step + 1) / (warm + 1)
    progress = min(1.0, (step - warm) / max(1, total - warm))
    return args.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


# -- (a) the studio engine --------------------------------------------------------------


def engine_config_dict(args: argparse.Namespace, model_dir: Path, text_path: Path,
                       tmp: Path) -> dict:
    return {
        "run": {"name": "bench-engine", "runs_dir": str(tmp / "runs"), "family": "text"},
        "model": {"source": str(model_dir)},
        # no validation split: the engine then never evaluates
        "data": {"paths": [str(text_path)], "block_size": args.block, "val_fraction": 0.0},
        "train": {"optimizer": "adamw", "lr": args.lr, "weight_decay": 0.0, "beta1": 0.9,
                  "beta2": 0.999, "eps": 1e-8, "schedule": "cosine",
                  "warmup_steps": args.lr_warmup, "min_lr_ratio": 0.0,
                  "batch_size": args.batch, "grad_accum": 1, "grad_clip": 1.0,
                  "max_steps": args.steps, "seed": args.seed, "device": args.device,
                  "precision": args.precision, "log_every": args.log_every},
        "eval": {"every": 0, "keep_best": False},
        # interval sampling off; the step-0 and final samples (1 token) are outside the window
        "sample": {"every": 0, "prompts": ["The"], "max_new_tokens": 1},
        # interval checkpoints off; the final one is written after the last timed step
        "checkpoint": {"every": 0, "keep_last": 1},
    }


def run_engine(s: Setup, marks: Marks, log) -> Result:
    from studio.config import config_from_dict
    from studio.core import events as ev
    from studio.engine import run

    args = s.args
    cfg = config_from_dict(engine_config_dict(args, s.model_dir, s.text_path, s.tmp), s.tmp)

    class TimingSink:
        def __init__(self) -> None:
            self.logged: list = []

        def emit(self, e: object) -> None:
            if isinstance(e, ev.StepLogged):
                marks.hit(e.step)
                self.logged.append(e)

    sink = TimingSink()
    res = run(cfg, sink)
    if res.state != "completed":
        raise RuntimeError(f"engine run ended {res.state}")
    shutil.rmtree(res.run_dir, ignore_errors=True)  # its final checkpoint, GBs at 124M
    timed = marks.end - marks.start
    # The engine's own throughput figure over the same steps, for comparison: it times
    # from after one log's bookkeeping to the next log, so it leaves out the sink, the
    # metrics line and the status write.
    window = [e for e in sink.logged if e.step > marks.start]
    own_s = sum(args.log_every * s.tokens_per_step / e.throughput for e in window
                if e.throughput > 0)
    own = (timed * s.tokens_per_step / own_s) if own_s > 0 else float("nan")
    return result("engine", s, marks, sink.logged[-1].loss,
                  engine_reported_tokens_per_s=own)


# -- (b) a plain PyTorch loop, nanoGPT-style ------------------------------------------------


def run_plain(s: Setup, marks: Marks, log) -> Result:
    import torch
    from transformers import AutoModelForCausalLM

    args = s.args
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    model = AutoModelForCausalLM.from_pretrained(s.model_dir, dtype=torch.float32).to(device)
    model.train()
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.0},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    ctx = (torch.autocast(device_type=device.type, dtype=torch.bfloat16)
           if args.precision == "bf16" else contextlib.nullcontext())
    blocks = s.blocks
    per_epoch = len(blocks) // args.batch or 1
    gen = torch.Generator().manual_seed(args.seed)
    perm = torch.randperm(len(blocks), generator=gen)

    def get_batch(it: int):
        nonlocal perm
        pos = it % per_epoch
        if pos == 0 and it > 0:
            perm = torch.randperm(len(blocks), generator=gen)
        x = blocks[perm[pos * args.batch:(pos + 1) * args.batch]]
        if device.type == "cuda":
            return x.pin_memory().to(device, non_blocking=True)
        return x.to(device)

    lossf = float("nan")
    for it in range(args.steps):
        lr = lr_at(it, args)
        for g in optimizer.param_groups:
            g["lr"] = lr
        x = get_batch(it)
        with ctx:
            loss = model(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step = it + 1
        if step % args.log_every == 0 or step == args.steps:
            lossf = loss.item()  # a CPU-GPU sync point
            print(f"iter {step}: loss {lossf:.4f}, lr {lr:.3e}", file=log, flush=True)
        marks.hit(step)
    del model, optimizer
    return result("plain", s, marks, lossf)


# -- (c) transformers Trainer -----------------------------------------------------------


def run_trainer(s: Setup, marks: Marks, log) -> Result:
    import torch
    from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

    args = s.args
    blocks = s.blocks

    class Blocks(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(blocks)

        def __getitem__(self, i: int) -> dict:
            return {"input_ids": blocks[i], "labels": blocks[i]}

    class Mark(TrainerCallback):
        def on_step_end(self, targs, state, control, **kw):
            marks.hit(state.global_step)

    torch.manual_seed(args.seed)
    model = AutoModelForCausalLM.from_pretrained(s.model_dir, dtype=torch.float32)
    targs = TrainingArguments(
        output_dir=str(s.tmp / "trainer"), per_device_train_batch_size=args.batch,
        gradient_accumulation_steps=1, max_steps=args.steps, learning_rate=args.lr,
        weight_decay=0.0, adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8,
        max_grad_norm=1.0, lr_scheduler_type="cosine", warmup_steps=args.lr_warmup,
        optim=args.trainer_optim, logging_strategy="steps", logging_steps=args.log_every,
        eval_strategy="no", save_strategy="no", report_to="none",
        dataloader_num_workers=0, bf16=args.precision == "bf16",
        use_cpu=args.device == "cpu", seed=args.seed, disable_tqdm=True)
    trainer = Trainer(model=model, args=targs, train_dataset=Blocks(), callbacks=[Mark()])
    with contextlib.redirect_stdout(log):  # Trainer prints its log dicts
        out = trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    optim_cls = type(trainer.optimizer.optimizer if hasattr(trainer.optimizer, "optimizer")
                     else trainer.optimizer).__name__
    del trainer, model
    return result("trainer", s, marks, losses[-1] if losses else out.training_loss,
                  optimizer=f"{args.trainer_optim} ({optim_cls})")


RUNNERS = {"engine": run_engine, "plain": run_plain, "trainer": run_trainer}


# -- report -----------------------------------------------------------------------------


def peak_flops(args: argparse.Namespace) -> tuple[float | None, str]:
    if args.peak_tflops:
        return args.peak_tflops * 1e12, f"{args.peak_tflops:g} TFLOP/s (--peak-tflops)"
    import torch
    name = torch.cuda.get_device_name()
    for key, peak in PEAK_BF16:
        if key in name:
            return peak, f"{peak / 1e12:g} TFLOP/s dense bf16 ({name})"
    return None, f"unknown for {name!r}: pass --peak-tflops"


def flops_per_token(s: Setup) -> float:
    """nanoGPT's estimate: 6 N (forward + backward of the weights) + 12 L d T (attention)."""
    return 6 * s.n_params_flops + 12 * s.n_layer * s.n_embd * s.args.block


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def report(s: Setup, results: dict[str, list[Result]], order_log: list[list[str]],
           device_name: str) -> dict:
    args = s.args
    on_cpu = args.device == "cpu"
    med = {c: statistics.median(r.tokens_per_s for r in results[c]) for c in CONTENDERS}
    med_cpu = {c: statistics.median(r.tokens_per_cpu_s for r in results[c]) for c in CONTENDERS}
    ratio_plain = med["engine"] / med["plain"]
    ratio_trainer = med["engine"] / med["trainer"]
    # the same ratios repeat by repeat (the three runs of a repeat are seconds apart)
    paired_plain = statistics.median(e.tokens_per_s / p.tokens_per_s
                                     for e, p in zip(results["engine"], results["plain"]))
    paired_trainer = statistics.median(e.tokens_per_s / t.tokens_per_s
                                       for e, t in zip(results["engine"], results["trainer"]))
    mfu = {}
    peak_note = ""
    if not on_cpu:
        peak, peak_note = peak_flops(args)
        if peak:
            mfu = {c: flops_per_token(s) * med[c] / peak for c in CONTENDERS}

    print()
    print(f"device: {device_name}; precision {args.precision}; model {args.size} "
          f"({s.n_params / 1e6:.2f}M parameters); batch {args.batch} x block {args.block} = "
          f"{s.tokens_per_step} tokens/step; {args.steps} steps, timed after step "
          f"{args.warmup} ({args.steps - args.warmup} steps); log_every {args.log_every}; "
          f"{args.repeats} interleaved repeat(s), order rotated each repeat")
    print(f"data: {s.text_note}; {len(s.blocks)} blocks; tokenizer: {s.tokenizer_from}")
    print("what each contender syncs / writes:")
    for c in CONTENDERS:
        print(f"  {c:8s} {SYNCS[c]}")
    trainer_opt = results["trainer"][0].extra.get("optimizer", "")
    print(f"  optimizers: engine and plain torch.optim.AdamW (torch's default implementation); "
          f"trainer {trainer_opt}")
    print()
    head = f"{'contender':10s} {'tokens/s (median)':>18s}"
    if on_cpu:
        head += f" {'tokens/CPU-s':>13s}"
    if mfu:
        head += f" {'MFU':>6s}"
    print(head + "  tokens/s per repeat")
    for c in CONTENDERS:
        line = f"{c:10s} {fmt_rate(med[c]):>18s}"
        if on_cpu:
            line += f" {fmt_rate(med_cpu[c]):>13s}"
        if mfu:
            line += f" {100 * mfu[c]:5.1f}%"
        print(line + "  " + ", ".join(fmt_rate(r.tokens_per_s) for r in results[c]))
    own = [r.extra["engine_reported_tokens_per_s"] for r in results["engine"]]
    print(f"(tokens/s from wall-clock timestamps; the engine's own StepLogged.throughput over "
          f"the same steps, median {fmt_rate(statistics.median(own))} tokens/s, leaves out "
          f"its per-log bookkeeping)")
    if on_cpu:
        print("(tokens/CPU-s: tokens per second of this process's CPU time; steadier than "
              "wall time on a shared machine, but blind to waiting such as an fsync)")
    if mfu:
        print(f"MFU = (6 x {s.n_params_flops / 1e6:.1f}M non-position parameters + 12 x "
              f"layers x width x block) x tokens/s / peak {peak_note}")
    elif not on_cpu:
        print(f"MFU: peak {peak_note}")
    print()
    ok_p = ratio_plain >= TARGET_VS_PLAIN
    ok_t = ratio_trainer >= TARGET_VS_TRAINER
    print(f"engine/plain   = {ratio_plain:.3f}x  (target >= {TARGET_VS_PLAIN}x: "
          f"{'met' if ok_p else 'NOT met'}; repeat-by-repeat median {paired_plain:.3f}x"
          + (f"; by CPU time {med_cpu['engine'] / med_cpu['plain']:.3f}x" if on_cpu else "")
          + ")")
    print(f"engine/Trainer = {ratio_trainer:.3f}x  (target >= {TARGET_VS_TRAINER}x: "
          f"{'met' if ok_t else 'NOT met'}; repeat-by-repeat median {paired_trainer:.3f}x"
          + (f"; by CPU time {med_cpu['engine'] / med_cpu['trainer']:.3f}x" if on_cpu else "")
          + ")")
    print("final losses (last repeat): " + ", ".join(f"{c} {results[c][-1].final_loss:.3f}"
                                                     for c in CONTENDERS))

    return {
        "device": device_name, "size": args.size, "precision": args.precision,
        "batch": args.batch, "block": args.block, "steps": args.steps,
        "warmup": args.warmup, "log_every": args.log_every, "repeats": args.repeats,
        "lr": args.lr, "lr_warmup": args.lr_warmup, "trainer_optim": args.trainer_optim,
        "threads": args.threads, "params": s.n_params, "tokens_per_step": s.tokens_per_step,
        "data": s.text_note, "tokenizer": s.tokenizer_from, "order": order_log,
        "syncs": SYNCS,
        "tokens_per_s": {c: [r.tokens_per_s for r in results[c]] for c in CONTENDERS},
        "tokens_per_cpu_s": {c: [r.tokens_per_cpu_s for r in results[c]] for c in CONTENDERS},
        "median_tokens_per_s": med,
        "median_tokens_per_cpu_s": med_cpu,
        "engine_reported_tokens_per_s": own,
        "ratios": {"engine/plain": ratio_plain, "engine/trainer": ratio_trainer,
                   "engine/plain_paired": paired_plain,
                   "engine/trainer_paired": paired_trainer,
                   "engine/plain_cpu_time": med_cpu["engine"] / med_cpu["plain"],
                   "engine/trainer_cpu_time": med_cpu["engine"] / med_cpu["trainer"]},
        "targets": {"engine/plain": TARGET_VS_PLAIN, "engine/trainer": TARGET_VS_TRAINER},
        "targets_met": {"engine/plain": ok_p, "engine/trainer": ok_t},
        "mfu": mfu, "peak": peak_note,
        "final_loss": {c: [r.final_loss for r in results[c]] for c in CONTENDERS},
        "python": platform.python_version(),
    }


# -- main -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="fp32, or bf16 autocast over fp32 weights (all three contenders)")
    p.add_argument("--size", choices=tuple(SIZES), default="small",
                   help="tiny (smoke test), small (CPU default, ~1.3M parameters), "
                        "gpt2-small (the 124M GPT-2 config, for a GPU)")
    p.add_argument("--steps", type=int, help="optimizer steps per run (default by size)")
    p.add_argument("--warmup", type=int,
                   help="steps left out of the timing at the start (default by size)")
    p.add_argument("--batch", type=int, help="examples per step (default by size)")
    p.add_argument("--block", type=int, help="tokens per example (default by size)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats")
    p.add_argument("--log-every", type=int, default=1,
                   help="engine log_every = plain loop print interval = Trainer logging_steps")
    p.add_argument("--lr", type=float, default=3e-4, help="peak learning rate")
    p.add_argument("--lr-warmup", type=int, default=2, help="learning-rate warm-up steps")
    p.add_argument("--trainer-optim", default="adamw_torch",
                   help="TrainingArguments.optim; adamw_torch is the same torch AdamW the "
                        "engine and the plain loop use (Trainer's own default on torch>=2.8 "
                        "is adamw_torch_fused)")
    p.add_argument("--threads", type=int,
                   help="torch CPU threads (default: 1 with --device cpu, because on a "
                        "shared machine two OpenMP threads stall whenever another process "
                        "holds a core; torch's own default with --device cuda); 0 = torch's "
                        "default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--text", type=Path, help=f"text to train on (default {DEFAULT_TEXT})")
    p.add_argument("--peak-tflops", type=float,
                   help="peak dense bf16 TFLOP/s of the GPU for MFU (default: by its name)")
    p.add_argument("--json", type=Path, metavar="OUT", help="write the results as JSON here")
    args = p.parse_args(argv)
    shape = SIZES[args.size]
    for key in ("steps", "warmup", "batch", "block"):
        if getattr(args, key) is None:
            setattr(args, key, shape[key])
    if args.steps < 2:
        p.error("--steps must be at least 2 (one warm-up step, one timed)")
    if args.repeats < 1 or args.batch < 1 or args.block < 8 or args.log_every < 1:
        p.error("--repeats, --batch and --log-every must be at least 1, --block at least 8")
    # the timed window starts at a logged step (the engine's sink sees only those)
    warm = min(args.warmup, args.steps - 1)
    warm -= warm % args.log_every
    if warm <= 0 or args.steps % args.log_every:
        p.error("--warmup and --steps must leave a timed window between two logged steps: "
                "use --steps a multiple of --log-every and --warmup >= --log-every")
    args.warmup = warm
    args.lr_warmup = min(args.lr_warmup, args.steps - 1)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if args.threads is None:
        args.threads = 1 if args.device == "cpu" else 0
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("--device cuda: no CUDA GPU is visible")
        device_name = torch.cuda.get_device_name()
        if args.precision == "bf16" and not torch.cuda.is_bf16_supported():
            sys.exit("--precision bf16: this GPU does not support bf16")
    else:
        device_name = f"cpu ({platform.processor() or platform.machine()}, " \
                      f"{torch.get_num_threads()} torch threads)"
    contenders = list(CONTENDERS)

    with tempfile.TemporaryDirectory(prefix="bench-engine-") as td:
        tmp = Path(td)
        t0 = time.perf_counter()
        s = prepare(args, tmp)
        print(f"prepared {args.size} model ({s.n_params / 1e6:.2f}M parameters) and "
              f"{len(s.blocks)} blocks of {args.block} tokens in {time.perf_counter() - t0:.1f} s",
              flush=True)
        results: dict[str, list[Result]] = {c: [] for c in contenders}
        order_log = []
        with open(tmp / "contenders.log", "w", encoding="utf-8") as log:
            for rep in range(args.repeats):
                # interleave, and rotate the order so no contender always goes first
                order = contenders[rep % 3:] + contenders[:rep % 3]
                order_log.append(order)
                for c in order:
                    marks = Marks(args.warmup, args.steps, args.device)
                    gc.collect()
                    if args.device == "cuda":
                        torch.cuda.empty_cache()
                    t1 = time.perf_counter()
                    r = RUNNERS[c](s, marks, log)
                    results[c].append(r)
                    print(f"repeat {rep + 1}/{args.repeats} {c:8s} {fmt_rate(r.tokens_per_s):>12s}"
                          f" tokens/s  ({r.timed_steps} steps in {r.seconds:.2f} s; whole run "
                          f"{time.perf_counter() - t1:.1f} s)", flush=True)
        out = report(s, results, order_log, device_name)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1, default=str), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
