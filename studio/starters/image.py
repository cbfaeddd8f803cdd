"""Pre-train the tiny diffusion UNet image starter (DDPM) on random crops of photographs.

The recipe, top to bottom:

1. read every photograph in ``--data`` with the studio's own reader
   (``studio.data.image.read_image``: 8-bit RGB, transparency composited on white);
2. hold out the right-hand ``--val-fraction`` of each photograph (by width): validation
   crops come only from there, training crops only from the rest, so the validation
   number is measured on pixels the model never saw;
3. build ``UNet2DModel`` from a seed and a ``DDPMScheduler(num_train_timesteps=1000)``, and
   measure the fixed-noise validation denoising loss of the untrained model;
4. train with the plain DDPM objective: each step takes ``--batch-size`` random square
   crops (side drawn log-uniformly from ``--min-crop`` px up to the training region's
   short side, so both close-up textures and most of a scene), resized to the model's
   size and flipped left-right half the time; adds noise at a random timestep and
   regresses the noise (mean squared error). AdamW, linear warm-up then cosine decay;
5. measure the validation loss again, draw a fixed-seed DDIM sample grid, and save a
   ``DDPMPipeline`` folder (``save_pretrained``) with ``samples.png``, ``crops.png``,
   ``starter_info.json`` and ``STARTER.md`` (written next to the target and swapped in at
   the end, so a failed build never leaves a half-written starter).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import diffusers
import torch
import torch.nn.functional as F
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

from studio.core.errors import DataError, StudioError
from studio.core.paths import PROJECT_ROOT, starters_dir

# The project's shared test data (scikit-image's sample photographs), beside the repo.
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "images"
VAL_NOISE_SEED = 10_007  # seed of the validation noise: the same noise for every model
SAMPLE_SEED = 0          # samples.png shows seeds SAMPLE_SEED .. SAMPLE_SEED + n - 1


# -- command line --------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="folder (or image file) of photographs to pre-train on")
    p.add_argument("--out", type=Path, default=starters_dir() / "image",
                   help="folder to write the starter into (replaced if it exists)")
    p.add_argument("--steps", type=int, default=700, help="optimizer steps")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, crops and noise")
    # at a fixed budget, more small steps beat fewer large ones here: 200 x 16 crops reached a
    # validation loss of 0.043 where 100 x 32 reached 0.059, in the same time
    p.add_argument("--batch-size", type=int, default=16, help="crops per step")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    p.add_argument("--warmup", type=int, default=20, help="linear warm-up steps")
    p.add_argument("--min-lr-ratio", type=float, default=0.05,
                   help="final learning rate as a fraction of --lr")
    p.add_argument("--weight-decay", type=float, default=0.01,
                   help="AdamW weight decay on conv/linear weights (not biases or norms)")
    p.add_argument("--size", type=int, default=32, help="model resolution in pixels")
    p.add_argument("--channels", default="32,64,64",
                   help="UNet block_out_channels, one per resolution, comma-separated; the "
                        "lowest resolution gets the attention block")
    p.add_argument("--layers-per-block", type=int, default=1)
    p.add_argument("--norm-groups", type=int, default=8, help="GroupNorm groups")
    p.add_argument("--attention-head-dim", type=int, default=32)
    p.add_argument("--min-crop", type=int, default=32,
                   help="smallest crop side in source pixels (the largest is the region's "
                        "short side)")
    p.add_argument("--hflip", type=float, default=0.5,
                   help="probability of a left-right flip of a training crop")
    p.add_argument("--val-fraction", type=float, default=0.25,
                   help="right-hand share of each photograph's width held out for validation")
    p.add_argument("--val-crops", type=int, default=8,
                   help="fixed validation crops per photograph")
    p.add_argument("--val-timesteps", type=int, default=4,
                   help="fixed timesteps each validation crop is scored at")
    p.add_argument("--eval-every", type=int, default=100,
                   help="print the validation loss every N steps (0: only at the end)")
    p.add_argument("--sample-images", type=int, default=16,
                   help="images in samples.png (0: no samples)")
    p.add_argument("--sample-steps", type=int, default=50, help="DDIM steps for samples.png")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")


def main(args: argparse.Namespace) -> int:
    info = build(args)
    print(f"saved {info['out']}: {info['parameters']:,} parameters, "
          f"{info['size_bytes'] / 1e6:.1f} MB, validation loss {info['val_loss']:.4f} "
          f"(untrained {info['untrained_val_loss']:.4f}), "
          f"built in {info['build_seconds'] / 60:.1f} min")
    return 0


# -- data ----------------------------------------------------------------------------

@dataclass
class Photo:
    name: str
    pixels: torch.Tensor  # uint8 [3, H, W]
    split: int            # columns [0, split) train; [split, W) are held out
    sha256: str
    mode: str             # the file's own mode before conversion (RGB, L, RGBA, ...)

    @property
    def height(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[2])


def read_photos(data: Path, val_fraction: float, min_crop: int) -> tuple[list[Photo], list[str]]:
    """Every usable photograph under ``data``, in name order, and notes on those skipped.

    A photograph is usable when both its training part and its held-out strip can hold
    a ``min_crop`` square."""
    import numpy as np
    from PIL import Image

    from studio.data.image import collect_images, read_image

    if not 0.0 < val_fraction < 1.0:
        raise StudioError(f"--val-fraction {val_fraction} must be between 0 and 1",
                          "the default 0.25 holds out the right-hand quarter")
    try:
        files, skipped = collect_images(data)
    except DataError as exc:
        raise StudioError(str(exc), "pass --data FOLDER of images") from None
    notes = [f"{Path(s.path).name}: {s.reason}" for s in skipped]
    photos = []
    for path in files:
        try:
            im = read_image(path)  # RGB, the right way up, transparency on white
        except DataError as exc:
            notes.append(f"{path.name}: {exc}")
            continue
        with Image.open(path) as raw:
            mode = raw.mode
        w, h = im.size
        split = w - max(1, round(w * val_fraction))
        if min(h, split, w - split) < min_crop:
            notes.append(f"{path.name}: {w}x{h} is too small for {min_crop}-px crops on both "
                         f"sides of the held-out strip")
            continue
        pixels = torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1)
        photos.append(Photo(path.name, pixels.contiguous(), split,
                            hashlib.sha256(path.read_bytes()).hexdigest(), mode))
    if not photos:
        raise StudioError(f"{data}: no usable photographs ({'; '.join(notes[:3]) or 'none'})",
                          "pass --data FOLDER with images at least "
                          f"{math.ceil(min_crop / min(val_fraction, 1 - val_fraction))} px wide")
    return photos, notes


def _crop_side(lo: int, hi: int, gen: torch.Generator) -> int:
    """A side in [lo, hi] drawn log-uniformly: each doubling of scale is equally likely."""
    u = float(torch.rand((), generator=gen))
    return int(round(math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))))


def _to_model(crop: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 [3, s, s] -> float [3, size, size] in [-1, 1] (antialiased resize)."""
    from torchvision.transforms.v2 import functional as TF

    small = TF.resize(crop, [size, size], antialias=True)
    return small.to(torch.float32) / 127.5 - 1.0


