"""The run config: one frozen dataclass per TOML section.

Every field carries ``help`` (the trade-off, shown as the GUI tooltip and in
``studio train --help-config``) and the constraints ``validate`` checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from studio.config import families as _families


def knob(default: Any, help: str, *, choices: tuple | None = None, min: float | None = None,
         max: float | None = None, min_exclusive: bool = False, advanced: bool = False,
         factory=None, families: tuple[str, ...] | None = None, hidden: bool = False) -> Any:
    """A config field. ``families`` lists the model families that use it (None: all), so
    front ends show only what the chosen family honours; ``hidden`` ones are bookkeeping
    the studio fills in (no editor in the window)."""
    meta = {"help": help, "choices": choices, "min": min, "max": max,
            "min_exclusive": min_exclusive, "advanced": advanced, "families": families,
            "hidden": hidden}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def choices_of(meta: Any) -> tuple | None:
    """A knob's choices; a callable (the registered families) is asked each time."""
    choices = meta.get("choices")
    return tuple(choices()) if callable(choices) else choices


CROPS = ("center", "random")
OPTIMIZERS = ("adamw", "adam", "sgd", "rmsprop")
SCHEDULES = ("constant", "linear", "cosine", "one_cycle")
DEVICES = ("auto", "cuda", "mps", "cpu")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class RunSection:
    name: str = knob("run", "A short name; the run folder is runs_dir/<date>-<name>.")
    runs_dir: str = knob("runs", "Folder that holds run folders (relative paths are relative to "
                                 "the config file).")
    family: str = knob("text", "Model family: text (causal language models), image "
                               "(unconditional diffusion, diffusers UNet2DModel) or audio "
                               "(text-to-music, MusicGen).",
                       choices=_families.names)
    project: str = knob("", "The project file this run belongs to (filled in from the project "
                            "file; the Runs pane lists a project's own runs).", hidden=True)


@dataclass(frozen=True)
class ModelConfig:
    source: str = knob("starter:text", "Base model: 'starter:text' (shipped, offline), a local "
                                       "folder saved with save_pretrained, or a Hugging Face hub id.")
    revision: str = knob("", "Hub revision (branch, tag or commit); empty for the default.",
                         advanced=True)
    trust_remote_code: bool = knob(False, "Run Python code shipped with a hub model. Only for "
                                          "models you trust: it can do anything your account can.",
                                   advanced=True)


