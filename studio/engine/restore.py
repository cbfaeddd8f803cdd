"""Rebuild a run's trained model: base model + the run's freeze plan (LoRA adapters
injected the same way) + its saved weights. Used by sample, export and the GUI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from studio.config import RunConfig, families, load_config
from studio.core.errors import RunError, StudioError
from studio.engine import ema
from studio.engine.checkpoint import load_weights
from studio.models import freeze as fz
from studio.models.base import Loaded, get_family
from studio.runs import RunFolder


@dataclass
class RestoredRun:
    cfg: RunConfig
    family: Any
    loaded: Loaded
    weights_dir: Path
    groups: list


def load_run_model(run_dir: str | Path, weights: str = "best",
                   device: str = "cpu") -> RestoredRun:
    """``weights``: "best" (best validation loss, else latest), "latest", or a checkpoint
    folder name such as ``step_000300``."""
    folder = RunFolder(run_dir)
    if not folder.config_path.is_file():
        raise RunError(f"{run_dir}: not a run folder (no config.toml)",
                       "give a folder listed by `studio runs`")
    cfg = load_config(folder.config_path)
    fam = get_family(cfg.run.family)
    loaded = fam.load(cfg.model.source, device, torch.float32, revision=cfg.model.revision,
                      trust_remote_code=cfg.model.trust_remote_code)
    if hasattr(fam, "after_load"):  # a model shaped by the run's data (MIDI: its tokenizer)
        fam.after_load(loaded, cfg)
    groups = fz.resolve_plan(fam.layer_groups(loaded), cfg.freeze)
    fz.apply_plan(loaded.model, groups, cfg.freeze)
    src: Path | None
    if weights == "best" and (folder.best_dir / "model.safetensors").is_file():
        src = folder.best_dir
    elif weights in ("best", "latest"):
        src = folder.latest_checkpoint()
    else:
        src = folder.checkpoints_dir / weights
        if not (src / "model.safetensors").is_file():
            raise RunError(f"{src}: no such checkpoint",
                           f"pick one of {', '.join(p.name for p in folder.checkpoints())}")
    if src is None:
        raise RunError(f"{run_dir}: the run has no saved weights yet",
                       "let it reach its first checkpoint, or resume it")
    load_weights(loaded.model, load_file(str(src / "model.safetensors")), str(src))
    averaged = ema.weights_file(src)  # a run with train.ema_decay: its moving average
    if averaged is not None:          # (best/ was saved with it in place already)
        load_weights(loaded.model, averaged, str(src / ema.FILE))
    loaded.model.eval()
    return RestoredRun(cfg, fam, loaded, src, groups)


def has_lora(model: torch.nn.Module) -> bool:
    return any(".lora_" in n for n, _ in model.named_parameters())


def merge_lora(model: torch.nn.Module) -> torch.nn.Module:
    """Fold LoRA adapters into their base weights and remove the wrappers (in place)."""
    from peft.tuners.lora import LoraLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.get_base_layer())
    return model


@dataclass(frozen=True)
class WeightsChoice:
    """Weights of a run that can be exported: ``key`` is what ``export_run`` takes."""

    key: str          # "best", "latest" or a checkpoint folder name ("step_000300")
    step: int
    label: str
    unchanged: bool   # the base model's own weights: the run never beat step 0


def weights_choices(run_dir: str | Path) -> list[WeightsChoice]:
    """Best (when kept), latest, then every checkpoint, newest first."""
    from studio.runs.store import read_status

    folder = RunFolder(run_dir)
    st = read_status(folder.path)
    out = []
    best_step = st.get("best_step")
    if (folder.best_dir / "model.safetensors").is_file() and best_step is not None:
        loss = st.get("best_val_loss")
        at = "before any training" if best_step == 0 else f"step {best_step:,}"
        out.append(WeightsChoice(
            "best", int(best_step), f"Best validation loss ({at}"
            + (f", {loss:.4f})" if isinstance(loss, (int, float)) else ")"),
            unchanged=best_step == 0))
    checkpoints = folder.checkpoints()
    if checkpoints:
        latest = checkpoints[-1]
        step = int(latest.name.split("_")[-1])
        out.append(WeightsChoice("latest", step, f"Latest checkpoint (step {step:,})",
                                 unchanged=step == 0))
        for ck_dir in reversed(checkpoints):
            step = int(ck_dir.name.split("_")[-1])
            out.append(WeightsChoice(ck_dir.name, step, f"Step {step:,}", unchanged=step == 0))
    return out


def unchanged_reason(run_dir: str | Path, weights: str) -> str:
    """Why exporting ``weights`` would write the base model unchanged ("" when it would
    not): the run's best validation loss was its step-0 evaluation."""
    for choice in weights_choices(run_dir):
        if choice.key == weights and choice.unchanged:
            return ("the best validation loss of this run was at step 0, before any "
                    "training, so its best weights are the base model unchanged"
                    if weights == "best" else "these weights are from step 0, before any "
                    "training: the base model unchanged")
    return ""


