"""The text-to-image dataset: captioned images as cached VAE latents, batched by bucket.

Captions, trigger word, caption dropout, tag shuffling and aspect-ratio buckets are the
one captioned-image reader's (``studio.data.captioned``); this module turns its items into
what the UNet trains on:

* **latents**, encoded once by the frozen VAE and cached on disk under
  ``root/<settings key>/<file digest>/00000.npy``: the settings key covers the VAE (its
  config and a sample of its weights), the resolution, bucketing and the fitting rule, the
  digest the image file's bytes, so an edited image, another VAE or another resolution
  never reads stale latents (the audio codes cache's rules, with its size cap);
* **text embeddings**, cached the same way keyed by the caption's text (and the text
  encoders), when captions are static: no tag shuffling and no text encoder training
  (caption dropout only swaps in the cached empty caption). Editing a caption changes its
  key: that one caption is encoded again;
* **batches by bucket**: each epoch's order groups images of one bucket into runs of the
  batch size (shuffled within and between buckets), and a micro-batch that still mixes
  buckets runs one UNet forward per bucket.

Validation: held-out images with their plain captions (trigger word added, no dropout or
shuffling), at fixed timesteps and fixed noise (``TextToImageFamily.val_loss``).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from studio.core.errors import DataError

FIT_RULE = "lanczos-cover-centre-crop-v1"  # how an image becomes its bucket (cache key)


@dataclass
class T2IBatch:
    """One micro-batch, split by bucket (one UNet forward per latent size). Behaves like
    a tensor where the engine needs it (``to``, ``pin_memory``, ``len``)."""

    parts: list[dict[str, torch.Tensor]] = field(default_factory=list)

    def _map(self, fn) -> "T2IBatch":
        return T2IBatch([{k: fn(v) for k, v in p.items()} for p in self.parts])

    def to(self, device: Any, non_blocking: bool = False) -> "T2IBatch":
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> "T2IBatch":
        return self._map(lambda t: t.pin_memory())

    def __len__(self) -> int:
        return sum(int(p["latents"].shape[0]) for p in self.parts)



def fingerprint(module: torch.nn.Module) -> str:
    """A hash of a module's config and a strided sample of every weight: another model,
    or these weights changed, give another key (cheap even for SDXL's text encoders)."""
    h = hashlib.blake2b(digest_size=12)
    cfg = getattr(module, "config", None)
    if cfg is not None:
        d = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
        h.update(json.dumps(d, sort_keys=True, default=str).encode())
    for name, t in sorted(module.state_dict().items()):
        flat = t.detach().reshape(-1)
        step = max(1, flat.numel() // 4096)
        h.update(name.encode() + str(tuple(t.shape)).encode())
        h.update(flat[::step].to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def text_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


@dataclass
class Item:
    path: str
    caption: str
    digest: str
    bucket: tuple[int, int]   # (width, height) in pixels


@dataclass
class T2IData:
    items: list[Item]
    train_ids: list[int]
    val_ids: list[int]
    latents: list[torch.Tensor]            # per item, scaled, [4, h/8, w/8] (CPU)
    tokenize: Any                          # list[str] -> list of [B, L] id tensors
    embed: Any | None                      # list[str] -> (embeds, pooled) cached, or None
    trigger: str = ""
    dropout: float = 0.0
    shuffle: bool = False
    keep_tags: int = 0
    xl: bool = False
    batch_size: int = 1
    summary: str = ""
    skipped: list = field(default_factory=list)
    cache_stats: dict = field(default_factory=dict)

    @property
    def n_train(self) -> int:
        return len(self.train_ids)

    @property
    def n_val(self) -> int:
        return len(self.val_ids)

    # -- captions -------------------------------------------------------------------
    def caption(self, item_id: int, rng: random.Random | None) -> str:
        """What one step sees: compose_caption's rules (dropout, shuffle, trigger first);
        ``rng`` None: the plain caption (validation)."""
        from studio.data.captioned import compose_caption

        cap = self.items[item_id].caption
        if rng is None:
            return compose_caption(cap, trigger=self.trigger)
        return compose_caption(cap, trigger=self.trigger, dropout=self.dropout,
                               shuffle_tags=self.shuffle, keep_tags=self.keep_tags, rng=rng)

    # -- batches ----------------------------------------------------------------------
    def _batch(self, ids: list[int], captions: list[str]):
        groups: dict[tuple[int, int], list[int]] = {}
        for k, i in enumerate(ids):
            groups.setdefault(self.items[i].bucket, []).append(k)
        parts = []
        for ks in groups.values():
            part = {"latents": torch.stack([self.latents[ids[k]] for k in ks])}
            caps = [captions[k] for k in ks]
            if self.embed is not None:
                emb, pooled = self.embed(caps)
                part["embeds"] = emb
                if pooled is not None:
                    part["pooled"] = pooled
            else:
                for j, t in enumerate(self.tokenize(caps)):
                    part[f"ids{j}"] = t
            if self.xl:
                part["time_ids"] = torch.tensor(
                    [[b[1], b[0], 0, 0, b[1], b[0]] for b in (self.items[ids[k]].bucket
                                                             for k in ks)],
                    dtype=torch.float32)
            parts.append(part)
        return T2IBatch(parts)

    def train_batch(self, idx: torch.Tensor, seed: int):
        ids = [self.train_ids[int(i)] for i in idx]
        caps = [self.caption(i, random.Random(seed * 7919 + k)) for k, i in enumerate(ids)]
        return self._batch(ids, caps)

    def val_batch(self, b: int, bs: int):
        ids = self.val_ids[b * bs:(b + 1) * bs]
        return self._batch(ids, [self.caption(i, None) for i in ids])

    @staticmethod
    def items_in(batch) -> int:
        return len(batch)  # images

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        """An epoch's order of training positions: shuffled within each bucket, cut into
        runs of the batch size, the runs shuffled; so micro-batches are one bucket each
        (the engine's DataOrder asks for this when the dataset offers it)."""
        by_bucket: dict[tuple[int, int], list[int]] = {}
        for pos, i in enumerate(self.train_ids):
            by_bucket.setdefault(self.items[i].bucket, []).append(pos)
        runs = []
        for _, positions in sorted(by_bucket.items()):
            perm = torch.randperm(len(positions), generator=generator).tolist()
            shuffled = [positions[p] for p in perm]
            bs = max(1, self.batch_size)
            runs += [shuffled[k:k + bs] for k in range(0, len(shuffled), bs)]
        order = torch.randperm(len(runs), generator=generator).tolist()
        return torch.tensor([p for r in order for p in runs[r]], dtype=torch.long)


# -- building it -------------------------------------------------------------------------

def bucket_step(loaded: Any) -> int:
    """Pixels a bucket side must be a multiple of: the VAE's downsampling times the UNet's
    (64 for SD 1.5 and SDXL)."""
    unet = loaded.model.unet
    return int(loaded.extras["vae_scale"]) * 2 ** (len(unet.config.block_out_channels) - 1)


def _encoder(loaded: Any):
    """list of fitted PIL images (one bucket) -> scaled latents [B, 4, h, w] on the CPU.
    The VAE runs in fp32 (no autocast) so its statistics never overflow."""
    vae = loaded.model.vae
    scale = float(vae.config.scaling_factor)
    shift = float(getattr(vae.config, "shift_factor", None) or 0.0)

    @torch.no_grad()
    def encode(images: list) -> torch.Tensor:
        device = next(vae.parameters()).device
        arr = np.stack([np.asarray(im, dtype=np.uint8) for im in images])
        x = torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
        with torch.autocast(device.type, enabled=False):
            lat = vae.encode(x.to(device)).latent_dist.mode()
        return ((lat - shift) * scale).float().cpu()

    return encode


def build_dataset(family: Any, loaded: Any, cfg: Any, resolve=lambda p: Path(p), *,
                  text_encoder_trains: bool = False) -> T2IData:
    from studio.config.io import resolve_path
    from studio.data import progress
    from studio.data.audio import CodesCache
    from studio.data.cache import cache_root, prune_cache
    from studio.data.captioned import buckets_of, fit_file, load_captioned, missing_summary
    from studio.data.files import digest_or_none
    from studio.data.image import Skipped, split_images

    d = cfg.data
    trigger = str(getattr(d, "trigger_word", "") or "").strip()
    res = family.resolution(loaded, cfg)
    step = bucket_step(loaded)
    if res % step:
        raise DataError("data.resolution", f"{res} px is not a multiple of {step} (the VAE and "
                        "UNet downsample by that much)", f"use {res // step * step or step}")
    # the dataset pane's bucket preview asks the same function
    buckets = buckets_of(res, bool(getattr(d, "bucketing", True)))
    odd = [b for b in buckets if b[0] % step or b[1] % step]
    if odd:
        raise DataError("data.resolution", f"the buckets of {res} px include {odd[0][0]}x"
                        f"{odd[0][1]}, not a multiple of {step} px (this model's VAE and UNet "
                        "downsample by that much)", "use a resolution of at least 256, or "
                        "turn data.bucketing off")
    ds = load_captioned([resolve(p) for p in d.paths], trigger=trigger,
                        exclude=[resolve(p) for p in d.exclude])
    skipped = list(ds.skipped)
    # caches: relative to the config file; latents keyed by the VAE and the fitting rule
    root = (resolve_path(cfg, d.latents_cache) if getattr(d, "latents_cache", "")
            else cache_root("t2i-latents"))
    vae_settings = {"vae": fingerprint(loaded.model.vae), "resolution": res,
                    "buckets": [list(b) for b in buckets], "fit": FIT_RULE}
    lat_cache = CodesCache(Path(root) / "latents", vae_settings)
    encode = _encoder(loaded)
    items: list[Item] = []
    latents: list[torch.Tensor] = []
    meter = progress.Meter("Encoding images to latents", len(ds.items), unit="images",
                           scale=1)
    encoded = 0
    for k, it in enumerate(ds.items):
        progress.check_stop()
        digest = digest_or_none(it.path)
        if digest is None:
            skipped.append(Skipped(str(it.path), "cannot be read; check that the file is "
                                                  "readable"))
            continue
        got = lat_cache.get(digest, 0)
        if got is not None:
            lat = torch.from_numpy(np.asarray(got, dtype=np.float32))
            vs = int(loaded.extras["vae_scale"])
            bucket = (lat.shape[-1] * vs, lat.shape[-2] * vs)  # (width, height)
        else:
            try:
                fit = fit_file(it.path, buckets)
            except DataError as exc:
                skipped.append(Skipped(str(it.path), str(exc).split(": ", 1)[-1]))
                continue
            lat = encode([fit.image])[0]
            encoded += 1
            lat_cache.put(digest, 0, lat.numpy())
            bucket = fit.bucket
        items.append(Item(str(it.path), it.caption, digest, tuple(bucket)))
        latents.append(lat)
        meter.update(k + 1)
    if not items:
        where = ", ".join(str(p) for p in d.paths) or "data.paths"
        reasons = "; ".join(f"{Path(s.path).name}: {s.reason}" for s in skipped[:5])
        raise DataError(where, "no usable images" + (f" ({reasons})" if reasons else ""),
                        "add captioned images (.png/.jpg with a same-name .txt)")
    train_ids, val_ids = split_images(len(items), d.val_fraction, d.split_seed)

    # text embeddings: cached when the captions are static and the text encoders frozen
    te_trains = text_encoder_trains
    shuffle = bool(getattr(d, "shuffle_tags", False))
    embed = None
    te_cache = None
    if not te_trains and not shuffle:
        te_settings = {"encoders": [fingerprint(m) for m in loaded.model.text_encoders()],
                       "tokenizers": [t.model_max_length for t in loaded.extras["tokenizers"]],
                       "xl": bool(loaded.extras["xl"])}
        te_cache = CodesCache(Path(root) / "text", te_settings)
        embed = _embedder(family, loaded, te_cache)
    pruned, freed = prune_cache(Path(root) / "latents", int(float(getattr(
        d, "latents_cache_gb", 2.0)) * 1e9), [lat_cache.dir / it.digest for it in items])
    data = T2IData(items=items, train_ids=train_ids, val_ids=val_ids, latents=latents,
                   tokenize=lambda caps: family.tokenize(loaded, caps), embed=embed,
                   trigger=trigger, dropout=float(getattr(d, "caption_dropout", 0.0)),
                   shuffle=shuffle, keep_tags=int(getattr(d, "keep_tags", 0)),
                   xl=bool(loaded.extras["xl"]), batch_size=int(cfg.train.batch_size),
                   skipped=skipped)
    data.cache_stats = {"latent_hits": lat_cache.hits, "latents_encoded": encoded,
                        "text_cache": te_cache}
    if embed is not None:  # encode every plain caption (and the empty one) now
        embed([data.caption(i, None) for i in range(len(items))] + [""])
    loaded.extras["train_options"] = {
        "trigger_word": trigger, "snr_gamma": float(getattr(cfg.train, "snr_gamma", 0.0)),
        "noise_offset": float(getattr(cfg.train, "noise_offset", 0.0)),
        "sample_size": getattr(cfg.sample, "image_size", 0) and
        (cfg.sample.image_size, cfg.sample.image_size) or (res, res)}
    counts: dict[tuple[int, int], int] = {}
    for it in items:
        counts[it.bucket] = counts.get(it.bucket, 0) + 1
    bucket_text = ", ".join(f"{w}x{h}: {n}" for (w, h), n in sorted(counts.items()))
    missing = missing_summary([it for it in ds.items if str(it.path) in
                               {i.path for i in items}])
    data.summary = (
        f"Read {len(items)} captioned images ({len(skipped)} skipped) in buckets of about "
        f"{res}x{res} px ({bucket_text}). Training: {len(train_ids)} images; validation: "
        f"{len(val_ids)} (plain captions, fixed timesteps and noise). Latents: "
        f"{lat_cache.hits} from the cache, {encoded} encoded, in {lat_cache.dir}. Text "
        + ("embeddings cached (static captions, frozen text encoder)." if embed is not None
           else "encoded each step (" + ("tags shuffled" if shuffle else
                                         "the text encoder trains") + ").")
        + (f" Trigger word: {trigger!r}." if trigger else "")
        + (f" {missing}." if missing else "")
        + (f" The latents cache was over its size cap: deleted {pruned} entries "
           f"({freed / 1e6:.1f} MB)." if pruned else ""))
    data.skipped += ds.problems
    return data


def _embedder(family: Any, loaded: Any, cache: Any):
    """captions -> (embeds [B, L, D], pooled [B, D] or None) on the CPU: memory, then the
    disk cache, then the text encoders (stored in both)."""
    memory: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {}

    @torch.no_grad()
    def embed(captions: list[str]):
        missing = []
        for c in dict.fromkeys(captions):
            if c in memory:
                continue
            got = cache.get(text_key(c), 0)
            if got is not None:
                arr = torch.from_numpy(np.asarray(got, dtype=np.float32))
                pooled = cache.get(text_key(c), 1) if loaded.extras["xl"] else None
                memory[c] = (arr, None if pooled is None else torch.from_numpy(
                    np.asarray(pooled, dtype=np.float32)))
            else:
                missing.append(c)
        if missing:
            device = next(loaded.model.text_encoder.parameters()).device
            ids = [t.to(device) for t in family.tokenize(loaded, missing)]
            with torch.autocast(device.type, enabled=False):
                emb, pooled = family.encode_text(loaded, ids)
            for j, c in enumerate(missing):
                e = emb[j].float().cpu()
                p = None if pooled is None else pooled[j].float().cpu()
                memory[c] = (e, p)
                cache.put(text_key(c), 0, e.numpy())
                if p is not None:
                    cache.put(text_key(c), 1, p.numpy())
        embs = torch.stack([memory[c][0] for c in captions])
        pools = [memory[c][1] for c in captions]
        return embs, (torch.stack(pools) if pools and pools[0] is not None else None)

    return embed
