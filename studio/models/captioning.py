"""Captioning family (image to text): transformers ``BlipForConditionalGeneration``,
``VisionEncoderDecoderModel`` (ViT / ConvNeXt / ... + GPT-2 / BERT-style decoders) and what
``AutoModelForImageTextToText`` loads (GIT-style captioners).

Sources: "starter:captioning" (a tiny BLIP, shipped, offline), a folder saved with
``save_pretrained`` (model + processor / tokenizer + image processor), or a hub id such as
``Salesforce/blip-image-captioning-base`` or ``nlpconnect/vit-gpt2-image-captioning``.

Training is teacher-forced cross-entropy of the caption's tokens given the image (the
model's own ``labels`` loss). The vision encoder is frozen unless the freeze plan says
otherwise (``studio.config.freeze_plan.FROZEN_BY_DEFAULT``): a few hundred captions in a
house style move the *words*, and the encoder's features are what the pre-training paid for.
Evaluation adds BLEU-4 and CIDEr-D of greedy captions of the held-out images
(``studio.models.caption_metrics``), which the curves draw beside the validation loss.
Samples are held-out images with the generated caption beside the true one.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch

from studio.core.errors import ConfigError, ModelError
from studio.core.events import Sample
from studio.data.captioning import CaptionBatch
from studio.models.base import LayerGroup, Loaded, checked_source, hub_kwargs, quiet_transformers

_NO_SPACE_BEFORE = re.compile(r" ([.,:;!?])")
KINDS = ("blip", "ved", "auto")  # how the model is driven (see Captioner)
SAMPLE_IMAGES = 6                # held-out images captioned in each sample set


# -- one driver for the three kinds of captioner -------------------------------------------


class Captioner:
    """What the family needs from a captioning model, whatever its kind:

    * ``blip``: ``BlipForConditionalGeneration`` + ``BlipProcessor``. BLIP decodes from a
      [DEC] token (``text_config.bos_token_id``) where its tokenizer writes [CLS]; training
      puts [DEC] first too, as BLIP's own pre-training did, so teacher forcing and
      ``generate`` agree.
    * ``ved``: ``VisionEncoderDecoderModel`` + image processor + tokenizer: labels are the
      caption's tokens and an end token; the model shifts them right itself.
    * ``auto``: ``AutoModelForImageTextToText`` + ``AutoProcessor`` (GIT-style): labels are
      the caption's tokens, the model shifts them.
    """

    def __init__(self, kind: str, model, tokenizer, image_processor, processor=None) -> None:
        self.kind, self.model, self.tokenizer = kind, model, tokenizer
        self.image_processor, self.processor = image_processor, processor

    # -- images --------------------------------------------------------------------------
    @property
    def image_size(self) -> int:
        """The square side the vision encoder takes."""
        size = getattr(self.image_processor, "size", None) or {}
        if isinstance(size, (int, list, tuple)):
            side = size
        else:  # a dict, or transformers 5's SizeDict
            side = next((getattr(size, k, None) or (size.get(k) if hasattr(size, "get")
                                                      else None)
                         for k in ("height", "shortest_edge", "width")
                         if getattr(size, k, None) or (hasattr(size, "get") and size.get(k))),
                        None)
        if not side:
            vc = getattr(self.model.config, "vision_config", None) or getattr(
                self.model.config, "encoder", None)
            side = getattr(vc, "image_size", 224)
        return int(side[0] if isinstance(side, (list, tuple)) else side)

    def normalise(self, x01: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [0, 1] -> what the vision encoder was trained on."""
        ip = self.image_processor
        if not getattr(ip, "do_normalize", True):
            return x01
        mean = torch.tensor(getattr(ip, "image_mean", None) or [0.5] * 3).view(1, 3, 1, 1)
        std = torch.tensor(getattr(ip, "image_std", None) or [0.5] * 3).view(1, 3, 1, 1)
        return (x01 - mean) / std

    # -- captions ------------------------------------------------------------------------
    @property
    def max_tokens(self) -> int:
        """The decoder's limit on caption tokens (its position embeddings)."""
        cfg = self.model.config
        text = getattr(cfg, "text_config", None) or getattr(cfg, "decoder", None) or cfg
        for name in ("max_position_embeddings", "n_positions", "max_length"):
            v = getattr(text, name, None)
            if isinstance(v, int) and v > 0:
                return min(v, 512)
        return min(int(getattr(self.tokenizer, "model_max_length", 512) or 512), 512)

    def memory_shape(self) -> dict:
        """For the memory estimate (``studio.models.freeze.positions``): one training
        example is an image at the vision encoder's size and a caption of up to the
        decoder's limit; the activations kept for backward are the text decoder's (the
        vision encoder is frozen by default), so its sizes are the ones that count."""
        cfg = self.model.config
        text = getattr(cfg, "text_config", None) or getattr(cfg, "decoder", None) or cfg
        side, tokens = self.image_size, self.max_tokens
        shape: dict = {"positions": tokens,
                       "per_example": f"{side}x{side} px image + a caption of up to "
                                      f"{tokens} tokens"}
        for key, names in (("n_layer", ("num_hidden_layers", "n_layer")),
                           ("d_model", ("hidden_size", "n_embd", "d_model")),
                           ("n_head", ("num_attention_heads", "n_head")),
                           ("vocab", ("vocab_size",))):
            value = next((getattr(text, n) for n in names
                          if isinstance(getattr(text, n, None), int)), 0)
            if value > 0:
                shape[key] = value
        return shape

    @property
    def pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad if pad is not None else (self.tokenizer.eos_token_id or 0))

    def caption_ids(self, caption: str) -> tuple[list[int], bool]:
        """Token ids of one caption as the model trains on it, cut to the decoder's limit;
        and whether it was cut."""
        tok, limit = self.tokenizer, self.max_tokens
        if self.kind == "ved":
            ids = tok(caption, add_special_tokens=False)["input_ids"]
            eos = tok.eos_token_id if tok.eos_token_id is not None else self.pad_id
            cut = len(ids) + 1 > limit
            return ids[:limit - 1] + [int(eos)], cut
        ids = tok(caption, add_special_tokens=True)["input_ids"]
        cut = len(ids) > limit
        if cut:  # keep the closing token ([SEP] / eos): the model learns where to stop
            ids = ids[:limit - 1] + ids[-1:]
        if self.kind == "blip" and ids:
            ids = [int(self.model.config.text_config.bos_token_id)] + ids[1:]
        return ids, cut

    def pad(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(input ids, attention mask, labels) padded to the longest caption."""
        width = max(1, max(len(s) for s in seqs))
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
            mask[i, :len(s)] = 1
        labels = ids.masked_fill(mask == 0, -100)
        return ids, mask, labels

    # -- the model -----------------------------------------------------------------------
    def loss(self, model, batch: CaptionBatch) -> torch.Tensor:
        if self.kind == "ved":
            return model(pixel_values=batch.pixel_values, labels=batch.labels).loss
        return model(pixel_values=batch.pixel_values, input_ids=batch.input_ids,
                     attention_mask=batch.attention_mask, labels=batch.labels).loss

    @torch.no_grad()
    def caption(self, pixel_values: torch.Tensor, max_new_tokens: int) -> list[str]:
        """Greedy captions (deterministic: samples and metrics compare across steps)."""
        model = self.model
        was = model.training
        model.eval()
        try:
            device = next(model.parameters()).device
            out = model.generate(pixel_values=pixel_values.to(device),
                                 max_new_tokens=int(max_new_tokens), do_sample=False,
                                 num_beams=1)
        finally:
            model.train(was)
        texts = self.tokenizer.batch_decode(out, skip_special_tokens=True)
        # word-level decoders put a space before punctuation ("red , small ."): take it out
        return [_NO_SPACE_BEFORE.sub(r"\1", " ".join(t.split())) for t in texts]


# -- the dataset (its code lives in studio.data.captioning) --------------------------------


def _explain(source: str, exc: Exception) -> ModelError:
    text = f"{type(exc).__name__}: {str(exc)[:300]}"
    if Path(source).exists():
        return ModelError(f"{source}: cannot load the captioning model ({text})",
                          "the folder must hold a BlipForConditionalGeneration, a "
                          "VisionEncoderDecoderModel or an AutoModelForImageTextToText saved "
                          "with save_pretrained, with its processor (or tokenizer and image "
                          "processor)")
    if os.environ.get("HF_HUB_OFFLINE") == "1" or "offline" in text.lower():
        return ModelError(f"{source}: not a local folder, and it is not in the Hugging Face "
                          "cache while offline",
                          "connect once to download it, or give a local folder")
    return ModelError(f"{source}: cannot load the captioning model ({text})",
                      "check the hub id (e.g. Salesforce/blip-image-captioning-base) or the "
                      "folder path")


def kind_of(model_type: str) -> str:
    """The driver for a config's ``model_type``."""
    if model_type == "blip":
        return "blip"
    if model_type == "vision-encoder-decoder":
        return "ved"
    return "auto"


def _model_type(path: str, kw: dict) -> str:
    folder = Path(path)
    if folder.is_dir():
        try:
            return str(json.loads((folder / "config.json").read_text("utf-8"))
                       .get("model_type", ""))
        except (OSError, ValueError):
            return ""
    from transformers import AutoConfig

    return str(AutoConfig.from_pretrained(path, **kw).model_type)


def load_captioner(source: str, device: Any = "cpu", dtype: Any = None, *, revision: str = "",
                   trust_remote_code: bool = False) -> Captioner:
    """Load any of the three kinds from a folder, ``starter:captioning`` or a hub id."""
    quiet_transformers()
    path = checked_source(source)
    kw = hub_kwargs(revision, trust_remote_code)
    try:
        kind = kind_of(_model_type(path, kw))
        model, tok, ip, proc = _load_parts(kind, path, dtype or torch.float32, kw)
    except (OSError, ValueError, KeyError, EnvironmentError, TypeError) as exc:
        raise _explain(source, exc) from None
    if tok.pad_token_id is None and tok.eos_token_id is not None:
        tok.pad_token = tok.eos_token  # GPT-2 decoders have no pad token
    if kind == "ved":  # a ViT + GPT-2 pairing often leaves these unset
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        for c in (model.config, model.generation_config):
            if getattr(c, "decoder_start_token_id", None) is None:
                c.decoder_start_token_id = start
            if getattr(c, "pad_token_id", None) is None:
                c.pad_token_id = tok.pad_token_id
    model.to(device)
    return Captioner(kind, model, tok, ip, proc)


def _load_parts(kind: str, path: str, dtype, kw: dict):
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    if kind == "blip":
        from transformers import BlipForConditionalGeneration

        model = BlipForConditionalGeneration.from_pretrained(path, dtype=dtype, **kw)
    elif kind == "ved":
        from transformers import VisionEncoderDecoderModel

        model = VisionEncoderDecoderModel.from_pretrained(path, dtype=dtype, **kw)
    else:
        from transformers import AutoModelForImageTextToText

        model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype, **kw)
    proc = None
    try:
        proc = AutoProcessor.from_pretrained(path, **kw)
    except (OSError, ValueError, KeyError, TypeError):
        proc = None
    tok = getattr(proc, "tokenizer", None) or AutoTokenizer.from_pretrained(path, **kw)
    ip = getattr(proc, "image_processor", None) or AutoImageProcessor.from_pretrained(path, **kw)
    if proc is not None and not hasattr(proc, "tokenizer"):
        proc = None  # an image processor alone: not a processor the pipeline can use
    return model, tok, ip, proc