def export_run(run_dir: str | Path, out_dir: str | Path, *, weights: str = "best",
               fmt: str = "full", allow_unchanged: bool = False,
               progress: Any = None) -> Path:
    """``fmt``: "full" (a complete model folder; LoRA merged in), or "adapter" (a PEFT
    adapter folder that ``peft.PeftModel.from_pretrained(base, folder)`` loads).
    Weights that are the base model unchanged (best at step 0) are refused unless
    ``allow_unchanged``. ``progress(text)`` hears each stage."""
    def say(text: str) -> None:
        if progress is not None:
            progress(text)

    reason = unchanged_reason(run_dir, weights)
    if reason and not allow_unchanged:
        raise StudioError(f"{run_dir}: {reason}",
                          "export the trained weights (--weights latest or a step), or "
                          "add --allow-unchanged to export the base model anyway")
    say("Loading the base model and the run's weights…")
    r = load_run_model(run_dir, weights)
    out = Path(out_dir)
    model = r.loaded.model
    say(f"Writing {out}…")
    if fmt == "adapter":
        if not has_lora(model):
            raise StudioError(f"{run_dir}: this run trained no LoRA adapters",
                              "export the full model instead (--format full)")
        trained_full = [s.group.name for s in r.groups if s.mode == "full" and s.params]
        if trained_full:
            raise StudioError(f"{run_dir}: the run also trained whole groups "
                              f"({', '.join(trained_full)}), which an adapter cannot hold",
                              "export the full model (--format full) instead")
        from peft import get_peft_model_state_dict

        out.mkdir(parents=True, exist_ok=True)
        state = get_peft_model_state_dict(model)
        save_file({f"base_model.model.{k}": v.detach().cpu().contiguous()
                   for k, v in state.items()}, str(out / "adapter_model.safetensors"))
        lcfg = model._studio_lora_config
        lcfg.base_model_name_or_path = str(r.cfg.model.source)
        lcfg.task_type = families.get(r.cfg.run.family).adapter_task_type
        lcfg.inference_mode = True
        lcfg.save_pretrained(str(out))
        save_tokenizer = getattr(r.family, "save_tokenizer", None)
        if save_tokenizer is not None:  # a family whose tokenizer is not a HF one (MIDI)
            save_tokenizer(r.loaded, out)
        elif (tok := r.loaded.extras.get("tokenizer")) is not None:
            tok.save_pretrained(out)
    elif fmt == "full":
        if has_lora(model):
            merge_lora(model)
        card = (f"# Fine-tuned with Fine-Tuning Studio\n\nBase model: `{r.cfg.model.source}`\n\n"
                f"Weights: `{r.weights_dir}`\n\nTraining data: {', '.join(r.cfg.data.paths)}\n")
        r.family.export(r.loaded, out, card=card)
        say("Copying the run's samples…")
        copy_samples(RunFolder(run_dir), out / "samples")
    elif fmt in dict(families.get(r.cfg.run.family).export_formats):
        # a family's own format (text-to-image: a diffusers LoRA folder, a kohya file)
        card = (f"# Fine-tuned with Fine-Tuning Studio\n\nBase model: `{r.cfg.model.source}`"
                f"\n\nWeights: `{r.weights_dir}`\n\nTraining data: "
                f"{', '.join(r.cfg.data.paths)}\n")
        r.family.export_format(r.loaded, out, fmt, name=_file_name(r.cfg.run.name), card=card)
    else:
        keys = ", ".join(dict(families.get(r.cfg.run.family).export_formats))
        raise StudioError(f"unknown export format {fmt!r}", f"use one of {keys}")
    return out


def _file_name(name: str) -> str:
    """A run name as a file name (A1111 shows a LoRA by its file name)."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "lora"


def export_formats_of(run_dir: str | Path) -> tuple[str, ...]:
    """What ``studio export`` writes by default for this run's family."""
    cfg = load_config(RunFolder(run_dir).config_path)
    return families.get(cfg.run.family).default_exports


def copy_samples(folder: RunFolder, dest: Path) -> None:
    """The run's samples (every step's WAV / PNG files and index) go with an export."""
    import shutil

    for step_dir in sorted(folder.samples_dir.glob("step_*")):
        if step_dir.is_dir():
            shutil.copytree(step_dir, dest / step_dir.name, dirs_exist_ok=True)
