#!/usr/bin/env python
"""Image throughput: the studio engine against a plain diffusers training loop.

Both contenders train the SAME diffusion UNet (a ``UNet2DModel`` of the image starter's
shape, built from a seed and saved as a ``DDPMPipeline`` folder in a temp dir that both
load), on the SAME images (``--images`` crops of the shared photographs, or of the demo
textures when those are absent, written as PNG files at the model's size and read by the
studio's own ``load_image_corpus``: the same uint8 tensors), with the same batch, DDPM
objective (``DDPMScheduler.add_noise``, a uniform random timestep per image, MSE on the
noise), AdamW settings, warm-up + cosine schedule, gradient clipping at 1, precision and
augmentation (left-right flips with probability 0.5, nothing else):

  engine   ``studio.engine.run`` with a RunConfig: no validation split (so no evaluation),
           interval samples and checkpoints off (its step-0 / final sample and final
           checkpoint fall outside the timed window), ``log_every`` = the plain loop's.
           Its data path: a seeded permutation per epoch, each image cropped and flipped by
           torchvision v2 transforms on the CPU (``studio.data.image.augment_batch``).
  plain    the loop of diffusers' ``train_unconditional.py`` without accelerate: index the
           image tensor, scale to [-1, 1], flip the batch with one ``torch.where``, noise,
           UNet, MSE, backward, clip, step; ``loss.item()`` + a printed line every
           ``log_every`` steps.

Images/s are measured over the steps after ``--warmup`` (loading and the first steps are
excluded): timestamps at the end of step ``warmup`` and of the last step (after
``torch.cuda.synchronize()`` on CUDA), taken by an event sink on the engine's StepLogged
events and in the plain loop. Repeats are interleaved with the order alternating, because
the machine is shared and noisy; the table reports medians, and on the CPU also images
per CPU-second (steadier when other processes take the cores).

    python bench/image_throughput.py                       # CPU, ~2 min
    python bench/image_throughput.py --steps 3 --repeats 1 # smoke
    python bench/image_throughput.py --mallopt              # both without page-fault churn
    python bench/image_throughput.py --device cuda --channels 128,256,256 --batch 128

On the CPU the table also counts minor page faults per step. With glibc's default malloc
settings the engine's process has run at 3-9x the plain loop's page faults (memory freed
after a step handed back to the OS and faulted in, zeroed, on the next), which was the
whole of its gap to the plain loop; ``--mallopt`` keeps freed memory in the heap for both
contenders (as ``MALLOC_TRIM_THRESHOLD_`` / ``MALLOC_MMAP_THRESHOLD_`` would) to show it.

Target (the issue): engine >= 0.97x the plain loop. The script says whether it is met; it
never fails on it (timing is not a test).
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

PHOTOS = ROOT.parent / "shared" / "data" / "images"
FALLBACK = ROOT / "resources" / "demo" / "textures"
TARGET = 0.97
CONTENDERS = ("engine", "plain")


# -- set-up: one UNet, one folder of images ---------------------------------------------

@dataclass
class Setup:
    args: argparse.Namespace
    tmp: Path
    model_dir: Path
    data_dir: Path
    n_params: int
    data_note: str


def write_images(args: argparse.Namespace, out: Path) -> str:
    """``args.images`` random square crops of the source pictures, resized to the model's
    size and saved as PNG (so both contenders read exactly these pixels)."""
    import torch
    from PIL import Image
    from torchvision.transforms.v2 import functional as TF

    from studio.data.image import collect_images, read_image

    src = PHOTOS if PHOTOS.is_dir() else FALLBACK
    files, _ = collect_images(src)
    pictures = [read_image(f) for f in files]
    gen = torch.Generator().manual_seed(args.seed)
    out.mkdir(parents=True)
    for i in range(args.images):
        im = pictures[i % len(pictures)]
        w, h = im.size
        side = int(torch.randint(min(w, h) // 4, min(w, h) + 1, (), generator=gen))
        left = int(torch.randint(0, w - side + 1, (), generator=gen))
        top = int(torch.randint(0, h - side + 1, (), generator=gen))
        crop = TF.pil_to_tensor(im.crop((left, top, left + side, top + side)))
        small = TF.resize(crop, [args.size, args.size], antialias=True)
        Image.fromarray(small.permute(1, 2, 0).numpy()).save(out / f"img_{i:04d}.png")
    return f"{args.images} random crops of the {len(files)} pictures in {src}, at " \
           f"{args.size}x{args.size}"


def prepare(args: argparse.Namespace, tmp: Path) -> Setup:
    import torch
    from diffusers import DDPMPipeline

    from studio.starters.image import make_scheduler, make_unet

    torch.manual_seed(args.seed)
    shape = argparse.Namespace(size=args.size, channels=args.channels, layers_per_block=1,
                               norm_groups=args.norm_groups, attention_head_dim=32)
    unet = make_unet(shape)
    model_dir = tmp / "model"
    DDPMPipeline(unet=unet, scheduler=make_scheduler()).save_pretrained(model_dir)
    data_dir = tmp / "data"
    note = write_images(args, data_dir)
    return Setup(args, tmp, model_dir, data_dir, sum(p.numel() for p in unet.parameters()),
                 note)


# -- timing -----------------------------------------------------------------------------

def _minor_faults() -> int:
    """Minor page faults of this process so far: each is a fresh page the OS had to zero,
    typically memory that malloc gave back to the OS and the next step asked for again."""
    try:
        import resource
    except ImportError:  # not on Windows
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def tune_malloc() -> str:
    """glibc only: keep freed memory in the heap instead of returning it to the OS after
    every step (M_TRIM_THRESHOLD 1 GiB, M_MMAP_THRESHOLD 32 MiB, the largest glibc takes),
    as MALLOC_TRIM_THRESHOLD_ / MALLOC_MMAP_THRESHOLD_ in the environment would."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        ok = libc.mallopt(-1, 1 << 30) == 1 and libc.mallopt(-3, 32 << 20) == 1
    except (OSError, AttributeError):
        ok = False
    return "glibc mallopt: trim threshold 1 GiB, mmap threshold 32 MiB" if ok else \
        "--mallopt had no effect (not glibc)"


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
    faults: dict = field(default_factory=dict)

    def hit(self, step: int) -> None:
        if step in (self.start, self.end) and step not in self.t:
            _sync(self.device)
            self.t[step] = time.perf_counter()
            self.cpu[step] = time.process_time()
            self.faults[step] = _minor_faults()

    def seconds(self) -> float:
        if self.start not in self.t or self.end not in self.t:
            raise RuntimeError(f"timing marks missing: got steps {sorted(self.t)}, "
                               f"wanted {self.start} and {self.end}")
        return self.t[self.end] - self.t[self.start]

    def cpu_seconds(self) -> float:
        self.seconds()
        return self.cpu[self.end] - self.cpu[self.start]

    def faults_per_step(self) -> float:
        self.seconds()
        return (self.faults[self.end] - self.faults[self.start]) / (self.end - self.start)


