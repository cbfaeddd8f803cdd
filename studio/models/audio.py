"""Text-to-music family: transformers ``MusicgenForConditionalGeneration`` (a T5 text
encoder, an EnCodec codec and a decoder over the codec's codebooks).

Sources: "starter:audio" (shipped, offline), a folder saved with ``save_pretrained``
(model + tokenizer), or a hub id of the facebook/musicgen-small kind.

Training is MusicGen's own objective: the codec turns each clip into K streams of codes,
the streams are laid out in the *delay pattern* (codebook k shifted right by k frames, as
the model generates them), and the decoder predicts each next column from the text
condition, a cross-entropy per codebook averaged over codebooks. The codec is always
frozen (its codes are the targets; no gradient reaches it) and the text encoder is frozen
unless the freeze plan says otherwise. A share of examples (``data.condition_dropout``)
trains with no text at all, which is what classifier-free guidance at sampling time needs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from studio.core.errors import ConfigError, DataError, ModelError
from studio.core.events import Sample
from studio.models.base import LayerGroup, Loaded, checked_source, hub_kwargs, quiet_transformers

MAX_TEXT_TOKENS = 64


# -- the batch --------------------------------------------------------------------------


@dataclass
class AudioBatch:
    """What one step trains on. Behaves like a tensor where the engine needs it
    (``to``, ``pin_memory``, ``len``)."""

    input_ids: torch.Tensor       # [B, L] description tokens
    attention_mask: torch.Tensor  # [B, L]; all zeros = no condition (guidance training)
    codes: torch.Tensor           # [B, K, T] codec codes (int64)
    lengths: torch.Tensor         # [B] valid frames per clip (the rest is padding)

    def to(self, device: Any, non_blocking: bool = False) -> "AudioBatch":
        return AudioBatch(*(t.to(device, non_blocking=non_blocking) for t in
                            (self.input_ids, self.attention_mask, self.codes, self.lengths)))

    def pin_memory(self) -> "AudioBatch":
        return AudioBatch(*(t.pin_memory() for t in
                            (self.input_ids, self.attention_mask, self.codes, self.lengths)))

    def __len__(self) -> int:
        return int(self.codes.shape[0])


def delayed_labels(codes: torch.Tensor, lengths: torch.Tensor, pad: int,
                   stereo: bool = False) -> torch.Tensor:
    """[B, K, T] codes -> [B, T + D - 1, K] labels in MusicGen's delay pattern: codebook k
    starts k frames late (stereo: each left/right pair shares a delay); positions before a
    codebook starts, after it ends, and past the clip's real length hold ``pad`` (which the
    model leaves out of the loss)."""
    b, k, t = codes.shape
    delays = [j // 2 for j in range(k)] if stereo else list(range(k))
    d = max(delays) + 1
    out = torch.full((b, t + d - 1, k), pad, dtype=torch.long, device=codes.device)
    valid = torch.arange(t, device=codes.device)[None, :] < lengths[:, None]  # [B, T]
    for j, dj in enumerate(delays):
        out[:, dj:dj + t, j] = torch.where(valid, codes[:, j], torch.full_like(codes[:, j], pad))
    return out


# -- the dataset ------------------------------------------------------------------------


@dataclass
class AudioData:
    clips: list                    # studio.data.audio.Clip
    train_ids: list[int]
    val_ids: list[int]
    tokens: list[list[int]]        # description tokens per file
    pad_id: int
    frames: int                    # codec frames per full clip
    clip_samples: int
    sample_rate: int
    augment: Any                   # studio.data.audio.AudioAugment
    condition_dropout: float
    encode: Any                    # list of float [C, n] tensors -> list of int16 [K, t]
    cache: Any                     # studio.data.audio.CodesCache
    digests: list[str]             # per file
    summary: str = ""
    skipped: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    _codes: dict[int, np.ndarray] = field(default_factory=dict)
    encoded: int = 0               # clips the codec encoded (cache misses + augmented clips)

    @property
    def n_train(self) -> int:
        return len(self.train_ids)

    @property
    def n_val(self) -> int:
        return len(self.val_ids)

    def _valid_frames(self, clip_id: int) -> int:
        hop = self.clip_samples / self.frames
        return max(1, min(self.frames, math.ceil(self.clips[clip_id].samples / hop)))

    def codes_of(self, clip_ids: list[int]) -> list[np.ndarray]:
        """Un-augmented codes: memory, then the disk cache, then the codec (stored in both)."""
        missing = []
        for c in clip_ids:
            if c not in self._codes:
                clip = self.clips[c]
                got = self.cache.get(self.digests[clip.file], clip.index) if self.cache else None
                if got is not None and got.shape[-1] == self.frames:
                    self._codes[c] = got
                else:
                    missing.append(c)
        if missing:
            done = self.encode([torch.from_numpy(self.clips[c].audio()) for c in missing])
            self.encoded += len(missing)
            for c, codes in zip(missing, done):
                self._codes[c] = codes
                if self.cache:
                    clip = self.clips[c]
                    self.cache.put(self.digests[clip.file], clip.index, codes)
        return [self._codes[c] for c in clip_ids]

    def _batch(self, clip_ids: list[int], codes: list[np.ndarray], drop: list[bool]
               ) -> AudioBatch:
        toks = [self.tokens[self.clips[c].file] for c in clip_ids]
        width = max(1, max(len(t) for t in toks))
        ids = torch.full((len(toks), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(toks), width), dtype=torch.long)
        for i, t in enumerate(toks):
            ids[i, :len(t)] = torch.tensor(t, dtype=torch.long)
            if not drop[i]:
                mask[i, :len(t)] = 1
        lengths = torch.tensor([self._valid_frames(c) for c in clip_ids], dtype=torch.long)
        return AudioBatch(ids, mask, torch.from_numpy(np.stack(codes)).long(), lengths)

    def train_batch(self, idx: torch.Tensor, seed: int) -> AudioBatch:
        """Clips ``idx`` of the training split. Per example (seeded by its position, so a
        resumed run sees the same dice): augmentation, then codes (cached unless the audio
        was augmented), then condition dropout."""
        from studio.data.audio import augment_clip

        ids = [self.train_ids[int(i)] for i in idx]
        codes: list[np.ndarray | None] = [None] * len(ids)
        drop, fresh, fresh_at = [], [], []
        for k, c in enumerate(ids):
            rng = np.random.default_rng([seed + k, 7919])
            if self.augment.active:
                x, changed = augment_clip(torch.from_numpy(self.clips[c].audio()),
                                          self.sample_rate, self.augment, rng)
                if changed:
                    fresh.append(x)
                    fresh_at.append(k)
            drop.append(bool(self.condition_dropout > 0 and rng.random() < self.condition_dropout))
        if fresh:
            self.encoded += len(fresh)
            for k, cd in zip(fresh_at, self.encode(fresh)):
                codes[k] = cd
        plain = [k for k in range(len(ids)) if codes[k] is None]
        for k, cd in zip(plain, self.codes_of([ids[k] for k in plain])):
            codes[k] = cd
        return self._batch(ids, codes, drop)  # type: ignore[arg-type]

    def val_batch(self, b: int, bs: int) -> AudioBatch:
        ids = self.val_ids[b * bs:(b + 1) * bs]
        return self._batch(ids, self.codes_of(ids), [False] * len(ids))

    @staticmethod
    def items_in(batch: AudioBatch) -> int:
        return len(batch)  # clips


# -- the family -------------------------------------------------------------------------


def _explain(source: str, exc: Exception) -> ModelError:
    text = f"{type(exc).__name__}: {str(exc)[:300]}"
    if Path(source).exists():
        return ModelError(f"{source}: cannot load the MusicGen model ({text})",
                          "the folder must hold MusicgenForConditionalGeneration saved with "
                          "save_pretrained, and its tokenizer")
    if os.environ.get("HF_HUB_OFFLINE") == "1" or "offline" in text.lower():
        return ModelError(f"{source}: not a local folder, and it is not in the Hugging Face "
                          "cache while offline",
                          "connect once to download it, or give a local folder")
    return ModelError(f"{source}: cannot load the MusicGen model ({text})",
                      "check the hub id (e.g. facebook/musicgen-small) or the folder path")


def codec_fingerprint(codec: torch.nn.Module) -> str:
    """A hash of the codec's config and weights: codes from another codec never match."""
    h = hashlib.blake2b(digest_size=12)
    h.update(json.dumps(codec.config.to_dict(), sort_keys=True, default=str).encode())
    for name, t in sorted(codec.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fine-tuning-studio" / "audio-codes"


class AudioFamily:
    name = "audio"
    throughput_unit = "clip"

    # -- loading -----------------------------------------------------------------------
    def load(self, source: str, device: Any = "cpu", dtype: Any = None, *, revision: str = "",
             trust_remote_code: bool = False) -> Loaded:
        from transformers import AutoTokenizer, MusicgenForConditionalGeneration

        quiet_transformers()
        path = checked_source(source)
        kw = hub_kwargs(revision, trust_remote_code)
        try:
            model = MusicgenForConditionalGeneration.from_pretrained(
                path, dtype=dtype or torch.float32, **kw)
            tokenizer = AutoTokenizer.from_pretrained(path, **kw)
        except (OSError, ValueError, KeyError, EnvironmentError, TypeError) as exc:
            raise _explain(source, exc) from None
        model.to(device)
        return Loaded(model=model, extras={"tokenizer": tokenizer}, source=source)

    # -- layer tree --------------------------------------------------------------------
    def layer_groups(self, loaded: Loaded) -> list[LayerGroup]:
        return musicgen_layer_groups(loaded.model)

    # -- data --------------------------------------------------------------------------
    @staticmethod
    def audio_format(model) -> tuple[int, int, bool]:
        """(sample rate, channels the data is read as, stereo codes interleaved)."""
        sr = int(model.config.audio_encoder.sampling_rate)
        codec_ch = int(model.config.audio_encoder.audio_channels)
        dec_ch = int(getattr(model.config.decoder, "audio_channels", 1))
        stereo = dec_ch == 2 and codec_ch == 1
        return sr, 2 if stereo else codec_ch, stereo

    @staticmethod
    def frame_rate(model) -> float:
        c = model.config.audio_encoder
        return c.sampling_rate / float(np.prod(c.upsampling_ratios))

    def encoder_fn(self, loaded: Loaded, clip_samples: int, stereo: bool):
        """A function: list of float [C, n] tensors -> list of int16 [K, frames] codes."""
        model = loaded.model
        codec = model.audio_encoder
        k_dec = int(model.decoder.config.num_codebooks)

        @torch.no_grad()
        def encode(waves: list[torch.Tensor]) -> list[np.ndarray]:
            device = next(codec.parameters()).device
            x = torch.zeros(len(waves), waves[0].shape[0], clip_samples)
            for i, w in enumerate(waves):
                n = min(clip_samples, w.shape[-1])
                x[i, :, :n] = w[:, :n]
            was = codec.training
            codec.eval()
            try:
                if stereo:
                    left = codec.encode(x[:, :1].to(device)).audio_codes[0]
                    right = codec.encode(x[:, 1:2].to(device)).audio_codes[0]
                    codes = torch.stack([left, right], dim=2).flatten(1, 2)
                else:
                    codes = codec.encode(x.to(device)).audio_codes[0]  # [B, K, T]
            finally:
                codec.train(was)
            if codes.shape[1] != k_dec:
                raise ModelError(f"the codec gives {codes.shape[1]} codebooks but the decoder "
                                 f"expects {k_dec}", "use a consistent MusicGen checkpoint")
            return [c.to("cpu", torch.int16).numpy() for c in codes]

        return encode

    def datasets(self, loaded: Loaded, cfg: Any, resolve=lambda p: Path(p)) -> AudioData:
        from studio.data.audio import (
            AudioAugment,
            AudioSpec,
            CodesCache,
            load_audio_corpus,
            prune_codes_cache,
            spec_settings,
            split_clips,
        )

        model, tok = loaded.model, loaded.extras["tokenizer"]
        d, a = cfg.data, cfg.augment
        sr, channels, stereo = self.audio_format(model)
        spec = AudioSpec(sample_rate=sr, channels=channels, clip_seconds=d.clip_seconds,
                         overlap=d.clip_overlap, loudness_db=d.loudness_db)
        frame_rate = self.frame_rate(model)
        frames = math.ceil(spec.clip_samples / float(np.prod(model.config.audio_encoder
                                                             .upsampling_ratios)))
        k = int(model.decoder.config.num_codebooks)
        max_pos = int(model.decoder.config.max_position_embeddings)
        delay = k // 2 if stereo else k
        if frames + delay > max_pos:
            raise ConfigError("data.clip_seconds", f"{d.clip_seconds} s is {frames} codec "
                              f"frames, more than the decoder's {max_pos} positions",
                              f"use at most {(max_pos - delay) / frame_rate:.1f} s")
        corpus = load_audio_corpus([resolve(p) for p in d.paths], spec,
                                   exclude=[resolve(p) for p in d.exclude])
        train_ids, val_ids = split_clips(corpus, d.val_fraction, d.split_seed)
        if not train_ids:
            raise DataError(", ".join(d.paths), "every clip landed in the validation split",
                            "add more files or lower data.val_fraction")
        tokens = [tok(f.description, add_special_tokens=True, truncation=True,
                      max_length=MAX_TEXT_TOKENS)["input_ids"] for f in corpus.files]
        from studio.config.io import resolve_path

        # relative to the config file (a cache miss after a resume, never a wrong hit)
        root = resolve_path(cfg, d.codes_cache) if d.codes_cache else default_cache_dir()
        settings = {**spec_settings(spec), "stereo": stereo,
                    "codec": codec_fingerprint(model.audio_encoder)}
        cache = CodesCache(root, settings)
        pruned, freed = prune_codes_cache(root, int(d.codes_cache_gb * 1e9), cache,
                                          [f.digest for f in corpus.files])
        aug = AudioAugment(gain_db=a.gain_db, gain_p=a.gain_p, noise_snr_db=a.noise_snr_db,
                           noise_p=a.noise_p, shift_seconds=a.shift_seconds, shift_p=a.shift_p,
                           pitch_semitones=a.pitch_semitones, pitch_p=a.pitch_p)
        n_files_val = len({corpus.clips[i].file for i in val_ids})
        summary = (f"Read {len(corpus.files)} audio files ({len(corpus.skipped)} skipped, "
                   f"{len(corpus.notes)} converted) as {len(corpus.clips)} clips of up to "
                   f"{d.clip_seconds:g} s at {sr} Hz, {channels} channel(s) "
                   f"({corpus.silent_clips} silent clips dropped; {corpus.seconds:.0f} s of "
                   f"audio "
                   f"in clips). Training: {len(train_ids)} clips; validation: {len(val_ids)} "
                   f"clips from {n_files_val} files. Codes: {k} codebooks x {frames} frames "
                   f"per clip, cached in {cache.dir}.")
        if pruned:
            summary += (f" The codes cache was over {d.codes_cache_gb:g} GB: deleted the codes "
                        f"of {pruned} files used longest ago ({freed / 1e6:.1f} MB).")
        if corpus.notes:
            shown = "; ".join(f"{Path(n.path).name} {n.reason}" for n in corpus.notes[:4])
            more = f" (and {len(corpus.notes) - 4} more)" if len(corpus.notes) > 4 else ""
            summary += f" Converted: {shown}{more}."
        pad_text = tok.pad_token_id if tok.pad_token_id is not None else 0
        data = AudioData(
            clips=corpus.clips, train_ids=train_ids, val_ids=val_ids, tokens=tokens,
            pad_id=int(pad_text), frames=frames, clip_samples=spec.clip_samples,
            sample_rate=sr, augment=aug, condition_dropout=d.condition_dropout,
            encode=self.encoder_fn(loaded, spec.clip_samples, stereo), cache=cache,
            digests=[f.digest for f in corpus.files], summary=summary,
            skipped=list(corpus.skipped), notes=list(corpus.notes))
        return data

    # -- training ----------------------------------------------------------------------
    def loss(self, loaded: Loaded, batch: AudioBatch) -> torch.Tensor:
        """Mean cross-entropy per codebook over the delay-pattern labels."""
        model = loaded.model
        inner = getattr(model, "module", model)  # DistributedDataParallel
        cfg = inner.config
        stereo = int(getattr(cfg.decoder, "audio_channels", 1)) == 2
        labels = delayed_labels(batch.codes, batch.lengths, int(cfg.decoder.pad_token_id),
                                stereo=stereo)
        out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                    labels=labels)
        return out.loss

    def val_loss(self, loaded: Loaded, batch: AudioBatch, index: int) -> torch.Tensor:  # noqa: ARG002
        return self.loss(loaded, batch)

    # -- sampling ----------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, loaded: Loaded, prompts: list[str], seeds: list[int], seconds: float,
                 scfg: Any) -> list[np.ndarray]:
        """One clip per prompt, each from its own seed, without disturbing the training
        RNG. Returns float32 [channels, n] arrays."""
        model, tok = loaded.model, loaded.extras["tokenizer"]
        device = next(model.parameters()).device
        k = int(model.decoder.config.num_codebooks)
        max_pos = int(model.decoder.config.max_position_embeddings)
        frames = max(1, int(round(seconds * self.frame_rate(model))))
        new_tokens = max(k + 1, min(frames + k, max_pos - 1))
        was = model.training
        model.eval()
        out = []
        devices = [device.index or 0] if device.type == "cuda" else []
        try:
            for prompt, seed in zip(prompts, seeds):
                with torch.random.fork_rng(devices=devices):
                    torch.manual_seed(seed)
                    enc = tok([prompt], return_tensors="pt", truncation=True,
                              max_length=MAX_TEXT_TOKENS)
                    audio = model.generate(
                        input_ids=enc["input_ids"].to(device),
                        attention_mask=enc["attention_mask"].to(device),
                        do_sample=True, max_new_tokens=new_tokens,
                        guidance_scale=float(scfg.guidance_scale),  # 1: no guidance
                        temperature=scfg.temperature, top_k=scfg.top_k or None,
                        top_p=scfg.top_p)
                wav = audio[0].float().cpu().numpy()
                want = int(round(seconds * model.config.audio_encoder.sampling_rate))
                out.append(np.clip(wav[:, :want], -1.0, 1.0).astype(np.float32))
        finally:
            model.train(was)
        return out

    def sample(self, loaded: Loaded, scfg: Any, step: int, out_dir: Path | None = None,
               prompts: tuple[str, ...] | None = None) -> list[Sample]:
        import soundfile as sf

        prompts = tuple(prompts if prompts is not None else scfg.prompts)
        seeds = [scfg.seed + i for i in range(len(prompts))]
        waves = self.generate(loaded, list(prompts), seeds, scfg.audio_seconds, scfg)
        sr = int(loaded.model.config.audio_encoder.sampling_rate)
        say_where = out_dir is None  # `studio sample`: the files go to a new temp folder
        if out_dir is None:
            import tempfile
            out_dir = Path(tempfile.mkdtemp(prefix="studio-samples-"))
        out_dir.mkdir(parents=True, exist_ok=True)
        samples = []
        for i, (prompt, seed, wav) in enumerate(zip(prompts, seeds, waves)):
            path = str(out_dir / f"audio_{i:02d}_seed{seed}.wav")
            sf.write(path, wav.T, sr, subtype="PCM_16")
            text = f"\n({wav.shape[-1] / sr:.1f} s of audio: {path})" if say_where else ""
            samples.append(Sample(kind="audio", step=step, index=i, prompt=prompt, path=path,
                                  text=text,
                                  seed=seed, meta={"seconds": wav.shape[-1] / sr,
                                                   "sample_rate": sr,
                                                   "guidance_scale": scfg.guidance_scale}))
        (out_dir / "index.json").write_text(json.dumps(
            [{"index": s.index, "prompt": s.prompt, "path": Path(s.path).name,
              "seed": s.seed} for s in samples], indent=1, ensure_ascii=False),
            encoding="utf-8")
        return samples

    # -- export ------------------------------------------------------------------------
    def export(self, loaded: Loaded, out_dir: Path, card: str = "") -> None:
        """A folder ``MusicgenForConditionalGeneration.from_pretrained`` loads, with its
        tokenizer and a ``MusicgenProcessor`` (``AutoProcessor``)."""
        from transformers import EncodecFeatureExtractor, MusicgenProcessor

        model, tok = loaded.model, loaded.extras["tokenizer"]
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out_dir)
        tok.save_pretrained(out_dir)
        c = model.config.audio_encoder
        fe = EncodecFeatureExtractor(feature_size=int(c.audio_channels),
                                     sampling_rate=int(c.sampling_rate), padding_value=0.0)
        try:
            MusicgenProcessor(feature_extractor=fe, tokenizer=tok).save_pretrained(out_dir)
        except (TypeError, ValueError, OSError):
            fe.save_pretrained(out_dir)  # some tokenizer classes refuse the processor
        if card:
            (out_dir / "README.md").write_text(
                card + "\nLoad with `transformers.MusicgenForConditionalGeneration"
                       ".from_pretrained(folder)` and `AutoProcessor.from_pretrained(folder)`; "
                       "samples from the run are in `samples/`.\n", encoding="utf-8")


