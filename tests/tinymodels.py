"""Tiny models built from configs and saved with save_pretrained, loaded through the
product's real loading code. No network."""

from __future__ import annotations

from pathlib import Path

TEXT = (
    "Shall I compare thee to a summer's day? Thou art more lovely and more temperate. "
    "Rough winds do shake the darling buds of May, and summer's lease hath all too short a date. "
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a wife. "
) * 4


def make_tiny_text_model(out: Path, vocab_size: int = 320, n_layer: int = 2, n_embd: int = 32,
                         seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    out = Path(out)
    if (out / "config.json").exists():
        return out
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([TEXT], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>",
                                   eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=len(fast), n_positions=64, n_embd=n_embd, n_layer=n_layer,
                     n_head=2, bos_token_id=fast.eos_token_id, eos_token_id=fast.eos_token_id)
    model = GPT2LMHeadModel(cfg)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    fast.save_pretrained(out)
    return out


def write_text_dataset(folder: Path, n_docs: int = 6) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sentences = TEXT.split(". ")
    for i in range(n_docs):
        (folder / f"doc{i}.txt").write_text(". ".join(sentences[i % len(sentences):]
                                                      + sentences) * 3, encoding="utf-8")
    return folder


def tiny_config_text(model_dir: Path, data_dir: Path, runs_dir: Path, **sections) -> str:
    """A run config TOML for the tiny model; ``sections`` = {"train": {"max_steps": 4}}."""
    base = {
        "run": {"name": "tiny", "runs_dir": str(runs_dir)},
        "model": {"source": str(model_dir)},
        "data": {"paths": [str(data_dir)], "block_size": 16, "val_fraction": 0.2},
        "train": {"max_steps": 6, "batch_size": 4, "lr": 3e-3, "warmup_steps": 1,
                  "device": "cpu"},
        "eval": {"every": 3},
        "sample": {"every": 3, "prompts": ["Shall I"], "max_new_tokens": 6},
        "checkpoint": {"every": 3},
    }
    for k, v in sections.items():
        base.setdefault(k, {}).update(v)
    from studio.config import dumps_toml
    return dumps_toml(base)


def make_tiny_unet(out: Path, size: int = 16, seed: int = 0) -> Path:
    """A tiny DDPMPipeline folder (UNet2DModel + DDPMScheduler) built from configs."""
    import torch
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    out = Path(out)
    if (out / "model_index.json").exists():
        return out
    torch.manual_seed(seed)
    unet = UNet2DModel(sample_size=size, block_out_channels=(16, 32), layers_per_block=1,
                       down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=8,
                       attention_head_dim=8)
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=200)).save_pretrained(out)
    return out


def write_image_dataset(folder: Path, shared_images: Path | None = None, n: int = 6,
                        size: int = 40) -> Path:
    """Small RGB images: crops of the shared photographs when available, else patterns."""
    import numpy as np
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    if shared_images is not None:
        for name in ("brick.png", "grass.png", "gravel.png"):
            p = shared_images / name
            if p.exists():
                sources.append(Image.open(p).convert("RGB"))
    rng = np.random.default_rng(0)
    for i in range(n):
        if sources:
            src = sources[i % len(sources)]
            x, y = rng.integers(0, src.width - size), rng.integers(0, src.height - size)
            img = src.crop((int(x), int(y), int(x) + size, int(y) + size))
        else:
            yy, xx = np.mgrid[0:size, 0:size]
            arr = np.stack([(xx * (i + 3)) % 255, (yy * 7) % 255, ((xx + yy) * 5) % 255], -1)
            img = Image.fromarray(arr.astype("uint8"))
        img.save(folder / f"img_{i}.png")
    return folder


AUDIO_DESCRIPTIONS = ("drum loop", "ambient pad", "bass synth", "bell tone")


def make_tiny_musicgen(out: Path, seed: int = 0) -> Path:
    """A tiny MusicgenForConditionalGeneration (T5 16-wide, EnCodec at 8 kHz with 2
    codebooks of 32 codes, a 2-layer 32-wide decoder) + tokenizer, saved like a hub folder."""
    from studio.models.audio import AudioFamily
    from studio.models.base import Loaded
    from studio.starters.audio import make_musicgen, make_tokenizer

    out = Path(out)
    if (out / "config.json").exists():
        return out
    tok = make_tokenizer(list(AUDIO_DESCRIPTIONS) * 3 + ["music", "noise", "tone"], 60)
    model = make_musicgen(len(tok), sample_rate=8000, ratios=(8, 5, 4), codec_filters=4,
                          codec_hidden=16, codebook_size=32, codebooks=2, t5_dim=16,
                          t5_layers=1, dec_dim=32, dec_layers=2, heads=2, max_positions=256,
                          seed=seed)
    AudioFamily().export(Loaded(model=model, extras={"tokenizer": tok}), out)
    return out


