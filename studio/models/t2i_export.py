"""Writing a text-to-image run's LoRA where artists load it.

* ``write_diffusers_lora``: a folder holding ``pytorch_lora_weights.safetensors`` in
  diffusers' own layout (``unet.…lora_A.weight``), with the adapter's ``LoraConfig``
  (rank, the *trained* alpha, target modules) in the file's metadata, so
  ``pipe.load_lora_weights(folder)`` scales the update by alpha / rank as in training
  (without the metadata diffusers would assume alpha = rank).
* ``write_kohya``: one ``.safetensors`` in the kohya-ss layout that A1111, ComfyUI,
  kohya_ss and diffusers' own converter read: ``lora_unet_<module_path_with_underscores>``
  (``lora_te_`` / ``lora_te1_`` / ``lora_te2_`` for text encoders) with ``.lora_down.weight``
  (A), ``.lora_up.weight`` (B) and a scalar ``.alpha``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from studio.core.errors import StudioError

COMPONENTS = ("unet", "text_encoder", "text_encoder_2")


def lora_tensors(model: torch.nn.Module) -> dict[str, dict[str, dict[str, torch.Tensor]]]:
    """component -> module path -> {"A": tensor, "B": tensor}, from injected peft layers."""
    out: dict[str, dict[str, dict[str, torch.Tensor]]] = {}
    for name, p in model.named_parameters():
        for ab in ("A", "B"):
            tag = f".lora_{ab}."
            if tag not in name:
                continue
            module = name.split(tag, 1)[0]
            comp, _, path = module.partition(".")
            if comp not in COMPONENTS:
                continue
            out.setdefault(comp, {}).setdefault(path, {})[ab] = \
                p.detach().to("cpu", torch.float32).contiguous()
    if not out:
        raise StudioError("this run trained no LoRA adapters",
                          "export the merged pipeline instead (--format full)")
    return out


def _lora_config(model: torch.nn.Module) -> Any:
    cfg = getattr(model, "_studio_lora_config", None)
    if cfg is None:
        raise StudioError("the model has no LoRA configuration", "export --format full")
    return cfg


def _metadata(cfg: Any, modules: list[str]) -> dict:
    from peft import LoraConfig

    meta = LoraConfig(r=int(cfg.r), lora_alpha=float(cfg.lora_alpha),
                      target_modules=sorted(modules), lora_dropout=0.0,
                      init_lora_weights=True).to_dict()
    return {k: (sorted(v) if isinstance(v, set) else v) for k, v in meta.items()}


def write_diffusers_lora(loaded: Any, out_dir: Path, card: str = "") -> Path:
    """``pipe.load_lora_weights(out_dir)`` loads it (alpha from the metadata)."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    model = loaded.model
    cfg = _lora_config(model)
    tensors = lora_tensors(model)
    layers: dict[str, dict[str, torch.Tensor]] = {}
    meta: dict[str, dict] = {}
    for comp, mods in tensors.items():
        layers[comp] = {f"{path}.lora_{ab}.weight": t for path, ab_t in mods.items()
                        for ab, t in ab_t.items()}
        meta[comp] = _metadata(cfg, list(mods))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    kw: dict[str, Any] = {"unet_lora_layers": layers.get("unet"),
                          "text_encoder_lora_layers": layers.get("text_encoder"),
                          "unet_lora_adapter_metadata": meta.get("unet"),
                          "text_encoder_lora_adapter_metadata": meta.get("text_encoder")}
    if loaded.extras.get("xl"):
        kw["text_encoder_2_lora_layers"] = layers.get("text_encoder_2")
        kw["text_encoder_2_lora_adapter_metadata"] = meta.get("text_encoder_2")
        StableDiffusionXLPipeline.save_lora_weights(out_dir, **kw)
    else:
        StableDiffusionPipeline.save_lora_weights(out_dir, **kw)
    if card:
        (out_dir / "README.md").write_text(
            card + "\nLoad with `pipe.load_lora_weights(folder)` on the base pipeline "
                   f"(rank {cfg.r}, alpha {cfg.lora_alpha:g}).\n", encoding="utf-8")
    return out_dir / "pytorch_lora_weights.safetensors"


def kohya_prefix(comp: str, xl: bool) -> str:
    if comp == "unet":
        return "lora_unet_"
    if comp == "text_encoder":
        return "lora_te1_" if xl else "lora_te_"
    return "lora_te2_"


def kohya_state(loaded: Any) -> dict[str, torch.Tensor]:
    model = loaded.model
    cfg = _lora_config(model)
    xl = bool(loaded.extras.get("xl"))
    state: dict[str, torch.Tensor] = {}
    for comp, mods in lora_tensors(model).items():
        for path, ab in mods.items():
            key = kohya_prefix(comp, xl) + path.replace(".", "_")
            state[f"{key}.lora_down.weight"] = ab["A"]
            state[f"{key}.lora_up.weight"] = ab["B"]
            state[f"{key}.alpha"] = torch.tensor(float(cfg.lora_alpha))
    return state


def write_kohya(loaded: Any, path: Path) -> Path:
    """One file A1111 / ComfyUI / kohya_ss load (``<lora:name:1>``), and diffusers'
    ``load_lora_weights(path)`` converts."""
    from safetensors.torch import save_file

    cfg = _lora_config(loaded.model)
    xl = bool(loaded.extras.get("xl"))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"ss_network_module": "networks.lora", "ss_network_dim": str(cfg.r),
            "ss_network_alpha": str(float(cfg.lora_alpha)),
            "ss_base_model_version": "sdxl_base_v1-0" if xl else "sd_v1",
            "modelspec.architecture": ("stable-diffusion-xl-v1-base/lora" if xl
                                       else "stable-diffusion-v1/lora"),
            "studio_source": json.dumps(str(loaded.source))}
    save_file(kohya_state(loaded), str(path), metadata=meta)
    return path
