#!/usr/bin/env python
"""Text-to-image throughput: the studio engine against a plain diffusers LoRA loop, and the
latent cache's speed-up.

Both contenders train the SAME UNet (a ``StableDiffusionPipeline`` built from a seed and
saved in a temp folder that both load: ``--size tiny`` is the starter's shape at 32 px,
``--size sd15`` the real SD 1.5 architecture with random weights at 512 px, for a GPU),
with the same LoRA (rank, alpha, the attention projections), batch, resolution, AdamW,
constant rate, gradient clipping at 1, precision, and the same training tensors: latents
and text embeddings of ``--images`` generated captioned shapes, encoded once.

  engine   ``studio.engine.run``: no validation split, interval samples and checkpoints
           off, min-SNR weighting off (the plain loop has none), ``log_every`` = 10.
  plain    the loop of diffusers' ``train_text_to_image_lora.py`` without accelerate and
           with the latents and embeddings precomputed (as the engine's cache has them):
           ``unet.add_adapter(LoraConfig)``, noise, ``add_noise``, UNet, MSE, backward,
           clip, step; ``loss.item()`` every 10 steps.

Images/s over the steps after ``--warmup`` (wall clock; also per CPU second of the
process, which other users of a shared CPU distort far less). The two run in pairs, interleaved (A B, B A,
A B, ...: a load that comes and goes on a shared machine hits both sides alike), and the
ratio is the median of the per-pair ratios. Both sides must do the same work: the bench
checks that they train the same number of LoRA parameters, and the engine's timed window
(from its step ``--warmup`` log to its last) holds no evaluation, sample or checkpoint
(its step-0 and final samples and its final save fall outside it). Then the cache: the engine's dataset preparation + first epoch with a cold
latents cache (every image through the VAE) against the same with the cache warm.

    nice -n 5 python bench/t2i_throughput.py            # CPU, tiny, a few minutes
    python bench/t2i_throughput.py --steps 20 --warmup 10 --repeats 1 --images 16  # smoke
    python bench/t2i_throughput.py --size sd15 --device cuda --batch 4 --precision bf16

Target (the issue): engine >= 0.97x the plain loop.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGETS = ("to_q", "to_k", "to_v", "to_out.0")


def build_model(folder: Path, size: str):
    """The pipeline both contenders load: (folder, resolution)."""
    import torch

    from studio.data import shapes
    from studio.starters.text_to_image import make_pipeline

    if size == "tiny":
        pipe = make_pipeline(shapes.vocabulary(), image_size=32, text_dim=32,
                             unet_channels=(32, 64), vae_channels=(16, 32, 32),
                             tokenizer_dir=folder.with_name("tok"))
        res = 32
    else:  # the SD 1.5 architecture from its published configs, random weights
        from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
        from transformers import CLIPTextConfig, CLIPTextModel

        from bench.t2i_gpu_step import SD15_UNET
        from studio.starters.text_to_image import write_clip_tokenizer

        torch.manual_seed(0)
        tok = write_clip_tokenizer(folder.with_name("tok"), shapes.vocabulary(), 77)
        text = CLIPTextModel(CLIPTextConfig(
            vocab_size=len(tok), hidden_size=768, intermediate_size=3072,
            num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id))
        vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2,
                            down_block_types=("DownEncoderBlock2D",) * 4,
                            up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4,
                            sample_size=512, scaling_factor=0.18215)
        small = make_pipeline(shapes.vocabulary(), tokenizer_dir=folder.with_name("tok2"))
        pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok,
                                       unet=UNet2DConditionModel(**SD15_UNET),
                                       scheduler=small.scheduler, safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)
        res = 512
    pipe.save_pretrained(folder)
    return folder, res


def engine_config(model: Path, data: Path, work: Path, args, res: int, steps: int,
                  cache: Path):
    from studio.config.io import dumps_toml, load_config

    text = dumps_toml({
        "run": {"name": "bench", "runs_dir": str(work / "runs"), "family": "text_to_image"},
        "model": {"source": str(model)},
        "data": {"paths": [str(data)], "val_fraction": 0.0, "resolution": res,
                 "latents_cache": str(cache)},
        "train": {"max_steps": steps, "batch_size": args.batch, "lr": 1e-4,
                  "schedule": "constant", "warmup_steps": 0, "device": args.device,
                  "precision": args.precision, "snr_gamma": 0.0, "log_every": 10,
                  "grad_clip": 1.0},
        "eval": {"every": 0, "reference": "off"},
        "sample": {"every": 0, "num_images": 1, "inference_steps": 1, "prompts": ["a"]},
        "checkpoint": {"every": 0},
        "freeze": {"default_mode": "lora", "lora_rank": args.rank,
                   "lora_alpha": float(args.rank), "lora_targets": list(TARGETS)},
    })
    p = work / "bench.toml"
    p.write_text(text, encoding="utf-8")
    return load_config(p)


class Clock:
    """Timestamps of the engine's StepLogged events."""

    def __init__(self, warmup: int, last: int) -> None:
        self.warmup, self.last, self.t, self.cpu = warmup, last, {}, {}
        self.t0 = time.perf_counter()
        self.first_step = None
        self.trainable = 0
        self.side_work: list[str] = []  # evaluations, samples, saves inside the window

    def emit(self, event) -> None:
        from studio.core import events as ev

        if isinstance(event, ev.RunStarted):
            self.trainable = event.trainable_params
        inside = self.warmup in self.t and self.last not in self.t
        if inside and isinstance(event, (ev.EvalLogged, ev.SampleReady, ev.CheckpointSaved)):
            self.side_work.append(type(event).__name__)
        if isinstance(event, ev.StepLogged):
            now = time.perf_counter()
            if self.first_step is None:
                self.first_step = now - self.t0
            if event.step in (self.warmup, self.last):
                self.t[event.step] = now
                self.cpu[event.step] = time.process_time()


