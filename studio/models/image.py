"""Unconditional image family: diffusers ``UNet2DModel`` + ``DDPMScheduler``.

Sources: "starter:image" (shipped, offline), a ``DDPMPipeline`` folder (model_index.json,
unet/, scheduler/) or a bare UNet folder, or a hub id of the google/ddpm-* kind.
Training is the DDPM objective (predict the noise added at a random timestep);
previews are DDIM samples from fixed seeds, so grids compare across steps.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from studio.core.errors import ModelError
from studio.core.events import Sample
from studio.models.base import LayerGroup, Loaded, checked_source


@dataclass
class ImageData:
    train_images: list            # uint8 [3, h, w] tensors (short side >= size)
    val: torch.Tensor             # float [n, 3, size, size] in [-1, 1], fixed centre crops
    size: int
    crop: str
    augment: Any                  # studio.data.image.AugmentSpec
    summary: str
    skipped: list

    @property
    def n_train(self) -> int:
        return len(self.train_images)

    @property
    def n_val(self) -> int:
        return len(self.val)

    def train_batch(self, idx: torch.Tensor, seed: int) -> torch.Tensor:
        from studio.data.image import augment_batch
        return augment_batch([self.train_images[int(i)] for i in idx], self.size, self.augment,
                             self.crop, seed)

    def val_batch(self, b: int, bs: int) -> torch.Tensor:
        return self.val[b * bs:(b + 1) * bs]

    @staticmethod
    def items_in(batch: torch.Tensor) -> int:
        return len(batch)  # images


class ImageFamily:
    name = "image"
    throughput_unit = "img"

    # -- loading -----------------------------------------------------------------------
    def load(self, source: str, device: Any = "cpu", dtype: Any = None, *, revision: str = "",
             trust_remote_code: bool = False) -> Loaded:  # noqa: ARG002 - no remote code here
        from diffusers import DDPMScheduler, UNet2DModel
        from diffusers.utils import logging as d_logging

        d_logging.set_verbosity_error()
        d_logging.disable_progress_bar()
        path = checked_source(source)
        kw: dict[str, Any] = {"revision": revision} if revision else {}
        p = Path(path)
        try:
            if p.is_dir() and (p / "config.json").is_file() and not (p / "unet").is_dir():
                unet = UNet2DModel.from_pretrained(path, **kw)  # a bare UNet folder
                scheduler = DDPMScheduler(num_train_timesteps=1000)
            else:
                unet = UNet2DModel.from_pretrained(path, subfolder="unet", **kw)
                scheduler = DDPMScheduler.from_pretrained(path, subfolder="scheduler", **kw)
        except (OSError, ValueError, KeyError, EnvironmentError) as exc:
            hint = ("the folder must be a DDPMPipeline (model_index.json, unet/, scheduler/) "
                    "or a UNet2DModel saved with save_pretrained") if p.exists() else \
                "check the hub id; offline, only models already in the Hugging Face cache load"
            raise ModelError(f"{source}: cannot load the diffusion model "
                             f"({type(exc).__name__}: {str(exc)[:200]})", hint) from None
        unet.to(device=device, dtype=dtype or torch.float32)
        return Loaded(model=unet, extras={"scheduler": scheduler}, source=source)

    # -- layer tree --------------------------------------------------------------------
    def layer_groups(self, loaded: Loaded) -> list[LayerGroup]:
        return unet_layer_groups(loaded.model)

    # -- data --------------------------------------------------------------------------
    def image_size(self, loaded: Loaded, cfg: Any) -> int:
        if cfg.data.image_size:
            return cfg.data.image_size
        s = loaded.model.config.sample_size
        return int(s[0] if isinstance(s, (list, tuple)) else s)

    def datasets(self, loaded: Loaded, cfg: Any, resolve=lambda p: Path(p)) -> ImageData:
        from studio.data.image import (
            AugmentSpec,
            center_crop_batch,
            load_image_corpus,
            split_images,
        )

        size = self.image_size(loaded, cfg)
        a = cfg.augment
        spec = AugmentSpec(hflip=a.hflip, vflip=a.vflip, rotation=a.rotation,
                           rotation_p=a.rotation_p, scale_jitter=a.scale_jitter,
                           color_jitter=a.color_jitter, color_p=a.color_p,
                           noise_std=a.noise_std, noise_p=a.noise_p)
        corpus = load_image_corpus([resolve(p) for p in cfg.data.paths], size,
                                   background=cfg.data.background,
                                   scale_jitter=a.scale_jitter)
        train_idx, val_idx = split_images(len(corpus.images), cfg.data.val_fraction,
                                          cfg.data.split_seed)
        val = center_crop_batch([corpus.images[i] for i in val_idx], size) if val_idx else \
            torch.zeros(0, 3, size, size)
        summary = (f"Read {len(corpus.images)} images ({len(corpus.skipped)} skipped) at "
                   f"{size}x{size} ({cfg.data.crop} crops). Training: {len(train_idx)} images; "
                   f"validation: {len(val_idx)} images (fixed centre crops, fixed timesteps "
                   f"and noise).")
        return ImageData([corpus.images[i] for i in train_idx], val, size, cfg.data.crop, spec,
                         summary, list(corpus.skipped))

    # -- training ----------------------------------------------------------------------
    def _target(self, scheduler, x0, noise, t):
        kind = scheduler.config.prediction_type
        if kind == "epsilon":
            return noise
        if kind == "v_prediction":
            return scheduler.get_velocity(x0, noise, t)
        return x0  # "sample"

    def loss(self, loaded: Loaded, batch: torch.Tensor) -> torch.Tensor:
        """DDPM: add noise at a random timestep, predict it (or v / x0), mean squared error."""
        unet, scheduler = loaded.model, loaded.extras["scheduler"]
        noise = torch.randn_like(batch)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (len(batch),),
                          device=batch.device)
        noisy = scheduler.add_noise(batch, noise, t)
        pred = unet(noisy, t).sample
        return F.mse_loss(pred.float(), self._target(scheduler, batch, noise, t).float())

    def reference_examples(self, loaded: Loaded, cfg: Any, data: Any, path: Path, limit: int,
                           shipped: bool = False) -> torch.Tensor:  # noqa: ARG002
        """Up to ``limit`` reference images at the run's size, in [-1, 1] (the forgetting
        probe): the starter's own crop sheet when ``shipped``, else a file or folder."""
        if shipped:
            x = starter_crops(path)[:limit]
            if x.shape[-1] != data.size:
                x = F.interpolate(x, size=(data.size, data.size), mode="bilinear",
                                  align_corners=False, antialias=True).clamp(-1, 1)
            return x
        from studio.data.image import center_crop_batch, load_image_corpus

        corpus = load_image_corpus([path], data.size)
        return center_crop_batch(corpus.images[:limit], data.size)

    def val_loss(self, loaded: Loaded, batch: torch.Tensor, index: int) -> torch.Tensor:
        """The same objective at fixed, evenly spread timesteps with fixed noise, so the
        number moves only when the model does (not with the dice)."""
        unet, scheduler = loaded.model, loaded.extras["scheduler"]
        g = torch.Generator().manual_seed(10_007 + index)
        noise = torch.randn(batch.shape, generator=g).to(batch.device, batch.dtype)
        T = scheduler.config.num_train_timesteps
        frac = (torch.arange(len(batch)) + 0.5 + index * 0.37) % len(batch) / len(batch)
        t = (frac * T).long().clamp(0, T - 1).to(batch.device)
        pred = unet(scheduler.add_noise(batch, noise, t), t).sample
        return F.mse_loss(pred.float(), self._target(scheduler, batch, noise, t).float())

    # -- sampling ----------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, loaded: Loaded, seeds: list[int], steps: int) -> torch.Tensor:
        """DDIM from fixed seeds; returns uint8 [n, 3, H, W]."""
        from diffusers import DDIMScheduler

        unet = loaded.model
        ddim = DDIMScheduler.from_config(loaded.extras["scheduler"].config)
        ddim.set_timesteps(steps)
        device = next(unet.parameters()).device
        s = unet.config.sample_size
        h, w = (s, s) if isinstance(s, int) else tuple(s)
        c = unet.config.in_channels
        x = torch.stack([torch.randn(c, h, w, generator=torch.Generator().manual_seed(sd))
                         for sd in seeds]).to(device)
        was_training = unet.training
        unet.eval()
        try:
            for t in ddim.timesteps:
                eps = unet(x, t).sample
                x = ddim.step(eps, t, x).prev_sample
        finally:
            unet.train(was_training)
        return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()

    def sample(self, loaded: Loaded, scfg: Any, step: int, out_dir: Path | None = None,
               prompts: tuple[str, ...] | None = None) -> list[Sample]:  # noqa: ARG002
        from PIL import Image

        seeds = [scfg.seed + i for i in range(scfg.num_images)]
        images = self.generate(loaded, seeds, scfg.inference_steps)
        samples = []
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
        for i, (sd, img) in enumerate(zip(seeds, images)):
            path = ""
            if out_dir is not None:
                path = str(out_dir / f"image_{i:02d}_seed{sd}.png")
                Image.fromarray(img.permute(1, 2, 0).numpy()).save(path)
            samples.append(Sample(kind="image", step=step, index=i, path=path, seed=sd,
                                  meta={"inference_steps": scfg.inference_steps}))
        if out_dir is not None:
            grid = make_grid(images)
            Image.fromarray(grid.permute(1, 2, 0).numpy()).save(out_dir / "grid.png")
            (out_dir / "index.json").write_text(json.dumps(
                [{"index": s.index, "path": Path(s.path).name, "seed": s.seed}
                 for s in samples], indent=1), encoding="utf-8")
        return samples

    # -- export ------------------------------------------------------------------------
    def export(self, loaded: Loaded, out_dir: Path, card: str = "") -> None:
        from diffusers import DDPMPipeline

        out_dir.mkdir(parents=True, exist_ok=True)
        DDPMPipeline(unet=loaded.model, scheduler=loaded.extras["scheduler"]).save_pretrained(
            out_dir)
        if card:
            (out_dir / "README.md").write_text(
                card + "\nLoad with `diffusers.DDPMPipeline.from_pretrained(folder)`.\n",
                encoding="utf-8")


