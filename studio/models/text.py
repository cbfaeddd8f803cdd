"""Causal text family: transformers ``AutoModelForCausalLM`` + ``AutoTokenizer``.

Sources: "starter:text" (shipped, offline), a local folder saved with
``save_pretrained``, or a Hugging Face hub id (downloaded into the normal HF cache).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from studio.core.errors import ModelError
from studio.core.events import Sample
from studio.data.tokens import TokenBlocks as TextData
from studio.models.base import LayerGroup, Loaded, checked_source, hub_kwargs, quiet_transformers


def _explain_load_error(source: str, exc: Exception) -> ModelError:
    text = str(exc)
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    looks_like_path = source.startswith((".", "/", "~")) or os.sep in source.strip("/") and \
        source.count("/") > 1 or "\\" in source
    if looks_like_path and not Path(source).exists():
        return ModelError(f"{source}: no such model folder",
                          "check the path, or give a hub id like \"gpt2\"")
    if Path(source).exists():
        return ModelError(f"{source}: cannot load the model ({type(exc).__name__}: {text[:300]})",
                          "the folder must hold a model saved with save_pretrained "
                          "(config.json, weights and tokenizer files)")
    if offline or "offline" in text.lower() or "connection" in text.lower():
        return ModelError(f"{source}: not a local folder, and it is not in the Hugging Face cache "
                          "while offline",
                          "connect to the internet once to download it, or give a local folder")
    return ModelError(f"{source}: cannot load the model ({type(exc).__name__}: {text[:300]})",
                      "check the hub id or the folder path")


def load_causal_lm(source: str, device: Any = "cpu", dtype: Any = None, *, revision: str = "",
                   trust_remote_code: bool = False, extra: Any = None) -> tuple[Any, Any]:
    """An ``AutoModelForCausalLM`` from a starter, local folder or hub id, with load errors
    explained; ``extra(path, kwargs)`` loads what goes with it (the text family's
    tokenizer) inside the same error handling. Returns (model, extra's result or None).
    Shared by every family whose model is a causal LM (text, MIDI)."""
    from transformers import AutoModelForCausalLM

    quiet_transformers()
    path = checked_source(source)
    kwargs = hub_kwargs(revision, trust_remote_code)
    try:
        got = extra(path, kwargs) if extra is not None else None
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32,
                                                     **kwargs)
    except (OSError, ValueError, EnvironmentError, KeyError) as exc:
        raise _explain_load_error(source, exc) from None
    model.to(device)
    return model, got


class TextFamily:
    name = "text"
    throughput_unit = "tok"

    # -- loading -----------------------------------------------------------------------
    def load(self, source: str, device: Any = "cpu", dtype: Any = None, *, revision: str = "",
             trust_remote_code: bool = False) -> Loaded:
        from transformers import AutoTokenizer

        def tokenizer(path: str, kwargs: dict) -> Any:
            return AutoTokenizer.from_pretrained(path, **kwargs)

        model, tok = load_causal_lm(source, device, dtype, revision=revision,
                                    trust_remote_code=trust_remote_code, extra=tokenizer)
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        return Loaded(model=model, extras={"tokenizer": tok}, source=source)

    # -- layer tree --------------------------------------------------------------------
    def layer_groups(self, loaded: Loaded) -> list[LayerGroup]:
        return text_layer_groups(loaded.model)

    # -- data --------------------------------------------------------------------------
    def datasets(self, loaded: Loaded, cfg: Any, resolve=lambda p: Path(p)) -> TextData:
        from studio.data.text import build_text_splits, collect_files, describe, read_text_corpus

        tok = loaded.extras["tokenizer"]
        max_len = getattr(loaded.model.config, "max_position_embeddings", None) or getattr(
            loaded.model.config, "n_positions", None)
        if max_len and cfg.data.block_size > max_len:
            from studio.core.errors import ConfigError
            raise ConfigError("data.block_size", f"{cfg.data.block_size} is longer than the "
                              f"model's context of {max_len} tokens",
                              f"set data.block_size to {max_len} or less")
        files, skipped = collect_files([resolve(p) for p in cfg.data.paths])
        exclude = {str(Path(p).resolve()) for p in cfg.data.exclude}
        files = [f for f in files if str(f.resolve()) not in exclude]
        if not files:
            from studio.core.errors import DataError
            raise DataError(", ".join(cfg.data.paths), "holds no usable text files" +
                            (f" ({len(exclude)} excluded)" if exclude else ""),
                            "add .txt, .md, .jsonl or .csv files")
        corpus = read_text_corpus(files, text_field=cfg.data.text_field,
                                  csv_column=cfg.data.csv_column)
        corpus.skipped[:0] = skipped

        def encode(text: str) -> list[int]:
            # whole documents are longer than the context on purpose: they get packed
            return tok(text, add_special_tokens=False, verbose=False)["input_ids"]

        # tokens are cached on disk by file content and tokenizer: the next run of a big
        # corpus memory-maps them instead of tokenizing again
        from studio.data.tokens import TokenCache, tokenizer_fingerprint

        splits = build_text_splits(corpus, encode, tok.eos_token_id, cfg.data.block_size,
                                   cfg.data.val_fraction, cfg.data.split_seed,
                                   cache=TokenCache(tokenizer=tokenizer_fingerprint(tok)))
        return TextData(train=torch.from_numpy(splits.train), val=torch.from_numpy(splits.val),
                        summary=describe(corpus, splits), skipped=list(corpus.skipped))

    # -- training ----------------------------------------------------------------------
    def loss(self, loaded: Loaded, batch: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy over the batch (transformers shifts the labels)."""
        return loaded.model(input_ids=batch, labels=batch).loss

    def reference_examples(self, loaded: Loaded, cfg: Any, data: Any, path: Path, limit: int,
                           shipped: bool = False) -> torch.Tensor:  # noqa: ARG002
        """Up to ``limit`` token blocks of a reference text (the forgetting probe)."""
        from studio.core.errors import DataError
        from studio.data.text import read_text_corpus

        block_size = cfg.data.block_size
        tok = loaded.extras["tokenizer"]
        ids: list[int] = []
        for doc in read_text_corpus([path]).documents:
            ids += tok(doc.text, add_special_tokens=False, verbose=False)["input_ids"]
            ids.append(tok.eos_token_id)
            if len(ids) >= block_size * limit:
                break
        n = min(limit, len(ids) // block_size)
        if n == 0:
            raise DataError(str(path), f"too short for one {block_size}-token reference block",
                            "give a longer reference text, or set eval.reference = \"off\"")
        return torch.tensor(ids[:n * block_size], dtype=torch.long).view(n, block_size)

    def val_loss(self, loaded: Loaded, batch: torch.Tensor, index: int) -> torch.Tensor:  # noqa: ARG002
        return self.loss(loaded, batch)

    # -- sampling ----------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, loaded: Loaded, scfg: Any, step: int, out_dir: Path | None = None,
               prompts: tuple[str, ...] | None = None) -> list[Sample]:
        """Continue each prompt with a fixed seed, without disturbing the training RNG."""
        model, tok = loaded.model, loaded.extras["tokenizer"]
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        samples = []
        devices = [device.index or 0] if device.type == "cuda" else []
        try:
            for i, prompt in enumerate(prompts if prompts is not None else scfg.prompts):
                with torch.random.fork_rng(devices=devices):
                    torch.manual_seed(scfg.seed + i)
                    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
                    if ids.shape[1] == 0:  # an empty prompt starts from end-of-text
                        ids = torch.tensor([[tok.eos_token_id]])
                    ids = ids.to(device)
                    ctx = getattr(model.config, "max_position_embeddings", None) or getattr(
                        model.config, "n_positions", None) or 10**9
                    ids = ids[:, -(ctx - 1):]  # keep room for at least one new token
                    out = model.generate(
                        ids, attention_mask=torch.ones_like(ids), do_sample=True,
                        max_new_tokens=max(1, min(scfg.max_new_tokens, ctx - ids.shape[1])), temperature=scfg.temperature,
                        top_k=scfg.top_k or None, top_p=scfg.top_p,
                        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
                text = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
                samples.append(Sample(kind="text", step=step, index=i, prompt=prompt, text=text,
                                      seed=scfg.seed + i))
        finally:
            model.train(was_training)
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            index = [{"index": s.index, "prompt": s.prompt, "text": s.text, "seed": s.seed}
                     for s in samples]
            (out_dir / "index.json").write_text(json.dumps(index, indent=1, ensure_ascii=False),
                                                encoding="utf-8")
        return samples

    # -- export ------------------------------------------------------------------------
    def export(self, loaded: Loaded, out_dir: Path, card: str = "") -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        loaded.model.save_pretrained(out_dir)
        loaded.extras["tokenizer"].save_pretrained(out_dir)
        if card:
            (out_dir / "README.md").write_text(card, encoding="utf-8")


def perplexity(loss: float) -> float:
    return math.exp(min(loss, 50.0))


def _count(params: list[tuple[str, nn.Parameter]]) -> int:
    return sum(p.numel() for _, p in params)


def text_layer_groups(model: nn.Module) -> list[LayerGroup]:
    """Embeddings, each transformer block, final norm, LM head — for any causal LM.

    The blocks are the largest ``nn.ModuleList``; the head is ``get_output_embeddings()``.
    Tied weights (head = input embeddings) are listed once, under the embeddings, and the
    head says so.
    """
    named = list(model.named_parameters())  # shared (tied) parameters appear once
    lists = [(name, mod) for name, mod in model.named_modules() if isinstance(mod, nn.ModuleList)]
    if not lists:
        return [LayerGroup("all", "All parameters", [n for n, _ in named], count=_count(named))]
    block_prefix, blocks = max(lists, key=lambda nm: sum(p.numel() for p in nm[1].parameters()))
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    head_ids = {id(p) for p in head.parameters()} if head is not None else set()
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    tied = head is not None and emb is not None and head.weight is emb.weight

    before, after, head_params = [], [], []
    block_params: dict[int, list] = {i: [] for i in range(len(blocks))}
    seen_block = False
    for name, p in named:
        if name.startswith(block_prefix + "."):
            idx = int(name[len(block_prefix) + 1:].split(".", 1)[0])
            block_params[idx].append((name, p))
            seen_block = True
        elif id(p) in head_ids and not (tied and emb is not None and p is emb.weight):
            head_params.append((name, p))
        elif not seen_block:
            before.append((name, p))
        else:
            after.append((name, p))

    groups = [LayerGroup("embeddings", "Embeddings", [n for n, _ in before], count=_count(before),
                         note="shared with the LM head (tied weights)" if tied else "")]
    for i in range(len(blocks)):
        ps = block_params[i]
        groups.append(LayerGroup(f"block.{i}", f"Block {i}", [n for n, _ in ps], count=_count(ps)))
    groups.append(LayerGroup("final_norm", "Final norm", [n for n, _ in after], count=_count(after)))
    groups.append(LayerGroup("lm_head", "LM head", [n for n, _ in head_params],
                             count=_count(head_params),
                             note="tied to the embeddings: trains with them" if tied else ""))
    return [g for g in groups if g.params or g.name == "lm_head"]
