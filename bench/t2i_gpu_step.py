#!/usr/bin/env python
"""One LoRA training step size check for a lent GPU: the SD 1.5 UNet at 512x512 and the
SDXL UNet at 1024x1024 (gradient checkpointing on), random weights of the real
architectures (configs written here, nothing downloaded), random latents and text
embeddings, LoRA rank 16 on the attention projections, bf16 autocast, AdamW. Prints it/s
and peak GPU memory per model.

    python bench/t2i_gpu_step.py --model sd15 --batch 4 --steps 20
    python bench/t2i_gpu_step.py --model sdxl --batch 2 --steps 10
"""

from __future__ import annotations

import argparse
import sys
import time

SD15_UNET = dict(sample_size=64, cross_attention_dim=768, attention_head_dim=8,
                 block_out_channels=(320, 640, 1280, 1280), layers_per_block=2)
SDXL_UNET = dict(sample_size=128, cross_attention_dim=2048, layers_per_block=2,
                 block_out_channels=(320, 640, 1280), attention_head_dim=(5, 10, 20),
                 transformer_layers_per_block=(1, 2, 10), use_linear_projection=True,
                 down_block_types=("DownBlock2D", "CrossAttnDownBlock2D",
                                   "CrossAttnDownBlock2D"),
                 up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                 addition_embed_type="text_time", addition_time_embed_dim=256,
                 projection_class_embeddings_input_dim=2816)
TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("sd15", "sdxl"), default="sd15")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--checkpointing", action="store_true",
                    help="gradient checkpointing (always on for sdxl)")
    args = ap.parse_args()
    try:
        import torch
        from diffusers import UNet2DConditionModel
        from peft import LoraConfig
    except ImportError as exc:
        print(f"{args.model}: skipped ({exc.name} is not installed here)")
        return 0
    if not torch.cuda.is_available():
        print(f"{args.model}: skipped (no CUDA device)")
        return 0
    dev = torch.device("cuda")
    torch.manual_seed(0)
    xl = args.model == "sdxl"
    unet = UNet2DConditionModel(**(SDXL_UNET if xl else SD15_UNET)).to(dev)
    unet.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=16, lora_alpha=16, target_modules=TARGETS))
    if xl or args.checkpointing:
        unet.enable_gradient_checkpointing()
    params = [p for p in unet.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    side = 128 if xl else 64
    b = args.batch
    lat = torch.randn(b, 4, side, side, device=dev)
    emb = torch.randn(b, 77, 2048 if xl else 768, device=dev)
    kw = {}
    if xl:
        kw["added_cond_kwargs"] = {"text_embeds": torch.randn(b, 1280, device=dev),
                                   "time_ids": torch.tensor([[1024, 1024, 0, 0, 1024, 1024]]
                                                            * b, device=dev, dtype=torch.float)}
    unet.train()
    torch.cuda.reset_peak_memory_stats()
    t0 = 0.0
    for step in range(args.steps + args.warmup):
        if step == args.warmup:
            torch.cuda.synchronize()
            t0 = time.perf_counter()
        t = torch.randint(0, 1000, (b,), device=dev)
        noise = torch.randn_like(lat)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            pred = unet(lat + noise, t, encoder_hidden_states=emb, **kw).sample
        loss = torch.nn.functional.mse_loss(pred.float(), noise)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    n = sum(p.numel() for p in unet.parameters())
    print(f"{args.model}: UNet {n / 1e6:.0f} M params, {side * 8}x{side * 8} px, batch {b}, "
          f"LoRA r16, bf16{', grad checkpointing' if xl or args.checkpointing else ''}: "
          f"{args.steps / dt:.2f} it/s ({args.steps * b / dt:.1f} img/s), peak memory "
          f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
