"""Symbolic music family: a transformers causal LM (GPT-2 or any ``AutoModelForCausalLM``,
hub ids included) over MidiTok token ids.

The model code is the text family's (loading, layer tree, loss; LoRA and the freeze plan
are generic); what differs is the tokenizer — MidiTok's, saved beside the weights as
``miditok.json`` and never read as a Hugging Face tokenizer — the data (music files, see
``studio.data.midi``) and the samples: ``.mid`` files continuing the first bars of a
held-out file and generated from scratch, each with musical statistics against the
training files (the curves draw them).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from studio.core.errors import ConfigError, ModelError
from studio.core.events import Sample
from studio.core.paths import resolve_model_source
from studio.data import midi as md
from studio.models.base import LayerGroup, Loaded
from studio.models.text import TextFamily, load_causal_lm, text_layer_groups

DEFAULT_TOKENS_PER_BAR = 24.0   # before the data says (REMI+BPE on melodies: 10-40)


# -- one voice ------------------------------------------------------------------------
# A melody project trains single voices, yet the model (a starter pre-trained on other music,
# or an untrained one) can still write two notes at one onset: a chord. For melody projects
# generation follows REMI's grammar for one voice: after a note starts, the next may start
# only once time has moved on — a Bar, a TimeShift, or a Position later in the bar (a
# Position equal to or before the current one, or past the bar's end, would land on a taken
# onset again). A time signature may only come right after a Bar (where REMI writes it;
# MidiTok counts bars from it). Masking the logits is a real constraint (the model's
# probability goes to the allowed tokens), not a deletion after the fact. BPE does not blur
# it: every merged id expands to its base tokens (MidiTok's decode_token_ids), and the id is
# allowed only when its whole run is. The state: the bar's length in positions, the last
# Position in the bar (-1 after a Bar) and whether a note started there.
_NOTE = ("Pitch_", "PitchDrum_")
# with programs in one stream, each note is "Program_p Pitch_x Velocity Duration": a
# Program token at a taken onset would begin a second note too
_NOTE_LEAD = _NOTE + ("Program_",)
State = tuple[int, int, bool]   # (positions in the bar, last position, onset taken)


def base_tokens(tok: Any, token_id: int) -> list[str]:
    """The base tokens (e.g. ``Position_4``, ``Pitch_67``) one id stands for: one for a
    tokenizer without BPE, the merged run for a BPE-trained one."""
    from miditok import TokSequence

    ids = [token_id]
    if getattr(tok, "is_trained", False):
        seq = TokSequence(ids=[token_id], are_ids_encoded=True)
        tok.decode_token_ids(seq)
        ids = list(seq.ids)
    names = {i: name for name, i in tok.vocab.items()}
    return [names.get(i, "") for i in ids]


def _after(state: State, tokens: list[str], per_beat: int) -> tuple[State, bool]:
    """The state after ``tokens`` and whether they keep to one voice."""
    length, pos, taken = state
    ok = True
    for name in tokens:
        kind, _, value = name.partition("_")
        if kind == "Bar":
            pos, taken = -1, False
        elif kind in ("TimeShift", "Rest"):
            taken = False
        elif kind == "Position":
            at = int(value)
            ok &= pos <= at < length
            if at > pos:
                pos, taken = at, False
        elif kind == "TimeSig":
            ok &= pos == -1 and not taken
            length = int(value.split("/")[0]) * per_beat   # MidiTok: a beat = 1/denominator
        elif name.startswith(_NOTE_LEAD):
            ok &= not taken
            taken = taken or name.startswith(_NOTE)
    return (length, pos, taken), ok


class OneVoice(LogitsProcessor):
    """A transformers logits processor: in each row, the ids that would start a second
    note at the current onset get -inf. Built once per tokenizer and vocabulary size; the
    states met and their masks are worked out when first met."""

    def __init__(self, tok: Any, n_ids: int) -> None:
        self.tok = tok
        self.n_ids = n_ids
        self.expanded = [base_tokens(tok, i) if i < len(tok) else [] for i in range(n_ids)]
        self.per_beat = max(tok.config.beat_res.values())
        self.start: State = (4 * self.per_beat, -1, False)   # MidiTok's default 4/4
        self._next: dict[tuple[State, int], State] = {}
        self._masks: dict[State, torch.Tensor] = {}
        self._seen: dict[int, tuple[int, State]] = {}   # row -> (ids read, state)

    def reset(self) -> None:
        """Forget the rows read: the next call starts new sequences (a new window; one
        starting mid-bar learns the position from its first Position token)."""
        self._seen.clear()

    def state(self, ids: list[int], row: int = 0) -> State:
        """The state after ``ids``; generate() only appends, so only the ids new since
        the last call are read. A primer may break the rule: it is read on, only new ids
        are barred."""
        read, state = self._seen.get(row, (0, self.start))
        for i in ids[read:]:
            key = (state, i)
            if key not in self._next:
                tokens = self.expanded[i] if i < self.n_ids else []
                self._next[key] = _after(state, tokens, self.per_beat)[0]
            state = self._next[key]
        self._seen[row] = (len(ids), state)
        return state

    def blocked(self, state: State) -> torch.Tensor:
        if state not in self._masks:
            self._masks[state] = torch.tensor(
                [not _after(state, tokens, self.per_beat)[1] for tokens in self.expanded])
        return self._masks[state]

    def allows(self, ids: list[int], token_id: int) -> bool:
        """Whether ``token_id`` may follow ``ids`` (read afresh)."""
        self._seen.pop(-1, None)
        return not bool(self.blocked(self.state(ids, row=-1))[token_id])

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        n = self.n_ids
        for row in range(input_ids.shape[0]):
            mask = self.blocked(self.state(input_ids[row].tolist(), row)).to(scores.device)
            scores[row, :n] = scores[row, :n].masked_fill(mask, float("-inf"))
        return scores


def _hub_tokenizer(source: str, revision: str) -> Any:
    """A hub model's ``miditok.json``, when it has one and it can be fetched."""
    try:
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(source, md.TOKENIZER_FILE, revision=revision or None)
    except Exception:  # offline, no such file, not a hub id: a new tokenizer is trained
        return None
    return md.load_tokenizer(Path(path).parent)


