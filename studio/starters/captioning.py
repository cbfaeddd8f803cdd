"""Tiny BLIP image captioner pre-trained on generated captioned shapes.

Builds ``resources/starters/captioning``: a ``BlipForConditionalGeneration`` (a small ViT
vision encoder and a small BERT-style text decoder with cross-attention) and a
``BlipProcessor`` whose tokenizer is a WordPiece vocabulary made of the shapes captions'
words (lower case and capitalised) plus every letter and digit as a word start and a
continuation, so any caption can be spelled, if slowly. It is pre-trained on
``studio.data.shapes`` (flat shapes on coloured backgrounds: "a red circle on a blue
background") and scored on held-out shapes with BLEU-4 and CIDEr-D (pycocoevalcap).

BLIP rather than a VisionEncoderDecoderModel: transformers 5 routes the image-to-text
pipeline to image-text-to-text, which needs a processor that turns ``text=""`` into
``input_ids``; BlipProcessor does, so ``pipeline("image-to-text", model=folder)(image,
text="")`` loads and runs the starter.

    nice -n 5 python -m studio.starters build captioning   # about 15-20 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import string
import time
from pathlib import Path

from studio.core.paths import starters_dir

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
PUNCTUATION = list(".,:;!?'\"-()/&")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=starters_dir() / "captioning")
    p.add_argument("--train-images", type=int, default=6000)
    p.add_argument("--val-images", type=int, default=200)
    p.add_argument("--image-size", type=int, default=48)
    p.add_argument("--patch", type=int, default=8)
    p.add_argument("--width", type=int, default=80, help="hidden size of both towers")
    p.add_argument("--vision-layers", type=int, default=2)
    p.add_argument("--text-layers", type=int, default=3)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="1 is fastest on a shared machine (more threads spin-wait)")
    p.add_argument("--minutes", type=float, default=30.0,
                   help="stop pre-training after this long, whatever --steps says")


def vocabulary() -> list[str]:
    from studio.data.shapes import vocabulary as shape_words

    words = shape_words()
    chars = list(string.ascii_letters + string.digits)
    vocab = SPECIALS + PUNCTUATION + chars + ["##" + c for c in chars]
    extra = [w for w in words + [w.capitalize() for w in words]
             + ["Ground", "ground", "Plain", "plain", "Centre", "centre"] if w not in vocab]
    return vocab + sorted(set(extra))


def make_processor(out: Path, image_size: int):
    from transformers import BertTokenizerFast, BlipImageProcessor, BlipProcessor

    out.mkdir(parents=True, exist_ok=True)
    vocab_file = out / "vocab.txt"
    vocab_file.write_text("\n".join(vocabulary()) + "\n", encoding="utf-8")
    tok = BertTokenizerFast(str(vocab_file), do_lower_case=False, bos_token="[DEC]",
                            model_max_length=40)
    vocab_file.unlink()  # tokenizer.json holds it
    ip = BlipImageProcessor(size={"height": image_size, "width": image_size})
    return BlipProcessor(image_processor=ip, tokenizer=tok)


def make_model(args: argparse.Namespace, tok):
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration

    torch.manual_seed(args.seed)
    w = args.width
    cfg = BlipConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=w, encoder_hidden_size=w,
                         intermediate_size=2 * w, num_hidden_layers=args.text_layers,
                         num_attention_heads=4, max_position_embeddings=40,
                         bos_token_id=tok.convert_tokens_to_ids("[DEC]"),
                         pad_token_id=tok.pad_token_id, sep_token_id=tok.sep_token_id,
                         eos_token_id=tok.sep_token_id),
        vision_config=dict(image_size=args.image_size, patch_size=args.patch, hidden_size=w,
                           intermediate_size=2 * w, num_hidden_layers=args.vision_layers,
                           num_attention_heads=4),
        projection_dim=w)
    return BlipForConditionalGeneration(cfg)


def score(cap, images, captions, bs: int = 50) -> tuple[dict, list[str]]:
    import torch

    from studio.models.caption_metrics import caption_scores

    out = []
    for i in range(0, len(images), bs):
        x = torch.stack(images[i:i + bs]).float() / 255.0
        out += cap.caption(cap.normalise(x), 24)
    return caption_scores(out, captions), out


def build(args: argparse.Namespace) -> dict:
    import numpy as np
    import torch

    from studio.data.shapes import generate
    from studio.models.captioning import Captioner

    torch.set_num_threads(args.threads)
    t0 = time.time()
    tmp = args.out.with_name(args.out.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    proc = make_processor(tmp, args.image_size)
    model = make_model(args, proc.tokenizer)
    cap = Captioner("blip", model, proc.tokenizer, proc.image_processor, proc)

    def tensors(samples):
        return [torch.from_numpy(np.asarray(s.image.convert("RGB"), dtype=np.uint8).copy())
                .permute(2, 0, 1) for s in samples]

    train = generate(args.train_images, args.image_size, seed=args.seed)
    val = generate(args.val_images, args.image_size, seed=args.seed + 1000)
    train_x, val_x = tensors(train), tensors(val)
    train_tok = [cap.caption_ids(s.caption)[0] for s in train]
    val_caps = [s.caption for s in val]
    before, _ = score(cap, val_x, val_caps)
    print(f"before: {before}", flush=True)

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    g = torch.Generator().manual_seed(args.seed)
    model.train()
    step, losses = 0, []
    deadline = t0 + args.minutes * 60
    while step < args.steps and time.time() < deadline:
        # cosine over the run's length: steps, or the time budget when that ends first
        # (a shared machine's speed varies), so the rate always anneals before the end
        done = max(step / args.steps, (time.time() - t0) / (deadline - t0))
        lr = args.lr * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * done))
        for grp in opt.param_groups:
            grp["lr"] = lr
        idx = torch.randint(0, len(train_x), (args.batch_size,), generator=g).tolist()
        x = torch.stack([train_x[i] for i in idx]).float() / 255.0
        ids, mask, labels = cap.pad([train_tok[i] for i in idx])
        from studio.models.captioning import CaptionBatch

        loss = cap.loss(model, CaptionBatch(cap.normalise(x), ids, mask, labels))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if step % 100 == 0:
            print(f"step {step}  loss {sum(losses[-100:]) / 100:.3f}  "
                  f"{time.time() - t0:.0f} s", flush=True)
    after, generated = score(cap, val_x, val_caps)
    exact = sum(g_ == r for g_, r in zip(generated, val_caps)) / len(val_caps)
    print(f"after {step} steps: {after}, exact {exact:.2f}", flush=True)
    model.save_pretrained(tmp)
    proc.save_pretrained(tmp)
    info = {"steps": step, "threads": args.threads, "batch_size": args.batch_size, "lr": args.lr,
            "train_images": args.train_images, "val_images": args.val_images,
            "image_size": args.image_size, "params": sum(p.numel() for p in model.parameters()),
            "minutes": round((time.time() - t0) / 60, 1), "loss_last_100": round(
                sum(losses[-100:]) / max(1, len(losses[-100:])), 4),
            "before": before, "after": after, "exact_match": exact,
            "examples": [{"reference": r, "generated": g_} for r, g_ in
                         zip(val_caps[:8], generated[:8])],
            "argv": getattr(args, "argv", [])}
    (tmp / "STARTER.md").write_text(starter_card(info), encoding="utf-8")
    (tmp / "starter_info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(args.out, ignore_errors=True)
    tmp.rename(args.out)
    return info


def starter_card(info: dict) -> str:
    examples = "\n".join(f"| {e['reference']} | {e['generated']} |" for e in info["examples"])
    b, a = info["before"], info["after"]
    return f"""# starter:captioning — a tiny BLIP captioner pre-trained on generated shapes