def random_crop(photo: Photo, size: int, min_crop: int, hflip: float,
                gen: torch.Generator) -> torch.Tensor:
    """One training crop from the left (training) part of ``photo``."""
    side = _crop_side(min_crop, min(photo.height, photo.split), gen)
    top = int(torch.randint(0, photo.height - side + 1, (), generator=gen))
    left = int(torch.randint(0, photo.split - side + 1, (), generator=gen))
    x = _to_model(photo.pixels[:, top:top + side, left:left + side], size)
    if float(torch.rand((), generator=gen)) < hflip:
        x = x.flip(-1)
    return x


def training_batch(photos: list[Photo], batch_size: int, size: int, min_crop: int,
                   hflip: float, gen: torch.Generator) -> torch.Tensor:
    """``batch_size`` random crops, each from a photograph chosen uniformly."""
    picks = torch.randint(0, len(photos), (batch_size,), generator=gen).tolist()
    return torch.stack([random_crop(photos[i], size, min_crop, hflip, gen) for i in picks])


def validation_crops(photos: list[Photo], per_photo: int, size: int, min_crop: int,
                     seed: int) -> torch.Tensor:
    """The fixed validation set: ``per_photo`` crops from each photograph's held-out strip
    (sides log-uniform as in training, no flips). The same photographs and arguments give
    the same crops, so any model can be scored on exactly these."""
    crops = []
    for k, photo in enumerate(photos):
        gen = torch.Generator().manual_seed(seed * 1_000 + k)
        width = photo.width - photo.split
        for _ in range(per_photo):
            side = _crop_side(min_crop, min(photo.height, width), gen)
            top = int(torch.randint(0, photo.height - side + 1, (), generator=gen))
            left = photo.split + int(torch.randint(0, width - side + 1, (), generator=gen))
            crops.append(_to_model(photo.pixels[:, top:top + side, left:left + side], size))
    return torch.stack(crops)


