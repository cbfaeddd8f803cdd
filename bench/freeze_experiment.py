"""Specialisation versus forgetting, measured: the text starter fine-tuned on the sonnets
three ways at the same budget (full, lower half frozen, gradual unfreezing), with sonnet
validation perplexity and Austen (reference) perplexity before and after each.

    .venv/bin/python bench/freeze_experiment.py [--steps 100]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from studio.config import load_config  # noqa: E402
from studio.engine import run  # noqa: E402
from studio.engine.restore import load_run_model  # noqa: E402
from studio.models.base import get_family  # noqa: E402

DEMO = ROOT / "resources" / "demo" / "sonnets.toml"


def reference_blocks(tok, block: int, chars: int) -> torch.Tensor:
    """Held-out Austen: the last 5% of the text the starter was pre-trained on (never seen)."""
    path = ROOT.parent / "shared" / "data" / "text" / "austen.txt"
    text = path.read_text(encoding="utf-8")
    tail = text[int(len(text) * 0.95):][:chars]
    ids = tok(tail, add_special_tokens=False, verbose=False)["input_ids"]
    n = len(ids) // block
    return torch.tensor(ids[:n * block]).view(n, block)


@torch.no_grad()
def ppl(model, blocks: torch.Tensor, bs: int = 16) -> float:
    model.eval()
    total, n = 0.0, 0
    for i in range(0, len(blocks), bs):
        b = blocks[i:i + bs]
        total += float(model(input_ids=b, labels=b).loss) * len(b)
        n += len(b)
    return math.exp(total / n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--ref-chars", type=int, default=40_000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    runs_dir = Path(tempfile.mkdtemp(prefix="studio-freeze-exp-"))
    every = max(1, args.steps // 6)
    plans = {
        "full": [],
        "lower half frozen": ["freeze.preset=lower_half_frozen"],
        "gradual unfreezing": ["freeze.preset=gradual", f"freeze.gradual_every={every}"],
    }
    common = [f'run.runs_dir="{runs_dir}"', f"train.max_steps={args.steps}",
              "eval.every=0", "sample.every=0", "checkpoint.every=0", 'train.device="cpu"',
              "eval.keep_best=false"]
    fam = get_family("text")
    base = fam.load("starter:text", "cpu")
    cfg0 = load_config(DEMO, common)
    data = fam.datasets(base, cfg0, resolve=lambda p: Path(cfg0.base_dir) / p)
    ref = reference_blocks(base.extras["tokenizer"], cfg0.data.block_size, args.ref_chars)
    son0, aus0 = ppl(base.model, data.val), ppl(base.model, ref)
    print(f"starter before fine-tuning: sonnets {son0:.1f}, Austen (reference) {aus0:.1f}")
    rows = []
    for name, extra in plans.items():
        res = run(load_config(DEMO, common + extra), None)
        model = load_run_model(res.run_dir, "latest").loaded.model
        rows.append((name, ppl(model, data.val), ppl(model, ref)))
        print(f"  {name}: done", flush=True)
    print(f"\n{args.steps} steps each, batch 8 x {cfg0.data.block_size} tokens, lr "
          f"{cfg0.train.lr:g}, same seed and data")
    print(f"{'plan':<22} {'sonnet ppl':>11} {'Austen ppl':>11} {'Austen drift':>13}")
    print(f"{'(starter)':<22} {son0:>11.1f} {aus0:>11.1f} {'':>13}")
    for name, s, a in rows:
        print(f"{name:<22} {s:>11.1f} {a:>11.1f} {100 * (a / aus0 - 1):>+12.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