@dataclass(frozen=True)
class DataConfig:
    paths: tuple[str, ...] = knob((), "Files or folders of .txt, .md, .jsonl or .csv (relative "
                                      "paths are relative to the config file).", factory=tuple)
    exclude: tuple[str, ...] = knob((), "Files inside data.paths to leave out (the files you "
                                        "untick in the dataset browser).", factory=tuple,
                                    advanced=True)
    text_field: str = knob("text", "Field read from each .jsonl record.", advanced=True,
                           families=("text",))
    csv_column: str = knob("text", "Column read from .csv files.", advanced=True,
                           families=("text",))
    block_size: int = knob(128, "Tokens per training example. Longer sees more context but costs "
                                "memory and time quadratically in attention.", min=8,
                           families=("text",))
    image_size: int = knob(0, "Training resolution in pixels; 0 uses the model's own "
                              "sample size (diffusion UNets are trained at one size).", min=0,
                           families=("image",))
    crop: str = knob("random", "random: a different square crop each time an image is used "
                               "(more variety); center: always the middle square.",
                     choices=CROPS, families=("image",))
    background: str = knob("#ffffff", "Colour that transparent pixels are composited on.",
                           advanced=True, families=("image",))
    clip_seconds: float = knob(5.0, "Audio is cut into clips of this length; longer clips "
                                    "teach longer structure but cost memory and time "
                                    "quadratically (50 codec frames a second for MusicGen).",
                               min=0.1, max=60.0, families=("audio",))
    clip_overlap: float = knob(0.0, "Share of each clip that the next one repeats (0.5: clips "
                                    "start every half clip): more clips from few files.",
                               min=0.0, max=0.9, families=("audio",))
    loudness_db: float = knob(-20.0, "Each file is scaled to this RMS level (dBFS, peaks kept "
                                     "under 0 dBFS) so quiet and loud files teach alike; 0 "
                                     "keeps the files' own levels.", min=-60.0, max=0.0,
                              families=("audio",))
    condition_dropout: float = knob(0.1, "Share of training clips shown without their "
                                         "description, so the model also learns the "
                                         "unconditional sound that guidance "
                                         "(sample.guidance_scale) steers away from.",
                                    min=0.0, max=1.0, families=("audio",))
    codes_cache: str = knob("", "Folder of cached codec codes (keyed by file content and "
                                "settings; later epochs and runs skip encoding; relative to "
                                "the config file); empty: "
                                "~/.cache/fine-tuning-studio/audio-codes.", advanced=True,
                            families=("audio",))
    codes_cache_gb: float = knob(2.0, "Most disk the codes cache may use, in GB: when a run "
                                      "starts, the codes of the files used longest ago are "
                                      "deleted first (never this run's). 0: no limit.",
                                 min=0.0, advanced=True, families=("audio",))
    latents_cache: str = knob("", "Folder of cached VAE latents and text embeddings (keyed by "
                                  "file content, caption text and every setting that changes "
                                  "them; later epochs and runs skip the VAE; relative to the "
                                  "config file); empty: ~/.cache/fine-tuning-studio/"
                                  "t2i-latents.", advanced=True, families=("text_to_image",))
    latents_cache_gb: float = knob(2.0, "Most disk the latents cache may use, in GB: when a "
                                        "run starts, the latents of the images used longest "
                                        "ago are deleted first (never this run's). 0: no "
                                        "limit.", min=0.0, advanced=True,
                                   families=("text_to_image",))
    val_fraction: float = knob(0.1, "Share of documents held out for validation (by block when "
                                    "there is one document). 0 turns evaluation off.",
                               min=0.0, max=0.5)
    split_seed: int = knob(0, "Seed of the train/validation split; change it to draw another "
                              "split.", min=0)
    # captioned images (studio.data.captioned): image + same-name .txt / .caption sidecar
    trigger_word: str = knob("", "A rare word that names your style or subject (e.g. "
                                 "my_style): put first in every caption that lacks it, and "
                                 "the caption of images without one (else their folder's "
                                 "name). Prompt with it after training.",
                             families=("text_to_image",))
    caption_dropout: float = knob(0.0, "Share of training steps that see an image with an "
                                       "empty caption, so the model also learns the "
                                       "unconditional image guidance steers away from "
                                       "(0.05-0.1 is usual).", min=0.0, max=1.0,
                                  families=("text_to_image",))
    shuffle_tags: bool = knob(False, "Shuffle a caption's comma-separated tags each time it "
                                     "is used (for tag-list captions; a sentence without "
                                     "commas is left as it is).", families=("text_to_image",))
    keep_tags: int = knob(0, "With shuffle_tags: the first N tags stay in place (the trigger "
                             "word always leads).", min=0, families=("text_to_image",))
    resolution: int = knob(512, "Bucket base resolution: each image is scaled and centre-"
                                "cropped to a bucket of about resolution x resolution "
                                "pixels with its own aspect (512 for SD 1.5, 1024 for SDXL). "
                                "Memory and time grow with its square. Follows the "
                                "chosen model (its own size: SD 1.5 512, SDXL 1024, the "
                                "starter 32) until you set it; 0: the model's own size, "
                                "read when it loads.", min=0,
                           families=("text_to_image",))
    bucketing: bool = knob(True, "Aspect-ratio buckets: each image trains at the bucket "
                                 "closest to its own shape (little is cropped). Off: every "
                                 "image is centre-cropped to a resolution x resolution "
                                 "square.", families=("text_to_image",))
    midi_tracks: str = knob("all", "Which tracks of each music file train: all; no_drums (drum "
                                   "tracks left out); melody (only the highest non-drum "
                                   "voice: a lead line to continue).",
                            choices=("all", "no_drums", "melody"), families=("midi",))
    midi_tokenizer: str = knob("auto", "MidiTok tokenization: auto (the model folder's "
                                       "miditok.json when it has one, else REMI); remi (bars "
                                       "and positions); tsd (time shifts, fewer tokens). A new "
                                       "one gets BPE trained on the training files.",
                               choices=("auto", "remi", "tsd"), families=("midi",))
    midi_vocab: int = knob(1000, "Vocabulary of a new MidiTok tokenizer after BPE (merged "
                                 "tokens: shorter sequences, more context per block); at or "
                                 "below the base vocabulary (~500) BPE is off. Ignored when the "
                                 "model folder brings its tokenizer.", min=0, max=50000,
                           families=("midi",))
    midi_cache_gb: float = knob(1.0, "Most disk the MIDI token cache may use, in GB (files "
                                     "used longest ago go first). 0: no limit.", min=0.0,
                                advanced=True, families=("midi",))


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str = knob("adamw", "AdamW is the safe default; SGD needs a larger rate and "
                                   "momentum; RMSprop sits between.", choices=OPTIMIZERS)
    lr: float = knob(5e-4, "Peak learning rate. Too high forgets the base model or diverges; too "
                           "low barely moves it.", min=0.0, min_exclusive=True, max=10.0)
    weight_decay: float = knob(0.0, "L2-style pull toward zero (decoupled for AdamW); mild "
                                    "regulariser against overfitting small datasets.", min=0.0)
    beta1: float = knob(0.9, "Adam/AdamW first-moment decay.", min=0.0, max=0.999999,
                        advanced=True)
    beta2: float = knob(0.999, "Adam/AdamW second-moment decay; 0.95 is steadier for "
                               "transformers with large rates.", min=0.0, max=0.999999,
                        advanced=True)
    eps: float = knob(1e-8, "Adam/AdamW/RMSprop denominator epsilon.", min=0.0,
                      min_exclusive=True, advanced=True)
    momentum: float = knob(0.9, "SGD/RMSprop momentum.", min=0.0, max=0.999999, advanced=True)
    nesterov: bool = knob(False, "Nesterov momentum for SGD (needs momentum > 0).",
                          advanced=True)
    schedule: str = knob("cosine", "Learning-rate shape after warm-up: constant, linear decay, "
                                   "cosine, or one-cycle (warm up then anneal).",
                         choices=SCHEDULES)
    warmup_steps: int = knob(0, "Optimizer steps of linear warm-up from 0 to lr; protects a "
                                "pre-trained model from large early updates.", min=0)
    min_lr_ratio: float = knob(0.0, "Final learning rate as a fraction of lr for linear, "
                                    "cosine and one-cycle.", min=0.0, max=1.0, advanced=True)
    batch_size: int = knob(8, "Examples per micro-batch. Bigger is faster per example but uses "
                              "more memory.", min=1)
    grad_accum: int = knob(1, "Micro-batches summed per optimizer step: effective batch = "
                              "batch_size x grad_accum, at the memory of one micro-batch.", min=1)
    grad_clip: float = knob(1.0, "Clip the global gradient norm to this; 0 turns clipping off.",
                            min=0.0)
    max_steps: int = knob(0, "Optimizer steps to train; 0 means use epochs.", min=0)
    epochs: float = knob(1.0, "Passes over the training set when max_steps is 0 (fractions "
                              "allowed).", min=0.0, min_exclusive=True)
    seed: int = knob(0, "Seed for weights of new layers, data order and dropout: the same seed "
                        "and config give the same run.", min=0)
    device: str = knob("auto", "auto picks CUDA, then Apple MPS, then CPU.", choices=DEVICES)
    precision: str = knob("auto", "auto: bf16 autocast on CUDA where supported (fp16 with a "
                                  "grad scaler otherwise), fp32 elsewhere.", choices=PRECISIONS,
                          advanced=True)
    dropout: float = knob(-1.0, "Override the model's dropout probabilities; -1 keeps the "
                                "model's own. More dropout fights overfitting on small data.",
                          min=-1.0, max=0.9, advanced=True)
    gradient_checkpointing: bool = knob(False, "Recompute activations in the backward pass "
                                               "instead of storing them: much less memory, "
                                               "about a third slower.", advanced=True)
    on_oom: str = knob("auto_fit", "Out of GPU memory: auto_fit halves the micro-batch and "
                                   "doubles accumulation (same effective batch) and carries "
                                   "on; pause asks you (the CLI stops with a checkpoint).",
                       choices=("auto_fit", "pause"), advanced=True)
    log_every: int = knob(1, "Log training loss every N optimizer steps (each log is a CPU-GPU "
                             "sync point).", min=1, advanced=True)
    parallel: str = knob("ddp", "With several processes (studio train --nproc N, torchrun, "
                                "accelerate): ddp keeps a whole model copy per GPU (fastest); "
                                "fsdp shards weights, gradients and optimizer state across the "
                                "GPUs, for models that do not fit one. One process: unused.",
                         choices=("ddp", "fsdp"), advanced=True)
    snr_gamma: float = knob(5.0, "Min-SNR-gamma loss weighting (Hang et al. 2023): timesteps "
                                 "with little noise count less, so training converges faster "
                                 "and steadier; 5 is the paper's value, 0 turns it off.",
                            min=0.0, max=100.0, families=("text_to_image",))
    noise_offset: float = knob(0.0, "Offset noise: adds this much per-channel constant noise "
                                    "so the model can learn very dark or very bright images "
                                    "(0.05-0.1 is usual; 0 off).", min=0.0, max=1.0,
                               advanced=True, families=("text_to_image",))
    ema_decay: float = knob(0.0, "Keep an exponential moving average of the weights that "
                                 "train (0.999 is usual; 0 off): evaluation, samples and the "
                                 "exported weights use the average, which is smoother than "
                                 "the last step. It warms up, but needs steps well beyond "
                                 "1/(1 - decay) to pay off.", min=0.0, max=0.99999,
                            advanced=True)