# -- the objective -------------------------------------------------------------------

def denoising_loss(unet: UNet2DModel, scheduler: DDPMScheduler, x0: torch.Tensor,
                   noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """DDPM: noise the clean images to timestep ``t``, predict the noise, mean squared error."""
    noisy = scheduler.add_noise(x0, noise, t)
    return F.mse_loss(unet(noisy, t).sample, noise)


@torch.no_grad()
def fixed_noise_loss(unet: UNet2DModel, scheduler: DDPMScheduler, crops: torch.Tensor,
                     repeats: int = 4, batch_size: int = 64) -> float:
    """Mean denoising loss over ``crops`` x ``repeats`` (crop, timestep) pairs: timesteps
    evenly spread over the whole schedule (each crop at ``repeats`` different ones) and
    noise from a fixed seed. Deterministic, so it moves only when the weights do."""
    was_training = unet.training
    unet.eval()
    n, T = len(crops), scheduler.config.num_train_timesteps
    m = n * repeats
    j = torch.arange(m)
    x0 = crops[j % n]
    t = ((j.double() + 0.5) * T / m).long().clamp(0, T - 1)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(VAL_NOISE_SEED))
    total = 0.0
    for s in range(0, m, batch_size):
        sl = slice(s, s + batch_size)
        total += float(denoising_loss(unet, scheduler, x0[sl], noise[sl], t[sl])) * len(x0[sl])
    unet.train(was_training)
    return total / m


# -- the model -----------------------------------------------------------------------

def parse_channels(text: str) -> tuple[int, ...]:
    try:
        channels = tuple(int(c) for c in text.split(","))
    except ValueError:
        raise StudioError(f"--channels {text!r} must be integers separated by commas",
                          "for example 32,64,64") from None
    if len(channels) < 2 or min(channels) < 1:
        raise StudioError(f"--channels {text!r}: at least two positive widths are needed",
                          "for example 32,64,64")
    return channels


def make_unet(args: argparse.Namespace) -> UNet2DModel:
    """A small UNet: plain ResNet blocks at every resolution but the lowest, which also
    gets self-attention (as in DDPM's CIFAR-10 model, scaled down)."""
    channels = parse_channels(args.channels)
    if any(c % args.norm_groups for c in channels):
        raise StudioError(f"--norm-groups {args.norm_groups} must divide every width in "
                          f"--channels {args.channels}", "for example --norm-groups 8")
    levels = len(channels)
    return UNet2DModel(
        sample_size=args.size, in_channels=3, out_channels=3,
        block_out_channels=channels, layers_per_block=args.layers_per_block,
        down_block_types=("DownBlock2D",) * (levels - 1) + ("AttnDownBlock2D",),
        up_block_types=("AttnUpBlock2D",) + ("UpBlock2D",) * (levels - 1),
        norm_num_groups=args.norm_groups, attention_head_dim=args.attention_head_dim)


