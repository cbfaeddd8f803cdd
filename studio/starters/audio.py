"""Pre-train the tiny MusicGen audio starter (T5 + EnCodec + decoder) on CC0 music samples.

The recipe, top to bottom:

1. read every file in ``--data`` with the studio's own reader (``studio.data.audio``:
   resampled to ``--sample-rate`` mono, loudness-normalised, sliced into ``--clip-seconds``
   clips, silent clips dropped); each file's description comes from its name
   (``loop_amen`` -> "drum loop", ``ambi_drone`` -> "ambient pad"...: see ``CATEGORIES``);
   every ``--val-every``-th file is held out for validation;
2. train a word-piece tokenizer on the descriptions and build a ``MusicgenForConditionalGeneration``
   from tiny ``T5Config`` / ``EncodecConfig`` / ``MusicgenDecoderConfig`` configs;
3. **codec first, on reconstruction** (loss = 100 x waveform MSE + 0.1 x multi-resolution
   STFT distance, log and linear magnitudes): for ``--codec-warmup`` of its budget the
   EnCodec encoder and decoder train as a plain autoencoder; then the residual codebooks
   are set by k-means on the encoder's outputs, the encoder is frozen, and the decoder
   learns to rebuild clips from the quantised codes. Two lessons from earlier builds: a
   loss dominated by the log-spectral term (L1 + STFT) never learned the waveform (its
   round trip was no closer to the input than silence), and training the encoder through
   the quantiser with EMA codebooks collapsed every codebook to a few codes in the CPU
   budget (the encoder's outputs drift faster than the codebooks follow).
4. freeze the codec, encode every clip, and train the text encoder and decoder on the
   studio's own MusicGen objective (``studio.models.audio``: delay-pattern cross-entropy,
   10% of clips without their description so guidance works);
5. measure validation reconstruction and code loss, write a few fixed-seed samples, and
   save the folder (``save_pretrained`` + tokenizer + processor) with ``STARTER.md`` and
   ``starter_info.json`` (written next to the target and swapped in at the end).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shlex
import shutil
import textwrap
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from studio.core.errors import DataError
from studio.core.paths import PROJECT_ROOT, starters_dir

DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "audio" / "music"

# Sonic Pi file-name prefixes -> the description the starter learns for them
CATEGORIES = {
    "ambi": "ambient pad", "bass": "bass synth", "bd": "bass drum kick",
    "drum": "acoustic drum hit", "elec": "electronic percussion blip",
    "loop": "drum loop", "perc": "percussion", "glitch": "glitch noise",
    "guit": "electric guitar", "misc": "sound effect", "tabla": "tabla drum",
    "vinyl": "vinyl scratch", "sn": "snare drum",
}
SAMPLE_PROMPTS = ("drum loop", "ambient pad", "bass synth", "bass drum kick")
PAD, EOS, UNK = "<pad>", "</s>", "<unk>"


def describe(path: Path) -> str:
    prefix = path.stem.split("_", 1)[0].lower()
    return CATEGORIES.get(prefix, "music")


# -- building blocks (also used by the tests' tiny models) -------------------------------

def make_tokenizer(texts: list[str], vocab_size: int = 200):
    """A small lower-cased word-piece tokenizer with T5's special tokens (pad 0, </s> 1,
    unk 2) and </s> appended, like T5's."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token=UNK))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=[PAD, EOS, UNK])
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.TemplateProcessing(single=f"$A {EOS}",
                                                       special_tokens=[(EOS, 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS,
                                   unk_token=UNK, model_max_length=64)


def make_musicgen(vocab_size: int, *, sample_rate: int = 16000,
                  ratios: tuple[int, ...] = (8, 5, 4, 2), codec_filters: int = 16,
                  codec_hidden: int = 64, codebook_size: int = 256, codebooks: int = 4,
                  lstm_layers: int = 1, t5_dim: int = 64, t5_layers: int = 2,
                  dec_dim: int = 128, dec_layers: int = 4, heads: int = 4,
                  max_positions: int = 1024, dropout: float = 0.1, seed: int = 0):
    """A MusicgenForConditionalGeneration from tiny configs of all three parts."""
    from transformers import (
        EncodecConfig,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        T5Config,
    )

    frame_rate = math.ceil(sample_rate / int(np.prod(ratios)))
    # EncodecConfig: num_quantizers = 1000 * bandwidth // (frame_rate * log2(codebook_size))
    bandwidth = codebooks * frame_rate * math.log2(codebook_size) / 1000.0 + 1e-9
    codec = EncodecConfig(sampling_rate=sample_rate, audio_channels=1, num_filters=codec_filters,
                          upsampling_ratios=list(ratios), hidden_size=codec_hidden,
                          codebook_size=codebook_size, codebook_dim=codec_hidden,
                          num_lstm_layers=lstm_layers, target_bandwidths=[bandwidth],
                          normalize=False, chunk_length_s=None, overlap=None)
    assert codec.num_quantizers == codebooks, (codec.num_quantizers, codebooks)
    t5 = T5Config(vocab_size=vocab_size, d_model=t5_dim, d_kv=t5_dim // heads, d_ff=t5_dim * 2,
                  num_layers=t5_layers, num_heads=heads, pad_token_id=0, eos_token_id=1,
                  decoder_start_token_id=0, dropout_rate=dropout)
    dec = MusicgenDecoderConfig(vocab_size=codebook_size, hidden_size=dec_dim,
                                num_hidden_layers=dec_layers, num_attention_heads=heads,
                                ffn_dim=dec_dim * 4, num_codebooks=codebooks,
                                pad_token_id=codebook_size, bos_token_id=codebook_size,
                                decoder_start_token_id=codebook_size,
                                max_position_embeddings=max_positions, audio_channels=1,
                                dropout=dropout, attention_dropout=dropout,
                                activation_dropout=dropout)
    cfg = MusicgenConfig(text_encoder=t5.to_dict(), audio_encoder=codec.to_dict(),
                         decoder=dec.to_dict())
    torch.manual_seed(seed)
    model = MusicgenForConditionalGeneration(cfg)
    gc = model.generation_config
    gc.do_sample, gc.guidance_scale, gc.top_k = True, 3.0, 50
    gc.max_new_tokens = 4 * frame_rate
    gc.decoder_start_token_id = gc.pad_token_id = gc.bos_token_id = codebook_size
    return model


# -- the codec: reconstruction training -----------------------------------------------------

def _stft_loss(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    loss = torch.zeros((), device=x.device)
    for n_fft in (256, 512, 1024):
        win = torch.hann_window(n_fft, device=x.device)
        sy = torch.stft(y.flatten(0, 1), n_fft, n_fft // 4, window=win, return_complex=True).abs()
        sx = torch.stft(x.flatten(0, 1), n_fft, n_fft // 4, window=win, return_complex=True).abs()
        loss = loss + F.l1_loss(torch.log(sy + 1e-5), torch.log(sx + 1e-5)) \
            + (sy - sx).norm() / (sx.norm() + 1e-7)
    return loss / 3


@torch.no_grad()
def kmeans_init(codec, z: torch.Tensor, iters: int = 10) -> list[int]:
    """Residual k-means on encoder outputs ``z`` [N, D]: each codebook starts at the
    centroids of what the previous ones left over. Returns codes used per codebook."""
    used = []
    residual = z
    for layer in codec.quantizer.layers:
        cb = layer.codebook
        k = cb.embed.shape[0]
        c = residual[torch.randperm(len(residual))[:k]].clone()
        if len(c) < k:
            c = torch.cat([c, c[torch.randint(0, len(c), (k - len(c),))]])
        for _ in range(iters):
            idx = torch.cdist(residual, c).argmin(1)
            counts = torch.bincount(idx, minlength=k).float()
            sums = torch.zeros_like(c).index_add_(0, idx, residual)
            alive = counts > 0
            c[alive] = sums[alive] / counts[alive, None]
            dead = (~alive).nonzero().flatten()
            if len(dead):
                c[dead] = residual[torch.randint(0, len(residual), (len(dead),))]
        idx = torch.cdist(residual, c).argmin(1)
        used.append(int(idx.unique().numel()))
        cb.embed.copy_(c)
        cb.embed_avg.copy_(c)
        cb.cluster_size.fill_(1.0)
        cb.inited.fill_(2.0)
        residual = residual - c[idx]
    return used


def codec_loss(y: torch.Tensor, x: torch.Tensor, spectral: float = 0.1
               ) -> tuple[torch.Tensor, dict]:
    """Reconstruction loss: 100 x waveform MSE (the sound itself, phase included) plus
    ``spectral`` x the multi-resolution STFT distance (the quiet high frequencies MSE
    ignores). Returns the loss and its parts."""
    mse = F.mse_loss(y, x)
    spec = _stft_loss(y, x) if spectral else torch.zeros((), device=x.device)
    return 100 * mse + spectral * spec, {"mse": round(float(mse.detach()), 5),
                                         "spec": round(float(spec.detach()), 4)}


def snr_db(y: torch.Tensor, x: torch.Tensor) -> float:
    """Signal-to-noise ratio of a reconstruction ``y`` of ``x`` in dB (0: no closer to the
    input than silence)."""
    err = float((y - x).pow(2).mean() / x.pow(2).mean().clamp_min(1e-8))
    return -10 * math.log10(max(err, 1e-12))


def log_spectral_distance(y: torch.Tensor, x: torch.Tensor) -> float:
    """Mean over frames of the RMS difference of the power spectra in dB (512-point STFT):
    0 is identical; a silent output scores about 30 on the starter's clips."""
    win = torch.hann_window(512, device=x.device)
    sy = torch.stft(y.flatten(0, 1), 512, 128, window=win, return_complex=True).abs().pow(2)
    sx = torch.stft(x.flatten(0, 1), 512, 128, window=win, return_complex=True).abs().pow(2)
    d = 10 * torch.log10(sy + 1e-6) - 10 * torch.log10(sx + 1e-6)
    return float(d.pow(2).mean(1).sqrt().mean())


def describe_sound(w: np.ndarray, sample_rate: int) -> dict:
    """Loudness, spectral centroid and how much the level moves over time, for the card."""
    x = np.asarray(w, dtype=np.float64).reshape(-1)
    rms = float(np.sqrt(np.mean(x ** 2)) + 1e-12)
    spec = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(len(x), 1 / sample_rate)
    hop = max(1, sample_rate // 50)
    frames = np.array([np.sqrt(np.mean(x[i:i + hop] ** 2)) + 1e-9
                       for i in range(0, len(x) - hop + 1, hop)])
    db = 20 * np.log10(frames)
    return {"rms_dbfs": round(20 * math.log10(rms), 1),
            "centroid_hz": round(float((spec * freqs).sum() / (spec.sum() + 1e-12))),
            "level_swing_db": round(float(np.percentile(db, 95) - np.percentile(db, 5)), 1)}


def train_codec(args: argparse.Namespace, codec, train_waves: torch.Tensor,
                g: torch.Generator) -> tuple[int, list[float], list[int]]:
    """Step 3 on ``train_waves`` [clips, 1, samples]: returns (steps, losses, codes used
    per codebook right after k-means)."""
    n = train_waves.shape[-1]
    codec.train()
    opt = torch.optim.AdamW(list(codec.parameters()), lr=args.codec_lr, betas=(0.8, 0.99))
    t0, step, hist = time.time(), 0, []
    crop = min(n, int(args.codec_crop * args.sample_rate))

    def crops():
        idx = torch.randint(0, len(train_waves), (args.codec_batch,), generator=g).tolist()
        off = torch.randint(0, n - crop + 1, (len(idx),), generator=g).tolist()
        return torch.stack([train_waves[i, :, o:o + crop] for i, o in zip(idx, off)])

    # a plain autoencoder first (no bottleneck: it learns fast), then codebooks from
    # k-means on the encoder's outputs, then only the decoder learns to rebuild audio from
    # the quantised codes.
    warm = args.codec_minutes * 60 * args.codec_warmup
    kmeans_used: list[int] = []
    quantize = False
    while time.time() - t0 < args.codec_minutes * 60:
        x = crops()
        if not quantize and time.time() - t0 >= warm:
            quantize = True
            with torch.no_grad():
                zs = torch.cat([codec.encoder(crops()).transpose(1, 2).flatten(0, 1)
                                for _ in range(16)])
            kmeans_used = kmeans_init(codec, zs)
            for p in codec.encoder.parameters():
                p.requires_grad_(False)
            opt = torch.optim.AdamW(list(codec.decoder.parameters()), lr=args.codec_lr * 0.5,
                                    betas=(0.8, 0.99))
            print(f"codec: k-means codebooks from {len(zs)} vectors, codes used "
                  f"{kmeans_used} (after {step} autoencoder steps)", flush=True)
        if quantize:
            with torch.no_grad():
                codes = codec.encode(x).audio_codes[0]            # [B, K, T]
                z = codec.quantizer.decode(codes.transpose(0, 1))
        else:
            z = codec.encoder(x)
        y = codec.decoder(z)[..., :x.shape[-1]]
        loss, parts = codec_loss(y, x, args.codec_spectral)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in codec.parameters() if p.requires_grad], 1.0)
        opt.step()
        step += 1
        hist.append(float(loss.detach()))
        if step % 50 == 0:
            print(f"codec step {step}{' (quantised)' if quantize else ''}: loss "
                  f"{np.mean(hist[-50:]):.3f} {parts} ({time.time() - t0:.0f} s)", flush=True)
    return step, hist, kmeans_used


# -- command line --------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of music files")
    p.add_argument("--out", type=Path, default=starters_dir() / "audio",
                   help="folder to write the starter into (replaced if it exists)")
    p.add_argument("--sample-rate", type=int, default=8000)
    p.add_argument("--ratios", default="8,5,4",
                   help="the codec's down-sampling ratios (their product is the hop)")
    p.add_argument("--clip-seconds", type=float, default=2.0)
    p.add_argument("--codec-minutes", type=float, default=16.0,
                   help="wall-clock budget of codec training")
    p.add_argument("--decoder-minutes", type=float, default=4.0,
                   help="wall-clock budget of text encoder + decoder training")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--codec-batch", type=int, default=16)
    p.add_argument("--codec-warmup", type=float, default=0.75,
                   help="share of the codec budget trained without quantisation")
    p.add_argument("--codec-crop", type=float, default=0.5,
                   help="seconds of each clip the codec trains on per step")
    p.add_argument("--codec-lr", type=float, default=1e-3)
    p.add_argument("--codec-spectral", type=float, default=0.1,
                   help="weight of the multi-resolution STFT term in the codec's loss")
    p.add_argument("--exclude", nargs="*", default=None,
                   help="file names left out of pre-training (default: the loops demo's "
                        "files, so fine-tuning on them teaches the starter something new)")
    p.add_argument("--codec-from", type=Path, default=None,
                   help="reuse the codec of a starter folder built before (skips step 3)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--dropout", type=float, default=0.1, help="text encoder and decoder dropout")
    p.add_argument("--val-steps", type=int, default=50,
                   help="measure the held-out code loss every N decoder steps; the best "
                        "weights are kept (a few minutes of audio is memorised long before "
                        "the budget ends)")
    p.add_argument("--val-every", type=int, default=8, help="every Nth file is validation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-seconds", type=float, default=3.0)


def main(args: argparse.Namespace) -> int:
    info = build(args)
    print(json.dumps({k: info[k] for k in ("parameters", "codec", "decoder")}, indent=1))
    return 0


def _codes_loss(model, family, ids, mask, codes, lengths):
    from studio.models.audio import AudioBatch
    return family.loss(type("L", (), {"model": model})(),
                       AudioBatch(ids, mask, codes, lengths))


def build(args: argparse.Namespace) -> dict:
    import soundfile as sf
    import tokenizers
    import transformers

    from studio.data.audio import AudioSpec, load_audio_corpus
    from studio.models.audio import AudioFamily

    t_start = time.time()
    torch.manual_seed(args.seed)
    spec = AudioSpec(sample_rate=args.sample_rate, channels=1, clip_seconds=args.clip_seconds,
                     overlap=0.5, loudness_db=-20.0)
    from studio.core.paths import resources_dir

    excluded = (sorted(p.name for p in (resources_dir() / "demo" / "loops").glob("*")
                       if p.suffix != ".txt")
                if args.exclude is None else list(args.exclude))
    corpus = load_audio_corpus(args.data, spec,
                               exclude=[Path(args.data) / name for name in excluded])
    if not corpus.clips:
        raise DataError(str(args.data), "no usable audio", "point --data at music files")
    descriptions = [describe(Path(f.path)) for f in corpus.files]
    val_files = {i for i in range(len(corpus.files)) if i % args.val_every == args.val_every - 1}
    train = [c for c in corpus.clips if c.file not in val_files]
    val = [c for c in corpus.clips if c.file in val_files]
    print(f"{len(corpus.files)} files, {len(corpus.clips)} clips "
          f"({len(train)} train, {len(val)} val), {len(corpus.skipped)} skipped", flush=True)

    tok = make_tokenizer(sorted(set(descriptions)) + list(CATEGORIES.values()) * 3)
    ratios = tuple(int(r) for r in str(args.ratios).split(","))
    model = make_musicgen(len(tok), sample_rate=args.sample_rate, ratios=ratios,
                          dropout=args.dropout, seed=args.seed)
    n = spec.clip_samples

    def wave_batch(clips, idx):
        x = torch.zeros(len(idx), 1, n)
        for k, i in enumerate(idx):
            a = torch.from_numpy(clips[i].audio())
            x[k, :, :a.shape[-1]] = a[:, :n]
        return x

    # 3. the codec, on reconstruction
    codec = model.audio_encoder
    g = torch.Generator().manual_seed(args.seed)

    def codec_val() -> dict:
        with torch.no_grad():
            xs = wave_batch(val, list(range(len(val))))
            codes = codec.encode(xs).audio_codes
            y = codec.decode(codes, [None])[0][..., :n]
        used = [int(codes[0, :, k].unique().numel()) for k in range(codes.shape[2])]
        return {"snr_db": round(snr_db(y, xs), 2),
                "log_spectral_distance_db": round(log_spectral_distance(y, xs), 2),
                "silence_log_spectral_distance_db": round(
                    log_spectral_distance(torch.zeros_like(xs), xs), 2),
                "codes_used_per_codebook": used}

    if args.codec_from:  # reuse a codec built before (and its record): only step 4 runs
        from transformers import MusicgenForConditionalGeneration
        built = MusicgenForConditionalGeneration.from_pretrained(args.codec_from)
        codec.load_state_dict(built.audio_encoder.state_dict())
        del built
        source = Path(args.codec_from) / "starter_info.json"
        trained = (json.loads(source.read_text(encoding="utf-8")).get("codec", {})
                   if source.is_file() else {})
        trained["reused_from"] = str(args.codec_from)
    else:
        step, hist, kmeans_used = train_codec(args, codec, wave_batch(train, range(len(train))),
                                              g)
        trained = {"steps": step, "train_loss_last": round(float(np.mean(hist[-50:])), 4),
                   "kmeans_codes_used": kmeans_used}
    codec.eval()
    for p in codec.parameters():
        p.requires_grad_(False)
    codec_info = {**trained, **codec_val()}
    print("codec", codec_info, flush=True)

    # 4. text encoder + decoder on the frozen codec's codes
    fam = AudioFamily()
    encode = fam.encoder_fn(type("L", (), {"model": model})(), n, stereo=False)
    frames = math.ceil(n / int(np.prod(model.config.audio_encoder.upsampling_ratios)))

    def encode_all(clips):
        out = []
        for i in range(0, len(clips), 64):
            out += encode([torch.from_numpy(c.audio()) for c in clips[i:i + 64]])
        return torch.from_numpy(np.stack(out)).long()

    train_codes, val_codes = encode_all(train), encode_all(val)
    hop = n / frames

    def lengths(clips):
        return torch.tensor([max(1, min(frames, math.ceil(c.samples / hop))) for c in clips])

    train_len, val_len = lengths(train), lengths(val)
    tok_ids = [tok(d)["input_ids"] for d in descriptions]
    width = max(len(t) for t in tok_ids)

    def text(clips, drop=0.0, gen=None):
        ids = torch.zeros(len(clips), width, dtype=torch.long)
        mask = torch.zeros(len(clips), width, dtype=torch.long)
        for k, c in enumerate(clips):
            t = tok_ids[c.file]
            ids[k, :len(t)] = torch.tensor(t)
            if not (drop and torch.rand((), generator=gen) < drop):
                mask[k, :len(t)] = 1
        return ids, mask

    trainable = [p for n_, p in model.named_parameters() if not n_.startswith("audio_encoder.")]
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.01)
    model.train()

    def val_loss() -> float:
        model.eval()
        with torch.no_grad():
            total, count = 0.0, 0
            for i in range(0, len(val), 32):
                cl = val[i:i + 32]
                ids, mask = text(cl)
                total += float(_codes_loss(model, fam, ids, mask, val_codes[i:i + 32],
                                           val_len[i:i + 32])) * len(cl)
                count += len(cl)
        model.train()
        return total / max(1, count)

    before = best = val_loss()
    print(f"decoder: validation code loss before {before:.3f}", flush=True)
    best_state, best_step = None, 0
    t0, dstep, hist, curve = time.time(), 0, [], [(0, round(before, 4))]
    budget = args.decoder_minutes * 60
    while time.time() - t0 < budget:
        frac = (time.time() - t0) / budget
        for pg in opt.param_groups:
            pg["lr"] = args.lr * min(1.0, (dstep + 1) / 50) * 0.5 * (1 + math.cos(math.pi * frac))
        idx = torch.randint(0, len(train), (args.batch_size,), generator=g)
        cl = [train[i] for i in idx.tolist()]
        ids, mask = text(cl, drop=0.1, gen=g)
        loss = _codes_loss(model, fam, ids, mask, train_codes[idx], train_len[idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        dstep += 1
        hist.append(float(loss.detach()))
        if dstep % args.val_steps == 0:
            v = val_loss()
            curve.append((dstep, round(v, 4)))
            if v < best:
                best, best_step = v, dstep
                best_state = {k: t.detach().clone() for k, t in model.state_dict().items()
                              if not k.startswith("audio_encoder.")}
            print(f"decoder step {dstep}: loss {np.mean(hist[-args.val_steps:]):.3f}, "
                  f"held-out {v:.3f} (best {best:.3f} at {best_step}) "
                  f"({time.time() - t0:.0f} s)", flush=True)
    last = val_loss()
    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    print(f"decoder: held-out code loss {before:.3f} -> {best:.3f} at step {best_step} "
          f"(last step {dstep}: {last:.3f}); keeping step {best_step}", flush=True)
    model.eval()

    # 5. samples and the folder
    out = Path(args.out)
    tmp = out.with_name(f".tmp-{out.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    from studio.models.base import Loaded
    loaded = Loaded(model=model, extras={"tokenizer": tok}, source="starter:audio")
    fam.export(loaded, tmp)
    from types import SimpleNamespace
    scfg = SimpleNamespace(guidance_scale=3.0, temperature=1.0, top_k=50, top_p=1.0)
    waves = fam.generate(loaded, list(SAMPLE_PROMPTS), [0] * len(SAMPLE_PROMPTS),
                         args.sample_seconds, scfg)
    (tmp / "samples").mkdir()
    sounds = {}
    for prompt, w in zip(SAMPLE_PROMPTS, waves):
        sf.write(tmp / "samples" / f"{prompt.replace(' ', '_')}.wav", w.T, args.sample_rate,
                 subtype="PCM_16")
        sounds[prompt] = describe_sound(w, args.sample_rate)
    # the codec's round trip on held-out clips: hear what the codes can and cannot keep
    roundtrips = {}
    picked: dict[str, int] = {}
    for i, c in enumerate(val):
        picked.setdefault(descriptions[c.file], i)
    for desc, i in sorted(picked.items()):
        x = wave_batch(val, [i])
        with torch.no_grad():
            y = codec.decode(codec.encode(x).audio_codes, [None])[0][..., :n]
        stem = f"roundtrip_{desc.replace(' ', '_')}"
        sf.write(tmp / "samples" / f"{stem}_original.wav", x[0].numpy().T, args.sample_rate,
                 subtype="PCM_16")
        sf.write(tmp / "samples" / f"{stem}_codec.wav", y[0].clamp(-1, 1).numpy().T,
                 args.sample_rate, subtype="PCM_16")
        roundtrips[desc] = {"file": Path(corpus.files[val[i].file].path).name,
                            "snr_db": round(snr_db(y, x), 2),
                            "log_spectral_distance_db": round(log_spectral_distance(y, x), 2)}
    n_params = sum(p.numel() for p in model.parameters())
    info = {
        "name": "starter:audio",
        "architecture": "MusicgenForConditionalGeneration (T5 text encoder + EnCodec codec + "
                        "decoder), save_pretrained folder with tokenizer and processor",
        "parameters": n_params,
        "parts": {k: sum(p.numel() for p in m.parameters()) for k, m in
                  (("text_encoder", model.text_encoder), ("codec", model.audio_encoder),
                   ("decoder", model.decoder))},
        "audio": {"sample_rate": args.sample_rate, "channels": 1,
                  "frame_rate": args.sample_rate / int(np.prod(
                      model.config.audio_encoder.upsampling_ratios)),
                  "codebooks": int(model.decoder.config.num_codebooks),
                  "codebook_size": int(model.config.audio_encoder.codebook_size)},
        "data": {"folder": str(args.data), "files": len(corpus.files),
                 "clips": len(corpus.clips), "train_clips": len(train), "val_clips": len(val),
                 "seconds": round(corpus.seconds, 1), "excluded": excluded,
                 "descriptions": sorted(set(descriptions))},
        "codec": codec_info,
        "decoder": {"steps": dstep, "kept_step": best_step,
                    "val_code_loss_before": round(before, 4),
                    "val_code_loss_after": round(best, 4),
                    "val_code_loss_last_step": round(last, 4), "val_curve": curve,
                    "uniform_code_loss": round(math.log(
                        model.config.audio_encoder.codebook_size), 4)},
        "samples": {p: f"samples/{p.replace(' ', '_')}.wav" for p in SAMPLE_PROMPTS},
        "sample_sounds": sounds,
        "roundtrips": roundtrips,
        "build": {"command": "python -m studio.starters " + shlex.join(getattr(args, "argv", [])),
                  "seconds": round(time.time() - t_start), "python": platform.python_version(),
                  "torch": torch.__version__, "transformers": transformers.__version__,
                  "tokenizers": tokenizers.__version__, "machine": platform.machine()},
    }
    (tmp / "starter_info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    (tmp / "STARTER.md").write_text(starter_card(info), encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    print(f"wrote {out} in {time.time() - t_start:.0f} s", flush=True)
    return info


def starter_card(info: dict) -> str:
    c, d, a = info["codec"], info["decoder"], info["audio"]
    used = ", ".join(str(u) for u in c.get("codes_used_per_codebook", []))
    excluded = info["data"].get("excluded") or []
    rows = "\n".join(
        f"| {p} | `{info['samples'][p]}` | {s['rms_dbfs']:.0f} dBFS | {s['centroid_hz']:,} Hz "
        f"| {s['level_swing_db']:.0f} dB |" for p, s in info.get("sample_sounds", {}).items())
    trips = "\n".join(
        f"| {desc} | {r['file']} | {r['snr_db']:.1f} dB | {r['log_spectral_distance_db']:.1f} dB |"
        for desc, r in info.get("roundtrips", {}).items())
    return f"""# starter:audio — a tiny MusicGen

`MusicgenForConditionalGeneration` with a tiny T5 text encoder, a tiny EnCodec codec
({a['sample_rate']} Hz mono, {a['frame_rate']:g} frames/s, {a['codebooks']} codebooks of
{a['codebook_size']} codes) and a tiny decoder: {info['parameters']:,} parameters in all
(text encoder {info['parts']['text_encoder']:,}, codec {info['parts']['codec']:,}, decoder
{info['parts']['decoder']:,}). It loads with the ordinary
`MusicgenForConditionalGeneration.from_pretrained` and `AutoProcessor.from_pretrained`.

Pre-trained by `{info['build']['command']}` in {info['build']['seconds']} s on a 2-core CPU,
on {info['data']['files']} CC0 Sonic Pi samples ({info['data']['seconds']} s of audio,
{info['data']['clips']} two-second clips; every 8th file held out). The descriptions it
knows are the sample families: {', '.join(info['data']['descriptions'])}.
{f"The loops demo's {len(excluded)} files were left out, so fine-tuning on them (resources/demo/loops.toml) teaches it something it has not heard." if excluded else ""}

1. **Codec first, on reconstruction** ({c.get('steps', '?')} steps: a plain autoencoder, then
   k-means codebooks, then the decoder alone under quantisation). On the held-out clips:
   signal-to-noise ratio {c['snr_db']:.1f} dB, log-spectral distance
   {c['log_spectral_distance_db']:.1f} dB (silence scores {c['silence_log_spectral_distance_db']:.1f};
   0 is perfect); codes used per codebook: {used} of {a['codebook_size']}. Hear it in
   `samples/roundtrip_*`: each held-out original next to its trip through the codes.

   | held-out clip | file | SNR | log-spectral distance |
   |---|---|---|---|
{textwrap.indent(trips, "   ")}

2. **Then the text encoder and decoder** on the frozen codec's codes, dropout 0.1:
   held-out code loss {d['val_code_loss_before']:.2f} -> {d['val_code_loss_after']:.2f}
   (guessing uniformly: {d['uniform_code_loss']:.2f}). The held-out loss is measured every
   few steps and the best weights are kept: step {d.get('kept_step', d['steps'])} of
   {d['steps']}; by the last step the decoder had memorised its {info['data']['train_clips']}
   clips and scored {d.get('val_code_loss_last_step', d['val_code_loss_after']):.2f}.

**What it makes** (`samples/`, seed 0, guidance 3, {a['sample_rate']} Hz; measured):

| prompt | file | loudness | spectral centroid | level swing (95th-5th percentile, 20 ms frames) |
|---|---|---|---|---|
{rows}

Honestly, what it sounds like: the {a['sample_rate'] // 1000} kHz codec keeps a sound's
loudness over time and its low end — a kick is a thump where the original's is, a bass note
keeps its pitch and length — but it loses the upper harmonics and adds a crackle of clicks
across the band, so everything is muffled and gritty, and short bright sounds (a cymbal, a
beep) come back as a faint click or a burst of noise. The decoder has learned each
description's broad level and brightness, not music: every prompt gives crackling noise
over a low rumble, and the prompts differ in how bright and how steady that is (the table
above). There are no melodies, rhythms or recognisable instruments. It exists so the whole
audio path (data, codes cache, layer tree, training, samples, export) runs offline in
minutes and a fine-tune audibly moves it; for music worth keeping,
start from `facebook/musicgen-small` on a GPU.
"""