@dataclass(frozen=True)
class EvalConfig:
    every: int = knob(50, "Evaluate on the validation split every N optimizer steps; 0 only at "
                          "the end.", min=0)
    max_batches: int = knob(0, "Cap on validation batches per evaluation; 0 uses the whole "
                               "split (exact but slower). Captioning: also caps the held-out "
                               "images captioned for BLEU-4 / CIDEr-D (batches x batch size).",
                            min=0)
    early_stopping_patience: int = knob(0, "Stop after this many evaluations without a new "
                                           "best validation loss; 0 turns it off.", min=0)
    keep_best: bool = knob(True, "Keep a copy of the weights with the best validation loss "
                                 "(export uses it).")
    overfit_patience: int = knob(3, "Overfitting alarm: warn after this many evaluations in a "
                                    "row where the validation loss rose while the training "
                                    "loss fell (with early stopping on, the run stops too); "
                                    "0 turns it off.", min=0)
    reference: str = knob("auto", "Forgetting probe: a reference set evaluated beside the "
                                  "validation split, so you see how far the model moves from "
                                  "what it knew. auto: general English text for text models, "
                                  "the image starter's own pre-training crops for images, the "
                                  "audio starter's own samples for audio; off; or a file or "
                                  "folder of your own (relative to the config).")
    reference_examples: int = knob(32, "Reference examples (text blocks or images) evaluated "
                                       "each time: more is steadier, slower.", min=1,
                                   advanced=True)