The built-in captioning model of Fine-Tuning Studio: a transformers
`BlipForConditionalGeneration` ({info['params']:,} parameters: a ViT vision encoder and a
BERT-style text decoder with cross-attention, {info['image_size']}x{info['image_size']}
pixel input) with a `BlipProcessor`, so the studio can fine-tune and auto-caption offline.
It describes flat shapes on coloured backgrounds ("a red circle on a blue background") and
nothing else: a demo and a starting point, not a product. For real photographs pick a hub
model (`Salesforce/blip-image-captioning-base`).

```python
from transformers import pipeline
captioner = pipeline("image-to-text", model="resources/starters/captioning")
captioner(image, text="")   # transformers 5: the task is image-text-to-text; text="" = no prompt
```

## Data and licence

Pre-trained on {info['train_images']} images from `studio.data.shapes` (generated by this
repository: a shape of one of 8 colours and 4 kinds, 3 sizes, 9 positions, on a plain,
striped or dotted background of another colour; the caption names what differs from
medium, centred, plain). The weights are the project's own work, under the project's
licence. No outside data.

## Training

{info['steps']} AdamW steps of batch {info['batch_size']}, peak rate {info['lr']}, cosine,
{info['minutes']} minutes on a shared 2-core CPU ({info.get('threads', 1)} torch thread); mean loss of the last 100 steps
{info['loss_last_100']} (cross-entropy per caption token, no label smoothing).

## Measured (held-out shapes, greedy decoding)

{info['val_images']} images of another seed, scored with pycocoevalcap (BLEU-4 in [0, 1],
CIDEr-D in [0, 10]):

| | BLEU-4 | CIDEr-D | exact captions |
|---|---|---|---|
| untrained (same architecture) | {b['BLEU-4']:.3f} | {b['CIDEr-D']:.3f} | 0 |
| this starter | {a['BLEU-4']:.3f} | {a['CIDEr-D']:.3f} | {info['exact_match']:.0%} |

| true caption | starter's caption |
|---|---|
{examples}

Limits: it names the colours and the background reliably; where it errs is the shape's
position (left / right / top / bottom swapped or dropped) and, for small shapes, the kind
(a small star read as a circle): 48-pixel input and 8-pixel patches leave little detail.

Rebuild: `python -m studio.starters build captioning` (numbers in `starter_info.json`).
"""


def label_caption(sample) -> str:
    """The demo's house style, terse museum labels: "Circle, red. Ground: blue." (what
    differs from medium, centred and plain is said, as in the shapes captions)."""
    parts = [f"{sample.shape.capitalize()}, {sample.colour}."]
    if sample.size != "medium":
        parts.append(f"{sample.size.capitalize()}.")
    if sample.position != "centre":
        parts.append(f"{sample.position.capitalize()}.")
    ground = sample.background + (f", {sample.pattern}" if sample.pattern != "plain" else "")
    parts.append(f"Ground: {ground}.")
    return " ".join(parts)


def write_demo(folder: Path, n: int = 36, size: int = 48, seed: int = 7) -> list[Path]:
    """The demo project's folder (resources/demo/labels): shapes images with label-style
    captions, drawn from another seed than the starter's pre-training."""
    from studio.data.shapes import generate

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, sample in enumerate(generate(n, size, seed)):
        path = folder / f"label_{i:02d}.png"
        sample.image.save(path)
        path.with_suffix(".txt").write_text(label_caption(sample) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def main(args: argparse.Namespace) -> int:
    info = build(args)
    print(f"saved {args.out}: BLEU-4 {info['after']['BLEU-4']:.3f}, "
          f"CIDEr-D {info['after']['CIDEr-D']:.3f}")
    return 0