def run_engine(cfg, args) -> tuple[dict, int]:
    """({"wall": images/s, "cpu": images per CPU second}, trainable parameters)."""
    from studio.engine import run

    clock = Clock(args.warmup, args.steps)
    run(cfg, clock)
    if clock.side_work:
        raise SystemExit(f"the engine did {', '.join(clock.side_work)} inside the timed "
                         "window: not the plain loop's work")
    n = (args.steps - args.warmup) * args.batch
    w, c = args.warmup, args.steps
    return {"wall": n / (clock.t[c] - clock.t[w]),
            "cpu": n / (clock.cpu[c] - clock.cpu[w])}, clock.trainable


def tensors(model: Path, data: Path, cfg):
    """The engine's own latents and embeddings (one build of its dataset)."""
    import torch

    from studio.models.base import get_family

    fam = get_family("text_to_image")
    loaded = fam.load(str(model), "cpu")
    ds = fam.datasets(loaded, cfg)
    lat = torch.stack(ds.latents)
    emb, _ = ds.embed([ds.caption(i, None) for i in range(len(ds.items))])
    return lat, emb


def run_plain(model: Path, lat, emb, args) -> tuple[dict, int]:
    """({"wall": images/s, "cpu": images per CPU second}, trainable parameters)."""
    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler, UNet2DConditionModel
    from peft import LoraConfig

    device = torch.device(args.device if args.device != "auto" else
                          ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_pretrained(str(model), subfolder="unet").to(device)
    unet.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=args.rank, lora_alpha=args.rank, target_modules=list(TARGETS),
                                init_lora_weights="gaussian"))
    sched = DDPMScheduler.from_pretrained(str(model), subfolder="scheduler")
    params = [p for p in unet.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
    lat, emb = lat.to(device), emb.to(device)
    bf16 = args.precision == "bf16" and device.type == "cuda"
    n = len(lat)
    perm = torch.randperm(n)
    pos = 0
    t_warm = c_warm = 0.0
    unet.train()
    for step in range(1, args.steps + 1):
        idx = perm[torch.arange(pos, pos + args.batch) % n]
        pos += args.batch
        x, c = lat[idx], emb[idx]
        noise = torch.randn_like(x)
        t = torch.randint(0, sched.config.num_train_timesteps, (len(x),), device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            pred = unet(sched.add_noise(x, noise, t), t, encoder_hidden_states=c).sample
        loss = F.mse_loss(pred.float(), noise.float())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step % 10 == 0 or step == args.steps:
            print(f"plain step {step}: loss {loss.item():.4f}", end="\r")
        if step in (args.warmup, args.steps):
            if device.type == "cuda":
                torch.cuda.synchronize()
            if step == args.warmup:
                t_warm, c_warm = time.perf_counter(), time.process_time()
    n = (args.steps - args.warmup) * args.batch
    rate = {"wall": n / (time.perf_counter() - t_warm), "cpu": n / (time.process_time() - c_warm)}
    return rate, sum(p.numel() for p in params)


def cache_speedup(model: Path, data: Path, work: Path, args, res: int) -> tuple[float, float]:
    """Seconds from the start of a run to the end of its first epoch: cold cache, warm."""
    from studio.engine import run

    steps = max(1, args.images // args.batch)
    out = []
    cache = work / "speedup-cache"
    for _ in range(2):
        cfg = engine_config(model, data, work, args, res, steps, cache)
        clock = Clock(0, steps)
        t0 = time.perf_counter()
        run(cfg, clock)
        out.append(clock.t.get(steps, time.perf_counter()) - t0)
    return out[0], out[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=("tiny", "sd15"), default="tiny")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=10, help="engine/plain pairs")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch CPU threads (0: torch's default; 1 on a shared CPU, where "
                         "threads waiting for a busy core make both sides jitter)")
    args = ap.parse_args()
    if args.warmup % 10 or args.steps % 10 or args.steps <= args.warmup:
        ap.error("--warmup and --steps must be multiples of 10 (both sides log the loss "
                 "every 10 steps), steps > warmup")
    from studio.data import shapes

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="t2i-bench-") as tmp:
        work = Path(tmp)
        model, res = build_model(work / "model", args.size)
        data = work / "data"
        shapes.write_folder(data, args.images, size=res, seed=0)
        cfg = engine_config(model, data, work, args, res, args.steps, work / "cache")
        lat, emb = tensors(model, data, cfg)  # also warms the engine's cache
        eng, plain, ratios, cpu_ratios = [], [], [], []
        for k in range(args.repeats):
            order = (("engine", "plain") if k % 2 == 0 else ("plain", "engine"))
            got = {}
            for who in order:
                got[who] = (run_engine(cfg, args) if who == "engine"
                            else run_plain(model, lat, emb, args))
            (e_k, e_n), (p_k, p_n) = got["engine"], got["plain"]
            if e_n != p_n:
                raise SystemExit(f"not the same LoRA: the engine trains {e_n:,} parameters, "
                                 f"the plain loop {p_n:,}")
            eng.append(e_k["wall"])
            plain.append(p_k["wall"])
            ratios.append(e_k["wall"] / p_k["wall"])
            cpu_ratios.append(e_k["cpu"] / p_k["cpu"])
            print(f"pair {k + 1} ({' then '.join(order)}): engine {e_k['wall']:.2f}, plain "
                  f"{p_k['wall']:.2f} img/s, ratio {ratios[-1]:.3f} (per CPU second "
                  f"{cpu_ratios[-1]:.3f})" + " " * 20)
        e, p = statistics.median(eng), statistics.median(plain)
        ratio = statistics.median(ratios)
        cold, warm = cache_speedup(model, data, work, args, res)
        print(f"\n{args.size} at {res} px, batch {args.batch}, LoRA rank {args.rank}, "
              f"{args.device} {args.precision}, {args.steps} steps ({args.warmup} warm-up), "
              f"{args.repeats} pairs, {args.threads or 'default'} CPU threads")
        print(f"both train {e_n:,} LoRA parameters (rank {args.rank} on "
              f"{', '.join(TARGETS)})")
        print(f"engine {e:.2f} img/s, plain diffusers LoRA loop {p:.2f} img/s (medians); "
              f"ratio {ratio:.3f}x, the median of {len(ratios)} pairs (range "
              f"{min(ratios):.3f}-{max(ratios):.3f}; target >= 0.97x)")
        print(f"per CPU second of the process (what a busy shared CPU distorts least): "
              f"ratio {statistics.median(cpu_ratios):.3f}x (range {min(cpu_ratios):.3f}-"
              f"{max(cpu_ratios):.3f})")
        print(f"latent cache: start to end of epoch 1 {cold:.1f} s cold, {warm:.1f} s warm "
              f"({cold / warm:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