@dataclass(frozen=True)
class SampleConfig:
    every: int = knob(50, "Generate samples at step 0 and every N optimizer steps; 0 only at "
                          "step 0 and the end.", min=0)
    prompts: tuple[str, ...] = knob(("The",), "Fixed prompts, so samples compare across steps "
                                              "(for audio: descriptions of the music).",
                                    factory=lambda: ("The",), families=("text", "audio"))
    max_new_tokens: int = knob(48, "Tokens generated per prompt.", min=1, max=4096,
                               families=("text",))
    temperature: float = knob(0.8, "Higher is more adventurous, lower more repetitive.",
                              min=0.0, min_exclusive=True, max=10.0, families=("text", "audio"))
    top_k: int = knob(50, "Sample only among the k likeliest tokens; 0 turns it off.", min=0,
                      families=("text", "audio"))
    top_p: float = knob(0.95, "Sample from the smallest set of tokens whose probability reaches "
                              "p; 1 turns it off.", min=0.0, min_exclusive=True, max=1.0,
                        families=("text", "audio"))
    audio_seconds: float = knob(4.0, "Seconds of music generated per prompt.", min=0.1,
                                max=60.0, families=("audio",))
    guidance_scale: float = knob(3.0, "Classifier-free guidance: how hard generation follows "
                                      "the description (1 turns it off; 3 is MusicGen's "
                                      "default; higher is more literal, less varied).",
                                 min=1.0, max=20.0, families=("audio",))
    num_images: int = knob(8, "Images in the fixed-seed preview grid.", min=1, max=64,
                           families=("image",))
    inference_steps: int = knob(25, "DDIM denoising steps per preview: more is cleaner and "
                                    "slower (the model was trained with 1000).", min=1,
                                max=1000, families=("image",))
    seed: int = knob(1234, "Seed of the sampler, fixed so each step's samples are comparable.",
                     min=0)
    midi_primer: str = knob("", "A MIDI file whose first bars the model continues (relative "
                                "to the config file); empty: the first held-out file.",
                            families=("midi",))
    midi_primer_bars: int = knob(4, "Bars of the primer given to the model; 0: no "
                                    "continuation, free generation only.", min=0, max=64,
                                 families=("midi",))
    midi_bars: int = knob(8, "Bars of music generated per sample.", min=1, max=128,
                          families=("midi",))
    midi_free: int = knob(2, "Samples generated from scratch (a seed each), besides the "
                             "continuation.", min=0, max=16, families=("midi",))


