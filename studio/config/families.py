"""The family spec: everything the program knows about a model family, in one place.

A *family* is a kind of model the studio fine-tunes (causal text, unconditional image
diffusion, text-to-music...). The code that loads, trains and samples a family lives in
its own modules (``studio.models.<name>``, ``studio.data.<name>``); everything the *rest*
of the program asks about it — which files it reads, its default settings, whether its
loss has a perplexity, what kind of sample it makes, how an export is loaded, what to
call it on screen — is answered here, so that no pane, CLI command or engine helper
branches on a family's name.

Adding a family:
  1. ``studio/models/<name>.py``: a class satisfying ``studio.models.base.Family``.
  2. ``studio/data/<name>.py``: its dataset (what ``Family.datasets`` returns).
  3. a ``register(FamilySpec(...))`` call below (or in your own module, before use).
  4. a starter script in ``studio/starters/`` if it should work offline.

Stdlib only (DESIGN.md: config imports no torch, no Qt).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

from studio.core.errors import ConfigError

# (config.json contents, model folder) -> does this folder hold a model of the family?
Detector = Callable[[dict, Path], bool]


@dataclass(frozen=True, eq=False)
class FamilySpec:
    name: str
    """The config's ``run.family`` value."""
    title: str
    """Display name, e.g. "Text"."""
    summary: str
    """One line for menus and tooltips: what models it covers."""
    implementation: str
    """``module:Class`` of the family's model code (imported only when a model is needed)."""
    file_kinds: tuple[str, ...]
    """Kinds of scanned file it trains on (``studio.data.scan.kind_of``)."""
    sample_kind: str
    """Kind of ``Sample`` it makes: "text", "image", "audio"."""
    has_perplexity: bool
    """Is exp(validation loss) a perplexity (a per-token cross-entropy)?"""
    export_loader: str
    """One line that loads an exported folder."""
    item_noun: str = "files"
    """What one training item is called in the split line ("documents", "files")."""
    starter: str = ""
    """Shipped offline starter model (``starter:NAME``), if any."""
    adapter_task_type: str | None = None
    """peft ``task_type`` written into an exported LoRA adapter's config."""
    reference: str = ""
    """``eval.reference = "auto"``: a path under ``resources/`` ("" = nothing shipped)."""
    reference_name: str = ""
    """How the run's log names the shipped reference set."""
    split_note: str = ("The files are shuffled with this seed and data.val_fraction of them "
                       "held out for validation: by file, so the clips or crops of one file "
                       "never sit on both sides.")
    """How the validation split is drawn (the dataset pane's tooltip)."""
    bias_probe: bool = False
    """Does the bias probe (completions of templated prompts) apply? Otherwise the
    captions' balance report does."""
    defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Changes to the schema's defaults, by section (the schema's defaults suit text)."""
    epoch_items: Callable[[Any, Any], int] | None = None
    """(dataset stats, config) -> training items one epoch holds (text: token blocks;
    images: files; audio: clips), so a new project's step budget fits its data."""
    extra_knobs: tuple[str, ...] = ()
    """Family-specific knobs (dotted paths) of *other* families that this one also reads."""
    scan_knobs: tuple[str, ...] = ()
    """``data.*`` knobs (names without "data.") that change how the dataset pane's scan
    judges files; the scan gets them as ``options`` and rescans when they change."""
    detect: Detector | None = None
    """Recognises a local model folder of this family from its JSON files."""
    fallback_detect: bool = False
    """Asked last: its detector matches generic folders (any transformers config)."""
    reads_captions: bool = False
    """Does it train on captioned images (``studio.data.captioned``: image + ``.txt`` /
    ``.caption`` sidecar)? The dataset pane then shows captions, the missing-caption
    warning, the caption editor and the bucket preview."""
    export_formats: tuple[tuple[str, str], ...] = (
        ("full", "Full model folder (LoRA merged in)"),
        ("adapter", "LoRA adapter only (PEFT, small; needs the base model)"))
    """(key, label) of each format ``studio export --format`` and the Export dialog offer;
    keys other than full / adapter are written by the family's ``export_format``."""
    default_exports: tuple[str, ...] = ("full",)
    """What ``studio export RUN OUT`` writes when no --format is given."""
    model_defaults: Callable[[Path], Mapping[str, Mapping[str, Any]]] | None = None
    """Settings that follow the chosen model, read from its local folder's JSON files (no
    weights, no torch), by section: text-to-image's ``data.resolution`` is the UNet's
    sample size times the VAE's downsampling. They replace the family's default (and the
    previous model's value) until the user sets them (``follow_model``)."""

    def __post_init__(self) -> None:
        frozen = {s: MappingProxyType(dict(v)) for s, v in self.defaults.items()}
        object.__setattr__(self, "defaults", MappingProxyType(frozen))


