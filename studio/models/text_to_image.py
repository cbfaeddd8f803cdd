"""Text-to-image family: diffusers ``StableDiffusionPipeline`` / ``StableDiffusionXLPipeline``
fine-tuned with LoRA on captioned images.

Sources: "starter:text_to_image" (shipped, offline), a diffusers pipeline folder
(model_index.json naming a StableDiffusion(XL)Pipeline), a hub id
(``stable-diffusion-v1-5/stable-diffusion-v1-5``, ``stabilityai/stable-diffusion-xl-base-1.0``)
or a single-file ``.safetensors`` checkpoint as artists download them.

The parts that train live under one ``nn.Module`` (``SDModel``: ``unet``, ``text_encoder``,
``text_encoder_2`` for SDXL, ``vae``), so the engine's freeze plan, LoRA injection,
checkpoints and resume work on it as on every family. The VAE is always frozen: images
are encoded once (latents cached on disk, ``studio.data.text_to_image``) and decoded in
fp32 for samples, so a bf16/fp16 run never produces black images.

Training is the noise-prediction objective: add noise to a latent at a random timestep,
predict the noise (epsilon) or the velocity (v-prediction), as the scheduler's config
says; mean squared error per image, weighted by min-SNR-gamma (Hang et al. 2023) when
``train.snr_gamma`` > 0, with optional offset noise. Samples run the diffusers pipeline
itself over these modules, so an exported LoRA loaded into diffusers gives the same image
for the same seed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from studio.core.errors import ConfigError, ModelError
from studio.core.events import Sample
from studio.core.paths import resolve_model_source
from studio.data.text_to_image import T2IBatch
from studio.models.base import LayerGroup, Loaded

PIPELINES = ("StableDiffusionPipeline", "StableDiffusionXLPipeline")
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")
# the hub repos whose configs diffusers fetches to build a single-file checkpoint
SINGLE_FILE_CONFIGS = {False: "stable-diffusion-v1-5/stable-diffusion-v1-5",
                       True: "stabilityai/stable-diffusion-xl-base-1.0"}


class SDModel(nn.Module):
    """The pipeline's networks under one module: parameter names are ``unet.…``,
    ``text_encoder.…``, ``text_encoder_2.…`` and ``vae.…``."""

    def __init__(self, unet: nn.Module, vae: nn.Module, text_encoder: nn.Module,
                 text_encoder_2: nn.Module | None = None) -> None:
        super().__init__()
        self.unet, self.vae, self.text_encoder = unet, vae, text_encoder
        self.text_encoder_2 = text_encoder_2
        # what generic helpers read (dropout override, memory estimate): the UNet's sizes
        self.config = _UNetShape(unet, vae)

    @property
    def xl(self) -> bool:
        return self.text_encoder_2 is not None

    def text_encoders(self) -> list[nn.Module]:
        return [m for m in (self.text_encoder, self.text_encoder_2) if m is not None]

    def enable_gradient_checkpointing(self) -> None:
        self.unet.enable_gradient_checkpointing()
        for te in self.text_encoders():
            te.gradient_checkpointing_enable()


class _UNetShape:
    """A config-like view for ``studio.models.freeze.model_shape`` (the memory estimate):
    the UNet's levels as layers, its widest channels, one "head" (attention runs through
    scaled_dot_product_attention, which keeps no score matrix), and its positions: the
    latent pixels (``latent``: VAE downsampling and the model's own resolution)."""

    def __init__(self, unet: nn.Module, vae: nn.Module) -> None:
        c = unet.config
        self.hidden_size = int(max(c.block_out_channels))
        self.num_attention_heads = 1
        self.num_hidden_layers = len(c.block_out_channels) * 2 + 1
        scale = 2 ** (len(vae.config.block_out_channels) - 1)
        s = c.sample_size
        s = s[0] if isinstance(s, (list, tuple)) else s
        self.latent = {"scale": scale, "native": int(s) * scale}


# -- loading ----------------------------------------------------------------------------

def _quiet() -> None:
    from diffusers.utils import logging as d_logging
    from transformers.utils import logging as hf_logging

    d_logging.set_verbosity_error()
    d_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def single_file_is_xl(path: Path) -> bool:
    """SDXL checkpoints hold a second text encoder under ``conditioner.embedders.1``."""
    if path.suffix != ".safetensors":
        return False
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return any(k.startswith("conditioner.embedders.1.") for k in f.keys())


def config_folder_for(path: Path) -> Path | None:
    """A diffusers folder of the same architecture next to a single-file checkpoint:
    ``<stem>.config/`` or ``<stem>/`` beside it, or the file's own folder when it holds a
    model_index.json (only the JSON configs and the tokenizer are read)."""
    for cand in (path.with_name(path.stem + ".config"), path.with_suffix(""), path.parent):
        if (cand / "model_index.json").is_file():
            return cand
    return None


def pipeline_class_name(source: str, path: str, revision: str = "") -> str:
    """The ``_class_name`` of a folder's or hub repo's model_index.json."""
    p = Path(path)
    try:
        if p.is_dir():
            index = json.loads((p / "model_index.json").read_text(encoding="utf-8"))
        else:
            from diffusers import DiffusionPipeline

            index = DiffusionPipeline.load_config(path, **({"revision": revision}
                                                           if revision else {}))
    except (OSError, ValueError) as exc:
        raise _explain(source, p, exc) from None
    name = str(index.get("_class_name", ""))
    if name not in PIPELINES:
        raise ModelError(f"{source}: a {name or 'diffusers'} model, not a Stable Diffusion "
                         "pipeline", "text_to_image takes StableDiffusionPipeline or "
                         "StableDiffusionXLPipeline models (SD 1.x/2.x, SDXL)")
    return name


def _explain(source: str, p: Path, exc: Exception) -> ModelError:
    text = f"{type(exc).__name__}: {str(exc)[:300]}"
    if p.exists():
        return ModelError(f"{source}: cannot load the Stable Diffusion pipeline ({text})",
                          "the folder must be a diffusers pipeline (model_index.json, unet/, "
                          "vae/, text_encoder/, tokenizer/, scheduler/) saved with "
                          "save_pretrained, or a single-file .safetensors checkpoint")
    if _offline() or "offline" in text.lower():
        return ModelError(f"{source}: not a local folder, and it is not in the Hugging Face "
                          "cache while offline",
                          "connect once to download it, or give a local folder")
    return ModelError(f"{source}: cannot load the Stable Diffusion pipeline ({text})",
                      "check the hub id (e.g. stable-diffusion-v1-5/stable-diffusion-v1-5) or "
                      "the folder path")


def load_single_file(source: str, path: Path):
    """A pipeline from one checkpoint file. diffusers builds it from the architecture's
    configs: a diffusers folder beside the file, else the hub repo's (fetched, or read from
    the Hugging Face cache). Offline with neither, a ConfigError says what to provide."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    xl = single_file_is_xl(path)
    cls = StableDiffusionXLPipeline if xl else StableDiffusionPipeline
    local = config_folder_for(path)
    kw: dict[str, Any] = {"dtype": torch.float32}
    if not xl:
        kw.update(safety_checker=None, requires_safety_checker=False)
    repo = SINGLE_FILE_CONFIGS[xl]
    from diffusers.loaders.single_file_utils import SingleFileComponentError

    try:
        if local is not None:
            return cls.from_single_file(str(path), config=str(local), local_files_only=True,
                                        **kw)
        return cls.from_single_file(str(path), local_files_only=_offline(), **kw)
    except SingleFileComponentError as exc:  # e.g. a UNet-only file: not a whole pipeline
        first = str(exc.message or exc).strip().splitlines()[0]
        raise ModelError(f"{source}: the checkpoint is not a whole Stable Diffusion "
                         f"pipeline ({first})",
                         "use a full checkpoint (UNet, VAE and text encoder in one file, as "
                         "Civitai's 'full' downloads are) or a diffusers folder") from None
    except (OSError, ValueError, EnvironmentError) as exc:
        if local is None:
            what = "SDXL" if xl else "SD 1.x"
            raise ConfigError(
                "model.source",
                f"{source}: a single-file {what} checkpoint needs the pipeline's config files "
                f"(model_index.json and the unet/, vae/, text_encoder/, tokenizer/, scheduler/ "
                f"configs of {repo}), and they are not here "
                f"({type(exc).__name__}: {str(exc)[:160]})",
                f"put a diffusers folder of that architecture (its JSON and tokenizer files "
                f"are enough) beside the file as {path.with_name(path.stem + '.config')}, or "
                f"connect once so diffusers caches {repo}") from None
        raise ModelError(f"{source}: cannot load the checkpoint with the configs in {local} "
                         f"({type(exc).__name__}: {str(exc)[:200]})",
                         "the folder's architecture must match the file (SD 1.x vs SDXL)"
                         ) from None


def lora_targets(cfg_freeze: Any) -> tuple[str, ...]:
    return tuple(getattr(cfg_freeze, "lora_targets", ()) or ())


def target_velocity(scheduler, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor):
    return scheduler.get_velocity(x0, noise, t)


def snr_of(scheduler, t: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio alpha_bar / (1 - alpha_bar) at timesteps ``t``."""
    ac = scheduler.alphas_cumprod.to(t.device)[t].float()
    return ac / (1.0 - ac)


def min_snr_weights(scheduler, t: torch.Tensor, gamma: float) -> torch.Tensor:
    """min(SNR, gamma) / SNR for epsilon, / (SNR + 1) for v-prediction (Hang et al. 2023)."""
    snr = snr_of(scheduler, t)
    clipped = torch.clamp(snr, max=gamma)
    if scheduler.config.prediction_type == "v_prediction":
        return clipped / (snr + 1.0)
    return clipped / snr.clamp(min=1e-8)


class TextToImageFamily:
    name = "text_to_image"
    throughput_unit = "img"

    # -- loading -----------------------------------------------------------------------
    def load(self, source: str, device: Any = "cpu", dtype: Any = None, *, revision: str = "",
             trust_remote_code: bool = False) -> Loaded:  # noqa: ARG002 - no remote code
        from diffusers import (
            DDPMScheduler,
            StableDiffusionPipeline,
            StableDiffusionXLPipeline,
        )

        _quiet()
        path = resolve_model_source(source)
        p = Path(path).expanduser()
        if source.startswith("starter:") and not p.is_dir():
            raise ModelError(f"{source}: the starter model is missing at {path}",
                             "rebuild it with `python -m studio.starters build text_to_image`")
        if source.startswith((".", "/", "~")) and not p.exists():
            raise ModelError(f"{source}: no such model folder or file", "check the path")
        if p.is_file():
            if p.suffix.lower() not in SINGLE_FILE_SUFFIXES:
                raise ModelError(f"{source}: not a checkpoint file",
                                 "give a diffusers folder or a .safetensors checkpoint")
            pipe = load_single_file(source, p)
        else:
            name = pipeline_class_name(source, path, revision)
            cls = StableDiffusionXLPipeline if name.endswith("XLPipeline") else \
                StableDiffusionPipeline
            kw: dict[str, Any] = {"dtype": torch.float32}
            if revision:
                kw["revision"] = revision
            if cls is StableDiffusionPipeline:  # the safety checker is not trained or used
                kw.update(safety_checker=None, feature_extractor=None,
                          requires_safety_checker=False)
            try:
                pipe = cls.from_pretrained(path, **kw)
            except (OSError, ValueError, KeyError, EnvironmentError, TypeError) as exc:
                raise _explain(source, p, exc) from None
        xl = isinstance(pipe, StableDiffusionXLPipeline)
        model = SDModel(pipe.unet, pipe.vae, pipe.text_encoder,
                        getattr(pipe, "text_encoder_2", None) if xl else None)
        model.to(device=device, dtype=torch.float32)
        model.vae.requires_grad_(False)
        tokenizers = [pipe.tokenizer] + ([pipe.tokenizer_2] if xl else [])
        return Loaded(model=model, source=source, extras={
            "tokenizers": tokenizers, "tokenizer": pipe.tokenizer,
            "scheduler": DDPMScheduler.from_config(pipe.scheduler.config),
            "sample_scheduler": pipe.scheduler, "xl": xl,
            "pipeline_class": type(pipe).__name__,
            "vae_scale": 2 ** (len(pipe.vae.config.block_out_channels) - 1)})

    # -- layer tree --------------------------------------------------------------------
    def layer_groups(self, loaded: Loaded) -> list[LayerGroup]:
        return sd_layer_groups(loaded.model)

    # -- data --------------------------------------------------------------------------
    def datasets(self, loaded: Loaded, cfg: Any, resolve=lambda p: Path(p)):
        from studio.data.text_to_image import build_dataset
        from studio.models import freeze as fz

        # text embeddings can be cached only while the text encoders stay frozen
        plan = fz.resolve_plan(self.layer_groups(loaded), cfg.freeze)
        te_trains = any(st.mode != "frozen" and st.group.name.startswith("text_encoder")
                        for st in plan)
        return build_dataset(self, loaded, cfg, resolve, text_encoder_trains=te_trains)

    def resolution(self, loaded: Loaded, cfg: Any) -> int:
        """Training resolution in pixels: ``data.resolution``, else the model's own."""
        res = int(getattr(cfg.data, "resolution", 0) or 0)
        if res:
            return res
        s = loaded.model.unet.config.sample_size
        s = s[0] if isinstance(s, (list, tuple)) else s
        return int(s) * int(loaded.extras["vae_scale"])

    # -- conditioning ------------------------------------------------------------------
    def tokenize(self, loaded: Loaded, captions: list[str]) -> list[torch.Tensor]:
        """Token ids per tokenizer, padded to its model_max_length (as the pipeline does)."""
        out = []
        for tok in loaded.extras["tokenizers"]:
            out.append(tok(captions, padding="max_length", max_length=tok.model_max_length,
                           truncation=True, return_tensors="pt").input_ids)
        return out

    def encode_text(self, loaded: Loaded, ids: list[torch.Tensor]
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(encoder hidden states, pooled embedding for SDXL else None), as the pipelines
        compute them: SD's last hidden state; SDXL's penultimate layers of both encoders
        side by side and the second encoder's projected pooled output."""
        model = _inner(loaded.model)
        if not model.xl:
            return model.text_encoder(ids[0])[0], None
        states, pooled = [], None
        for te, tid in zip(model.text_encoders(), ids):
            out = te(tid, output_hidden_states=True)
            states.append(out.hidden_states[-2])
            if te is model.text_encoder_2:
                pooled = out[0]
        return torch.cat(states, dim=-1), pooled

    # -- training ----------------------------------------------------------------------
    def _noise_loss(self, loaded: Loaded, part: dict[str, torch.Tensor],
                    noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Per-image mean squared error of the UNet's prediction."""
        model = loaded.model
        inner = _inner(model)
        scheduler = loaded.extras["scheduler"]
        latents = part["latents"]
        if "embeds" in part:
            cond, pooled = part["embeds"], part.get("pooled")
        else:
            cond, pooled = self.encode_text(loaded, [part[k] for k in sorted(part)
                                                     if k.startswith("ids")])
        noisy = scheduler.add_noise(latents, noise, t)
        kw: dict[str, Any] = {}
        if inner.xl:
            kw["added_cond_kwargs"] = {"text_embeds": pooled, "time_ids": part["time_ids"]}
        pred = inner.unet(noisy, t, encoder_hidden_states=cond.to(noisy.dtype), **kw).sample
        if scheduler.config.prediction_type == "v_prediction":
            target = target_velocity(scheduler, latents, noise, t)
        else:
            target = noise
        return F.mse_loss(pred.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))

    def loss(self, loaded: Loaded, batch: T2IBatch) -> torch.Tensor:
        opts = loaded.extras.get("train_options", {})
        scheduler = loaded.extras["scheduler"]
        T = scheduler.config.num_train_timesteps
        total, n = None, 0
        for part in batch.parts:
            lat = part["latents"]
            noise = torch.randn_like(lat)
            offset = float(opts.get("noise_offset", 0.0))
            if offset > 0:  # offset noise: lets the model learn very dark / bright images
                noise = noise + offset * torch.randn(lat.shape[0], lat.shape[1], 1, 1,
                                                     device=lat.device, dtype=lat.dtype)
            t = torch.randint(0, T, (lat.shape[0],), device=lat.device)
            per = self._noise_loss(loaded, part, noise, t)
            gamma = float(opts.get("snr_gamma", 0.0))
            if gamma > 0:
                per = per * min_snr_weights(scheduler, t, gamma)
            s = per.sum()
            total = s if total is None else total + s
            n += lat.shape[0]
        return total / max(1, n)

    def val_loss(self, loaded: Loaded, batch: T2IBatch, index: int) -> torch.Tensor:
        """The plain objective (no SNR weighting) at fixed, evenly spread timesteps with
        fixed noise, so the number moves only when the model does."""
        scheduler = loaded.extras["scheduler"]
        T = scheduler.config.num_train_timesteps
        total, n = None, 0
        for k, part in enumerate(batch.parts):
            lat = part["latents"]
            g = torch.Generator().manual_seed(10_007 + index * 131 + k)
            noise = torch.randn(lat.shape, generator=g).to(lat.device, lat.dtype)
            b = lat.shape[0]
            frac = (torch.arange(b) + 0.5 + index * 0.37 + k * 0.11) % b / b
            t = (frac * T).long().clamp(0, T - 1).to(lat.device)
            s = self._noise_loss(loaded, part, noise, t).sum()
            total = s if total is None else total + s
            n += b
        return total / max(1, n)

    # -- sampling ----------------------------------------------------------------------
    def pipeline(self, loaded: Loaded):
        """A diffusers pipeline over the loaded (possibly LoRA-adapted) modules."""
        from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

        m = _inner(loaded.model)
        sched = loaded.extras["sample_scheduler"]
        toks = loaded.extras["tokenizers"]
        if m.xl:
            pipe = StableDiffusionXLPipeline(vae=m.vae, text_encoder=m.text_encoder,
                                             text_encoder_2=m.text_encoder_2,
                                             tokenizer=toks[0], tokenizer_2=toks[1],
                                             unet=m.unet, scheduler=sched)
        else:
            pipe = StableDiffusionPipeline(vae=m.vae, text_encoder=m.text_encoder,
                                           tokenizer=toks[0], unet=m.unet, scheduler=sched,
                                           safety_checker=None, feature_extractor=None,
                                           requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    @torch.no_grad()
    def generate(self, loaded: Loaded, prompt: str, seeds: list[int], *, steps: int,
                 guidance: float, size: tuple[int, int], negative: str = "") -> torch.Tensor:
        """uint8 [n, 3, H, W] images of ``prompt``, one per seed (CPU generators, so a
        seed gives the same picture on every device), without touching the training RNG."""
        pipe = self.pipeline(loaded)
        model = loaded.model
        was = model.training
        model.eval()
        out = []
        try:
            for seed in seeds:
                g = torch.Generator().manual_seed(int(seed))
                with torch.autocast("cuda", enabled=False), torch.autocast("cpu", enabled=False):
                    img = pipe(prompt, negative_prompt=negative or None,
                               num_inference_steps=steps, guidance_scale=guidance,
                               height=size[0], width=size[1], generator=g,
                               output_type="pt").images[0]
                out.append((img.clamp(0, 1) * 255).round().to(torch.uint8).cpu())
        finally:
            model.train(was)
        return torch.stack(out)

    def sample(self, loaded: Loaded, scfg: Any, step: int, out_dir: Path | None = None,
               prompts: tuple[str, ...] | None = None) -> list[Sample]:
        """Each prompt at ``sample.num_images`` fixed seeds, with the trigger word and
        without it (so the user sees what the trigger adds); one grid per prompt."""
        from PIL import Image

        from studio.models.image import make_grid

        opts = loaded.extras.get("train_options", {})
        trigger = str(opts.get("trigger_word", "") or "")
        size = opts.get("sample_size") or (self.default_size(loaded),) * 2
        prompts = tuple(prompts if prompts is not None else scfg.prompts)
        seeds = [scfg.seed + i for i in range(int(getattr(scfg, "num_images", 2)))]
        steps = int(getattr(scfg, "inference_steps", 25))
        guidance = float(getattr(scfg, "guidance_scale", 7.5))
        say_where = out_dir is None  # `studio sample`: the files go to a new temp folder
        if out_dir is None:
            import tempfile
            out_dir = Path(tempfile.mkdtemp(prefix="studio-samples-"))
        out_dir.mkdir(parents=True, exist_ok=True)
        samples: list[Sample] = []
        index = []
        for pi, prompt in enumerate(prompts):
            variants = trigger_variants(prompt, trigger)
            rows = []
            for vi, (text, with_trigger) in enumerate(variants):
                images = self.generate(loaded, text, seeds, steps=steps, guidance=guidance,
                                       size=tuple(size))
                rows.append(images)
                for si, (seed, img) in enumerate(zip(seeds, images)):
                    name = f"p{pi:02d}_{'trigger' if with_trigger else 'plain'}_seed{seed}.png"
                    Image.fromarray(img.permute(1, 2, 0).numpy()).save(out_dir / name)
                    s = Sample(kind="image", step=step, index=len(samples), prompt=text,
                               path=str(out_dir / name), seed=seed,
                               text=f"\n(image: {out_dir / name})" if say_where else "",
                               meta={"trigger": with_trigger, "prompt_index": pi,
                                     "row": vi, "column": si, "base_prompt": prompt,
                                     "grid": f"p{pi:02d}_grid.png",
                                     "inference_steps": steps, "guidance_scale": guidance})
                    samples.append(s)
                    index.append({"index": s.index, "prompt": text, "path": name,
                                  "seed": seed, "trigger": with_trigger})
            grid = make_grid(torch.cat(rows), pad=2) if len(rows) == 1 else \
                _rows_grid(rows)
            Image.fromarray(grid.permute(1, 2, 0).numpy()).save(out_dir / f"p{pi:02d}_grid.png")
        (out_dir / "index.json").write_text(json.dumps(index, indent=1, ensure_ascii=False),
                                            encoding="utf-8")
        return samples

    def default_size(self, loaded: Loaded) -> int:
        s = loaded.model.unet.config.sample_size
        s = s[0] if isinstance(s, (list, tuple)) else s
        return int(s) * int(loaded.extras["vae_scale"])

    # -- export ------------------------------------------------------------------------
    def export(self, loaded: Loaded, out_dir: Path, card: str = "") -> None:
        """The merged full pipeline folder (``fmt="full"``; LoRA already merged in)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        self.pipeline(loaded).save_pretrained(out_dir)
        if card:
            (out_dir / "README.md").write_text(
                card + f"\nLoad with `diffusers.{loaded.extras['pipeline_class']}"
                       ".from_pretrained(folder)`.\n", encoding="utf-8")

    def export_format(self, loaded: Loaded, out_dir: Path, fmt: str, *, name: str = "lora",
                      card: str = "") -> list[Path]:
        """The LoRA formats: ``diffusers_lora`` (a folder ``pipe.load_lora_weights``
        loads, alpha in its metadata) and ``kohya`` (one A1111/ComfyUI/kohya file)."""
        from studio.models import t2i_export

        if fmt == "diffusers_lora":
            return [t2i_export.write_diffusers_lora(loaded, out_dir, card=card)]
        if fmt == "kohya":
            return [t2i_export.write_kohya(loaded, out_dir / f"{name}.safetensors")]
        raise ConfigError("--format", f"unknown export format {fmt!r}",
                          "use diffusers_lora, kohya or full")


def trigger_variants(prompt: str, trigger: str) -> list[tuple[str, bool]]:
    """[(prompt with the trigger word, True), (prompt without it, False)]; just the prompt
    when there is no trigger word."""
    if not trigger:
        return [(prompt, False)]
    words = [w.strip() for w in prompt.split(",")]
    plain = ", ".join(w for w in words if w and w != trigger) if trigger in words else \
        " ".join(prompt.replace(trigger, " ").split())
    with_t = prompt if trigger in prompt else f"{trigger}, {prompt}"
    return [(with_t, True), (plain or prompt, False)]


def _rows_grid(rows: list[torch.Tensor], pad: int = 2) -> torch.Tensor:
    """Rows of images (same count and size) into one uint8 [3, H, W] grid, white gaps."""
    n = max(len(r) for r in rows)
    _, c, h, w = rows[0].shape
    grid = torch.full((c, len(rows) * (h + pad) + pad, n * (w + pad) + pad), 255,
                      dtype=torch.uint8)
    for r, imgs in enumerate(rows):
        for k, img in enumerate(imgs):
            y, x = pad + r * (h + pad), pad + k * (w + pad)
            grid[:, y:y + h, x:x + w] = img
    return grid


def _inner(model: nn.Module) -> SDModel:
    return getattr(model, "module", model)  # DistributedDataParallel


def sd_layer_groups(model: SDModel) -> list[LayerGroup]:
    """Text encoder(s), the UNet (time embedding, input conv, each down block, mid block,
    each up block, output) and the VAE (always frozen, shown for its size)."""
    from studio.models.image import unet_layer_groups

    named = dict(model.named_parameters())

    def group(name: str, title: str, prefix: str, note: str = "") -> LayerGroup:
        ps = [n for n in named if n.startswith(prefix)]
        return LayerGroup(name, title, ps, count=sum(named[n].numel() for n in ps), note=note)

    te_note = ("frozen unless you choose otherwise: LoRA here adapts the attention "
               "projections (q/k/v/out) of the text encoder")
    groups = [group("text_encoder", "Text encoder (CLIP)" if not model.xl
                    else "Text encoder 1 (CLIP ViT-L)", "text_encoder.", te_note)]
    if model.xl:
        groups.append(group("text_encoder_2", "Text encoder 2 (OpenCLIP ViT-bigG)",
                            "text_encoder_2.", te_note))
    for g in unet_layer_groups(model.unet):
        g.params = [f"unet.{n}" for n in g.params]
        g.title = g.title.replace("Time embedding", "UNet time embedding").replace(
            "Input conv", "UNet input conv").replace("Output (norm + conv)", "UNet output")
        if g.name == "other" and all(n.startswith("unet.add_embedding.") for n in g.params):
            # SDXL's added conditioning: the pooled text embedding and the image's size and
            # crop (time ids) join the timestep embedding through this MLP
            g.name, g.title = "added_cond", "UNet added conditioning (pooled text, sizes)"
        has_attn = any(".attn" in n or "attentions." in n for n in g.params)
        if not has_attn:
            g.note = ("no attention layers: LoRA on the attention projections (the "
                      "default freeze.lora_targets) adds nothing here")
        groups.append(g)
    # SDXL's added conditioning joins the timestep embedding: list it beside it
    added = [g for g in groups if g.name == "added_cond"]
    if added:
        groups.remove(added[0])
        at = next((i + 1 for i, g in enumerate(groups) if g.name == "time_embedding"),
                  len(groups))
        groups.insert(at, added[0])
    vae_n = sum(p.numel() for n, p in named.items() if n.startswith("vae."))
    groups.append(LayerGroup("vae", "VAE (image <-> latent)", [], count=0,
                             note=f"{vae_n:,} parameters, always frozen: it turns images into "
                                  "the latents the UNet learns (cached on disk) and decodes "
                                  "samples in fp32"))
    return [g for g in groups if g.params or g.name == "vae"]