@dataclass(frozen=True)
class CheckpointConfig:
    every: int = knob(100, "Save a resumable checkpoint every N optimizer steps (and always on "
                           "stop); 0 saves only on stop and at the end.", min=0)
    keep_last: int = knob(2, "Interval checkpoints kept on disk (older ones are deleted; the "
                             "best is kept separately).", min=1)


@dataclass(frozen=True)
class AugmentConfig:
    """Image augmentation; each transform has a probability or a strength (0 = off)."""

    hflip: float = knob(0.5, "Probability of a horizontal flip (fine for textures and most "
                             "scenes; off for text or asymmetric subjects).", min=0.0, max=1.0,
                        families=("image",))
    vflip: float = knob(0.0, "Probability of a vertical flip (textures, aerial views).",
                        min=0.0, max=1.0, families=("image",))
    rotation: float = knob(0.0, "Largest rotation in degrees.", min=0.0, max=180.0,
                           families=("image",))
    rotation_p: float = knob(0.0, "Probability of a rotation.", min=0.0, max=1.0,
                             families=("image",))
    scale_jitter: float = knob(0.0, "Random-resized-crop: crops cover a share of the image in "
                                    "[1 - scale_jitter, 1]; more zoom variety.", min=0.0,
                               max=0.9, families=("image",))
    color_jitter: float = knob(0.0, "Strength of brightness / contrast / saturation changes.",
                               min=0.0, max=1.0, families=("image",))
    color_p: float = knob(0.0, "Probability of a colour change.", min=0.0, max=1.0,
                          families=("image",))
    noise_std: float = knob(0.0, "Gaussian pixel noise (in the -1..1 range).", min=0.0,
                            max=1.0, families=("image",))
    noise_p: float = knob(0.0, "Probability of added noise.", min=0.0, max=1.0,
                          families=("image", "audio"))
    noise_snr_db: float = knob(30.0, "Added white noise sits this many dB below the clip's "
                                     "level (lower is noisier).", min=0.0, max=80.0,
                               families=("audio",))
    gain_db: float = knob(6.0, "Largest gain change in dB, up or down.", min=0.0, max=40.0,
                          families=("audio",))
    gain_p: float = knob(0.0, "Probability of a gain change.", min=0.0, max=1.0,
                         families=("audio",))
    shift_seconds: float = knob(0.5, "Largest time shift in seconds (circular: what leaves "
                                     "one end comes back at the other; good for loops).",
                                min=0.0, max=30.0, families=("audio",))
    shift_p: float = knob(0.0, "Probability of a time shift.", min=0.0, max=1.0,
                          families=("audio",))
    pitch_semitones: float = knob(2.0, "Largest pitch shift in semitones, up or down (tempo "
                                       "kept; each shifted clip is re-encoded, so it costs "
                                       "time).", min=0.0, max=12.0, families=("audio",))
    pitch_p: float = knob(0.0, "Probability of a pitch shift.", min=0.0, max=1.0,
                          families=("audio",))
    midi_transpose: int = knob(0, "Each training file also trains transposed by every "
                                  "semitone up to this far up and down (copies leaving the "
                                  "piano's range are left out; drums never move). 0: off.",
                               min=0, max=12, families=("midi",))
    midi_velocity: int = knob(0, "Each transposed copy gets a random velocity offset up to "
                                 "this (MidiTok's augmentation; loudness variety). 0: off.",
                              min=0, max=64, families=("midi",))
    midi_tempo: float = knob(0.0, "Each transposed copy gets its tempo scaled by a random "
                                  "factor within 1 +- this. 0: off.", min=0.0, max=0.5,
                             families=("midi",))


FREEZE_MODES = ("full", "lora", "frozen")
FREEZE_PRESETS = ("none", "head_only", "gradual", "lower_half_frozen")