# -- the family -----------------------------------------------------------------------------


class CaptioningFamily:
    name = "captioning"
    throughput_unit = "img"

    # -- loading -----------------------------------------------------------------------
    def load(self, source: str, device: Any = "cpu", dtype: Any = None, *, revision: str = "",
             trust_remote_code: bool = False) -> Loaded:
        cap = load_captioner(source, device, dtype, revision=revision,
                             trust_remote_code=trust_remote_code)
        return Loaded(model=cap.model, extras={"captioner": cap,
                                               "tokenizer": cap.tokenizer}, source=source)

    # -- layer tree --------------------------------------------------------------------
    def layer_groups(self, loaded: Loaded) -> list[LayerGroup]:
        return captioner_layer_groups(loaded.model)

    def memory_shape(self, loaded: Loaded) -> dict:
        """The memory estimate's view of a captioner (``Captioner.memory_shape``), not a
        text model's ``data.block_size`` tokens."""
        return loaded.extras["captioner"].memory_shape()

    # -- data --------------------------------------------------------------------------
    def datasets(self, loaded: Loaded, cfg: Any, resolve=lambda p: Path(p)):
        from studio.data.captioning import load_caption_data

        data = load_caption_data(loaded.extras["captioner"], cfg, resolve)
        # the held-out images the samples use (sample() is called without the dataset:
        # this is how it finds them); the run's own dataset is read first, so a reference
        # set read later (eval.reference = a folder) does not replace it
        loaded.extras.setdefault("held_out", data)
        loaded.extras["max_new_tokens"] = int(cfg.sample.max_new_tokens)
        # eval.max_batches caps the captions scored as it caps the validation loss's
        # batches (0: every held-out image)
        loaded.extras["metric_images"] = int(cfg.eval.max_batches) * int(cfg.train.batch_size)
        return data

    # -- training ----------------------------------------------------------------------
    def loss(self, loaded: Loaded, batch: CaptionBatch) -> torch.Tensor:
        return loaded.extras["captioner"].loss(loaded.model, batch)

    def val_loss(self, loaded: Loaded, batch: CaptionBatch, index: int) -> torch.Tensor:  # noqa: ARG002
        return self.loss(loaded, batch)

    def eval_metrics(self, loaded: Loaded, data: Any) -> dict[str, float]:
        """BLEU-4 and CIDEr-D of greedy captions of the held-out images (the first
        ``eval.max_batches`` x ``train.batch_size`` of them when that knob is set) against
        their true captions (pycocoevalcap's scorers)."""
        from studio.models.caption_metrics import caption_scores

        cap = int(loaded.extras.get("metric_images") or 0)
        n = min(data.n_val, cap) if cap else data.n_val
        if n == 0:
            return {}
        generated, refs = self._caption_held_out(loaded, data, range(n),
                                                 loaded.extras.get("max_new_tokens", 48))
        return caption_scores(generated, refs)

    def _caption_held_out(self, loaded: Loaded, data: Any, which, max_new_tokens: int,
                          bs: int = 16) -> tuple[list[str], list[str]]:
        cap = loaded.extras["captioner"]
        which = list(which)
        out: list[str] = []
        for i in range(0, len(which), bs):
            pv = data.val_pixels(which[i:i + bs])
            out += cap.caption(pv, max_new_tokens)
        return out, [data.val_caption(j) for j in which]

    # -- sampling ----------------------------------------------------------------------
    def sample(self, loaded: Loaded, scfg: Any, step: int, out_dir: Path | None = None,
               prompts: tuple[str, ...] | None = None) -> list[Sample]:
        """Held-out images with the generated caption beside the true one. Outside a run
        (``studio sample``), ``prompts`` may name image files to caption."""
        data = loaded.extras.get("held_out")
        max_new = int(getattr(scfg, "max_new_tokens", 48))
        if prompts and all(Path(p).is_file() for p in prompts):
            return self._sample_files(loaded, [Path(p) for p in prompts], max_new, step)
        if data is None:  # outside a run, with no image files given
            raise ConfigError("sample.prompts", "a captioning model captions images, and no "
                                                "image file was given",
                              "name image files: studio sample RUN_DIR --prompt photo.png")
        if data.n_val == 0:
            return []
        which = list(range(min(SAMPLE_IMAGES, data.n_val)))
        generated, refs = self._caption_held_out(loaded, data, which, max_new)
        samples = [Sample(kind="caption", step=step, index=k, text=gen,
                          path=str(data.val_path(j)), seed=0,
                          meta={"reference": ref, "image": Path(data.val_path(j)).name,
                                "seeded": False})  # greedy decoding: no seed decides it
                   for k, (j, gen, ref) in enumerate(zip(which, generated, refs))]
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / "index.json").write_text(json.dumps(
                [{"index": s.index, "image": s.path, "generated": s.text,
                  "reference": s.meta["reference"]} for s in samples], indent=1,
                ensure_ascii=False), encoding="utf-8")
        return samples

    def _sample_files(self, loaded: Loaded, paths: list[Path], max_new: int,
                      step: int) -> list[Sample]:
        texts = caption_images(loaded.extras["captioner"], paths, max_new)
        return [Sample(kind="caption", step=step, index=k, text=t, path=str(p),
                       meta={"reference": "", "image": p.name, "seeded": False})
                for k, (p, t) in enumerate(zip(paths, texts))]

    # -- export ------------------------------------------------------------------------
    def export(self, loaded: Loaded, out_dir: Path, card: str = "") -> None:
        """A folder the model's own class loads, with its processor; for BLIP also
        ``pipeline("image-to-text", model=folder)`` (transformers 5 routes that task to
        image-text-to-text, which wants ``text=""`` beside the image)."""
        save_captioner(loaded.extras["captioner"], loaded.model, out_dir)
        if card:
            from studio.config import families

            (out_dir / "README.md").write_text(
                card + f"\nLoad with `{families.get(self.name).export_loader}`.\n",
                encoding="utf-8")


