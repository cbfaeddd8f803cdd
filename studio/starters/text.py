"""Pre-train the tiny GPT-2 text starter (own byte-level BPE tokenizer) on English prose.

The recipe, top to bottom:

1. read the text; the last ``--val-fraction`` of it (by characters) is held out;
2. train a byte-level BPE tokenizer (the ``tokenizers`` library, GPT-2 style) on the rest;
3. build ``GPT2LMHeadModel(GPT2Config(...))`` from a seed and measure its validation
   perplexity untrained (about the vocabulary size: it guesses uniformly);
4. train it with AdamW, linear warm-up then cosine decay, on random 128-token windows;
5. measure validation perplexity again and save model, tokenizer, generation config,
   ``starter_info.json`` and ``STARTER.md`` into the output folder (written next to it
   and swapped in at the end, so a failed build never leaves a half-written starter).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import shlex
import shutil
import time
from pathlib import Path

import tokenizers
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from studio.core.errors import StudioError
from studio.core.paths import PROJECT_ROOT, starters_dir

# The project's shared test data (Jane Austen's novels, public domain), beside the repo.
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "text" / "austen.txt"
EOS = "<|endoftext|>"  # GPT-2's one special token: beginning, end, padding and unknown
# Dropout written into the saved config. Pre-training itself runs without dropout (a tiny
# model that sees each token a few times underfits rather than overfits), but the people
# who fine-tune the starter do so on small files, where 0.1 (GPT-2's value) helps.
FINETUNE_DROPOUT = 0.1


# -- command line --------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="UTF-8 text to pre-train on")
    p.add_argument("--out", type=Path, default=starters_dir() / "text",
                   help="folder to write the starter into (replaced if it exists)")
    p.add_argument("--steps", type=int, default=1000, help="optimizer steps")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and data order")
    p.add_argument("--batch-size", type=int, default=16, help="windows per step")
    p.add_argument("--block-size", type=int, default=128, help="tokens per window")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    p.add_argument("--warmup", type=int, default=50, help="linear warm-up steps")
    p.add_argument("--min-lr-ratio", type=float, default=0.1,
                   help="final learning rate as a fraction of --lr")
    p.add_argument("--weight-decay", type=float, default=0.1,
                   help="AdamW weight decay on matrices (not biases, norms, embeddings)")
    p.add_argument("--val-fraction", type=float, default=0.05,
                   help="share of the text, from its end, held out for validation")
    p.add_argument("--vocab-size", type=int, default=4096,
                   help="BPE vocabulary size (at least 257: 256 bytes + the special token)")
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=192)
    p.add_argument("--n-positions", type=int, default=256, help="longest context")
    p.add_argument("--eval-every", type=int, default=250,
                   help="print validation perplexity every N steps (0: only at the end)")
    p.add_argument("--sample-tokens", type=int, default=60,
                   help="tokens per sample in STARTER.md (0: no samples)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")


def main(args: argparse.Namespace) -> int:
    info = build(args)
    print(f"saved {info['out']}: {info['parameters']:,} parameters, "
          f"{info['size_bytes'] / 1e6:.1f} MB, validation perplexity "
          f"{info['val_perplexity']:.1f} (untrained {info['untrained_val_perplexity']:.1f}), "
          f"built in {info['build_seconds'] / 60:.1f} min")
    return 0


# -- pieces --------------------------------------------------------------------------

def train_tokenizer(text: str, vocab_size: int) -> PreTrainedTokenizerFast:
    """A GPT-2 style byte-level BPE: every string encodes (no unknown tokens) and decodes
    back to itself exactly."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOS], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # all 256 bytes, always
    chunk = 100_000
    tok.train_from_iterator((text[i:i + chunk] for i in range(0, len(text), chunk)),
                            trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=EOS,
        clean_up_tokenization_spaces=False)


def make_config(args: argparse.Namespace, vocab_size: int, eos_id: int) -> GPT2Config:
    return GPT2Config(
        vocab_size=vocab_size, n_positions=args.n_positions, n_embd=args.n_embd,
        n_layer=args.n_layer, n_head=args.n_head, tie_word_embeddings=True,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=eos_id)


