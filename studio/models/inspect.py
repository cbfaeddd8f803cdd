"""Model inspection and hub downloads: one inspector for the CLI (``studio inspect``) and
the GUI (the Model pane, through ``studio.state.model_source.ModelSource``). Qt-free.

Cheap, on any thread (no torch): ``read_model_summary(folder)`` reads ``config.json`` and
the safetensors headers (a transformers model, or a diffusers pipeline's UNet), and
``local_folder(source)`` finds where a source lives on this machine.

Costly, off the GUI thread: ``inspect_model`` loads the model through its family on the
CPU and lists its layer groups with what the layer tree needs (``describe_model``);
``download_model`` fetches a hub id into the Hugging Face cache with progress and a
cancel flag, turning the hub's errors into messages for a person (``HubProblem``).
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from studio.core.paths import resolve_model_source, starters_dir

# -- reading a model folder cheaply (no torch) -------------------------------------------------

_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
                "I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
_DTYPE_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}


def safetensors_header(path: str | os.PathLike) -> dict:
    """The JSON header of a .safetensors file: {tensor name: {dtype, shape, ...}}."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > 100 * 1024 * 1024:
            raise ValueError("not a safetensors file (header too large)")
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return header


@dataclass
class ModelSummary:
    """What a model folder says about itself, from config.json and weight headers."""

    folder: str
    architecture: str = ""
    model_type: str = ""
    layers: int | None = None
    hidden: int | None = None
    heads: int | None = None
    context: int | None = None
    vocab: int | None = None
    parameters: int | None = None        # from the weights' headers (tied weights once)
    weight_files: list[str] = field(default_factory=list)
    weight_bytes: int = 0
    dtype: str = ""
    tokenizer: bool = False
    notes: list[str] = field(default_factory=list)
    # a text-to-music model (MusicGen): sample_rate, channels, frame_rate, codebooks,
    # codebook_size; its layers/hidden/heads/context are the decoder's, vocab the text's
    audio: dict | None = None
    # a diffusion model (a diffusers UNet): sample_size, in_channels, block_out_channels,
    # layers_per_block, attention (resolutions with attention blocks)
    image: dict | None = None


def _first(cfg: dict, *keys) -> Any:
    for k in keys:
        v = cfg.get(k)
        if v is not None:
            return v
    return None


def _weights_folder(folder: Path) -> tuple[Path, str]:
    """Where the config and weights are, and the pipeline's class for a diffusers folder
    (``model_index.json`` + ``unet/``): the UNet is what the image family trains."""
    index = folder / "model_index.json"
    if not (folder / "config.json").is_file() and (folder / "unet" / "config.json").is_file():
        try:
            pipeline = str(json.loads(index.read_text(encoding="utf-8")).get("_class_name", ""))
        except (OSError, ValueError):
            pipeline = ""
        return folder / "unet", pipeline
    return folder, ""


def _unet_shape(cfg: dict) -> dict:
    blocks = [str(b) for b in cfg.get("down_block_types") or []]
    return {"sample_size": cfg.get("sample_size"), "in_channels": cfg.get("in_channels"),
            "block_out_channels": list(cfg.get("block_out_channels") or []),
            "layers_per_block": cfg.get("layers_per_block"),
            "attention": sum(1 for b in blocks if "Attn" in b)}


def _read_json(path: Path) -> dict:
    try:
        got = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return got if isinstance(got, dict) else {}


def _pipeline_parts(top: Path, s: ModelSummary) -> None:
    """A diffusers pipeline's other parts: a VAE makes the UNet work on latents (its
    sample_size is the latent's, the pictures are larger), a text encoder reads prompts."""
    vae = _read_json(top / "vae" / "config.json")
    if s.image is not None and vae.get("block_out_channels") and s.image.get("sample_size"):
        factor = 2 ** (len(vae["block_out_channels"]) - 1)
        s.image["pixels"] = int(s.image["sample_size"]) * factor
    text = _read_json(top / "text_encoder" / "config.json")
    if text.get("vocab_size"):
        s.vocab = int(text["vocab_size"])
        s.tokenizer = any((top / "tokenizer" / n).is_file()
                          for n in ("tokenizer.json", "tokenizer_config.json", "vocab.json"))


def is_model_folder(folder: str | os.PathLike) -> bool:
    """A folder written by save_pretrained (transformers or a diffusers pipeline)."""
    d = Path(folder)
    return (d / "config.json").is_file() or (d / "unet" / "config.json").is_file()