def musicgen_layer_groups(model: torch.nn.Module) -> list[LayerGroup]:
    """Codec (always frozen, shown for the count), text encoder, text projection, and the
    decoder: code embeddings, each block, final norm, the per-codebook heads."""
    named = list(model.named_parameters())

    def group(name: str, title: str, prefixes: tuple[str, ...], note: str = "") -> LayerGroup:
        ps = [(n, p) for n, p in named if n.startswith(prefixes)]
        return LayerGroup(name, title, [n for n, _ in ps], count=sum(p.numel() for _, p in ps),
                          note=note)

    codec_n = sum(p.numel() for n, p in named if n.startswith("audio_encoder."))
    groups = [LayerGroup("codec", "EnCodec codec", [], count=0,
                         note=f"{codec_n:,} parameters, always frozen: it turns audio into "
                              "the codes the decoder learns; no gradient reaches it"),
              group("text_encoder", "Text encoder (T5)", ("text_encoder.",),
                    note="frozen unless you choose otherwise: it reads the descriptions"),
              group("text_projection", "Text projection", ("enc_to_dec_proj.",)),
              group("embeddings", "Code embeddings", ("decoder.model.decoder.embed_tokens.",
                                                      "decoder.model.decoder.embed_positions."))]
    layers = getattr(model.decoder.model.decoder, "layers", [])
    for i in range(len(layers)):
        groups.append(group(f"block.{i}", f"Decoder block {i}",
                            (f"decoder.model.decoder.layers.{i}.",)))
    groups.append(group("final_norm", "Final norm", ("decoder.model.decoder.layer_norm.",)))
    groups.append(group("lm_head", "Codebook heads", ("decoder.lm_heads.",)))
    covered = {n for g in groups for n in g.params} | {
        n for n, _ in named if n.startswith("audio_encoder.")}
    rest = [(n, p) for n, p in named if n not in covered]
    if rest:
        groups.append(LayerGroup("other", "Other", [n for n, _ in rest],
                                 count=sum(p.numel() for _, p in rest)))
    return [g for g in groups if g.params or g.name == "codec"]