def lr_at(step: int, args: argparse.Namespace) -> float:
    """Linear warm-up to ``args.lr``, then cosine decay to ``lr * min_lr_ratio``."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return args.lr * (args.min_lr_ratio + (1.0 - args.min_lr_ratio) * cosine)


@torch.no_grad()
def perplexity(model, ids: torch.Tensor, block_size: int, batch_size: int = 32) -> float:
    """exp(mean next-token loss) over consecutive, non-overlapping windows of ``ids``."""
    was_training = model.training
    model.eval()
    n_blocks = (len(ids) - 1) // block_size
    if n_blocks == 0:
        raise StudioError("the validation text is shorter than one block",
                          "use more text or a larger --val-fraction")
    total_loss, total_tokens = 0.0, 0
    for start in range(0, n_blocks, batch_size):
        rows = range(start, min(start + batch_size, n_blocks))
        x = torch.stack([ids[r * block_size:(r + 1) * block_size] for r in rows])
        y = torch.stack([ids[r * block_size + 1:(r + 1) * block_size + 1] for r in rows])
        logits = model(input_ids=x).logits
        total_loss += torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum").item()
        total_tokens += y.numel()
    model.train(was_training)
    return math.exp(total_loss / total_tokens)


def random_batch(ids: torch.Tensor, batch_size: int, block_size: int,
                 gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of the training stream, and the same shifted by one."""
    starts = torch.randint(0, len(ids) - block_size - 1, (batch_size,), generator=gen)
    x = torch.stack([ids[s:s + block_size] for s in starts.tolist()])
    y = torch.stack([ids[s + 1:s + block_size + 1] for s in starts.tolist()])
    return x, y


def make_optimizer(model, args: argparse.Namespace) -> torch.optim.AdamW:
    # Decay the weight matrices only; biases, layer norms and the (tied) embeddings are
    # left alone, as in GPT-2 / nanoGPT.
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and "wte" not in name and "wpe" not in name
         else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": args.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95))


def sample_text(model, tokenizer, prompt: str, seed: int, max_new_tokens: int) -> str:
    torch.manual_seed(seed)
    ids = tokenizer(prompt, return_tensors="pt")
    out = model.generate(**ids, do_sample=True, top_k=40, temperature=0.8,
                         max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0], skip_special_tokens=True)


def folder_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


# -- the build -----------------------------------------------------------------------