def local_folder(source: str, revision: str = "") -> str | None:
    """The folder a source lives in when it is on this machine (a starter, a local folder,
    or a hub id already in the Hugging Face cache); None otherwise."""
    path = resolve_model_source(source)
    if Path(path).is_dir():
        return path
    if source.startswith("starter:"):
        return None
    return cached_snapshot(source, revision)


def read_model_summary(folder: str | os.PathLike) -> ModelSummary:
    """Summarise a model folder without loading it. Raises OSError when it is not one."""
    top = Path(folder)
    d, pipeline = _weights_folder(top)
    cfg_path = d / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{top} has no config.json (not a model saved with "
                                "save_pretrained)")
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    text_cfg = cfg.get("text_config") if isinstance(cfg.get("text_config"), dict) else {}
    merged = {**text_cfg, **cfg}
    s = ModelSummary(folder=str(top))
    s.architecture = ", ".join(cfg.get("architectures") or []) or "?"
    if cfg.get("_class_name"):  # diffusers: the pipeline, then the network that trains
        name = str(cfg["_class_name"])
        s.architecture = f"{pipeline} ({name})" if pipeline else name
        s.image = _unet_shape(cfg)
    s.model_type = str(cfg.get("model_type", ""))
    s.layers = _first(merged, "n_layer", "num_hidden_layers", "num_layers")
    s.hidden = _first(merged, "n_embd", "hidden_size", "d_model")
    s.heads = _first(merged, "n_head", "num_attention_heads")
    s.context = _first(merged, "n_positions", "max_position_embeddings", "n_ctx")
    s.vocab = _first(merged, "vocab_size")
    dec, codec = cfg.get("decoder"), cfg.get("audio_encoder")
    if isinstance(dec, dict) and isinstance(codec, dict) and "num_codebooks" in dec:
        text = cfg.get("text_encoder") if isinstance(cfg.get("text_encoder"), dict) else {}
        s.layers = _first(dec, "num_hidden_layers")
        s.hidden = _first(dec, "hidden_size")
        s.heads = _first(dec, "num_attention_heads")
        s.context = _first(dec, "max_position_embeddings")
        s.vocab = _first(text, "vocab_size")
        sr = int(codec.get("sampling_rate") or 0)
        hop = math.prod(int(r) for r in codec.get("upsampling_ratios") or [])
        s.audio = {"sample_rate": sr, "channels": int(codec.get("audio_channels") or 1),
                   "frame_rate": sr / hop if sr else 0.0,
                   "codebooks": int(dec["num_codebooks"]),
                   "codebook_size": int(codec.get("codebook_size") or dec.get("vocab_size")
                                        or 0)}
    # a Hugging Face tokenizer's files, or MidiTok's (a MIDI model's token vocabulary)
    s.tokenizer = any((d / n).is_file() for n in ("tokenizer.json", "tokenizer_config.json",
                                                  "vocab.json", "tokenizer.model",
                                                  "miditok.json"))
    if pipeline:
        _pipeline_parts(top, s)
    files = sorted(d.glob("*.safetensors"))
    if files:
        total = 0
        dtypes: dict[str, int] = {}
        seen: set[str] = set()
        for f in files:
            header = safetensors_header(f)
            for name, meta in header.items():
                if name in seen:
                    continue
                seen.add(name)
                n = 1
                for dim in meta.get("shape", []):
                    n *= int(dim)
                total += n
                dtypes[meta.get("dtype", "?")] = dtypes.get(meta.get("dtype", "?"), 0) + n
            s.weight_bytes += f.stat().st_size
        s.parameters = total
        s.weight_files = [f.name for f in files]
        main = max(dtypes, key=dtypes.get) if dtypes else ""
        s.dtype = _DTYPE_NAMES.get(main, main.lower())
    else:
        bins = sorted(d.glob("*.bin")) + sorted(d.glob("*.pt"))
        s.weight_files = [f.name for f in bins]
        s.weight_bytes = sum(f.stat().st_size for f in bins)
        if bins:
            s.notes.append("weights are in PyTorch pickle files: parameter counts appear "
                           "once the model is loaded")
        else:
            s.notes.append("no weight files found")
    return s


# -- loading the layer groups through the family (worker thread) -------------------------------

@dataclass
class Inspection:
    source: str
    family: str
    parameters: int
    groups: list  # list[LayerGroup]
    model_class: str
    vocab: int | None = None
    info: dict | None = None  # shapes for the layer tree's memory estimate