@dataclass
class Result:
    contender: str
    images_per_s: float
    images_per_cpu_s: float
    seconds: float
    timed_steps: int
    final_loss: float
    faults_per_step: float = 0.0
    extra: dict = field(default_factory=dict)


def result(contender: str, args: argparse.Namespace, marks: Marks, final_loss: float,
           **extra) -> Result:
    images = (marks.end - marks.start) * args.batch
    seconds, cpu = marks.seconds(), marks.cpu_seconds()
    return Result(contender, images / seconds, images / cpu if cpu > 0 else float("nan"),
                  seconds, marks.end - marks.start, final_loss, marks.faults_per_step(), extra)


def lr_at(step: int, args: argparse.Namespace) -> float:
    """The engine's schedule (studio.engine.optim.lr_multiplier, cosine to 0), written out:
    linear warm-up from lr/(warm+1) to lr, then half a cosine down to 0."""
    warm, total = args.lr_warmup, args.steps
    if step < warm:
        return args.lr * (step + 1) / (warm + 1)
    progress = min(1.0, (step - warm) / max(1, total - warm))
    return args.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


# -- (a) the studio engine --------------------------------------------------------------

def engine_config_dict(s: Setup) -> dict:
    a = s.args
    return {
        "run": {"name": "bench-image", "runs_dir": str(s.tmp / "runs"), "family": "image"},
        "model": {"source": str(s.model_dir)},
        # no validation split: the engine then never evaluates; the images are already
        # at the model's size, so "center" cropping is a no-op, as in the plain loop
        "data": {"paths": [str(s.data_dir)], "val_fraction": 0.0, "crop": "center",
                 "image_size": 0},
        "augment": {"hflip": 0.5, "vflip": 0.0, "rotation": 0.0, "rotation_p": 0.0,
                    "scale_jitter": 0.0, "color_jitter": 0.0, "color_p": 0.0,
                    "noise_std": 0.0, "noise_p": 0.0},
        "train": {"optimizer": "adamw", "lr": a.lr, "weight_decay": 0.0, "beta1": 0.9,
                  "beta2": 0.999, "eps": 1e-8, "schedule": "cosine",
                  "warmup_steps": a.lr_warmup, "min_lr_ratio": 0.0, "batch_size": a.batch,
                  "grad_accum": 1, "grad_clip": 1.0, "max_steps": a.steps, "seed": a.seed,
                  "device": a.device, "precision": a.precision, "log_every": a.log_every},
        "eval": {"every": 0, "keep_best": False},
        # interval sampling off; the step-0 and final previews (1 image, 1 DDIM step) are
        # outside the timed window
        "sample": {"every": 0, "num_images": 1, "inference_steps": 1},
        "checkpoint": {"every": 0, "keep_last": 1},
    }