def make_scheduler() -> DDPMScheduler:
    # DDPM's own schedule: 1000 steps, betas linear from 1e-4 to 0.02, predict the noise.
    return DDPMScheduler(num_train_timesteps=1000)


def lr_at(step: int, args: argparse.Namespace) -> float:
    """Linear warm-up to ``args.lr``, then cosine decay to ``lr * min_lr_ratio``."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return args.lr * (args.min_lr_ratio + (1.0 - args.min_lr_ratio) * cosine)


def make_optimizer(unet: UNet2DModel, args: argparse.Namespace) -> torch.optim.AdamW:
    # Decay the conv and linear weights only; biases and GroupNorm gains are left alone.
    decay = [p for p in unet.parameters() if p.dim() >= 2]
    no_decay = [p for p in unet.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)


def save_grid(images: torch.Tensor, path: Path, zoom: int = 4) -> None:
    """uint8 [n, 3, h, w] -> a PNG grid, enlarged ``zoom`` times with nearest-neighbour
    (every model pixel becomes a zoom x zoom block: nothing is smoothed or invented)."""
    from PIL import Image

    from studio.models.image import make_grid

    grid = Image.fromarray(make_grid(images).permute(1, 2, 0).numpy())
    grid.resize((grid.width * zoom, grid.height * zoom), Image.Resampling.NEAREST).save(path)


def folder_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


# -- the build -----------------------------------------------------------------------

def build(args: argparse.Namespace) -> dict:
    started = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.min_crop < 1 or args.size < 8:
        raise StudioError("--min-crop must be at least 1 and --size at least 8",
                          "the defaults are --min-crop 32 --size 32")
    photos, notes = read_photos(args.data, args.val_fraction, args.min_crop)
    for note in notes:
        print(f"skipped {note}", flush=True)
    val = validation_crops(photos, args.val_crops, args.size, args.min_crop, args.seed)
    print(f"data: {len(photos)} photographs from {args.data} "
          f"({', '.join(p.name for p in photos)}); {len(val)} fixed validation crops from "
          f"the right-hand {args.val_fraction:.0%} of each", flush=True)

    unet = make_unet(args)
    scheduler = make_scheduler()
    n_params = sum(p.numel() for p in unet.parameters())
    untrained = fixed_noise_loss(unet, scheduler, val, args.val_timesteps)
    print(f"model: UNet2DModel {args.size}x{args.size}, channels {args.channels}, "
          f"{n_params:,} parameters; untrained validation loss {untrained:.4f}", flush=True)

    optimizer = make_optimizer(unet, args)
    gen = torch.Generator().manual_seed(args.seed)
    T = scheduler.config.num_train_timesteps
    unet.train()
    train_started = time.time()
    history, smooth = [], None
    for step in range(args.steps):
        lr = lr_at(step, args)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x0 = training_batch(photos, args.batch_size, args.size, args.min_crop, args.hflip, gen)
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, T, (len(x0),), generator=gen)
        loss = denoising_loss(unet, scheduler, x0, noise, t)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()
        done = step + 1
        # the per-step loss jumps with the random timesteps; the smoothed one shows the trend
        smooth = loss.item() if smooth is None else 0.95 * smooth + 0.05 * loss.item()
        if done % 20 == 0 or done == args.steps:
            elapsed = time.time() - train_started
            print(f"step {done:5d}/{args.steps}  loss {loss.item():.4f}  smoothed "
                  f"{smooth:.4f}  lr {lr:.2e}  {elapsed / done:.2f} s/step", flush=True)
        if args.eval_every and done % args.eval_every == 0 and done != args.steps:
            v = fixed_noise_loss(unet, scheduler, val, args.val_timesteps)
            history.append({"step": done, "val_loss": round(v, 5)})
            print(f"step {done:5d}  validation loss {v:.4f}", flush=True)
    train_seconds = time.time() - train_started

    val_loss = fixed_noise_loss(unet, scheduler, val, args.val_timesteps)
    history.append({"step": args.steps, "val_loss": round(val_loss, 5)})
    print(f"trained {args.steps} steps in {train_seconds / 60:.1f} min; validation loss "
          f"{val_loss:.4f} (untrained {untrained:.4f})", flush=True)

    # -- save: next to the target, then swap in ---------------------------------------
    out = args.out.resolve()
    tmp = out.with_name(out.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    unet.eval()
    DDPMPipeline(unet=unet, scheduler=scheduler).save_pretrained(tmp)  # safetensors, float32
    sample_seconds = 0.0
    if args.sample_images > 0:
        from studio.models.base import Loaded
        from studio.models.image import ImageFamily

        t0 = time.time()
        # the studio's own preview sampler (DDIM from fixed seeds), as the gallery shows it
        images = ImageFamily().generate(
            Loaded(model=unet, extras={"scheduler": scheduler}, source=str(tmp)),
            list(range(SAMPLE_SEED, SAMPLE_SEED + args.sample_images)), args.sample_steps)
        save_grid(images, tmp / "samples.png")
        sample_seconds = time.time() - t0
    # for comparison with the samples: what the model was trained on
    show = training_batch(photos, 16, args.size, args.min_crop, 0.0,
                          torch.Generator().manual_seed(args.seed + 1))
    save_grid(((show + 1) * 127.5).round().clamp(0, 255).to(torch.uint8), tmp / "crops.png")

    info = {
        "name": "starter:image",
        "architecture": "UNet2DModel + DDPMScheduler (diffusers DDPMPipeline folder)",
        "parameters": n_params,
        "shape": {"sample_size": args.size, "in_channels": 3, "out_channels": 3,
                  "block_out_channels": list(unet.config.block_out_channels),
                  "layers_per_block": args.layers_per_block,
                  "down_block_types": list(unet.config.down_block_types),
                  "up_block_types": list(unet.config.up_block_types),
                  "norm_num_groups": args.norm_groups,
                  "attention_head_dim": args.attention_head_dim,
                  "num_train_timesteps": T,
                  "beta_schedule": scheduler.config.beta_schedule,
                  "prediction_type": scheduler.config.prediction_type},
        "data": {"folder": str(args.data), "photographs": [
                     {"file": p.name, "sha256": p.sha256, "size": [p.width, p.height],
                      "mode": p.mode} for p in photos],
                 "skipped": notes,
                 "validation": {"held_out": f"right-hand {args.val_fraction:.0%} of each "
                                           f"photograph's width",
                                "val_fraction": args.val_fraction, "crops": len(val),
                                "crops_per_photograph": args.val_crops,
                                "timesteps_per_crop": args.val_timesteps,
                                "min_crop": args.min_crop, "seed": args.seed,
                                "noise_seed": VAL_NOISE_SEED}},
        "training": {"steps": args.steps, "batch_size": args.batch_size,
                     "crops_seen": args.steps * args.batch_size, "lr": args.lr,
                     "warmup_steps": args.warmup, "min_lr_ratio": args.min_lr_ratio,
                     "weight_decay": args.weight_decay, "optimizer": "AdamW(0.9, 0.999)",
                     "schedule": "linear warm-up, cosine decay", "grad_clip": 1.0,
                     "hflip": args.hflip, "min_crop": args.min_crop, "seed": args.seed,
                     "threads": args.threads, "train_seconds": round(train_seconds, 1)},
        "val_loss": round(val_loss, 5),
        "untrained_val_loss": round(untrained, 5),
        "val_history": history,
        "samples": {"file": "samples.png" if args.sample_images > 0 else None,
                    "seeds": [SAMPLE_SEED, SAMPLE_SEED + args.sample_images - 1],
                    "sampler": "DDIM", "inference_steps": args.sample_steps,
                    "seconds": round(sample_seconds, 1)},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "diffusers": diffusers.__version__},
        "command": "python -m studio.starters " + shlex.join(getattr(args, "argv", [])),
        "samples_note": DEFAULT_SAMPLES_NOTE if recipe_is_default(args) else None,
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


# Credits of the photographs scikit-image ships (from the docstrings of skimage.data).
PHOTO_CREDITS = {
    "astronaut.png": "Eileen Collins, NASA (public domain)",
    "brick.png": "CC0Textures Bricks25 (CC0), greyscale",
    "camera.png": "Lav Varshney (CC0), greyscale",
    "chelsea.png": "Chelsea the cat, Stefan van der Walt (CC0)",
    "coffee.png": "Rachel Michetti, courtesy of Pikolo Espresso Bar (CC0)",
    "grass.png": "linolafett on DeviantArt (CC0), greyscale",
    "gravel.png": "CC0Textures Gravel04 (CC0), greyscale",
    "horse.png": "silhouette by Andreas Preuss, openclipart (CC0)",
    "logo.png": "the scikit-image logo (scikit-image, BSD)",
    "rocket.jpg": "DSCOVR on a Falcon 9, SpaceX (public domain)",
}


# What samples.png shows, written by a person who looked at it after the default build
# (the build is seeded, so the default recipe draws the same grid). Any other recipe gets
# no description: only looking at its samples.png can say what it draws.
DEFAULT_SAMPLES_NOTE = (
    "What they look like (looked at after the default build): sixteen much alike squares of "
    "grainy, mottled, low-contrast grey, faintly tinted mauve, brown or green here and there "
    "- something between granite, gravel seen from far away and TV static. No flat areas, "
    "no edges, no objects, and little difference between seeds: the model has learned the "
    "pictures' average colour and grain, not their shapes. That is what 11,200 crops buy a "
    "1.1 M-parameter diffusion model. Fine-tuned on the `textures` demo for 150 steps its "
    "samples lose the colour tints and turn neutral grey and a little coarser: a start, not "
    "bricks.")


def recipe_is_default(args: argparse.Namespace) -> bool:
    """Whether ``args`` asks for the shipped recipe (threads, output folder, progress
    printing and sample count aside: they do not change the weights or the grid)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    defaults = parser.parse_args([])
    ignore = {"out", "threads", "eval_every", "argv", "handler", "command", "family"}
    return all(getattr(args, k) == v for k, v in vars(defaults).items() if k not in ignore)