def load_model(source: str, family: str, revision: str = "",
               trust_remote_code: bool = False) -> tuple[Any, list]:
    """Load a model through its family on the CPU: (loaded, layer groups). What
    ``studio inspect`` and the Model pane both start from."""
    from studio.models.base import get_family

    fam = get_family(family)
    loaded = fam.load(source, device="cpu", dtype=None, revision=revision,
                      trust_remote_code=trust_remote_code)
    return loaded, fam.layer_groups(loaded)


def inspect_model(source: str, family: str, revision: str = "",
                  trust_remote_code: bool = False) -> Inspection:
    """Load the model and list its layer groups, with what the layer tree needs (no
    tensors: the result crosses to the GUI thread)."""
    from studio.models.base import get_family
    from studio.models.freeze import family_shape

    loaded, groups = load_model(source, family, revision, trust_remote_code)
    try:
        params = {id(p): p.numel() for p in loaded.model.parameters()}
        tok = loaded.extras.get("tokenizer")
        return Inspection(source=source, family=family, parameters=sum(params.values()),
                          groups=groups, model_class=type(loaded.model).__name__,
                          vocab=len(tok) if tok is not None else None,
                          info=describe_model(loaded.model, groups,
                                              family_shape(get_family(family), loaded)))
    finally:
        del loaded


def describe_model(model: Any, groups: Sequence[Any], family_sizes: dict | None = None) -> dict:
    """What the pane needs to know about a loaded model, counted on the model itself:
    n_layer, d_model, vocab, n_head, total_params, and per group the exact LoRA parameters
    per unit of rank (the layers ``studio.models.freeze.apply_plan`` adapts) and every
    parameter's shape; ``family_sizes`` (the family's ``memory_shape`` hook) overrides the
    sizes. Cheap; call it on the thread that loaded the model."""
    from torch import nn

    from studio.models.freeze import model_shape  # imports torch: lazily

    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # pragma: no cover - transformers is a dependency
        Conv1D = ()  # noqa: N806
    params = dict(model.named_parameters())
    module_group: dict[str, str] = {}
    for g in groups:
        for p in g.params:
            module_group[p.rsplit(".", 1)[0] if "." in p else ""] = g.name
    lora = {g.name: 0 for g in groups}
    modules: dict[str, dict[str, int]] = {g.name: {} for g in groups}
    for name, mod in model.named_modules():
        gname = module_group.get(name)
        if gname is None:
            continue
        if Conv1D and isinstance(mod, Conv1D):  # GPT-2: weight is (in, out)
            per_rank = int(mod.weight.shape[0] + mod.weight.shape[1])
        elif isinstance(mod, nn.Linear):
            per_rank = mod.in_features + mod.out_features
        elif isinstance(mod, (nn.Conv1d, nn.Conv2d)):
            per_rank = mod.in_channels * math.prod(mod.kernel_size) + mod.out_channels
        else:
            continue
        lora[gname] += per_rank
        modules[gname][name] = per_rank  # freeze.lora_targets may narrow LoRA to some
    blocks = sum(1 for g in groups if g.name.startswith("block."))
    return {**model_shape(model, blocks), **(family_sizes or {}),
            "total_params": sum(p.numel() for p in params.values()),
            "lora_per_rank": lora,
            "lora_modules": modules,
            "param_shapes": {n: tuple(p.shape) for n, p in params.items()}}


# -- the hub (worker thread) ------------------------------------------------------------------

class DownloadCancelled(Exception):
    pass


class HubProblem(Exception):
    """A download that cannot happen, with a message for a person."""


IGNORE_ALWAYS = ["*.onnx", "onnx/*", "*.tflite", "*.h5", "*.msgpack", "*.ot", "*.gguf",
                 "*.mlmodel", "coreml/*", "*.ckpt", "*.pb"]


def hub_is_offline() -> bool:
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return bool(constants.HF_HUB_OFFLINE) or env in ("1", "true", "yes", "on")


def _progress_class(report: Callable[[dict], None], cancel: threading.Event):
    from tqdm.auto import tqdm as base

    bars: dict[int, tuple] = {}
    last = [0.0]

    class Progress(base):
        """tqdm that reports to the GUI instead of printing, and stops when cancelled."""

        def __init__(self, *args, **kwargs):
            kwargs.pop("name", None)
            kwargs["disable"] = False
            kwargs["file"] = io.StringIO()
            super().__init__(*args, **kwargs)

        def update(self, n=1):
            if cancel.is_set():
                raise DownloadCancelled()
            out = super().update(n)
            bars[id(self)] = (self.unit, self.n, self.total or 0)
            now = time.monotonic()
            if now - last[0] > 0.1:
                last[0] = now
                report(_aggregate(bars))
            return out

    return Progress