# The image starter's crops.png: 16 training crops of 32 px in a 4-wide grid with 2-px
# gaps (make_grid), enlarged 4x nearest-neighbour.
_CROPS_GRID = {"n": 16, "cols": 4, "size": 32, "pad": 2, "zoom": 4}


def starter_crops(path: Path) -> torch.Tensor:
    """The 16 crops of the image starter's crops.png, back at 32 px, in [-1, 1]."""
    import numpy as np
    from PIL import Image

    g = _CROPS_GRID
    arr = np.asarray(Image.open(path).convert("RGB"))[::g["zoom"], ::g["zoom"]]
    step = g["size"] + g["pad"]
    crops = []
    for k in range(g["n"]):
        r, c = divmod(k, g["cols"])
        y, x = g["pad"] + r * step, g["pad"] + c * step
        crops.append(arr[y:y + g["size"], x:x + g["size"]])
    t = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float()
    return t / 127.5 - 1.0


def make_grid(images: torch.Tensor, pad: int = 2) -> torch.Tensor:
    n, c, h, w = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = torch.full((c, rows * (h + pad) + pad, cols * (w + pad) + pad), 255, dtype=torch.uint8)
    for k in range(n):
        r, col = divmod(k, cols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, y:y + h, x:x + w] = images[k]
    return grid