_REGISTRY: dict[str, FamilySpec] = {}


def register(spec: FamilySpec) -> FamilySpec:
    """Add (or replace) a family. Returns the spec, so a module can keep it."""
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a family (tests that register a fake one clean up with this)."""
    _REGISTRY.pop(name, None)


def names() -> tuple[str, ...]:
    """Every registered family's name, in registration order."""
    return tuple(_REGISTRY)


def all_specs() -> tuple[FamilySpec, ...]:
    return tuple(_REGISTRY.values())


def get(name: str) -> FamilySpec:
    """The spec of ``name``; a ConfigError naming ``run.family`` for an unknown one."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(f'"{n}"' for n in _REGISTRY)
        raise ConfigError("run.family", f"unknown model family {name!r}",
                          f"use one of {known}") from None


def default_config(name: str) -> Any:
    """A ``RunConfig`` holding the family's default settings (the CLI and the window both
    start from these; a config file's own settings go on top)."""
    import dataclasses

    from studio.config.schema import RunConfig

    cfg = RunConfig()
    for section, values in get(name).defaults.items():
        cfg = dataclasses.replace(cfg, **{section: dataclasses.replace(
            getattr(cfg, section), **values)})
    return dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, family=name))


def model_settings(family: str, source: str, base_dir: str = "") -> dict[str, dict[str, Any]]:
    """What ``family``'s ``model_defaults`` reads from the model ``source`` (a local folder
    or ``starter:NAME``; relative paths from ``base_dir``); {} for a hub id, a single
    file or an unreadable folder: the model's own values are then known at load."""
    from studio.core.paths import resolve_model_source

    spec = _REGISTRY.get(family)
    if spec is None or spec.model_defaults is None or not source:
        return {}
    folder = Path(resolve_model_source(source)).expanduser()
    if not folder.is_absolute() and base_dir:
        folder = Path(base_dir) / folder
    if not folder.is_dir():
        return {}
    try:
        return {s: dict(v) for s, v in spec.model_defaults(folder).items()}
    except (OSError, ValueError, TypeError, KeyError):
        return {}


def follow_model(cfg: Any, previous: Any = None) -> Any:
    """``cfg`` with the settings that follow its model (``FamilySpec.model_defaults``) set
    where the user has not set them: a value still at the family's default, or (when the
    model changed from ``previous``) at what the previous model gave or at the previous
    family's default (choosing a folder of another family switches the family)."""
    import dataclasses

    now = model_settings(cfg.run.family, cfg.model.source, cfg.base_dir)
    before = (model_settings(previous.run.family, previous.model.source, previous.base_dir)
              if previous is not None else {})
    if not now and not before:
        return cfg  # most families: nothing follows the model
    defaults = [default_config(cfg.run.family)]
    if previous is not None and previous.run.family != cfg.run.family:
        defaults.append(default_config(previous.run.family))  # a folder switched family
    keys = {(s, k) for part in (now, before) for s, v in part.items() for k in v}
    for section, key in sorted(keys):
        value = getattr(getattr(cfg, section), key)
        untouched = tuple(getattr(getattr(d, section), key) for d in defaults) + (
            before.get(section, {}).get(key, object()),)
        if value not in untouched:
            continue  # the user's own value
        new = now.get(section, {}).get(key, untouched[0])
        if new != value:
            cfg = dataclasses.replace(cfg, **{section: dataclasses.replace(
                getattr(cfg, section), **{key: new})})
    return cfg


def knob_applies(family: str, path: str, knob_families: tuple[str, ...] | None) -> bool:
    """Is the knob at dotted ``path`` (its schema metadata lists ``knob_families``; None
    means every family) one that ``family`` honours? Front ends show only these."""
    if knob_families is None or family in knob_families:
        return True
    spec = _REGISTRY.get(family)
    return spec is not None and path in spec.extra_knobs


def family_of_folder(source: str) -> str | None:
    """The family a local model folder (or ``starter:NAME``) belongs to, read from its
    JSON files only (no weights, no heavy imports); None when the source is not a local
    folder (a hub id) or no family recognises it."""
    from studio.core.paths import resolve_model_source

    folder = Path(resolve_model_source(source))
    if not folder.is_dir():
        return None
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    if not isinstance(config, dict):
        config = {}
    for spec in sorted(_REGISTRY.values(), key=lambda s: s.fallback_detect):
        if spec.detect is not None and spec.detect(config, folder):
            return spec.name
    return None


# -- the shipped families ------------------------------------------------------------------

def _pipeline_class(folder: Path) -> str:
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return str(index.get("_class_name", "")) if isinstance(index, dict) else ""


SD_PIPELINES = ("StableDiffusionPipeline", "StableDiffusionXLPipeline")


