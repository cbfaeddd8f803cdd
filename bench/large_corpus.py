#!/usr/bin/env python
"""Large corpora: peak memory and time to the first training step, cold and cached.

Writes one ~100 MB ``corpus.txt`` into a temp folder (the paragraphs of
``../shared/data/text/*.txt``, shuffled with a seed and repeated until the size is
reached), then runs each stage in a fresh child process, which reports its own peak
resident memory (``VmHWM`` of /proc/self/status, else ``ru_maxrss``) and times:

  scan     ``studio.data.scan.scan_file`` of the corpus (what the dataset pane does)
  cold     the starter model loaded, the corpus read, tokenized into an empty token cache
           and packed (``build_text_splits(..., cache=TokenCache(...))``, the text family's
           data path with the cache), then one AdamW step on a batch of blocks
  cached   the same again: the token cache now holds the corpus
  app      (``--app``) what ``studio train`` does: the text family's own ``datasets()``
           (its token cache in an empty ``$XDG_CACHE_HOME``), then one step
  app2     (``--app``) the same again: the second run of the same corpus

Time to first step counts from the child's start (imports included) to the end of the
first optimizer step. Ratios are cached / cold. Nothing is asserted (timing is not a test).

    python bench/large_corpus.py                  # ~100 MB; a few minutes on 2 CPU cores
    python bench/large_corpus.py --mb 5 --app     # small, with the family's own path
    python bench/large_corpus.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

T0 = time.perf_counter()
ROOT = Path(__file__).resolve().parent.parent
SHARED_TEXT = ROOT.parent / "shared" / "data" / "text"


def peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_corpus(folder: Path, megabytes: float, seed: int = 0) -> Path:
    sources = sorted(SHARED_TEXT.glob("*.txt")) or sorted((ROOT / "resources").rglob("*.txt"))
    paragraphs = [p for f in sources for p in f.read_text(encoding="utf-8").split("\n\n")
                  if p.strip()]
    rng = random.Random(seed)
    path = folder / "corpus.txt"
    size = 0
    with open(path, "w", encoding="utf-8") as f:
        while size < megabytes * 1e6:
            rng.shuffle(paragraphs)
            for p in paragraphs:
                f.write(p + "\n\n")
                size += len(p.encode()) + 2
                if size >= megabytes * 1e6:
                    break
    return path


# -- the child stages -------------------------------------------------------------------

def child_scan(corpus: str) -> dict:
    from studio.data.scan import scan_file

    item = scan_file(corpus)
    return {"tokens_estimate": item.tokens, "problem": item.problem}


def _first_step(loaded, data_train, batch: int) -> float:
    import torch

    from studio.models.text import TextFamily

    model = loaded.model
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    idx = torch.randperm(len(data_train), generator=torch.Generator().manual_seed(0))[:batch]
    loss = TextFamily().loss(loaded, data_train[idx])
    loss.backward()
    opt.step()
    return float(loss)


def child_train(corpus: str, cache_root: str, path: str, block: int, batch: int) -> dict:
    import torch

    from studio.config.schema import RunConfig
    from studio.models.text import TextFamily

    torch.set_num_threads(1)
    family = TextFamily()
    loaded = family.load("starter:text")
    t_model = time.perf_counter() - T0
    if path in ("app", "app2"):
        cfg = RunConfig()
        cfg = replace(cfg, data=replace(cfg.data, paths=(corpus,), block_size=block))
        data = family.datasets(loaded, cfg)
        train, n_val = data.train, data.n_val
    else:
        from studio.data.text import build_text_splits, collect_files, read_text_corpus
        from studio.data.tokens import TokenCache, tokenizer_fingerprint

        tok = loaded.extras["tokenizer"]
        files, _ = collect_files([corpus])
        text = read_text_corpus(files)

        def encode(s: str) -> list[int]:
            return tok(s, add_special_tokens=False, verbose=False)["input_ids"]

        cache = TokenCache(cache_root, tokenizer=tokenizer_fingerprint(tok))
        splits = build_text_splits(text, encode, tok.eos_token_id, block, 0.1, 0, cache=cache)
        train, n_val = torch.from_numpy(splits.train), len(splits.val)
    t_data = time.perf_counter() - T0 - t_model
    loss = _first_step(loaded, train, batch)
    return {"model_s": t_model, "data_s": t_data, "train_blocks": len(train),
            "val_blocks": n_val, "loss": loss}


def child(args) -> None:
    if args.child == "scan":
        out = child_scan(args.corpus)
    else:
        out = child_train(args.corpus, args.cache, args.child, args.block, args.batch)
    out["first_step_s"] = time.perf_counter() - T0
    out["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(out))


# -- the parent ---------------------------------------------------------------------------

def run_stage(stage: str, corpus: Path, cache: Path, args) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "true",
           "XDG_CACHE_HOME": str(cache.parent / "xdg-cache"),  # the app's own cache, empty
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, __file__, "--child", stage, "--corpus", str(corpus),
           "--cache", str(cache), "--block", str(args.block), "--batch", str(args.batch)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout)[-2000:]
        return {"stage": stage, "error": f"exit {proc.returncode}: {tail}", "wall_s": wall}
    return {"stage": stage, "wall_s": wall, **json.loads(lines[-1][len("RESULT "):])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=100.0, help="corpus size in MB (100)")
    ap.add_argument("--block", type=int, default=128, help="data.block_size (128)")
    ap.add_argument("--batch", type=int, default=8, help="blocks in the first step (8)")
    ap.add_argument("--app", action="store_true", help="also the family's own datasets()")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    ap.add_argument("--cache", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory(prefix="large-corpus-") as tmp:
        corpus = make_corpus(Path(tmp), args.mb)
        size = corpus.stat().st_size
        print(f"corpus: {size / 1e6:.1f} MB in {corpus}", flush=True)
        cache = Path(tmp) / "token-cache"
        stages = ["scan", "cold", "cached"] + (["app", "app2"] if args.app else [])
        results = {}
        for stage in stages:
            r = run_stage(stage, corpus, cache, args)
            results[stage] = r
            print(json.dumps(r), flush=True)
        cache_mb = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) / 1e6
    print()
    print(f"{'':14}" + "".join(f"{s:>11}" for s in stages) + f"{'cached/cold':>13}")
    for key, label in (("peak_rss_mb", "peak RSS, MB"), ("data_s", "data, s"),
                       ("first_step_s", "first step, s")):
        row = [results[s].get(key) for s in stages]
        cells = "".join(f"{v:>11.1f}" if isinstance(v, (int, float)) else f"{'-':>11}"
                        for v in row)
        cold, cached = results["cold"].get(key), results["cached"].get(key)
        ratio = f"{cached / cold:>12.2f}x" if cold and cached else f"{'-':>13}"
        print(f"{label:<14}{cells}{ratio}")
    print(f"token cache on disk: {cache_mb:.0f} MB")
    cold, cached = results["cold"], results["cached"]
    if "peak_rss_mb" in cold and "first_step_s" in cached:
        print(f"targets: peak <= 2048 MB: {max(cold['peak_rss_mb'], cached['peak_rss_mb']) <= 2048};"
              f" second run's first step <= 30 s: {cached['first_step_s'] <= 30}")
    if args.json:
        Path(args.json).write_text(json.dumps({"corpus_bytes": size, "results": results,
                                               "cache_mb": cache_mb}, indent=1))


if __name__ == "__main__":
    main()
