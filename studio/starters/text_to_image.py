"""Pre-train the tiny Stable-Diffusion-architecture text-to-image starter on captioned shapes.

The starter is a real ``StableDiffusionPipeline`` (CLIPTextModel + CLIPTokenizer,
AutoencoderKL, UNet2DConditionModel with cross-attention, DDPM/DDIM schedulers), only
tiny, so the studio's ordinary loading code (``from_pretrained`` on a folder) is the one
that runs offline. The recipe, top to bottom:

1. the training pictures come from ``studio.data.shapes`` (a coloured shape on a coloured
   background, sometimes patterned, at a position; its caption says all of that), drawn
   from a seed; a held-out set from another seed measures the result;
2. the tokenizer is a CLIP BPE tokenizer whose vocabulary is the bytes plus every word of
   the generator's captions (written here as ``vocab.json`` / ``merges.txt``);
3. the VAE (downsampling 2x to 4 latent channels) is trained first as an autoencoder
   (L1 + a small KL term), then frozen;
4. the UNet learns the usual noise-prediction objective on the cached latents with the
   text encoder training beside it; 10% of captions are dropped (empty prompt) so
   classifier-free guidance works;
5. measured on held-out captions: the share of generated images whose shape and background
   colours match the caption (nearest named colour of the centre vs the corners), written
   into ``STARTER.md`` and ``starter_info.json``.

Build: ``nice -n 5 python -m studio.starters build text_to_image`` (about 30 minutes on
a busy 2-core CPU).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shlex
import shutil
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from studio.core.paths import starters_dir

SPECIAL = ("<|startoftext|>", "<|endoftext|>")


# -- the pipeline's parts ----------------------------------------------------------------

def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def write_clip_tokenizer(folder: Path, words: list[str], max_length: int = 32):
    """A ``CLIPTokenizer`` whose vocabulary holds every byte (alone and word-final) and
    each of ``words`` as one token, built by left-to-right merges. Returns the tokenizer."""
    from transformers import CLIPTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chars = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for tok in chars + [c + "</w>" for c in chars]:
        vocab.setdefault(tok, len(vocab))
    merges: list[str] = []
    for word in sorted({w.lower() for w in words if w}):
        enc = "".join(_bytes_to_unicode()[b] for b in word.encode("utf-8"))
        parts = list(enc[:-1]) + [enc[-1] + "</w>"]
        while len(parts) > 1:
            a, b = parts[0], parts[1]
            merge = f"{a} {b}"
            if merge not in merges:
                merges.append(merge)
            parts = [a + b] + parts[2:]
            vocab.setdefault(a + b, len(vocab))
    for s in SPECIAL:
        vocab.setdefault(s, len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n",
                                       encoding="utf-8")
    tok = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"),
                        model_max_length=max_length, pad_token="<|endoftext|>")
    tok.save_pretrained(folder)
    return tok


def make_pipeline(words: list[str], *, image_size: int = 32, text_dim: int = 64,
                  text_layers: int = 2, unet_channels: tuple[int, ...] = (32, 64),
                  vae_channels: tuple[int, ...] = (32, 64), max_length: int = 32,
                  seed: int = 0, tokenizer_dir: Path | None = None,
                  attention_below_top: bool = False, zero_snr: bool = False,
                  pooled_text: bool = False):
    """A ``StableDiffusionPipeline`` of the SD-1.5 architecture, tiny, from a seed.

    ``attention_below_top``: the UNet's (cross-)attention sits in the blocks below the
    latent's own resolution (and the mid block) instead of at it: a quarter of the
    attention cost, and the colours a caption names are global, so reading the text at
    the coarser grid loses nothing. ``zero_snr``: the scheduler's last timestep is pure
    noise (rescaled betas, v-prediction, trailing timesteps; Lin et al. 2023). With SD's
    usual schedule a tiny latent keeps a readable trace of its colours at the last step,
    so the UNet learns to take the colours from the starting noise and ignore the text.
    ``pooled_text``: the UNet also adds an attention-pooled summary of the caption to its
    timestep embedding (diffusers' ``addition_embed_type="text"``), which every ResNet block
    reads: a global path for global facts such as colours, learned far sooner than
    cross-attention alone."""
    import tempfile

    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    tok = write_clip_tokenizer(tokenizer_dir or Path(tempfile.mkdtemp(prefix="clip-tok-")),
                               words, max_length)
    text = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tok), hidden_size=text_dim, intermediate_size=text_dim * 2,
        num_hidden_layers=text_layers, num_attention_heads=4, max_position_embeddings=max_length,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id))
    n = len(vae_channels)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4,
                        block_out_channels=vae_channels, layers_per_block=1,
                        down_block_types=("DownEncoderBlock2D",) * n,
                        up_block_types=("UpDecoderBlock2D",) * n, norm_num_groups=8,
                        sample_size=image_size)
    m = len(unet_channels)
    if attention_below_top:
        down = ("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (m - 1)
        up = ("CrossAttnUpBlock2D",) * (m - 1) + ("UpBlock2D",)
    else:
        down = ("CrossAttnDownBlock2D",) * (m - 1) + ("DownBlock2D",)
        up = ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (m - 1)
    unet = UNet2DConditionModel(
        sample_size=image_size // 2 ** (n - 1), in_channels=4, out_channels=4,
        block_out_channels=unet_channels, layers_per_block=1, norm_num_groups=8,
        down_block_types=down, up_block_types=up,
        cross_attention_dim=text_dim, attention_head_dim=8,
        **(dict(addition_embed_type="text", addition_embed_type_num_heads=4)
           if pooled_text else {}))
    # (trailing spacing ignores steps_offset; 1 only keeps diffusers' "outdated" warning off)
    schedule = (dict(rescale_betas_zero_snr=True, timestep_spacing="trailing",
                     prediction_type="v_prediction") if zero_snr
                else dict(prediction_type="epsilon"))
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear",
                              beta_start=0.00085, beta_end=0.012, clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1, **schedule)
    return StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok, unet=unet,
                                   scheduler=scheduler, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)


# -- command line --------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=starters_dir() / "text_to_image",
                   help="folder to write the starter into (replaced if it exists)")
    p.add_argument("--size", type=int, default=32, help="image side in pixels")
    p.add_argument("--images", type=int, default=3000, help="generated training images")
    p.add_argument("--eval-images", type=int, default=64, help="held-out captions measured")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vae-steps", type=int, default=300)
    p.add_argument("--vae-crop", type=int, default=16,
                   help="the VAE (convolutions only) trains on crops of this side: 4x "
                        "cheaper than whole images, and it works at any size")
    p.add_argument("--steps", type=int, default=1200, help="UNet + text encoder steps")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--unet-minutes", type=float, default=None,
                   help="instead of a fixed --steps: time the first steps and pick the "
                        "step count that fills this many minutes of UNet training")
    p.add_argument("--text-lr", type=float, default=5e-4,
                   help="text encoder learning rate; 0 keeps it frozen at its random "
                        "initialisation (each word still its own vector, but which colour "
                        "is the shape's and which the ground's is then hard to read)")
    p.add_argument("--vae-from", type=Path, default=None,
                   help="reuse the VAE of an earlier build (a starter folder) instead of "
                        "training one: the UNet then gets the whole time budget")
    p.add_argument("--caption-dropout", type=float, default=0.1)
    p.add_argument("--simple", type=float, default=0.5,
                   help="share of the training pictures drawn the plain way (one "
                        "medium shape, centred, on a plain ground: \"a red circle on a blue "
                        "background\"), so the colour words are learned first and fast")
    p.add_argument("--schedule", choices=("zero-snr", "sd"), default="zero-snr",
                   help="zero-snr: the last timestep is pure noise, v-prediction (the "
                        "text then decides the colours); sd: SD 1.5's own schedule")
    p.add_argument("--pooled-text", action=argparse.BooleanOptionalAction, default=True,
                   help="also feed the UNet a pooled caption through its timestep "
                        "embedding (addition_embed_type='text')")
    p.add_argument("--late-bias", type=float, default=1.0,
                   help="draw training timesteps t = T * u^(1/(1+b)): b > 0 favours the "
                        "noisiest steps, where only the caption tells the colours")
    p.add_argument("--attention", choices=("below-top", "all"), default="below-top",
                   help="where the UNet's cross-attention sits: below the latent's own "
                        "resolution (half the time per step) or also at it")
    p.add_argument("--guidance", type=float, default=5.0, help="guidance scale when measuring")
    p.add_argument("--sample-steps", type=int, default=20, help="DDIM steps when measuring")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--vae-channels", default="16,32",
                   help="AutoencoderKL block_out_channels (n blocks: 2^(n-1)x downsampling)")
    p.add_argument("--unet-channels", default="32,64",
                   help="UNet2DConditionModel block_out_channels")


def main(args: argparse.Namespace) -> int:
    info = build(args)
    print(f"saved {info['out']}: {info['parameters']:,} parameters, "
          f"{info['size_bytes'] / 1e6:.1f} MB; held-out colour accuracy: shape "
          f"{info['eval']['shape_colour']:.0%}, background {info['eval']['background_colour']:.0%}"
          f"; built in {info['build_seconds'] / 60:.1f} min")
    return 0


# -- training ----------------------------------------------------------------------------

def _to_tensor(images) -> torch.Tensor:
    import numpy as np

    arr = np.stack([np.asarray(im.convert("RGB"), dtype=np.uint8) for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def _cosine(step: int, total: int, warmup: int = 20) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def train_vae(vae, x: torch.Tensor, steps: int, crop: int, batch: int, lr: float,
              gen: torch.Generator, log) -> float:
    """Autoencoder training on random crops: L1 reconstruction + a tiny KL term."""
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    vae.train()
    last = float("nan")
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr * _cosine(step, steps)
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        top, left = (int(v) for v in torch.randint(0, x.shape[-1] - crop + 1, (2,),
                                                    generator=gen))
        xb = x[idx, :, top:top + crop, left:left + crop]
        post = vae.encode(xb).latent_dist
        # the mean, not a sample: an autoencoder learns flat colours far faster, and the
        # studio encodes with the mean too
        rec = vae.decode(post.mode()).sample
        loss = (rec - xb).abs().mean() + 1e-6 * post.kl().mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        last = float(loss.detach())
        if step % 50 == 0 or step == steps - 1:
            log(f"vae {step + 1}/{steps}: L1 {last:.4f}")
    vae.eval()
    return last


@torch.no_grad()
def vae_round_trip(vae, held_out: list) -> dict:
    """The colour measurement on held-out pictures encoded and decoded by the VAE: the
    most the UNet can reach through this VAE."""
    x = _to_tensor([s.image for s in held_out])
    rec = vae.decode(encode_all(vae, x)).sample
    return measure(((rec.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8), held_out)


@torch.no_grad()
def _load_vae(folder: Path, pipe, x: torch.Tensor, log):
    """An earlier build's AutoencoderKL, frozen; the UNet is rebuilt to its latent size."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    vae = AutoencoderKL.from_pretrained(Path(folder) / "vae").eval()
    latent = x.shape[-1] // 2 ** (len(vae.config.block_out_channels) - 1)
    if pipe.unet.config.sample_size != latent:
        torch.manual_seed(0)
        pipe.unet = UNet2DConditionModel.from_config(pipe.unet.config, sample_size=latent)
    return vae


@torch.no_grad()
def encode_all(vae, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
    return torch.cat([vae.encode(x[i:i + batch]).latent_dist.mode()
                      for i in range(0, len(x), batch)])


def late_timesteps(n: int, total: int, bias: float, gen) -> torch.Tensor:
    """``n`` training timesteps, uniform for ``bias`` 0, favouring the noisiest ones above:
    those are where the picture shows nothing yet and only the caption says its colours."""
    u = torch.rand(n, generator=gen) ** (1.0 / (1.0 + bias))
    return (u * total).long().clamp(0, total - 1)


def train_unet(pipe, latents: torch.Tensor, captions: list[str], args, gen, log) -> float:
    """Noise (or velocity, as the scheduler says) prediction; a share of captions dropped
    so guidance works. ``--text-lr 0`` keeps the text encoder frozen at its random
    initialisation: every word still gets its own vector, the UNet's cross-attention
    learns to read them, and its embeddings are computed once."""
    import random

    from diffusers import DDPMScheduler

    sched = DDPMScheduler.from_config(pipe.scheduler.config)
    text_lr = args.lr if args.text_lr is None else args.text_lr
    groups = [{"params": list(pipe.unet.parameters()), "base": args.lr}]
    if text_lr > 0:
        groups.append({"params": list(pipe.text_encoder.parameters()), "base": text_lr})
        pipe.text_encoder.train()
    else:
        pipe.text_encoder.requires_grad_(False)
    params = [q for g in groups for q in g["params"]]
    opt = torch.optim.AdamW(groups, lr=args.lr, weight_decay=0.01)
    tok = pipe.tokenizer
    ids_all = tok(captions, padding="max_length", max_length=tok.model_max_length,
                  truncation=True, return_tensors="pt").input_ids
    empty = tok([""], padding="max_length", max_length=tok.model_max_length,
                return_tensors="pt").input_ids[0]
    frozen_emb = None
    if text_lr <= 0:
        with torch.no_grad():
            frozen_emb = pipe.text_encoder(torch.cat([ids_all, empty[None]]))[0]
    rng = random.Random(args.seed)
    pipe.unet.train()
    ema = None
    total = args.steps
    started = time.time()
    step = 0
    while step < total:
        if args.unet_minutes and step == 30:
            # the machine's speed now decides the step count (the schedule follows it)
            rate = 30 / (time.time() - started)
            total = max(31, int(30 + (args.unet_minutes * 60 - (time.time() - started)) * rate))
            args.steps = total
            log(f"unet: {rate:.2f} steps/s -> {total} steps in {args.unet_minutes:g} min")
        for g in opt.param_groups:
            g["lr"] = g["base"] * _cosine(step, total, warmup=30)
        idx = torch.randint(0, len(latents), (args.batch_size,), generator=gen)
        dropped = torch.tensor([rng.random() < args.caption_dropout for _ in range(len(idx))])
        if frozen_emb is not None:
            cond = frozen_emb[torch.where(dropped, len(ids_all), idx)]
        else:
            ids = ids_all[idx].clone()
            ids[dropped] = empty
            cond = pipe.text_encoder(ids)[0]
        lat = latents[idx]
        noise = torch.randn(lat.shape, generator=gen)
        t = late_timesteps(len(lat), sched.config.num_train_timesteps, args.late_bias, gen)
        target = (sched.get_velocity(lat, noise, t)
                  if sched.config.prediction_type == "v_prediction" else noise)
        pred = pipe.unet(sched.add_noise(lat, noise, t), t, encoder_hidden_states=cond).sample
        loss = F.mse_loss(pred, target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        ema = float(loss.detach()) if ema is None else 0.95 * ema + 0.05 * float(loss.detach())
        if step % 25 == 0 or step == total - 1:
            log(f"unet {step + 1}/{total}: loss {ema:.4f}")
        step += 1
    pipe.unet.eval()
    pipe.text_encoder.eval()
    return float(ema)


def nearest_colour(rgb) -> str:
    from studio.data.shapes import COLOURS

    return min(COLOURS, key=lambda c: sum((a - b) ** 2 for a, b in zip(COLOURS[c], rgb)))


def _background_palette() -> tuple[torch.Tensor, list[str]]:
    """Every colour a background pixel can have (each palette colour and the lighter or
    darker second colour of its stripes and dots), with the colour name it counts as."""
    from studio.data.shapes import COLOURS, _second_colour

    names = list(COLOURS) * 2
    rgb = [COLOURS[c] for c in COLOURS] + [_second_colour(COLOURS[c]) for c in COLOURS]
    return torch.tensor(rgb, dtype=torch.float32), names


def background_colour(a: torch.Tensor) -> str:
    """The background's colour name: the majority vote of the image's border pixels (two
    pixels deep), each named by its nearest palette or pattern colour. A vote, not the
    corners' median: on a striped yellow or white ground the median mixes the stripe's
    colours into a third colour (the ground truth then scored 93%)."""
    palette, names = _background_palette()
    border = torch.cat([a[:2].reshape(-1, 3), a[-2:].reshape(-1, 3),
                        a[2:-2, :2].reshape(-1, 3), a[2:-2, -2:].reshape(-1, 3)])
    nearest = torch.cdist(border, palette).argmin(1).tolist()
    votes: dict[str, int] = {}
    for k in nearest:
        votes[names[k]] = votes.get(names[k], 0) + 1
    return max(votes, key=votes.get)


def measure(images: torch.Tensor, held_out: list) -> dict:
    """Share of generated images (uint8, N x 3 x H x W) whose colour at the shape's centre
    (its drawn position: captions place it left, top right, ...) and whose border are
    nearest (in RGB) to the caption's shape and background colours."""
    shape_ok = bg_ok = both = 0
    for img, s in zip(images, held_out):
        a = img.permute(1, 2, 0).float()
        cx, cy = s.centre
        n = a.shape[0]
        cy, cx = min(max(cy, 1), n - 2), min(max(cx, 1), n - 2)
        centre = a[cy - 1:cy + 2, cx - 1:cx + 2].reshape(-1, 3).mean(0).tolist()
        ok1 = nearest_colour(centre) == s.colour
        ok2 = background_colour(a) == s.background
        shape_ok += ok1
        bg_ok += ok2
        both += ok1 and ok2
    n = max(1, len(held_out))
    return {"shape_colour": shape_ok / n, "background_colour": bg_ok / n, "both": both / n,
            "images": len(held_out), "chance": 1 / 8}


@torch.no_grad()
def generate_images(pipe, prompts: list[str], steps: int, guidance: float, size: int,
                    seed: int = 0, batch: int = 32) -> torch.Tensor:
    """One image per prompt (prompt i from seed + i), through the pipeline itself, a
    batch of prompts per call."""
    out = []
    for i in range(0, len(prompts), batch):
        part = prompts[i:i + batch]
        gens = [torch.Generator().manual_seed(seed + i + k) for k in range(len(part))]
        imgs = pipe(part, num_inference_steps=steps, guidance_scale=guidance, height=size,
                    width=size, generator=gens, output_type="pt").images
        out.append((imgs.clamp(0, 1) * 255).round().to(torch.uint8))
    return torch.cat(out)


def plain_picture(rng, side: int):
    """One "a <colour> <shape> on a <colour> background" picture: medium, centred, plain."""
    from studio.data import shapes

    colour = rng.choice(list(shapes.COLOURS))
    ground = rng.choice([c for c in shapes.COLOURS if c != colour])
    return shapes.render(rng.choice(shapes.SHAPES), colour, "medium", "centre", ground,
                         "plain", side)


def plain_held_out(n: int, side: int, seed: int) -> list:
    """Plain pictures drawn from another seed (their captions were all in training: there
    are only 8 x 7 x 4 of them)."""
    import random

    return [plain_picture(random.Random(f"plain-held-out-{seed}-{i}"), side) for i in range(n)]


def training_pictures(n: int, side: int, seed: int, simple: float) -> list:
    """``n`` generated pictures, a ``simple`` share of them the plain kind (a curriculum
    folded into the mix: the plain captions teach the colour words; the rest, with sizes,
    positions and patterns, teach the other words)."""
    import random

    from studio.data import shapes

    n_plain = round(n * simple)
    rest = shapes.generate(n - n_plain, side, seed=seed)
    return rest + [plain_picture(random.Random(f"plain-{seed}-{i}"), side)
                   for i in range(n_plain)]


def build(args: argparse.Namespace) -> dict:
    from PIL import Image

    from studio.data import shapes
    from studio.models.image import make_grid

    torch.set_num_threads(args.threads)
    t0 = time.time()

    def log(text: str) -> None:
        print(f"[{time.time() - t0:6.0f}s] {text}", flush=True)

    gen = torch.Generator().manual_seed(args.seed)
    train = training_pictures(args.images, args.size, args.seed, args.simple)
    held_out = shapes.generate(args.eval_images, args.size, seed=args.seed + 1)
    tmp_tok = args.out.with_name("." + args.out.name + ".tokenizer-tmp")
    pipe = make_pipeline(shapes.vocabulary(), image_size=args.size, text_dim=32,
                         text_layers=2,
                         unet_channels=tuple(int(c) for c in args.unet_channels.split(",")),
                         vae_channels=tuple(int(c) for c in args.vae_channels.split(",")),
                         seed=args.seed, tokenizer_dir=tmp_tok,
                         attention_below_top=args.attention == "below-top",
                         zero_snr=args.schedule == "zero-snr",
                         pooled_text=args.pooled_text)
    shutil.rmtree(tmp_tok, ignore_errors=True)
    pipe.set_progress_bar_config(disable=True)
    x = _to_tensor([s.image for s in train])
    log(f"{len(train)} training images, {len(held_out)} held out, {args.size} px")
    if args.vae_from:
        pipe.vae = _load_vae(args.vae_from, pipe, x, log)
        with torch.no_grad():
            vae_l1 = float((pipe.vae.decode(encode_all(pipe.vae, x[:256])).sample
                            - x[:256]).abs().mean())
        log(f"VAE from {args.vae_from}: L1 {vae_l1:.4f}")
    else:
        vae_l1 = train_vae(pipe.vae, x, args.vae_steps, args.vae_crop, 32, 2e-3, gen, log)
    vae_ceiling = vae_round_trip(pipe.vae, held_out)
    log(f"held-out pictures through the VAE alone: {vae_ceiling}")
    latents = encode_all(pipe.vae, x)
    scale = float(1.0 / latents.std())
    pipe.vae.register_to_config(scaling_factor=scale)
    latents = latents * scale
    log(f"latents {tuple(latents.shape[1:])}, scaling factor {scale:.4f}")
    unet_loss = train_unet(pipe, latents, [s.caption for s in train], args, gen, log)
    images = generate_images(pipe, [s.caption for s in held_out], args.sample_steps,
                             args.guidance, args.size)
    result = measure(images, held_out)
    log(f"held-out: {result}")
    plain = plain_held_out(args.eval_images, args.size, args.seed + 1)
    plain_result = measure(generate_images(pipe, [s.caption for s in plain], args.sample_steps,
                                           args.guidance, args.size), plain)
    log(f"held-out plain captions: {plain_result}")

    tmp = args.out.with_name("." + args.out.name + ".building")  # hidden: not a starter yet
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.save_pretrained(tmp)
    grid = make_grid(images[:16])
    Image.fromarray(grid.permute(1, 2, 0).numpy()).resize(
        (grid.shape[2] * 4, grid.shape[1] * 4), Image.Resampling.NEAREST).save(tmp / "samples.png")
    n_params = sum(p.numel() for m in (pipe.unet, pipe.vae, pipe.text_encoder)
                   for p in m.parameters())
    info = {"out": str(args.out), "parameters": n_params, "size": args.size,
            "vae_scale": 2 ** (len(pipe.vae.config.block_out_channels) - 1),
            "vae_l1": vae_l1, "vae_ceiling": vae_ceiling, "unet_loss": unet_loss,
            "eval": result, "eval_plain": plain_result,
            "vae_from": _vae_source(args.vae_from),
            "unet_steps": args.steps, "batch_size": args.batch_size,
            "recipe": {"schedule": args.schedule, "text_lr": args.text_lr,
                       "simple": args.simple, "attention": args.attention, "lr": args.lr,
                       "pooled_text": args.pooled_text, "late_bias": args.late_bias},
            "eval_prompts": [s.caption for s in held_out[:16]],
            "guidance": args.guidance, "sample_steps": args.sample_steps,
            "build_seconds": time.time() - t0,
            "argv": shlex.join(getattr(args, "argv", []) or []),
            "python": platform.python_version(), "torch": torch.__version__}
    info["size_bytes"] = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file())
    (tmp / "starter_info.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    (tmp / "STARTER.md").write_text(model_card(info), encoding="utf-8")
    if args.out.exists():
        shutil.rmtree(args.out)
    tmp.rename(args.out)
    return info


def _vae_source(folder: Path | None) -> str | None:
    """How the reused VAE was built (its build's command), for the model card."""
    if not folder:
        return None
    info = Path(folder) / "starter_info.json"
    if info.is_file():
        return json.loads(info.read_text(encoding="utf-8")).get("argv") or str(folder)
    return str(folder)


def verdict(e: dict) -> str:
    """One honest paragraph on whether it follows colour words, from the measurement."""
    said = (f"Shape and background colours match the caption in {e['shape_colour']:.0%} and "
            f"{e['background_colour']:.0%} of held-out images, both in {e['both']:.0%} "
            f"(chance {e['chance']:.1%} each)")
    if e["shape_colour"] >= 0.6 and e["background_colour"] >= 0.6:
        return (f"**It follows the colour words.** {said}. Shapes and positions are rough "
                "(see below).")
    if e["shape_colour"] >= 0.3 or e["background_colour"] >= 0.3:
        return (f"**It follows colour words often, not reliably.** {said}; shapes and "
                "positions are rough. It is a real pipeline for the studio's loading, LoRA "
                "training, sampling and export paths, and fine-tuning moves it visibly "
                "(the neon demo).")
    return (f"**It does not follow prompts reliably.** {said}: barely above chance. It is "
            "still a real pipeline for the studio's loading, LoRA training, sampling and "
            "export paths, and fine-tuning moves it visibly (the neon demo).")


def model_card(info: dict) -> str:
    e = info["eval"]
    return f"""# Text-to-image starter (tiny Stable Diffusion 1.5 architecture)

A `StableDiffusionPipeline` of the SD-1.5 architecture, tiny: a 2-layer 32-wide CLIP text
encoder with a word-level CLIP BPE tokenizer
(every word of the shapes captions is one token), an AutoencoderKL (4 latent channels,
{info.get('vae_scale', 4)}x downsampling) and a UNet2DConditionModel with cross-attention
({info['parameters']:,} parameters in all). It exists so the studio's text-to-image family
works offline through its real loading code; it is not a general image model.

## What it draws

{info['size']}x{info['size']} pictures of one coloured shape (circle, square, triangle, star)
on a coloured background, sometimes striped or dotted, at a position, from captions such as
"a red circle on a blue background" or "a small yellow star on the left on a dotted green
background" (words: {', '.join(__import__('studio.data.shapes', fromlist=['x']).vocabulary())}).
Anything else (people, scenes, other words) it cannot draw: unknown words are split into
letters it never learned.

{verdict(e)}

## Measured

On {e['images']} held-out captions (another generator seed, not trained on; all kinds:
sizes, positions, patterns), DDIM {info['sample_steps']} steps, guidance {info['guidance']:g},
one image per caption: the colour at the shape's centre (where the caption puts it) is
nearest (RGB) to the caption's shape colour in **{e['shape_colour']:.0%}**, the border's
majority colour to the background colour in **{e['background_colour']:.0%}**, both in
**{e['both']:.0%}** (chance: {e['chance']:.1%} each, 8 colours).{_plain_line(info)} The measure
itself scores the generator's own pictures 100% / 100% and shuffled captions at chance.
Shapes (circle vs star vs triangle), sizes, positions and patterns were not measured and
are often wrong at this size: it draws the colours it is told far better than the shape.
Final training loss (smoothed) {info['unet_loss']:.4f}; VAE reconstruction L1
{info['vae_l1']:.4f}.{_ceiling_line(info)}

`samples.png`: the first 16 held-out captions (see `starter_info.json` for the list).

## How it was made

`python -m studio.starters {info['argv']}` on a busy 2-core CPU in
{info['build_seconds'] / 60:.0f} minutes: {_vae_recipe(info)}, then the UNet on cached
latents ({info.get('unet_steps', '?')} steps of {info.get('batch_size', '?')}), with {_recipe(info)}.
10% of captions are dropped (empty prompt) so classifier-free guidance works. Data:
`studio.data.shapes` (generated here; no third-party images). Python {info['python']},
torch {info['torch']}.

{HISTORY}"""


# What was tried before this recipe, measured (kept in the card: it says why the recipe
# is what it is, and what was not separated out)
HISTORY = """## How the recipe was found

Three earlier CPU builds with SD 1.5's own schedule (epsilon prediction, the text encoder
trained beside the UNet, cross-attention at the latent's resolution; up to 1,165 steps)
matched the caption's shape / background colour in 16% / 16%, 12% / 9% and 19% / 12% of
held-out images (guidance 3, the old measure): chance. The measure was checked first (the generator's own pictures score
100% / 100%, shuffled captions 13% / 13%; its old corner median scored striped yellow and
white grounds wrong, 93%). Then 4-5-minute runs on the 2x VAE's 16x16 latents, 32 held-out
captions, guidance 5, each adding one change to the one before (shape / background):

| run | steps | all captions | plain captions |
|---|---|---|---|
| zero-SNR + v-prediction, text encoder frozen, batch 32 | 76 | 16% / 9% | 16% / 12% |
| + cross-attention below the top level, batch 16, half plain pictures | 340 | 16% / 9% | 9% / 22% |
| + pooled caption in the timestep embedding, late-timestep bias 1 | 357 | 25% / 25% | 25% / 25% |
| + text encoder trained at 5e-4 | 274 | 12% / 44% | 16% / 59% |

The last row is this build's recipe, run about four times longer. Not separated out for
lack of time: each change alone, and SD's schedule with the other changes.
"""


def _plain_line(info: dict) -> str:
    p = info.get("eval_plain")
    if not p:
        return ""
    return (f" On {p['images']} plain captions (\"a <colour> <shape> on a <colour> "
            f"background\"; only 224 such captions exist, so all were in training, though "
            f"not these noise seeds): shape colour {p['shape_colour']:.0%}, background "
            f"{p['background_colour']:.0%}, both {p['both']:.0%}.")


def _recipe(info: dict) -> str:
    """The choices that made the text count, in words, from the build's settings."""
    r = info.get("recipe", {})
    parts = []
    if r.get("schedule") == "zero-snr":
        parts.append("a zero-terminal-SNR schedule and v-prediction (with SD's own schedule "
                     "the last step still shows the colours of the starting noise, and "
                     "three earlier builds learned to copy those instead of reading the "
                     "caption: 12-19% colour match)")
    if r.get("text_lr") == 0:
        parts.append("the text encoder frozen at its random initialisation (each word "
                     "keeps its own vector; the UNet's cross-attention learns to read them)")
    elif r.get("text_lr"):
        parts.append(f"the text encoder trained beside it at {r['text_lr']:.0e}")
    if r.get("simple"):
        parts.append(f"{r['simple']:.0%} of the pictures plain (one medium centred shape on a "
                     "plain ground), so the colour words come first")
    if r.get("pooled_text"):
        parts.append("a pooled caption added to the UNet's timestep embedding "
                     "(`addition_embed_type=\"text\"`) beside its cross-attention")
    if r.get("late_bias"):
        parts.append(f"training timesteps drawn as T·u^(1/{1 + r['late_bias']:g}), favouring "
                     "the noisiest, where only the caption tells the colours")
    if r.get("attention") == "below-top":
        parts.append("cross-attention below the latent's own resolution (and in the mid "
                     "block): half the time per step (measured), so more steps")
    return "; ".join(parts) or "SD 1.5's recipe"


def _ceiling_line(info: dict) -> str:
    c = info.get("vae_ceiling")
    if not c:
        return ""
    return (f" The held-out pictures themselves, encoded and decoded by the VAE, keep their "
            f"shape colour in {c['shape_colour']:.0%} and background in "
            f"{c['background_colour']:.0%} (the ceiling the UNet works under).")


def _vae_recipe(info: dict) -> str:
    first = "the VAE (L1 + tiny KL, on crops, decoding its mean)"
    if info.get("vae_from"):
        return (f"{first} reused from an earlier build (`python -m studio.starters "
                f"{info['vae_from']}`)")
    return first + " first"


# -- the demo's captioned folder ----------------------------------------------------------

NEON_TRIGGER = "neon"


def neon_style(sample):
    """The demo's style, as a PIL image: the shape's outline glowing in its own colour on
    black (what a user would teach with a trigger word)."""
    from PIL import Image, ImageChops, ImageFilter

    im = sample.image.convert("RGB")
    mask = Image.new("L", im.size, 0)
    solid = ImageChops.difference(im, Image.new("RGB", im.size, im.getpixel((0, 0))))
    mask = solid.convert("L").point(lambda v: 255 if v > 40 else 0)
    edge = mask.filter(ImageFilter.FIND_EDGES).filter(ImageFilter.MaxFilter(3))
    from studio.data.shapes import COLOURS

    glow = Image.new("RGB", im.size, COLOURS[sample.colour])
    return Image.composite(glow, Image.new("RGB", im.size, (0, 0, 0)), edge)


def write_neon_demo(folder: Path, n: int = 12, size: int = 32, seed: int = 7) -> list[Path]:
    """``n`` neon-style shapes with captions "neon, a red circle" (the subject in the
    starter's own words, the style named by the trigger word)."""
    from studio.data.shapes import caption_of, generate, render

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, drawn in enumerate(generate(n, size, seed=seed)):
        # drawn again on a plain background, so the outline is the shape's own
        ground = "black" if drawn.colour != "black" else "white"
        s = render(drawn.shape, drawn.colour, drawn.size, drawn.position, ground, "plain",
                   size)
        path = folder / f"neon_{i:02d}.png"
        neon_style(s).save(path)
        words = caption_of(s.shape, s.colour, s.size, s.position, "black", "plain")
        subject = words.split(" on a ")[0]
        path.with_suffix(".txt").write_text(f"{NEON_TRIGGER}, {subject}\n", encoding="utf-8")
        out.append(path)
    return out
