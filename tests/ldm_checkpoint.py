"""Write a tiny diffusers StableDiffusionPipeline as one original-layout (CompVis / A1111)
``.safetensors`` checkpoint, as artists download them, so ``from_single_file`` can be
tested offline. diffusers reads this layout but has no writer; this is the inverse of its
``convert_ldm_*`` functions (the mapping of diffusers' own
``scripts/convert_diffusers_to_original_stable_diffusion.py``), generalised to any number
of levels and layers per block. Test use only."""

from __future__ import annotations

from pathlib import Path

import torch

RESNET = (("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
          ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"),
          ("conv_shortcut", "skip_connection"))
VAE_RESNET = (("conv_shortcut", "nin_shortcut"),)
VAE_ATTN = (("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."),
            ("to_out.0.", "proj_out."))


def _unet_prefixes(unet) -> list[tuple[str, str]]:
    """(diffusers prefix, original prefix) of every block of a UNet2DConditionModel."""
    c = unet.config
    L = c.layers_per_block
    levels = len(c.block_out_channels)
    out = [("time_embedding.linear_1.", "time_embed.0."), ("time_embedding.linear_2.",
                                                           "time_embed.2."),
           ("conv_in.", "input_blocks.0.0."), ("conv_norm_out.", "out.0."),
           ("conv_out.", "out.2."), ("mid_block.attentions.0.", "middle_block.1.")]
    out += [(f"mid_block.resnets.{j}.", f"middle_block.{2 * j}.") for j in range(2)]
    for i in range(levels):
        for j in range(L):
            n = (L + 1) * i + j + 1
            out.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{n}.0."))
            out.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{n}.1."))
        if i < levels - 1:
            out.append((f"down_blocks.{i}.downsamplers.0.conv.",
                        f"input_blocks.{(L + 1) * (i + 1)}.0.op."))
        up_attn = "CrossAttn" in c.up_block_types[i]
        for j in range(L + 1):
            n = (L + 1) * i + j
            out.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{n}.0."))
            out.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{n}.1."))
        if i < levels - 1:
            out.append((f"up_blocks.{i}.upsamplers.0.",
                        f"output_blocks.{(L + 1) * i + L}.{2 if up_attn else 1}."))
    return out


def _rename(key: str, prefixes, parts=()) -> str:
    """The original name of a diffusers ``key``: its block prefix, and inside ResNet blocks
    the layer names (``parts``)."""
    if ".resnets." not in key:
        parts = ()
    for new, old in prefixes:
        if key.startswith(new):
            key = old + key[len(new):]
            break
    else:
        raise KeyError(key)
    for new, old in parts:
        key = key.replace(f".{new}.", f".{old}.")
    return key


def unet_state(unet) -> dict[str, torch.Tensor]:
    prefixes = _unet_prefixes(unet)
    return {"model.diffusion_model." + _rename(k, prefixes, RESNET): v
            for k, v in unet.state_dict().items()}


def vae_state(vae) -> dict[str, torch.Tensor]:
    levels = len(vae.config.block_out_channels)
    L = vae.config.layers_per_block
    prefixes = [("encoder.conv_in.", "encoder.conv_in."), ("encoder.conv_out.",
                                                          "encoder.conv_out."),
                ("encoder.conv_norm_out.", "encoder.norm_out."),
                ("decoder.conv_in.", "decoder.conv_in."), ("decoder.conv_out.",
                                                          "decoder.conv_out."),
                ("decoder.conv_norm_out.", "decoder.norm_out."),
                ("quant_conv.", "quant_conv."), ("post_quant_conv.", "post_quant_conv.")]
    for side in ("encoder", "decoder"):
        prefixes.append((f"{side}.mid_block.attentions.0.", f"{side}.mid.attn_1."))
        prefixes += [(f"{side}.mid_block.resnets.{j}.", f"{side}.mid.block_{j + 1}.")
                     for j in range(2)]
    for i in range(levels):
        prefixes += [(f"encoder.down_blocks.{i}.resnets.{j}.", f"encoder.down.{i}.block.{j}.")
                     for j in range(L)]
        prefixes.append((f"encoder.down_blocks.{i}.downsamplers.0.",
                         f"encoder.down.{i}.downsample."))
        k = levels - 1 - i  # the decoder's up blocks run in reverse
        prefixes += [(f"decoder.up_blocks.{i}.resnets.{j}.", f"decoder.up.{k}.block.{j}.")
                     for j in range(L + 1)]
        prefixes.append((f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{k}.upsample."))
    out = {}
    for key, v in vae.state_dict().items():
        new = _rename(key, prefixes, VAE_RESNET)
        if ".attn_1." in new:
            for a, b in VAE_ATTN:
                new = new.replace(".attn_1." + a, ".attn_1." + b)
            if v.ndim == 2:  # the original attention is 1x1 convolutions
                v = v[:, :, None, None]
        out["first_stage_model." + new] = v
    return out


def write_sd15_checkpoint(pipe, path: Path) -> Path:
    from safetensors.torch import save_file

    state = {**unet_state(pipe.unet), **vae_state(pipe.vae)}
    # the original names its CLIP "text_model.…" (transformers >= 5.6 dropped that level)
    state.update({"cond_stage_model.transformer." + ("" if k.startswith("text_model.")
                                                     else "text_model.") + k: v
                  for k, v in pipe.text_encoder.state_dict().items()})
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path