def save_captioner(cap: Captioner, model, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    if cap.processor is not None:
        cap.processor.save_pretrained(out_dir)
    else:
        cap.tokenizer.save_pretrained(out_dir)
        cap.image_processor.save_pretrained(out_dir)


def caption_images(cap: Captioner, paths: list[Path], max_new_tokens: int = 48,
                   bs: int = 8, progress=None, cancelled=None) -> list[str]:
    """Captions of image files (auto-captioning): read as the training code reads them,
    batch by batch; ``progress(done, total)`` after each batch; ``cancelled()`` stops early
    (the captions so far are returned)."""
    from studio.data.captioning import pixels_of

    out: list[str] = []
    for i in range(0, len(paths), bs):
        if cancelled is not None and cancelled():
            break
        pv = pixels_of(cap, paths[i:i + bs])
        out += cap.caption(pv, max_new_tokens)
        if progress is not None:
            progress(len(out), len(paths))
    return out


# -- the layer tree -------------------------------------------------------------------------


def _decoder_layout(model) -> tuple[str, str, str]:
    """(vision prefix, decoder blocks prefix, bridge marker) for BLIP / VED / other."""
    names = [n for n, _ in model.named_parameters()]
    if any(n.startswith("vision_model.") for n in names) and any(
            n.startswith("text_decoder.") for n in names):
        return "vision_model.", "text_decoder.bert.encoder.layer.", "crossattention"
    if any(n.startswith("encoder.") for n in names) and any(n.startswith("decoder.")
                                                            for n in names):
        blocks = "decoder.transformer.h." if any(n.startswith("decoder.transformer.h.")
                                                  for n in names) else \
            "decoder.bert.encoder.layer." if any(n.startswith("decoder.bert.encoder.layer.")
                                                 for n in names) else ""
        return "encoder.", blocks, "crossattention"
    return "", "", ""


def captioner_layer_groups(model: torch.nn.Module) -> list[LayerGroup]:
    """Vision encoder, the image-to-text bridge (cross-attention and any projection),
    text embeddings, each decoder block, final norm, head. Names follow the text family
    (embeddings, block.N, final_norm, lm_head), so the presets work the same way."""
    named = list(model.named_parameters())
    vision, blocks, bridge = _decoder_layout(model)
    if not blocks:  # an architecture this tree does not know: vision vs the rest
        from studio.models.text import text_layer_groups

        return text_layer_groups(model)
    assigned: dict[str, str] = {}
    for n, _ in named:
        if n.startswith(vision):
            assigned[n] = "vision_encoder"
        elif f".{bridge}." in n or n.startswith(("enc_to_dec_proj.", "vision_proj.")) \
                or ".ln_cross_attn." in n:
            assigned[n] = "projection"
        elif n.startswith(blocks):
            assigned[n] = f"block.{int(n[len(blocks):].split('.', 1)[0])}"
        elif ".embeddings." in n or ".wte." in n or ".wpe." in n:
            assigned[n] = "embeddings"
        elif n.endswith(("ln_f.weight", "ln_f.bias")):
            assigned[n] = "final_norm"
        elif ".cls." in n or "lm_head" in n:
            assigned[n] = "lm_head"
        else:
            assigned[n] = "other"
    n_blocks = 1 + max([int(g.split(".")[1]) for g in assigned.values()
                        if g.startswith("block.")], default=-1)
    titles = {"vision_encoder": "Vision encoder",
              "projection": "Cross-attention",
              "embeddings": "Text embeddings", "final_norm": "Final norm",
              "lm_head": "Text head", "other": "Other"}
    titles.update({f"block.{i}": f"Decoder block {i}" for i in range(n_blocks)})
    notes = {"vision_encoder": "frozen unless you choose otherwise: its features are what "
                               "pre-training paid for; a house style moves the words",
             "projection": "the image-to-text bridge: where the text decoder reads the "
                           "image (its cross-attention, and any projection between them)"}
    order = ["vision_encoder", "projection", "embeddings",
             *[f"block.{i}" for i in range(n_blocks)], "final_norm", "lm_head", "other"]
    groups = []
    sizes = dict(named)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    tied = head is not None and emb is not None and getattr(head, "weight", None) is \
        getattr(emb, "weight", 0)
    for g in order:
        params = [n for n, a in assigned.items() if a == g]
        note = notes.get(g, "")
        if g == "lm_head" and tied:
            note = "tied to the text embeddings: it trains with them"
        if params or (g == "lm_head" and tied):
            groups.append(LayerGroup(g, titles[g], params,
                                     count=sum(sizes[n].numel() for n in params), note=note))
    return groups
