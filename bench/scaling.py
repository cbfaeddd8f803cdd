"""Data-parallel scaling: tokens/s of the same run with 1 and N processes, side by side.

    .venv/bin/python bench/scaling.py [--nproc 2] [--steps 30] [--repeats 2]

Each contender is a real `studio train --nproc K` (torchrun + DDP: gloo on the CPU, NCCL
on GPUs) on the starter-sized GPT-2 with the same global batch. Throughput is read from the
run's metrics (StepLogged, after the first 5 steps). On a GPU machine run it with
`train.device=cuda` (one process per GPU):

    .venv/bin/python bench/scaling.py --nproc 8 --device cuda --size gpt2-small
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.config import dumps_toml  # noqa: E402
from studio.runs import list_runs, read_metrics  # noqa: E402


def make_model(root: Path, size: str) -> Path:
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    out = root / f"model-{size}"
    if (out / "config.json").exists():
        return out
    tok = AutoTokenizer.from_pretrained(ROOT / "resources/starters/text")
    shape = {"small": dict(n_layer=4, n_head=4, n_embd=192),
             "gpt2-small": dict(n_layer=12, n_head=12, n_embd=768)}[size]
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=256, **shape,
                               resid_pdrop=0, embd_pdrop=0, attn_pdrop=0)).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--global-batch", type=int, default=16)
    ap.add_argument("--block", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", default="small", choices=("small", "gpt2-small"))
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="studio-scaling-"))
    model = make_model(root, args.size)
    text = ROOT.parent / "shared/data/text/austen.txt"
    if not text.exists():
        text = ROOT / "resources/demo/sonnets.txt"
    results: dict[int, list[float]] = {1: [], args.nproc: []}
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1" if args.device == "cpu" else os.environ.get("OMP_NUM_THREADS", "4")}
    for rep in range(args.repeats):
        for k in ([1, args.nproc] if rep % 2 == 0 else [args.nproc, 1]):
            runs = root / f"runs-{k}-{rep}"
            cfg = root / f"cfg-{k}-{rep}.toml"
            cfg.write_text(dumps_toml({
                "run": {"name": f"scale{k}", "runs_dir": str(runs)},
                "model": {"source": str(model)},
                "data": {"paths": [str(text)], "block_size": args.block, "val_fraction": 0.01},
                "train": {"max_steps": args.steps, "batch_size": args.global_batch // k,
                          "device": args.device, "lr": 3e-4},
                "eval": {"every": 0}, "sample": {"every": 0, "max_new_tokens": 1},
                "checkpoint": {"every": 0},
            }), encoding="utf-8")
            r = subprocess.run([sys.executable, "-m", "studio", "train", str(cfg), "--quiet",
                                "--nproc", str(k)], cwd=ROOT, env=env, capture_output=True,
                               text=True)
            if r.returncode != 0:
                print(r.stderr[-2000:], file=sys.stderr)
                return 1
            (info,) = list_runs(runs)
            tps = [m["throughput"] for m in read_metrics(info.path)
                   if m.get("event") == "StepLogged" and m["step"] > 5]
            results[k].append(statistics.median(tps))
            print(f"repeat {rep}: {k} process(es): {results[k][-1]:,.0f} tok/s", flush=True)
    one, many = statistics.median(results[1]), statistics.median(results[args.nproc])
    print(f"\n{'processes':>10} {'tok/s (median)':>16}")
    print(f"{1:>10} {one:>16,.0f}\n{args.nproc:>10} {many:>16,.0f}")
    print(f"speed-up {many / one:.2f}x with {args.nproc} processes "
          f"(ideal {args.nproc:.0f}x; device {args.device}, global batch {args.global_batch})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