def build(args: argparse.Namespace) -> dict:
    started = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.vocab_size < 257:
        raise StudioError(f"--vocab-size {args.vocab_size} is too small",
                          "it must be at least 257 (256 bytes + the special token)")
    if args.block_size > args.n_positions:
        raise StudioError(f"--block-size {args.block_size} exceeds --n-positions "
                          f"{args.n_positions}", "lower --block-size")
    try:
        raw = args.data.read_bytes()
        text = raw.decode("utf-8-sig").replace("\r\n", "\n")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise StudioError(f"{args.data}: cannot be read ({why})",
                          "pass --data PATH to a UTF-8 text file") from None
    cut = int(len(text) * (1.0 - args.val_fraction))
    train_text, val_text = text[:cut], text[cut:]
    print(f"data: {args.data} ({len(text):,} characters; {len(train_text):,} train, "
          f"{len(val_text):,} validation)", flush=True)

    tokenizer = train_tokenizer(train_text, args.vocab_size)
    eos_id = tokenizer.convert_tokens_to_ids(EOS)
    train_ids = torch.tensor(tokenizer(train_text)["input_ids"], dtype=torch.long)
    val_ids = torch.tensor(tokenizer(val_text)["input_ids"], dtype=torch.long)
    if len(train_ids) <= args.block_size + 1:
        raise StudioError("the training text is shorter than one block", "use more text")
    print(f"tokenizer: {len(tokenizer):,} tokens; {len(train_ids):,} train and "
          f"{len(val_ids):,} validation tokens "
          f"({len(train_text) / len(train_ids):.2f} characters per token)", flush=True)

    config = make_config(args, len(tokenizer), eos_id)
    model = GPT2LMHeadModel(config)
    n_params = sum(p.numel() for p in model.parameters())  # tied: the embedding counts once
    untrained_ppl = perplexity(model, val_ids, args.block_size)
    print(f"model: GPT-2 {args.n_layer} layers x {args.n_embd} wide, {n_params:,} parameters; "
          f"untrained validation perplexity {untrained_ppl:.1f}", flush=True)

    optimizer = make_optimizer(model, args)
    gen = torch.Generator().manual_seed(args.seed)
    model.train()
    train_started = time.time()
    history = []
    for step in range(args.steps):
        lr = lr_at(step, args)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = random_batch(train_ids, args.batch_size, args.block_size, gen)
        logits = model(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)),
                                                 y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        done = step + 1
        if done % 50 == 0 or done == args.steps:
            elapsed = time.time() - train_started
            print(f"step {done:5d}/{args.steps}  loss {loss.item():.3f}  lr {lr:.2e}  "
                  f"{elapsed / done:.2f} s/step", flush=True)
        if args.eval_every and done % args.eval_every == 0 and done != args.steps:
            ppl = perplexity(model, val_ids, args.block_size)
            history.append({"step": done, "val_perplexity": round(ppl, 2)})
            print(f"step {done:5d}  validation perplexity {ppl:.1f}", flush=True)
    train_seconds = time.time() - train_started

    val_ppl = perplexity(model, val_ids, args.block_size)
    history.append({"step": args.steps, "val_perplexity": round(val_ppl, 2)})
    print(f"trained {args.steps} steps in {train_seconds / 60:.1f} min; validation "
          f"perplexity {val_ppl:.1f} (untrained {untrained_ppl:.1f})", flush=True)

    model.eval()
    prompts = ["It is a truth universally acknowledged", "Shall I compare thee", "My dear"]
    samples = {p: sample_text(model, tokenizer, p, args.seed, args.sample_tokens)
               for p in prompts} if args.sample_tokens > 0 else {}
    for p, s in samples.items():
        print(f"--- sample ({p!r}):\n{s}\n", flush=True)

    # -- save: next to the target, then swap in ---------------------------------------
    out = args.out.resolve()
    tmp = out.with_name(out.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for key in ("resid_pdrop", "embd_pdrop", "attn_pdrop"):
        setattr(model.config, key, FINETUNE_DROPOUT)
    model.generation_config = GenerationConfig(
        bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=eos_id)
    model.save_pretrained(tmp)  # safetensors, float32, the tied embedding stored once
    tokenizer.model_max_length = args.n_positions
    tokenizer.save_pretrained(tmp)

    info = {
        "name": "starter:text",
        "architecture": "GPT2LMHeadModel",
        "parameters": n_params,
        "shape": {"n_layer": args.n_layer, "n_head": args.n_head, "n_embd": args.n_embd,
                  "n_positions": args.n_positions, "vocab_size": len(tokenizer),
                  "tie_word_embeddings": True},
        "data": {"file": args.data.name, "sha256": hashlib.sha256(raw).hexdigest(),
                 "characters": len(text), "train_characters": len(train_text),
                 "validation_characters": len(val_text), "train_tokens": len(train_ids),
                 "validation_tokens": len(val_ids), "validation": f"last "
                 f"{args.val_fraction:.0%} of the text by characters"},
        "training": {"steps": args.steps, "batch_size": args.batch_size,
                     "block_size": args.block_size, "tokens_seen":
                     args.steps * args.batch_size * args.block_size, "lr": args.lr,
                     "warmup_steps": args.warmup, "min_lr_ratio": args.min_lr_ratio,
                     "weight_decay": args.weight_decay, "optimizer": "AdamW(0.9, 0.95)",
                     "schedule": "linear warm-up, cosine decay", "grad_clip": 1.0,
                     "seed": args.seed, "threads": args.threads,
                     "train_seconds": round(train_seconds, 1)},
        "val_perplexity": round(val_ppl, 2),
        "untrained_val_perplexity": round(untrained_ppl, 2),
        "val_history": history,
        "samples": samples,
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__,
                     "tokenizers": tokenizers.__version__},
        "command": "python -m studio.starters " + shlex.join(getattr(args, "argv", [])),
    }
    info["build_seconds"] = round(time.time() - started, 1)
    (tmp / "STARTER.md").write_text(starter_card(info), encoding="utf-8")
    (tmp / "starter_info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    info["size_bytes"] = folder_size(tmp)

    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    info["out"] = str(out)
    return info


def starter_card(info: dict) -> str:
    s, d, t = info["shape"], info["data"], info["training"]
    samples = "\n\n".join(f"Prompt *{p}*:\n\n```text\n{text}\n```"
                          for p, text in info["samples"].items())
    samples = samples or "(none: built with --sample-tokens 0)"
    command = info["command"]
    return f"""# starter:text — a tiny GPT-2 pre-trained on Jane Austen

The built-in text model of Fine-Tuning Studio: a small `GPT2LMHeadModel` with its own
byte-level BPE tokenizer, so the studio can fine-tune something offline, out of the box.
It writes English-looking prose in a 19th-century style and little more: a demo, not a
product. For real work pick a hub model (gpt2, SmolLM2, Qwen2.5-0.5B) instead.

Load it like any Hugging Face folder:

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained("resources/starters/text")
tokenizer = AutoTokenizer.from_pretrained("resources/starters/text")
```

## Data and licence

- Pre-trained on `{d['file']}`: Jane Austen's novels, {d['characters']:,} characters of
  general English prose (Project Gutenberg texts, **public domain**); sha256
  `{d['sha256'][:16]}…`.
- The tokenizer and the weights were trained by this repository's script from that text
  alone, so the starter is free of third-party licence terms beyond the project's own.
- Validation: the {d['validation']} ({d['validation_characters']:,} characters,
  {d['validation_tokens']:,} tokens), never seen by the tokenizer or the model in training.

## Shape

| | |
|---|---|
| architecture | GPT-2 (`GPT2LMHeadModel`), tied input/output embeddings |
| layers × heads × width | {s['n_layer']} × {s['n_head']} × {s['n_embd']} |
| context | {s['n_positions']} tokens (trained on {t['block_size']}-token windows) |
| vocabulary | {s['vocab_size']:,} byte-level BPE tokens; `<|endoftext|>` is bos, eos, pad and unk |
| parameters | {info['parameters']:,} (float32, safetensors) |
| dropout in the config | {FINETUNE_DROPOUT} (for fine-tuning on small files; pre-training used none) |

## Training

{t['steps']:,} AdamW steps of {t['batch_size']} random {t['block_size']}-token windows
({t['tokens_seen']:,} tokens, about {t['tokens_seen'] / d['train_tokens']:.1f} passes over
{d['train_tokens']:,} training tokens), peak learning rate {t['lr']:g} after
{t['warmup_steps']} warm-up steps, cosine decay to {t['min_lr_ratio']:g}× of it, weight decay
{t['weight_decay']:g} on matrices, gradient clipping at {t['grad_clip']:g}, seed {t['seed']}.
Trained on {t['threads']} CPU threads in {t['train_seconds'] / 60:.1f} minutes
({info['build_seconds'] / 60:.1f} minutes for the whole build).

## Measured

| validation perplexity (held-out Austen) | |
|---|---|
| untrained model of the same shape and seed | {info['untrained_val_perplexity']:,.1f} |
| this starter | **{info['val_perplexity']:,.1f}** |

## Samples (temperature 0.8, top-k 40)

{samples}

## Rebuild

```sh
{command}
```

Versions: torch {info['versions']['torch']}, transformers {info['versions']['transformers']},
tokenizers {info['versions']['tokenizers']}. All numbers above are also in
`starter_info.json`.
"""