def write_audio_dataset(folder: Path, n: int = 6, seconds: float = 1.5, sr: int = 22050) -> Path:
    """Short synthetic music: per file a tone or a beat, each with a description sidecar."""
    import numpy as np
    import soundfile as sf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    for i in range(n):
        kind = i % 2
        if kind == 0:  # a tone with a little vibrato
            f0 = 220 * 2 ** (i / 12)
            x = 0.3 * np.sin(2 * np.pi * f0 * t + 0.5 * np.sin(2 * np.pi * 5 * t))
            desc = "bell tone"
        else:          # a beat: decaying noise bursts four times a second
            env = np.exp(-((t * 4) % 1.0) * 12)
            x = 0.4 * env * rng.standard_normal(len(t))
            desc = "drum loop"
        sf.write(folder / f"clip_{i}.wav", x.astype("float32"), sr)
        (folder / f"clip_{i}.txt").write_text(desc, encoding="utf-8")
    return folder


def make_tiny_sd(out: Path, seed: int = 0) -> Path:
    """A tiny StableDiffusionPipeline folder (CLIP text encoder + tokenizer over the shapes
    captions' words, AutoencoderKL, UNet2DConditionModel, DDIM) built from configs: 32 px
    images, 8x8 latents."""
    from studio.data import shapes
    from studio.starters.text_to_image import make_pipeline

    out = Path(out)
    if (out / "model_index.json").exists():
        return out
    pipe = make_pipeline(shapes.vocabulary() + ["sks", "style"], image_size=32, text_dim=32,
                         text_layers=1, unet_channels=(16, 32), vae_channels=(8, 16, 16),
                         seed=seed, tokenizer_dir=out.with_name(out.name + "-tok"))
    pipe.save_pretrained(out)
    return out


def write_captioned_dataset(folder: Path, n: int = 6, size: int = 32, seed: int = 0) -> Path:
    """Generated shapes with a .txt caption each."""
    from studio.data import shapes

    shapes.write_folder(folder, n, size=size, seed=seed)
    return Path(folder)


def make_tiny_sdxl(out: Path, seed: int = 0) -> Path:
    """A tiny StableDiffusionXLPipeline folder built from configs: two CLIP text encoders
    (CLIPTextModel and CLIPTextModelWithProjection, whose penultimate states are joined for
    the UNet's cross-attention and whose projected pooled output conditions it), two
    tokenizers, AutoencoderKL, a UNet2DConditionModel with SDXL's "text_time" added
    embedding, EulerDiscrete: 32 px images, 8x8 latents."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from studio.data import shapes
    from studio.starters.text_to_image import write_clip_tokenizer

    out = Path(out)
    if (out / "model_index.json").exists():
        return out
    torch.manual_seed(seed)
    words = shapes.vocabulary() + ["sks", "style"]
    tok = write_clip_tokenizer(out.with_name(out.name + "-tok"), words, 32)

    def clip(cls, dim: int, **kw):
        return cls(CLIPTextConfig(
            vocab_size=len(tok), hidden_size=dim, intermediate_size=dim * 2,
            num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=32,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id, **kw))

    text, text_2 = clip(CLIPTextModel, 16), clip(CLIPTextModelWithProjection, 32,
                                                 projection_dim=24)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4,
                        block_out_channels=(8, 16, 16), layers_per_block=1,
                        down_block_types=("DownEncoderBlock2D",) * 3,
                        up_block_types=("UpDecoderBlock2D",) * 3, norm_num_groups=8,
                        sample_size=32, scaling_factor=0.13025)
    time_dim = 8  # 6 micro-conditions (sizes, crop) x 8 + the pooled 24 = 72
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32),
        layers_per_block=1, norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16 + 32, attention_head_dim=(2, 4), use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=time_dim,
        projection_class_embeddings_input_dim=6 * time_dim + 24)
    scheduler = EulerDiscreteScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear",
                                       beta_start=0.00085, beta_end=0.012, steps_offset=1,
                                       prediction_type="epsilon", timestep_spacing="leading")
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=text, text_encoder_2=text_2,
                                     tokenizer=tok, tokenizer_2=tok, unet=unet,
                                     scheduler=scheduler)
    pipe.save_pretrained(out)
    return out