def unet_layer_groups(unet: torch.nn.Module) -> list[LayerGroup]:
    """Time embedding, input conv, each down block, mid block, each up block, output."""
    named = list(unet.named_parameters())

    def group(name: str, title: str, prefixes: tuple[str, ...]) -> LayerGroup:
        ps = [(n, p) for n, p in named if n.startswith(prefixes)]
        return LayerGroup(name, title, [n for n, _ in ps], count=sum(p.numel() for _, p in ps))

    groups = [group("time_embedding", "Time embedding",
                    ("time_proj.", "time_embedding.", "class_embedding."))]
    groups.append(group("input", "Input conv", ("conv_in.",)))
    for i, blk in enumerate(getattr(unet, "down_blocks", [])):
        groups.append(group(f"down.{i}", f"Down block {i} ({type(blk).__name__})",
                            (f"down_blocks.{i}.",)))
    if getattr(unet, "mid_block", None) is not None:
        groups.append(group("mid", "Mid block", ("mid_block.",)))
    for i, blk in enumerate(getattr(unet, "up_blocks", [])):
        groups.append(group(f"up.{i}", f"Up block {i} ({type(blk).__name__})",
                            (f"up_blocks.{i}.",)))
    groups.append(group("out", "Output (norm + conv)", ("conv_norm_out.", "conv_out.")))
    covered = {n for g in groups for n in g.params}
    rest = [(n, p) for n, p in named if n not in covered]
    if rest:
        groups.append(LayerGroup("other", "Other", [n for n, _ in rest],
                                 count=sum(p.numel() for _, p in rest)))
    return [g for g in groups if g.params]