def _is_diffusers_unet(config: dict, folder: Path) -> bool:
    if _pipeline_class(folder) in SD_PIPELINES:  # text-to-image's, not an unconditional UNet
        return False
    return ((folder / "model_index.json").is_file() or (folder / "unet").is_dir()
            or str(config.get("_class_name", "")).startswith("UNet"))


def _is_stable_diffusion(config: dict, folder: Path) -> bool:
    return _pipeline_class(folder) in SD_PIPELINES


def _sd_model_defaults(folder: Path) -> dict[str, dict[str, Any]]:
    """A Stable Diffusion folder's own training size: the UNet's sample size (latent
    pixels) times the VAE's downsampling (SD 1.5: 64 x 8 = 512, SDXL: 128 x 8 = 1024)."""
    unet = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
    vae = json.loads((folder / "vae" / "config.json").read_text(encoding="utf-8"))
    size = unet["sample_size"]
    size = size[0] if isinstance(size, list) else size
    scale = 2 ** (len(vae["block_out_channels"]) - 1)
    return {"data": {"resolution": int(size) * scale}}


def _is_musicgen(config: dict, folder: Path) -> bool:
    return config.get("model_type") == "musicgen"


def _is_transformers_model(config: dict, folder: Path) -> bool:
    return bool(config.get("model_type"))