class MidiFamily:
    name = "midi"
    throughput_unit = "tok"

    def __init__(self) -> None:
        self._text = TextFamily()   # loss and validation loss are a causal LM's

    # -- loading -----------------------------------------------------------------------
    def load(self, source: str, device: Any = "cpu", dtype: Any = None, *, revision: str = "",
             trust_remote_code: bool = False) -> Loaded:
        model, _ = load_causal_lm(source, device, dtype, revision=revision,
                                  trust_remote_code=trust_remote_code)
        folder = Path(resolve_model_source(source))
        tok = md.load_tokenizer(folder) if folder.is_dir() else _hub_tokenizer(source, revision)
        loaded = Loaded(model=model, extras={"midi_tokenizer": tok,
                                             "tokenizer_from_folder": tok is not None},
                        source=source)
        if tok is not None:
            self._fit_model(loaded, tok)
        return loaded

    def _fit_model(self, loaded: Loaded, tok: Any) -> None:
        """Point the model's special ids at MidiTok's and size its vocabulary to the
        tokenizer (a new tokenizer on a text model: the embeddings are resized)."""
        model = loaded.model
        n = len(tok)
        have = model.get_input_embeddings().weight.shape[0]
        if have != n:
            if loaded.extras.get("tokenizer_from_folder", False):
                raise ModelError(f"{loaded.source}: miditok.json has {n} tokens but the "
                                 f"model's vocabulary has {have}",
                                 "keep the tokenizer file that was saved with these weights")
            model.resize_token_embeddings(n)
        ids = {"bos_token_id": tok["BOS_None"], "eos_token_id": tok["EOS_None"],
               "pad_token_id": tok.pad_token_id}
        for k, v in ids.items():
            setattr(model.config, k, v)
            if getattr(model, "generation_config", None) is not None:
                setattr(model.generation_config, k, v)

    def after_load(self, loaded: Loaded, cfg: Any) -> None:
        """A restored run (sample, export) whose base model had no MidiTok tokenizer: the
        run trained one on its data; training it again is deterministic, so the same
        tokenizer (and vocabulary size) comes back. Either way the samples keep to the
        run's tracks (a melody run samples one voice)."""
        loaded.extras.setdefault("midi_tracks", cfg.data.midi_tracks)
        if loaded.extras.get("midi_tokenizer") is None:
            self.datasets(loaded, cfg, resolve=Path)

    # -- layer tree ------------------------------------------------------------------
    def layer_groups(self, loaded: Loaded) -> list[LayerGroup]:
        return text_layer_groups(loaded.model)

    # -- data --------------------------------------------------------------------------
    def datasets(self, loaded: Loaded, cfg: Any, resolve=lambda p: Path(p)) -> md.MidiData:
        from studio.core.errors import DataError
        from studio.data import progress

        max_len = getattr(loaded.model.config, "n_positions", None) or getattr(
            loaded.model.config, "max_position_embeddings", None)
        if max_len and cfg.data.block_size > max_len:
            raise ConfigError("data.block_size", f"{cfg.data.block_size} is longer than the "
                              f"model's context of {max_len} tokens",
                              f"set data.block_size to {max_len} or less")
        files, skipped = md.find_music_files([resolve(p) for p in cfg.data.paths],
                                             cfg.data.exclude)
        if not files:
            raise DataError(", ".join(cfg.data.paths) or "data.paths",
                            "holds no music files", "add .mid or .midi files")
        had = loaded.extras.get("midi_tokenizer")
        if had is not None and cfg.data.midi_tokenizer not in ("auto", type(had).__name__.lower()):
            progress.report(f"data.midi_tokenizer = {cfg.data.midi_tokenizer!r} ignored: the "
                            f"model folder brings its own {type(had).__name__} tokenizer")
        holder = {"tokenizer": had}
        data = md.build_midi_data(files, cfg, holder)
        data.skipped[:0] = skipped
        if had is None:
            self._fit_model(loaded, holder["tokenizer"])
        loaded.extras["midi_tokenizer"] = holder["tokenizer"]
        primers = data.primers
        if cfg.sample.midi_primer:
            path = resolve(cfg.sample.midi_primer)
            primers = [(Path(path).name, md.read_score(path))]
        # the run's own data comes first; a later call (the forgetting probe reading its
        # reference set through this method) must not replace the primer and statistics
        for key, value in (("midi_primers", primers[:1]), ("midi_train_stats", data.train_stats),
                           ("midi_tokens_per_bar", data.tokens_per_bar),
                           ("midi_tracks", cfg.data.midi_tracks)):
            loaded.extras.setdefault(key, value)
        return data

    # -- training ----------------------------------------------------------------------
    def loss(self, loaded: Loaded, batch: torch.Tensor) -> torch.Tensor:
        return self._text.loss(loaded, batch)

    def val_loss(self, loaded: Loaded, batch: torch.Tensor, index: int) -> torch.Tensor:  # noqa: ARG002
        return self._text.loss(loaded, batch)

    # -- sampling ----------------------------------------------------------------------
    def _tokenizer(self, loaded: Loaded) -> Any:
        tok = loaded.extras.get("midi_tokenizer")
        if tok is None:
            raise ModelError(f"{loaded.source}: no MidiTok tokenizer yet",
                             "sample after the data is read (a run), or use a model folder "
                             "with a miditok.json")
        return tok

    @torch.no_grad()
    def sample(self, loaded: Loaded, scfg: Any, step: int, out_dir: Path | None = None,
               prompts: tuple[str, ...] | None = None) -> list[Sample]:
        """One continuation of the primer (its first ``sample.midi_primer_bars`` bars) and
        ``sample.midi_free`` pieces from scratch, each ``sample.midi_bars`` bars, as .mid
        files with fixed seeds; the training RNG is left as it was. ``prompts`` (from
        ``studio sample --prompt``) naming music files are used as primers."""
        tok = self._tokenizer(loaded)
        model = loaded.model
        say_where = out_dir is None  # `studio sample`: the files go to a new temp folder
        if out_dir is None:
            out_dir = Path(tempfile.mkdtemp(prefix="studio-midi-samples-"))
        out_dir.mkdir(parents=True, exist_ok=True)
        primers = list(loaded.extras.get("midi_primers") or [])
        if prompts:
            given = [Path(p) for p in prompts if Path(p).suffix.lower() in md.EXTENSIONS]
            if given:
                primers = [(p.name, md.read_score(p)) for p in given]
        if scfg.midi_primer_bars == 0:
            primers = []
        jobs = [(name, score) for name, score in primers] + \
            [("free", None)] * scfg.midi_free
        was_training = model.training
        model.eval()
        samples = []
        try:
            for i, (name, score) in enumerate(jobs):
                samples.append(self._one(loaded, tok, scfg, step, i, name, score, out_dir,
                                         say_where))
        finally:
            model.train(was_training)
        (out_dir / "index.json").write_text(json.dumps(
            [{"index": s.index, "prompt": s.prompt, "path": Path(s.path).name, "seed": s.seed,
              "meta": s.meta} for s in samples], indent=1), encoding="utf-8")
        return samples

    def _one(self, loaded: Loaded, tok: Any, scfg: Any, step: int, i: int, name: str,
             score: Any, out_dir: Path, say_where: bool = False) -> Sample:
        seed = scfg.seed + i
        model = loaded.model
        device = next(model.parameters()).device
        if score is not None:
            score = md.select_tracks(score, loaded.extras.get("midi_tracks", "all"))
            primer = md.first_bars(score, scfg.midi_primer_bars)
            prompt_ids = md.encode(tok, primer, eos=False)
        else:
            primer, prompt_ids = None, [tok["BOS_None"]]
        ctx = getattr(model.config, "n_positions", None) or getattr(
            model.config, "max_position_embeddings", None) or 1024
        prompt_ids = list(prompt_ids)
        per_bar = loaded.extras.get("midi_tokens_per_bar") or DEFAULT_TOKENS_PER_BAR
        budget = max(1, int(math.ceil(scfg.midi_bars * per_bar * 1.3)))
        devices = [device.index or 0] if device.type == "cuda" else []
        voice = self._one_voice(loaded, tok)
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            new = self._generate(model, tok, scfg, prompt_ids, budget, ctx, device, voice)
        piece, problem = self._decode(tok, list(prompt_ids) + new, primer)
        # the piece ends after the primer plus the asked bars (the budget runs over)
        bar = md.bar_ticks(piece)   # in the decoded score's ticks (MidiTok's resolution)
        start = 0 if primer is None else scfg.midi_primer_bars * bar
        piece = piece.clip(0, start + scfg.midi_bars * bar, clip_end=True)
        stats = md.music_stats([piece], [start])
        figures = stats.compared(loaded.extras.get("midi_train_stats"))
        path = out_dir / f"midi_{i:02d}_{'continue' if primer is not None else 'free'}" \
                         f"_seed{seed}.mid"
        piece.dump_midi(str(path))
        # what the piece is (the gallery's tooltip, the starter's card); `studio sample`
        # prints prompt + text, so there it starts on a new line and says where the file went
        what = (f"{stats.notes} new notes over {stats.bars:.0f} bars; "
                f"{md.describe_stats(stats)}" + (f" ({problem})" if problem else ""))
        if say_where:
            what = f"\n{what}\n({path})"
        meta = {"primer_bars": scfg.midi_primer_bars if primer is not None else 0,
                "stats": figures, "tokens": len(new)}
        if problem:
            meta["problem"] = problem
        return Sample(kind="midi", step=step, index=i, prompt=name, text=what, path=str(path),
                      seed=seed, meta=meta)

    @staticmethod
    def _one_voice(loaded: Loaded, tok: Any) -> OneVoice | None:
        """The one-voice constraint for a melody project (built once per tokenizer), else
        None: other projects may write chords."""
        if loaded.extras.get("midi_tracks") != "melody":
            return None
        n_ids = loaded.model.get_output_embeddings().weight.shape[0]
        voice = loaded.extras.get("midi_one_voice")
        if voice is None or voice.tok is not tok or voice.n_ids != n_ids:
            voice = OneVoice(tok, n_ids)
            loaded.extras["midi_one_voice"] = voice
        return voice

    @staticmethod
    def _generate(model: Any, tok: Any, scfg: Any, prompt: list[int], budget: int, ctx: int,
                  device: Any, voice: OneVoice | None = None) -> list[int]:
        """``budget`` tokens after ``prompt`` (one voice at a time under ``voice``). A
        piece longer than the model's context is written in a sliding window: each round
        sees the last half context and adds up to half a context."""
        new: list[int] = []
        eos = tok["EOS_None"]
        while len(new) < budget:
            chunk = min(budget - len(new), max(1, ctx // 2))
            window = (prompt + new)[-(ctx - chunk):]
            ids = torch.tensor([window], device=device)
            if voice is not None:
                voice.reset()
            # the asked length is the length: the end-of-piece token is held back until
            # the budget is spent (a model fine-tuned on short hymns would stop at once)
            out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True,
                                 max_new_tokens=chunk, min_new_tokens=chunk,
                                 temperature=scfg.temperature,
                                 top_k=scfg.top_k or None, top_p=scfg.top_p,
                                 pad_token_id=tok.pad_token_id, eos_token_id=eos,
                                 logits_processor=LogitsProcessorList([voice] if voice else []))
            got = out[0, len(window):].tolist()
            new += got
            if not got:
                break
        return new

    @staticmethod
    def _decode(tok: Any, ids: list[int], primer: Any) -> tuple[Any, str]:
        """The generated score; when MidiTok cannot decode what the model wrote (an
        untrained model writes anything), the primer alone and why."""
        try:
            return md.decode(tok, ids), ""
        except Exception as exc:  # MidiTok raises many kinds on malformed sequences
            import symusic
            fallback = primer if primer is not None else symusic.Score(480)
            return fallback, f"could not decode the generated tokens: {type(exc).__name__}"

    # -- export ------------------------------------------------------------------------
    def save_tokenizer(self, loaded: Loaded, out_dir: Path) -> None:
        """MidiTok's file beside the weights (an adapter export needs it too)."""
        md.save_tokenizer(self._tokenizer(loaded), out_dir)

    def export(self, loaded: Loaded, out_dir: Path, card: str = "") -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        loaded.model.save_pretrained(out_dir)
        self.save_tokenizer(loaded, out_dir)
        (out_dir / "README.md").write_text((card or "# MIDI model\n") + "\n" + usage_snippet(),
                                           encoding="utf-8")


GENERATE_SNIPPET = '''\
import json, torch, miditok
from transformers import AutoModelForCausalLM

folder = "{folder}"
model = AutoModelForCausalLM.from_pretrained(folder)
params = f"{{folder}}/miditok.json"   # MidiTok's file (not a Hugging Face tokenizer)
tok = getattr(miditok, json.load(open(params))["tokenization"])(params=params)
bos, eos = tok["BOS_None"], tok["EOS_None"]
torch.manual_seed(0)
steps = min(512, model.config.max_position_embeddings - 1)   # within its context
out = model.generate(torch.tensor([[bos]]), do_sample=True, max_new_tokens=steps,
                     top_p=0.95, temperature=1.0, pad_token_id=tok.pad_token_id,
                     eos_token_id=eos)
ids = [i for i in out[0].tolist() if i not in (bos, eos, tok.pad_token_id)]
tok.decode(ids).dump_midi("generated.mid")
'''


def usage_snippet(folder: str = ".") -> str:
    """The export README's "generate a .mid" section (a test runs its code)."""
    return ("## Generate a MIDI file\n\nThe weights load with transformers; the tokenizer "
            "is MidiTok's `miditok.json`.\n`samples/` holds the `.mid` samples of the "
            "run, step by step.\n\n```python\n" + GENERATE_SNIPPET.format(folder=folder)
            + "```\n")