def _aggregate(bars: dict) -> dict:
    done_b = total_b = files = files_total = 0
    for unit, n, total in bars.values():
        if unit == "B":
            if total >= total_b:
                done_b, total_b = n, total
        else:
            files, files_total = n, total
    return {"bytes": done_b, "bytes_total": total_b, "files": files, "files_total": files_total}


def download_model(repo_id: str, revision: str = "", *, report, cancel,
                   cache_dir: str | None = None) -> str:
    """Download a hub model into the HF cache; return its snapshot folder."""
    import huggingface_hub as hf
    from huggingface_hub import errors

    repo_id = repo_id.strip()
    try:
        hf.utils.validate_repo_id(repo_id)
    except errors.HFValidationError:
        raise HubProblem(f"“{repo_id}” is not a hub id. A hub id looks like "
                         "“gpt2” or “HuggingFaceTB/SmolLM2-135M”.") from None
    rev = revision or None
    # Already in the cache? Then nothing to download (and it works offline).
    try:
        return hf.snapshot_download(repo_id, revision=rev, local_files_only=True,
                                    cache_dir=cache_dir)
    except (errors.LocalEntryNotFoundError, FileNotFoundError, OSError):
        pass
    if hub_is_offline():
        raise HubProblem(f"You are offline (HF_HUB_OFFLINE is set), and “{repo_id}” is not in "
                         "the Hugging Face cache yet. Connect to the internet and unset "
                         "HF_HUB_OFFLINE to download it, or choose the starter or a local "
                         "folder.")
    ignore = list(IGNORE_ALWAYS)
    try:
        info = hf.HfApi().model_info(repo_id, revision=rev)
        names = [s.rfilename for s in (info.siblings or [])]
        if any(n.endswith(".safetensors") for n in names):
            ignore += ["*.bin", "*.pt", "*.pth"]  # transformers prefers safetensors
        report({"bytes": 0, "bytes_total": 0, "files": 0, "files_total": len(names)})
        return hf.snapshot_download(repo_id, revision=rev, cache_dir=cache_dir,
                                    ignore_patterns=ignore,
                                    tqdm_class=_progress_class(report, cancel))
    except DownloadCancelled:
        raise
    except errors.GatedRepoError:
        raise HubProblem(f"“{repo_id}” is gated: accept its licence on its hub page, then log "
                         "in with `hf auth login`.") from None
    except errors.RepositoryNotFoundError:
        raise HubProblem(f"There is no model “{repo_id}” on the hub (or it is private: log in "
                         "with `hf auth login`).") from None
    except errors.RevisionNotFoundError:
        raise HubProblem(f"“{repo_id}” has no revision “{revision}”.") from None
    except (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled, ConnectionError,
            TimeoutError) as exc:
        raise HubProblem(f"Cannot reach the Hugging Face hub to download “{repo_id}” (no "
                         "internet connection?). Choose the starter or a local folder, or try "
                         f"again when online. ({type(exc).__name__})") from None
    except Exception as exc:  # noqa: BLE001 - httpx errors and the like, said plainly
        if cancel.is_set():
            raise DownloadCancelled() from None
        if "connect" in str(exc).lower() or "resolve" in str(exc).lower():
            raise HubProblem(f"Cannot reach the Hugging Face hub to download “{repo_id}” (no "
                             "internet connection?). Choose the starter or a local folder.") \
                from None
        raise


def cached_snapshot(repo_id: str, revision: str = "") -> str | None:
    try:
        import huggingface_hub as hf

        return hf.snapshot_download(repo_id, revision=revision or None, local_files_only=True)
    except Exception:  # noqa: BLE001 - not cached, or not a hub id
        return None


def list_starters() -> list[str]:
    """Every family's starter and any other folder shipped under resources/starters."""
    from studio.config import families

    names = {spec.starter for spec in families.all_specs() if spec.starter}
    root = starters_dir()
    if root.is_dir():
        names.update(f"starter:{p.name}" for p in root.iterdir()
                     if p.is_dir() and not p.name.startswith("."))
    return sorted(names)
