"""Audio fine-tuning throughput: clips/s, and what the codec-codes cache saves.

Trains a MusicGen (the shipped starter, or a tiny one built from configs with
``--model tiny``) through the real engine (``studio.engine.run``) for two epochs over a
folder of music, three times:

  cold   an empty codes cache: epoch 1 runs the codec on every clip (once, lazily, as each
         clip is first used); epoch 2 reads the codes the first epoch stored
  warm   the same again with the cache from the cold run on disk: epoch 1 reads it too
  aug    as warm but with augmentation on every clip (gain + time shift): an augmented
         clip's codes cannot be cached, so every epoch runs the codec (the upper bound)

and prints, per run, the seconds and clips/s of epoch 1 and epoch 2 (from the engine's
own StepLogged events) and the speed-up epoch 2 / epoch 1 side by side. Evaluation,
samples and interval checkpoints are off; everything else is the engine's normal path.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/audio_throughput.py            # starter, shared music
    .venv/bin/python bench/audio_throughput.py --model tiny --files 6      # quick
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.config import dumps_toml, load_config  # noqa: E402
from studio.core import events as ev  # noqa: E402
from studio.engine import run  # noqa: E402

MUSIC = ROOT.parent / "shared" / "data" / "audio" / "music"


class EpochClock:
    """Seconds from the first step to the first step of epoch 2, and from there to the end
    (the engine's elapsed_s, which leaves out pauses)."""

    def __init__(self) -> None:
        self.steps: list[ev.StepLogged] = []

    def emit(self, event: object) -> None:
        if isinstance(event, ev.StepLogged):
            self.steps.append(event)

    def epochs(self, n_train: int, batch: int) -> list[tuple[float, float]]:
        """[(seconds, clips/s)] for epoch 1 and epoch 2."""
        first = self.steps[0]
        t0 = first.elapsed_s - batch / max(1e-9, first.throughput)  # after step-0 samples
        out = []
        for e in (1.0, 2.0):
            last = [s for s in self.steps if s.epoch <= e + 1e-9]
            end = last[-1].elapsed_s
            out.append((end - t0, n_train / max(1e-9, end - t0)))
            t0 = end
        return out


def prepare_data(args, tmp: Path) -> Path:
    if args.model == "tiny" and not args.data:
        from tests.tinymodels import write_audio_dataset
        return write_audio_dataset(tmp / "clips", n=max(2, args.files), seconds=2.0)
    src = Path(args.data or MUSIC)
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in (".flac", ".wav"))
    files = [f for f in files if f.name.startswith(("loop_", "ambi_", "bass_"))][:args.files]
    dest = tmp / "music"
    dest.mkdir()
    for f in files:
        shutil.copy(f, dest / f.name)
    return dest


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="starter:audio",
                   help='"starter:audio", a MusicGen folder, or "tiny" (built from configs)')
    p.add_argument("--data", default="", help="folder of music (default: shared Sonic Pi)")
    p.add_argument("--files", type=int, default=12, help="files taken from the folder")
    p.add_argument("--clip-seconds", type=float, default=2.0)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default="")
    args = p.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="audio-bench-"))
    source = args.model
    if args.model == "tiny":
        from tests.tinymodels import make_tiny_musicgen
        source = str(make_tiny_musicgen(tmp / "tiny-musicgen"))
    data = prepare_data(args, tmp)
    cache = tmp / "codes"
    results = {}
    for name, aug in (("cold", {}), ("warm", {}),
                      ("aug", {"gain_p": 1.0, "shift_p": 1.0})):
        base = {
            "run": {"name": f"bench-{name}", "runs_dir": str(tmp / "runs"), "family": "audio"},
            "model": {"source": source},
            "data": {"paths": [str(data)], "clip_seconds": args.clip_seconds,
                     "val_fraction": 0.0, "codes_cache": str(cache)},
            "train": {"epochs": 2.0, "batch_size": args.batch, "device": args.device,
                      "lr": 1e-4, "log_every": 1},
            "eval": {"every": 0},
            "sample": {"every": 0, "prompts": ["drum loop"], "audio_seconds": 0.1,
                       "guidance_scale": 1.0},
            "checkpoint": {"every": 0},
            "augment": {"gain_p": 0.0, "shift_p": 0.0, **aug},
        }
        cfg_path = tmp / f"{name}.toml"
        cfg_path.write_text(dumps_toml(base), encoding="utf-8")
        clock = EpochClock()
        t = time.perf_counter()
        res = run(load_config(cfg_path), clock)
        wall = time.perf_counter() - t
        started = [json.loads(line) for line in (Path(res.run_dir) / "metrics.jsonl")
                   .read_text().splitlines() if '"RunStarted"' in line][0]
        n_train = int(started["train_examples"])
        (e1, r1), (e2, r2) = clock.epochs(n_train, args.batch)
        results[name] = {"clips": n_train, "epoch1_s": e1, "epoch2_s": e2,
                         "epoch1_clips_s": r1, "epoch2_clips_s": r2, "speedup": e1 / e2,
                         "wall_s": wall}
        print(f"{name}: {n_train} clips, epoch 1 {e1:.1f} s, epoch 2 {e2:.1f} s", flush=True)

    print(f"\nmodel {args.model}, {args.files} files, {args.clip_seconds:g} s clips, "
          f"batch {args.batch}, device {args.device}")
    print(f"{'run':<6} {'clips':>6} {'epoch 1 s':>10} {'clips/s':>8} {'epoch 2 s':>10} "
          f"{'clips/s':>8} {'ep2 speed-up':>13}")
    for name, r in results.items():
        print(f"{name:<6} {r['clips']:>6} {r['epoch1_s']:>10.1f} {r['epoch1_clips_s']:>8.2f} "
              f"{r['epoch2_s']:>10.1f} {r['epoch2_clips_s']:>8.2f} {r['speedup']:>12.2f}x")
    print("cold: epoch 1 encodes every clip, epoch 2 reads the cache; warm: both read it; "
          "aug: every clip augmented, so every epoch encodes")
    # the same split, measured directly (less exposed to a busy machine than whole epochs):
    # the codec on every clip vs the cache read vs one training pass over the clips
    import torch

    from studio.models.base import get_family
    fam = get_family("audio")
    cfg = load_config(tmp / "cold.toml")
    loaded = fam.load(cfg.model.source, args.device)
    data = fam.datasets(loaded, cfg)
    ids = list(range(data.n_train))
    t = time.perf_counter()
    data.encode([torch.from_numpy(data.clips[c].audio()) for c in ids])
    encode_s = time.perf_counter() - t
    t = time.perf_counter()
    data.codes_of(ids)                      # disk cache (filled by the runs above)
    disk_s = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(0, len(ids), args.batch):
        batch = data.train_batch(torch.tensor(ids[i:i + args.batch]), seed=i)
        fam.loss(loaded, batch.to(args.device)).backward()
    step_s = time.perf_counter() - t
    results["direct"] = {"codec_s": encode_s, "cache_read_s": disk_s, "train_pass_s": step_s}
    print(f"direct, {len(ids)} clips: codec {encode_s:.2f} s, codes from the disk cache "
          f"{disk_s:.3f} s, one forward+backward pass {step_s:.2f} s: an uncached epoch "
          f"costs {(encode_s + step_s) / max(1e-9, disk_s + step_s):.2f}x a cached one")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