def run_engine(s: Setup, marks: Marks, log) -> Result:
    from studio.config import config_from_dict
    from studio.core import events as ev
    from studio.engine import run

    cfg = config_from_dict(engine_config_dict(s), s.tmp)

    class TimingSink:
        def __init__(self) -> None:
            self.logged: list = []

        def emit(self, e: object) -> None:
            if isinstance(e, ev.StepLogged):
                marks.hit(e.step)
                self.logged.append(e)
            elif isinstance(e, ev.LogMessage):
                print(f"[engine] {e.level}: {e.text}", file=log, flush=True)

    sink = TimingSink()
    res = run(cfg, sink)
    if res.state != "completed":
        raise RuntimeError(f"engine run ended {res.state}")
    shutil.rmtree(res.run_dir, ignore_errors=True)
    window = [e for e in sink.logged if e.step > marks.start]
    own_s = sum(s.args.log_every * s.args.batch / e.throughput for e in window
                if e.throughput > 0)
    own = ((marks.end - marks.start) * s.args.batch / own_s) if own_s > 0 else float("nan")
    return result("engine", s.args, marks, sink.logged[-1].loss,
                  engine_reported_images_per_s=own)


# -- (b) a plain diffusers loop -----------------------------------------------------------

def run_plain(s: Setup, marks: Marks, log) -> Result:
    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler, UNet2DModel

    from studio.data.image import load_image_corpus

    args = s.args
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    unet = UNet2DModel.from_pretrained(s.model_dir, subfolder="unet").to(device)
    scheduler = DDPMScheduler.from_pretrained(s.model_dir, subfolder="scheduler")
    unet.train()
    # the same uint8 tensors the engine reads (the studio's loader, same folder and size)
    images = torch.stack(load_image_corpus(s.data_dir, args.size).images)
    decay = [p for p in unet.parameters() if p.dim() >= 2]
    no_decay = [p for p in unet.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.0},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=args.lr, betas=(0.9, 0.999), eps=1e-8,
                                  **({"fused": True} if device.type == "cuda" else {}))
    ctx = (torch.autocast(device_type=device.type, dtype=torch.bfloat16)
           if args.precision == "bf16" else contextlib.nullcontext())
    T = scheduler.config.num_train_timesteps
    gen = torch.Generator().manual_seed(args.seed)
    per_epoch = len(images) // args.batch
    perm = torch.randperm(len(images), generator=gen)

    def get_batch(it: int) -> torch.Tensor:
        nonlocal perm
        pos = it % per_epoch
        if pos == 0 and it > 0:
            perm = torch.randperm(len(images), generator=gen)
        x = images[perm[pos * args.batch:(pos + 1) * args.batch]].float().div_(127.5).sub_(1)
        flip = torch.rand(len(x), generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        if device.type == "cuda":
            return x.pin_memory().to(device, non_blocking=True)
        return x

    lossf = float("nan")
    for it in range(args.steps):
        lr = lr_at(it, args)
        for g in optimizer.param_groups:
            g["lr"] = lr
        x = get_batch(it)
        noise = torch.randn_like(x)
        t = torch.randint(0, T, (len(x),), device=device)
        with ctx:
            pred = unet(scheduler.add_noise(x, noise, t), t).sample
        loss = F.mse_loss(pred.float(), noise.float())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step = it + 1
        if step % args.log_every == 0 or step == args.steps:
            lossf = loss.item()  # a CPU-GPU sync point
            print(f"iter {step}: loss {lossf:.4f}, lr {lr:.3e}", file=log, flush=True)
        marks.hit(step)
    del unet, optimizer
    return result("plain", args, marks, lossf)


RUNNERS = {"engine": run_engine, "plain": run_plain}


# -- report -----------------------------------------------------------------------------

def fmt(x: float) -> str:
    return f"{x:,.1f}"


def report(s: Setup, results: dict[str, list[Result]], order_log: list, device_name: str) -> dict:
    args = s.args
    on_cpu = args.device == "cpu"
    med = {c: statistics.median(r.images_per_s for r in results[c]) for c in CONTENDERS}
    med_cpu = {c: statistics.median(r.images_per_cpu_s for r in results[c]) for c in CONTENDERS}
    med_flt = {c: statistics.median(r.faults_per_step for r in results[c]) for c in CONTENDERS}
    ratio = med["engine"] / med["plain"]
    paired = statistics.median(e.images_per_s / p.images_per_s
                               for e, p in zip(results["engine"], results["plain"]))
    print()
    print(f"device: {device_name}; precision {args.precision}; UNet2DModel {args.size}x"
          f"{args.size}, channels {args.channels} ({s.n_params / 1e6:.2f}M parameters); batch "
          f"{args.batch}; {args.steps} steps, timed after step {args.warmup} "
          f"({args.steps - args.warmup} steps); log_every {args.log_every}; {args.repeats} "
          f"interleaved repeat(s), order alternating")
    print(f"data: {s.data_note}; augmentation: left-right flips (p 0.5) only")
    print(f"malloc: {args.malloc_note}")
    print("  engine: studio.engine.run; per-image torchvision v2 flip on the CPU "
          "(augment_batch); float(loss) + float(grad_norm), a metrics.jsonl line and a "
          "status update every log_every steps")
    print("  plain:  one torch.where flip per batch; loss.item() + a printed line every "
          "log_every steps")
    print("  both: torch.optim.AdamW" + (" (fused)" if not on_cpu else "")
          + ", clip 1.0, warm-up + cosine, DDPMScheduler.add_noise, MSE on the noise")
    print()
    head = f"{'contender':10s} {'images/s (median)':>18s}"
    if on_cpu:
        head += f" {'images/CPU-s':>13s} {'page faults/step':>17s}"
    print(head + "  images/s per repeat")
    for c in CONTENDERS:
        line = f"{c:10s} {fmt(med[c]):>18s}"
        if on_cpu:
            line += f" {fmt(med_cpu[c]):>13s} {med_flt[c]:>17,.0f}"
        print(line + "  " + ", ".join(fmt(r.images_per_s) for r in results[c]))
    own = [r.extra["engine_reported_images_per_s"] for r in results["engine"]]
    print(f"(images/s from wall-clock timestamps; the engine's own StepLogged.throughput over "
          f"the same steps: median {fmt(statistics.median(own))} images/s)")
    print()
    ok = ratio >= TARGET
    print(f"engine/plain = {ratio:.3f}x  (target >= {TARGET}x: {'met' if ok else 'NOT met'}; "
          f"repeat-by-repeat median {paired:.3f}x"
          + (f"; by CPU time {med_cpu['engine'] / med_cpu['plain']:.3f}x" if on_cpu else "")
          + ")")
    print("final losses (last repeat): " + ", ".join(f"{c} {results[c][-1].final_loss:.4f}"
                                                     for c in CONTENDERS))
    return {
        "device": device_name, "precision": args.precision, "size": args.size,
        "channels": args.channels, "params": s.n_params, "batch": args.batch,
        "steps": args.steps, "warmup": args.warmup, "log_every": args.log_every,
        "repeats": args.repeats, "threads": args.threads, "data": s.data_note,
        "order": order_log,
        "images_per_s": {c: [r.images_per_s for r in results[c]] for c in CONTENDERS},
        "images_per_cpu_s": {c: [r.images_per_cpu_s for r in results[c]] for c in CONTENDERS},
        "minor_page_faults_per_step": {c: [r.faults_per_step for r in results[c]]
                                       for c in CONTENDERS},
        "malloc": args.malloc_note,
        "median_images_per_s": med, "median_images_per_cpu_s": med_cpu,
        "engine_reported_images_per_s": own,
        "ratio": ratio, "ratio_paired": paired,
        "ratio_cpu_time": med_cpu["engine"] / med_cpu["plain"],
        "target": TARGET, "target_met": ok,
        "final_loss": {c: [r.final_loss for r in results[c]] for c in CONTENDERS},
        "python": platform.python_version(),
    }


# -- main -------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--precision", choices=("fp32", "bf16"),
                   help="fp32, or bf16 autocast over fp32 weights (default: fp32 on the "
                        "CPU, bf16 on CUDA, as the engine's 'auto')")
    p.add_argument("--steps", type=int, default=14, help="optimizer steps per run")
    p.add_argument("--warmup", type=int, default=2,
                   help="steps left out of the timing at the start")
    p.add_argument("--batch", type=int, default=32, help="images per step")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats")
    p.add_argument("--images", type=int,
                   help="images in the data set (default: 8 batches; a multiple of --batch, "
                        "so no epoch ends in a short batch)")
    p.add_argument("--size", type=int, default=32, help="model resolution")
    p.add_argument("--channels", default="32,64,64",
                   help="UNet widths (the image starter's by default)")
    p.add_argument("--norm-groups", type=int, default=8)
    p.add_argument("--log-every", type=int, default=1,
                   help="engine log_every = plain loop print interval")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    p.add_argument("--lr-warmup", type=int, default=2, help="learning-rate warm-up steps")
    p.add_argument("--threads", type=int,
                   help="torch CPU threads (default: 1 with --device cpu, because on a "
                        "shared machine two OpenMP threads stall whenever another process "
                        "holds a core; torch's own default with --device cuda); 0 = torch's "
                        "default")
    p.add_argument("--mallopt", action="store_true",
                   help="glibc: keep freed memory in the heap (no page faults between steps) "
                        "for both contenders; see the page faults/step column")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, metavar="OUT", help="write the results as JSON here")
    args = p.parse_args(argv)
    if args.precision is None:
        args.precision = "bf16" if args.device == "cuda" else "fp32"
    if args.images is None:
        args.images = 8 * args.batch
    if args.images % args.batch:
        p.error("--images must be a multiple of --batch (the engine's last batch of an "
                "epoch would be a short one)")
    if args.steps < 2 or args.repeats < 1 or args.batch < 1 or args.log_every < 1:
        p.error("--steps must be at least 2; --repeats, --batch, --log-every at least 1")
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
    from diffusers.utils import logging as d_logging

    d_logging.set_verbosity_error()
    d_logging.disable_progress_bar()
    if args.threads is None:
        args.threads = 1 if args.device == "cpu" else 0
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    args.malloc_note = tune_malloc() if args.mallopt else "the C library's defaults"
    if args.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("--device cuda: no CUDA GPU is visible")
        device_name = torch.cuda.get_device_name()
    else:
        device_name = f"cpu ({platform.processor() or platform.machine()}, " \
                      f"{torch.get_num_threads()} torch threads)"

    with tempfile.TemporaryDirectory(prefix="bench-image-") as td:
        tmp = Path(td)
        t0 = time.perf_counter()
        s = prepare(args, tmp)
        print(f"prepared a UNet ({s.n_params / 1e6:.2f}M parameters) and {args.images} images "
              f"in {time.perf_counter() - t0:.1f} s", flush=True)
        results: dict[str, list[Result]] = {c: [] for c in CONTENDERS}
        order_log = []
        with open(tmp / "contenders.log", "w", encoding="utf-8") as log:
            for rep in range(args.repeats):
                order = list(CONTENDERS) if rep % 2 == 0 else list(reversed(CONTENDERS))
                order_log.append(order)
                for c in order:
                    marks = Marks(args.warmup, args.steps, args.device)
                    gc.collect()
                    if args.device == "cuda":
                        torch.cuda.empty_cache()
                    t1 = time.perf_counter()
                    r = RUNNERS[c](s, marks, log)
                    results[c].append(r)
                    print(f"repeat {rep + 1}/{args.repeats} {c:7s} {fmt(r.images_per_s):>9s} "
                          f"images/s  ({r.timed_steps} steps in {r.seconds:.2f} s; whole run "
                          f"{time.perf_counter() - t1:.1f} s)", flush=True)
        out = report(s, results, order_log, device_name)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1, default=str), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