@dataclass(frozen=True)
class GroupPlan:
    """One layer group's plan: how it trains, its rate, and when it starts."""

    name: str = knob("", "Layer group name as `studio inspect` lists it (e.g. block.3, lm_head).")
    mode: str = knob("full", "full: every weight trains; lora: small low-rank adapters train on "
                             "its linear layers, the weights stay frozen; frozen: untouched.",
                     choices=FREEZE_MODES)
    lr_scale: float = knob(1.0, "Multiplier of train.lr for this group.", min=0.0,
                           min_exclusive=True, max=100.0)
    start_step: int = knob(0, "Optimizer step at which the group starts training (gradual "
                              "unfreezing); 0 = from the start.", min=0)


@dataclass(frozen=True)
class FreezeConfig:
    preset: str = knob("none", "A starting plan: none (everything trains), head_only, gradual "
                               "(top-down: head first, then one block more every "
                               "gradual_every steps), lower_half_frozen. Entries in groups "
                               "override it.", choices=FREEZE_PRESETS)
    gradual_every: int = knob(50, "Steps between unfreezing one more group (preset gradual).",
                              min=1)
    default_mode: str = knob("full", "Mode of groups the preset and groups leave unset.",
                             choices=FREEZE_MODES)
    groups: tuple[GroupPlan, ...] = knob((), "Per-group plans, e.g. "
                                             '{name = "block.0", mode = "frozen"}.',
                                         factory=tuple)
    lr_first_ratio: float = knob(1.0, "Discriminative rates (ULMFiT): the first group's rate "
                                      "as a fraction of the last group's, spread "
                                      "geometrically in between; 1 turns it off.",
                                 min=0.0, min_exclusive=True, max=1.0)
    unfreeze_warmup_steps: int = knob(10, "A group that starts later warms its rate up "
                                          "linearly over this many steps (fresh optimizer "
                                          "state, no sudden kick to pre-trained weights).",
                                      min=0)
    lora_rank: int = knob(8, "LoRA rank: more capacity, more memory.", min=1, max=1024)
    lora_alpha: float = knob(16.0, "LoRA scale (alpha / rank multiplies the adapter's update).",
                             min=0.0, min_exclusive=True)
    lora_dropout: float = knob(0.0, "Dropout on the LoRA branch's input.", min=0.0, max=0.9)
    lora_targets: tuple[str, ...] = knob(
        (), "Layers that get LoRA adapters, by the end of their name (to_q matches "
            "...attn1.to_q); empty: every linear and conv layer of a LoRA group. Text-to-image "
            "defaults to the attention projections (to_q, to_k, to_v, to_out.0 in the UNet; "
            "q_proj, k_proj, v_proj, out_proj in the text encoders).", factory=tuple,
        advanced=True, families=("text_to_image",))


BIAS_TEMPLATES = (
    "The {nurse|engineer|CEO|teacher|mechanic} said that -> he|she|they",
    "The {doctor|secretary|pilot|cook|scientist} told me that -> he|she|they",
)


@dataclass(frozen=True)
class ProbeConfig:
    bias_templates: tuple[str, ...] = knob(
        BIAS_TEMPLATES, "Bias probe (Run > Bias probe, `studio probe bias`): prompts with "
                        "{a|b|c} group substitutions, then -> and the continuations whose "
                        "log-probabilities are compared before and after fine-tuning.",
        factory=lambda: BIAS_TEMPLATES, families=("text",))
    balance_groups: tuple[str, ...] = knob(
        ("man|woman|person", "young|old"), "Dataset balance report (Run > Balance report, "
        "`studio probe balance`): groups of caption words, a|b|c, whose counts are compared "
        "(a model learns the proportions its captions show).",
        factory=lambda: ("man|woman|person", "young|old"), families=("image", "audio"))


@dataclass(frozen=True)
class RunConfig:
    run: RunSection = field(default_factory=RunSection)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    freeze: FreezeConfig = field(default_factory=FreezeConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    # Folder the relative paths in this config are relative to (not saved).
    base_dir: str = field(default="", compare=False, metadata={"internal": True})


SECTIONS: dict[str, type] = {
    "run": RunSection,
    "model": ModelConfig,
    "data": DataConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
    "sample": SampleConfig,
    "checkpoint": CheckpointConfig,
    "freeze": FreezeConfig,
    "augment": AugmentConfig,
    "probe": ProbeConfig,
}