def starter_card(info: dict) -> str:
    s, d, t, v = info["shape"], info["data"], info["training"], info["data"]["validation"]
    photos = "\n".join(f"| `{p['file']}` | {p['size'][0]}x{p['size'][1]} {p['mode']} | "
                       f"{PHOTO_CREDITS.get(p['file'], 'see its source')} |"
                       for p in d["photographs"])
    history = ", ".join(f"{h['val_loss']:.4f} at step {h['step']:,}"
                        for h in info["val_history"])
    samples = info["samples"]
    if samples["file"]:
        first, last = samples["seeds"]
        sample_text = (
            f"![samples](samples.png)\n\n"
            f"`samples.png`: seeds {first}-{last}, DDIM with {samples['inference_steps']} steps "
            f"(the studio's own preview sampler), enlarged 4x with nearest-neighbour so every "
            f"model pixel is a 4x4 block. For comparison, `crops.png` shows 16 training crops "
            f"at the same scale.\n\n"
            + (info.get("samples_note") or "What they look like: open `samples.png` (this "
               "build did not use the shipped recipe, so no description was written)."))
    else:
        sample_text = "(none: built with --sample-images 0)"
    threads = f"{t['threads']} CPU thread" + ("s" if t["threads"] != 1 else "")
    return f"""# starter:image — a tiny diffusion UNet pre-trained on ten photographs

The built-in image model of Fine-Tuning Studio: a small diffusers `UNet2DModel` with a
`DDPMScheduler`, so the studio can fine-tune an image model offline, out of the box. It
draws {s['sample_size']}x{s['sample_size']} pictures with roughly the colours and grain of
its training crops and nothing recognisable: a demo and a starting point for textures, not a
product. For real work pick a hub model (google/ddpm-cifar10-32, google/ddpm-celebahq-256,
...) instead.

Load it like any diffusers pipeline folder:

```python
from diffusers import DDPMPipeline
pipe = DDPMPipeline.from_pretrained("resources/starters/image")
images = pipe(batch_size=4).images        # PIL images; 1000 DDPM steps (slow on a CPU)
```

## Data and licence

Pre-trained on random crops of the {len(d['photographs'])} pictures that scikit-image ships
as sample data (`skimage.data`), taken from the project's shared test data
(`../shared/data/images`; not shipped). Each is public domain, CC0 or BSD, as the
docstrings of `skimage.data` state:

| file | size, mode | source and licence |
|---|---|---|
{photos}

Greyscale files become grey RGB and transparent ones are composited on white (the studio's
own image reader, `studio.data.image.read_image`). The weights were trained by this
repository's script from these pictures alone and are the project's own work, under the
project's licence.

**Validation.** The {v['held_out']} is never trained on. {v['crops']} fixed crops from
those strips ({v['crops_per_photograph']} per photograph, sides log-uniform from
{v['min_crop']} px up to the strip's width, seed {v['seed']}) are each scored at
{v['timesteps_per_crop']} timesteps, evenly spread over the schedule, with fixed noise
(seed {v['noise_seed']}): the same weights always give the same number.

## Shape

| | |
|---|---|
| architecture | diffusers `UNet2DModel` + `DDPMScheduler` (a `DDPMPipeline` folder) |
| resolution | {s['sample_size']}x{s['sample_size']} RGB |
| widths per resolution | {', '.join(map(str, s['block_out_channels']))}, {s['layers_per_block']} ResNet layer(s) per block |
| blocks | down: {', '.join(s['down_block_types'])}; up: {', '.join(s['up_block_types'])} |
| attention | at the lowest resolution only (and in the mid block), heads of {s['attention_head_dim']} channels |
| GroupNorm groups | {s['norm_num_groups']} |
| noise schedule | {s['num_train_timesteps']} steps, {s['beta_schedule']} betas; the UNet predicts the noise ({s['prediction_type']}) |
| parameters | {info['parameters']:,} (float32, safetensors) |

## Training

{t['steps']:,} AdamW steps of {t['batch_size']} random crops ({t['crops_seen']:,} crops in
all). Each crop is a square whose side is drawn log-uniformly from {t['min_crop']} px to the
training region's short side (close-up texture to most of a scene), resized to
{s['sample_size']} px with antialiasing and flipped left-right with probability
{t['hflip']:g}; each gets a uniform random timestep and fresh noise, and the loss is the
mean squared error on the noise. Peak learning rate {t['lr']:g} after {t['warmup_steps']}
warm-up steps, cosine decay to {t['min_lr_ratio']:g}x of it, weight decay
{t['weight_decay']:g} on conv and linear weights, gradient clipping at {t['grad_clip']:g},
seed {t['seed']}. Trained on {threads} in {t['train_seconds'] / 60:.1f} minutes
({info['build_seconds'] / 60:.1f} minutes for the whole build).

## Measured

| fixed-noise validation denoising loss (held-out crops) | |
|---|---|
| untrained model of the same shape and seed | {info['untrained_val_loss']:.4f} |
| this starter | **{info['val_loss']:.4f}** |

Along the way: {history}.

## Samples

{sample_text}

## Rebuild

```sh
{info['command']}
```

Versions: torch {info['versions']['torch']}, diffusers {info['versions']['diffusers']}.
All numbers above are also in `starter_info.json`.
"""


if __name__ == "__main__":  # python -m studio.starters.image [options]
    parser = argparse.ArgumentParser(prog="python -m studio.starters build image",
                                     description=__doc__.strip().splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_arguments(parser)
    ns = parser.parse_args()
    ns.argv = ["build", "image", *sys.argv[1:]]
    try:
        sys.exit(main(ns))
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