register(FamilySpec(
    name="text", title="Text", summary="causal language models (GPT-style: gpt2, SmolLM2, "
                                       "Qwen2.5)",
    implementation="studio.models.text:TextFamily",
    file_kinds=("text",), sample_kind="text", has_perplexity=True, item_noun="documents",
    split_note="The text engine shuffles the documents with this seed and holds out "
               "data.val_fraction of them for validation (by block when there is a single "
               "document).",
    export_loader="transformers.AutoModelForCausalLM.from_pretrained(folder)",
    starter="starter:text", adapter_task_type="CAUSAL_LM", bias_probe=True,
    reference="reference/english.txt", reference_name="shipped general English text",
    detect=_is_transformers_model, fallback_detect=True,
    epoch_items=lambda stats, cfg: max(stats.documents, stats.tokens // cfg.data.block_size),
))

register(FamilySpec(
    name="image", title="Image", summary="unconditional image diffusion (diffusers UNet2DModel)",
    implementation="studio.models.image:ImageFamily",
    file_kinds=("image",), sample_kind="image", has_perplexity=False,
    export_loader="diffusers.DDPMPipeline.from_pretrained(folder)",
    starter="starter:image",
    reference="starters/image/crops.png", reference_name="the image starter's pre-training crops",
    # diffusion fine-tuning wants a gentler rate and no decay; previews cost more than text
    defaults={"train": {"lr": 1e-4, "weight_decay": 0.0}, "sample": {"every": 100}},
    detect=_is_diffusers_unet,
    epoch_items=lambda stats, cfg: stats.included,
))

register(FamilySpec(
    name="audio", title="Audio", summary="text-to-music (MusicGen: T5 text encoder, EnCodec, "
                                         "decoder)",
    implementation="studio.models.audio:AudioFamily",
    file_kinds=("audio",), sample_kind="audio", has_perplexity=True,
    export_loader="transformers.MusicgenForConditionalGeneration.from_pretrained(folder)",
    starter="starter:audio",
    reference="reference/music", reference_name="the audio starter's pre-training samples",
    # music: prompts are descriptions; each sample runs the decoder and the codec
    defaults={"train": {"lr": 5e-4, "weight_decay": 0.0},
              "sample": {"every": 100, "prompts": ("music",)}},
    detect=_is_musicgen,
    epoch_items=lambda stats, cfg: int(stats.duration / cfg.data.clip_seconds),
))


def _is_midi_model(config: dict, folder: Path) -> bool:
    # a causal LM with MidiTok's tokenizer beside it (asked before the text family's
    # generic detector, which would claim any transformers folder)
    return (folder / "miditok.json").is_file()


register(FamilySpec(
    name="midi", title="Music (MIDI)",
    summary="symbolic music: a causal LM (GPT-2 or any AutoModelForCausalLM) over MidiTok "
            "tokens of MIDI files",
    implementation="studio.models.midi:MidiFamily",
    file_kinds=("midi",), sample_kind="midi", has_perplexity=True, item_noun="files",
    split_note="The music files are shuffled with this seed and data.val_fraction of them "
               "held out for validation (by file: a transposed copy never sits on both "
               "sides); the first held-out file's opening bars are the samples' primer.",
    export_loader="transformers.AutoModelForCausalLM.from_pretrained(folder) + "
                  "miditok.REMI(params=folder/'miditok.json')",
    starter="starter:midi", adapter_task_type="CAUSAL_LM",
    reference="starters/midi/reference",
    reference_name="held-out tunes of the MIDI starter's collections (O'Neill, Ryan)",
    # a small model on a small folder: a higher rate; samples cost seconds, not minutes
    defaults={"train": {"lr": 5e-4, "weight_decay": 0.01},
              "data": {"block_size": 256, "val_fraction": 0.15},
              "sample": {"every": 50, "temperature": 1.0, "top_k": 0, "top_p": 0.95}},
    extra_knobs=("data.block_size", "sample.temperature", "sample.top_k", "sample.top_p"),
    scan_knobs=("midi_tracks",),   # melody only: a drums-only file is an error
    detect=_is_midi_model,
    # blocks overlap by half; a file is ~600 tokens (a hymn or a reel, REMI + BPE), so it
    # makes about 1200 / block_size of them (the scan does not tokenize)
    # no files: no items (not 1), so an empty new project keeps its default budget
    epoch_items=lambda stats, cfg: stats.included * max(1, 1200 // cfg.data.block_size),
))


def _is_captioner(config: dict, folder: Path) -> bool:
    if config.get("model_type") in ("blip", "vision-encoder-decoder"):
        return True
    return any("ForConditionalGeneration" in a and "Blip" in a or a == "GitForCausalLM"
               for a in config.get("architectures") or ())


register(FamilySpec(
    name="captioning", title="Captioning", summary="image to text (BLIP, ViT+GPT-2 "
                                                   "VisionEncoderDecoder, GIT)",
    implementation="studio.models.captioning:CaptioningFamily",
    file_kinds=("image",), sample_kind="caption", has_perplexity=False,
    item_noun="captioned images",
    split_note="The captioned images are shuffled with this seed and data.val_fraction of "
               "them held out: their generated captions are scored (BLEU-4, CIDEr-D) and "
               "shown beside the true ones.",
    export_loader='transformers.pipeline("image-to-text", model=folder)(image, text="") '
                  "(BLIP; a VisionEncoderDecoderModel: VisionEncoderDecoderModel"
                  ".from_pretrained(folder))",
    starter="starter:captioning",
    # a captioner fine-tunes gently; each evaluation also captions the held-out images
    defaults={"train": {"lr": 1e-4, "weight_decay": 0.01},
              "sample": {"every": 50, "max_new_tokens": 32},
              "augment": {"hflip": 0.5}},
    extra_knobs=("sample.max_new_tokens", "augment.hflip", "augment.vflip",
                 "augment.rotation", "augment.rotation_p", "augment.scale_jitter",
                 "augment.color_jitter", "augment.color_p", "augment.noise_std",
                 "augment.noise_p", "data.background"),
    detect=_is_captioner, reads_captions=True,
    epoch_items=lambda stats, cfg: stats.included,
))


register(FamilySpec(
    name="text_to_image", title="Text to image",
    summary="Stable Diffusion 1.5 / SDXL with LoRA on captioned images (diffusers)",
    implementation="studio.models.text_to_image:TextToImageFamily",
    file_kinds=("image",), sample_kind="image", has_perplexity=False, item_noun="images",
    export_loader="pipe.load_lora_weights(folder) on the base "
                  "diffusers.StableDiffusionPipeline / StableDiffusionXLPipeline",
    starter="starter:text_to_image",
    split_note="The captioned images are shuffled with this seed and data.val_fraction of "
               "them held out for validation (their plain captions, fixed timesteps and "
               "noise).",
    # artists' usual LoRA recipe: attention projections of the UNet, text encoder frozen
    defaults={"train": {"lr": 1e-4, "weight_decay": 0.0, "batch_size": 4},
              "freeze": {"default_mode": "lora", "lora_rank": 16, "lora_alpha": 16.0,
                         "lora_targets": ("to_q", "to_k", "to_v", "to_out.0", "q_proj",
                                          "k_proj", "v_proj", "out_proj")},
              "sample": {"every": 100, "prompts": ("a red circle on a blue background",),
                         "num_images": 2, "inference_steps": 25, "guidance_scale": 7.5},
              "eval": {"reference": "off"},
              "data": {"resolution": 0}},  # 0: the model's own size (model_defaults)
    extra_knobs=("sample.prompts", "sample.num_images", "sample.inference_steps",
                 "sample.guidance_scale"),
    reads_captions=True,
    export_formats=(("diffusers_lora", "diffusers LoRA folder (pipe.load_lora_weights)"),
                    ("kohya", "LoRA .safetensors for A1111 / ComfyUI / kohya_ss"),
                    ("full", "Full pipeline folder (LoRA merged in; large)")),
    default_exports=("diffusers_lora", "kohya"),
    detect=_is_stable_diffusion,
    epoch_items=lambda stats, cfg: stats.included,
    model_defaults=_sd_model_defaults,
))
