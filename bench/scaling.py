"""Data-parallel scaling: tokens/s of the same run with 1 process, N with DDP and N with FSDP.

    .venv/bin/python bench/scaling.py [--nproc 2] [--steps 30] [--repeats 2]

Each contender is a real `studio train --nproc K` (torchrun; DDP or FSDP by train.parallel;
gloo on the CPU, NCCL on GPUs) on the starter-sized GPT-2 with the same global batch,
interleaved repeat by repeat. Throughput is read from the
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
    contenders = [("1 process", 1, "ddp"), (f"{args.nproc} DDP", args.nproc, "ddp"),
                  (f"{args.nproc} FSDP", args.nproc, "fsdp")]
    results: dict[str, list[float]] = {c[0]: [] for c in contenders}
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1" if args.device == "cpu" else os.environ.get("OMP_NUM_THREADS", "4")}
    for rep in range(args.repeats):
        for label, k, parallel in (contenders if rep % 2 == 0 else contenders[::-1]):
            runs = root / f"runs-{k}-{parallel}-{rep}"
            cfg = root / f"cfg-{k}-{parallel}-{rep}.toml"
            cfg.write_text(dumps_toml({
                "run": {"name": f"scale{k}", "runs_dir": str(runs)},
                "model": {"source": str(model)},
                "data": {"paths": [str(text)], "block_size": args.block, "val_fraction": 0.01},
                "train": {"max_steps": args.steps, "batch_size": args.global_batch // k,
                          "device": args.device, "lr": 3e-4, "parallel": parallel},
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
            results[label].append(statistics.median(tps))
            print(f"repeat {rep}: {label}: {results[label][-1]:,.0f} tok/s", flush=True)
    one = statistics.median(results["1 process"])
    print(f"\n{'contender':>12} {'tok/s (median)':>16} {'vs 1 process':>13}")
    for label, _, _ in contenders:
        med = statistics.median(results[label])
        print(f"{label:>12} {med:>16,.0f} {med / one:>12.2f}x")
    print(f"(ideal {args.nproc:.0f}x; device {args.device}, global batch {args.global_batch}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
