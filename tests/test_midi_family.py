"""The MIDI family: MidiTok round trip, continuation keeps the primer, musical statistics on
known input, training / resume / export / inspect through the real CLI and engine, the
exported folder generating a .mid with transformers + MidiTok."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from studio.cli.main import main
from studio.config import families, load_config
from studio.data import midi as md
from studio.runs import list_runs

CHORALES = ("bach_bwv1.mid", "bach_bwv10.mid", "bach_bwv101.mid", "bach_bwv102.mid",
            "bach_bwv103.mid")


@pytest.fixture(scope="module")
def chorales(tmp_path_factory) -> Path:
    src = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "midi"
    if not (src / CHORALES[0]).is_file():
        pytest.skip("../shared/data/midi (the Bach chorales) is not present")
    folder = tmp_path_factory.mktemp("chorales")
    for name in CHORALES:
        shutil.copy(src / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def tiny_midi_model(tmp_path_factory, chorales) -> Path:
    """A tiny GPT-2 from a config with a MidiTok REMI+BPE tokenizer trained on the
    chorales' melodies, saved as a model folder (miditok.json beside the weights)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    out = tmp_path_factory.mktemp("tiny-midi")
    tok = md.new_tokenizer("remi")
    md.train_bpe(tok, [md.select_tracks(md.read_score(p), "melody")
                       for p in sorted(chorales.glob("*.mid"))], 600)
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=128, n_embd=32, n_layer=2,
                               n_head=2, bos_token_id=tok["BOS_None"],
                               eos_token_id=tok["EOS_None"])).save_pretrained(out)
    md.save_tokenizer(tok, out)
    return out


def write_config(path: Path, model: Path, data_dir: Path, **sections) -> Path:
    from studio.config import dumps_toml

    base = {
        "run": {"name": "tune", "runs_dir": str(path.parent / "runs"), "family": "midi"},
        "model": {"source": str(model)},
        "data": {"paths": [str(data_dir)], "block_size": 32, "val_fraction": 0.2,
                 "midi_tracks": "melody"},
        "augment": {"midi_transpose": 1},
        "train": {"max_steps": 4, "batch_size": 4, "lr": 3e-3, "warmup_steps": 1,
                  "device": "cpu"},
        "eval": {"every": 2},
        "sample": {"every": 2, "midi_bars": 2, "midi_primer_bars": 2, "midi_free": 1},
        "checkpoint": {"every": 2},
    }
    for k, v in sections.items():
        base.setdefault(k, {}).update(v)
    path.write_text(dumps_toml(base), encoding="utf-8")
    return path


def notes_of(score) -> list[tuple[float, int]]:
    """(onset in quarter notes, pitch) of every pitched note, sorted."""
    tpq = score.ticks_per_quarter
    return sorted((round(t / tpq, 3), int(p)) for t, p in md.pitched_notes(score).tolist())


def test_tokenizer_round_trip_keeps_the_notes(chorales, tiny_midi_model):
    tok = md.load_tokenizer(tiny_midi_model)
    assert tok is not None and tok.is_trained
    melody = md.select_tracks(md.read_score(chorales / CHORALES[0]), "melody")
    ids = md.encode(tok, melody)
    assert ids[0] == tok["BOS_None"] and ids[-1] == tok["EOS_None"]
    back = md.decode(tok, ids)
    assert notes_of(back) == notes_of(melody) and len(notes_of(back)) > 40


def test_music_statistics_on_a_c_major_scale():
    import symusic

    score = symusic.Score(480)
    track = symusic.Track(program=0)
    scale = [60, 62, 64, 65, 67, 69, 71, 72]          # C D E F | G A B C, quarter notes
    for i, p in enumerate(scale):
        track.notes.append(symusic.Note(i * 480, 480, p, 80))
    score.tracks.append(track)
    s = md.music_stats([score])
    assert s.key == "C major" and s.in_key == 1.0
    assert s.histogram == pytest.approx([.25, 0, .125, 0, .125, .125, 0, .125, 0, .125, 0, .125])
    assert s.notes_per_bar == 4.0 and s.repeated_bars == 0.0
    # the same bar twice: half the bars repeat an earlier one
    again = symusic.Score(480)
    t2 = symusic.Track(program=0)
    for bar in range(2):
        for i, p in enumerate(scale[:4]):
            t2.notes.append(symusic.Note(bar * 1920 + i * 480, 480, p, 80))
    again.tracks.append(t2)
    assert md.music_stats([again]).repeated_bars == 0.5
    # against itself: no distance, same density
    assert s.compared(s)["pc_distance"] == 0.0 and s.compared(s)["notes_per_bar_ratio"] == 1.0


def _melody(pitches, tonic_weight=3):
    """One track of quarter notes; the first pitch repeated ``tonic_weight`` times more."""
    import symusic

    score, track = symusic.Score(480), symusic.Track(program=0)
    seq = [pitches[0]] * tonic_weight + list(pitches)
    for i, p in enumerate(seq):
        track.notes.append(symusic.Note(i * 480, 480, p, 80))
    score.tracks.append(track)
    return score


def test_pitch_class_surprise_is_the_same_in_any_key_and_says_off_key_notes():
    """The demo's question: do the samples' pitches move toward the training files'? The
    absolute histogram distance says a piece in another key of the very same style is
    far; pc_surprise (bits per note under the training files' tonic-aligned histogram,
    in the best key, minus their own) says it is as typical as they are."""
    c_major = [60, 62, 64, 65, 67, 69, 71, 72]
    train = md.music_stats([_melody(c_major), _melody([p + 7 for p in c_major])])  # C, G
    assert train.aligned[0] > train.aligned[1]   # both turned to their tonic: C at 0
    same_in_f_sharp = md.music_stats([_melody([p + 6 for p in c_major])]).compared(train)
    assert same_in_f_sharp["pc_surprise"] == pytest.approx(0.0, abs=0.01)
    assert same_in_f_sharp["pc_distance"] > 0.7        # absolute keys: nearly disjoint
    chromatic = md.music_stats([_melody(list(range(60, 72)), 0)]).compared(train)
    assert chromatic["pc_surprise"] > 2.0              # five pitch classes it never saw
    # pieces drawn from the training files' own notes: short ones are not judged further
    # away for having few notes (the histogram distance is: 8 notes cannot fill it)
    rng = np.random.default_rng(0)
    pool = [60] * 3 + c_major   # the notes of the first training piece

    def mean_of(n_notes, name):
        return np.mean([md.music_stats([_melody(list(rng.choice(pool, n_notes)), 0)])
                        .compared(train)[name] for _ in range(20)])
    short, long = mean_of(8, "pc_surprise"), mean_of(128, "pc_surprise")
    assert abs(short - long) < 0.2 and abs(long) < 0.1
    assert mean_of(8, "pc_distance") > mean_of(128, "pc_distance") + 0.1


def test_continuation_keeps_the_primer_and_writes_midi(chorales, tiny_midi_model, tmp_path):
    from studio.models.base import get_family

    cfg = load_config(write_config(tmp_path / "run.toml", tiny_midi_model, chorales))
    fam = get_family("midi")
    loaded = fam.load(str(tiny_midi_model), "cpu")
    data = fam.datasets(loaded, cfg)
    assert data.n_train > 0 and data.n_val > 0 and "augmented copies" in data.summary
    samples = fam.sample(loaded, cfg.sample, 0, tmp_path / "samples")
    assert [s.prompt for s in samples][1:] == ["free"] and samples[0].prompt.endswith(".mid")
    cont = samples[0]
    assert cont.kind == "midi" and cont.meta["primer_bars"] == 2
    assert set(cont.meta["stats"]) >= {"pc_distance", "in_key", "repeated_bars",
                                        "notes_per_bar_ratio"}
    # no notes, no pitch classes to judge (this tiny model may write none)
    assert ("pc_surprise" in cont.meta["stats"]) != cont.text.startswith("0 new notes")
    # the text says what the piece is (the gallery's tooltip); only `studio sample`
    # (no folder given) adds where the file went
    assert cont.text[0].isdigit() and "new notes over" in cont.text.split(";")[0] \
        and cont.path not in cont.text
    tok = loaded.extras["midi_tokenizer"]
    name, score = loaded.extras["midi_primers"][0]
    primer = md.decode(tok, md.encode(tok, md.first_bars(
        md.select_tracks(score, "melody"), 2), eos=False))
    import symusic
    written = notes_of(symusic.Score(cont.path))
    assert notes_of(primer) and set(notes_of(primer)) <= set(written)


def test_a_bad_file_is_skipped_with_its_reason(chorales, tiny_midi_model, tmp_path):
    from studio.models.base import get_family

    data_dir = tmp_path / "data"
    shutil.copytree(chorales, data_dir)
    (data_dir / "broken.mid").write_bytes((chorales / CHORALES[0]).read_bytes()[:200])
    cfg = load_config(write_config(tmp_path / "run.toml", tiny_midi_model, data_dir))
    fam = get_family("midi")
    data = fam.datasets(fam.load(str(tiny_midi_model), "cpu"), cfg)
    (bad,) = data.skipped
    assert bad.path.endswith("broken.mid") and "truncated" in bad.reason


def test_train_resume_export_and_generate_through_the_cli(chorales, tiny_midi_model, tmp_path,
                                                          capsys):
    import symusic

    cfg = write_config(tmp_path / "run.toml", tiny_midi_model, chorales)
    assert main(["train", str(cfg), "train.max_steps=2"]) == 0
    (run,) = list_runs(tmp_path / "runs")
    assert run.step == 2
    # resume mid-run: two more steps from the step-2 checkpoint
    assert main(["resume", str(run.path), "train.max_steps=4", "--quiet"]) == 0
    (run,) = list_runs(tmp_path / "runs")
    assert run.state == "completed" and run.step == 4
    mids = sorted((run.path / "samples").rglob("*.mid"))
    assert {p.parent.name for p in mids} >= {"step_000000", "step_000004"}
    from studio.runs import read_metrics
    evals = [r for r in read_metrics(run.path) if r.get("event") == "EvalLogged"]
    assert evals and all(r["perplexity"] > 1 for r in evals)

    out = tmp_path / "exported"
    assert main(["export", str(run.path), str(out)]) == 0
    assert (out / "miditok.json").is_file() and not (out / "tokenizer.json").exists()
    assert families.family_of_folder(str(out)) == "midi"
    assert sorted(out.glob("samples/step_*/*.mid"))
    # the README's snippet: transformers + MidiTok generate a .mid that symusic reads back
    readme = (out / "README.md").read_text(encoding="utf-8")
    code = readme.split("```python\n", 1)[1].split("```", 1)[0].replace('folder = "."',
                                                                        f'folder = "{out}"')
    import os
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, "README snippet", "exec"), {})
    finally:
        os.chdir(here)
    assert isinstance(symusic.Score(str(tmp_path / "generated.mid")), symusic.Score)

    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    assert "GPT2LMHeadModel" in capsys.readouterr().out


def test_a_lora_run_exports_an_adapter_with_its_miditok_file(chorales, tiny_midi_model,
                                                            tmp_path):
    cfg = write_config(tmp_path / "run.toml", tiny_midi_model, chorales)
    assert main(["train", str(cfg), "train.max_steps=2", "freeze.default_mode=lora",
                 "sample.every=0"]) == 0
    (run,) = list_runs(tmp_path / "runs")
    out = tmp_path / "adapter"
    assert main(["export", str(run.path), str(out), "--format", "adapter",
                 "--weights", "latest", "--allow-unchanged"]) == 0
    assert (out / "adapter_model.safetensors").is_file() and (out / "miditok.json").is_file()
    assert not (out / "tokenizer.json").exists()  # never a Hugging Face tokenizer file


def test_a_text_model_gets_a_new_tokenizer_and_its_run_exports(chorales, tiny_text_model,
                                                              tmp_path):
    """No miditok.json: BPE is trained on the training files, the embeddings resized, and
    a restored run (export) trains the same tokenizer again."""
    cfg = write_config(tmp_path / "run.toml", tiny_text_model, chorales,
                       data={"midi_vocab": 560}, sample={"every": 0, "midi_free": 0},
                       train={"max_steps": 2}, checkpoint={"every": 0})
    assert main(["train", str(cfg), "--quiet"]) == 0
    (run,) = list_runs(tmp_path / "runs")
    out = tmp_path / "exported"
    assert main(["export", str(run.path), str(out), "--weights", "latest"]) == 0
    tok = md.load_tokenizer(out)
    from transformers import AutoConfig
    assert AutoConfig.from_pretrained(out).vocab_size == len(tok) == 560


def test_the_spec_claims_a_miditok_folder_before_the_text_detector(tiny_midi_model,
                                                                   tiny_text_model):
    assert families.family_of_folder(str(tiny_midi_model)) == "midi"
    assert families.family_of_folder(str(tiny_text_model)) == "text"
    spec = families.get("midi")
    assert spec.sample_kind == "midi" and spec.file_kinds == ("midi",) and spec.has_perplexity
    cfg = families.default_config("midi")
    assert dataclasses.replace(cfg.data).midi_tracks in ("all", "no_drums", "melody")
    assert np.isfinite(cfg.train.lr)


def test_sample_statistics_become_curves():
    """The generic extra-metrics path: the mean of the fixed-seed samples' meta["stats"]
    per step (and an evaluation's metrics besides ref_loss) are series of the history."""
    from studio.core import events as ev
    from studio.state.run_history import RunHistory

    h = RunHistory()
    for step, dist in ((0, 0.6), (10, 0.2)):
        h.feed(ev.SampleReady(step=step, samples=(
            ev.Sample(kind="midi", step=step, index=0, meta={"stats": {"pc_distance": dist}}),
            ev.Sample(kind="midi", step=step, index=1,
                      meta={"stats": {"pc_distance": dist + 0.2, "in_key": 1.0}}),
            ev.Sample(kind="midi", step=step, index=9,
                      meta={"fresh": 1, "stats": {"pc_distance": 5.0}}))))
    h.feed(ev.EvalLogged(step=10, val_loss=1.0, perplexity=2.7, best_val_loss=1.0,
                         is_best=True, metrics={"ref_loss": 2.0, "bleu": 0.3}))
    assert h.extras["pc_distance"].column("value").tolist() == pytest.approx([0.7, 0.3])
    assert h.extras["in_key"].column("step").tolist() == [0, 10]
    assert h.extras["bleu"].column("value").tolist() == [0.3] and "ref_loss" not in h.extras
    h.feed(ev.RunStarted(run_dir="", run_id="r", family="midi", device="cpu", precision="fp32",
                         total_steps=20, start_step=5, trainable_params=1, total_params=1,
                         train_examples=1, val_examples=1, resumed=True))
    assert h.extras["pc_distance"].column("step").tolist() == [0]  # a resume re-logs them


def _onsets_with_chords(path) -> tuple[int, int]:
    """(onsets, onsets with two or more notes) of a written .mid file."""
    import collections

    import symusic
    counts = collections.Counter(t for t, _ in notes_of(symusic.Score(str(path))))
    return len(counts), sum(1 for n in counts.values() if n > 1)


def test_a_melody_project_samples_one_voice(chorales, tiny_midi_model, tmp_path):
    """A melody project's sampling grammar (REMI+BPE ids expanded to base tokens) lets a
    note start only after time moved: no two notes of a written sample share an onset."""
    from studio.models.base import get_family
    from studio.models.midi import OneVoice, base_tokens

    cfg = load_config(write_config(tmp_path / "run.toml", tiny_midi_model, chorales,
                                   sample={"midi_bars": 6, "midi_free": 3}))
    fam = get_family("midi")
    loaded = fam.load(str(tiny_midi_model), "cpu")
    fam.datasets(loaded, cfg)
    tok = loaded.extras["midi_tokenizer"]
    assert tok.is_trained and any(len(base_tokens(tok, i)) > 2 for i in range(len(tok)))
    voice = OneVoice(tok, len(tok))
    bos, bar, pitch = tok["BOS_None"], tok["Bar_None"], tok["Pitch_60"]
    at = [bos, bar, tok["Position_8"]]
    assert voice.allows(at, pitch) and not voice.allows(at + [pitch], pitch)
    # time must move on: a later Position frees the onset, the same or an earlier one not
    assert voice.allows(at + [pitch, tok["Position_12"]], pitch)
    assert not voice.allows(at + [pitch, tok["Position_8"]], pitch)
    assert not voice.allows(at + [pitch], tok["Position_4"])
    assert voice.allows(at + [pitch, bar, tok["Position_4"]], pitch)
    # nor past the bar's end (a 4/4 bar has 32 positions: Position_32 is the next bar's 0),
    # nor a time signature mid-bar (MidiTok counts bars from it)
    assert not voice.allows(at, tok["Position_32"]) and voice.allows(at, tok["Position_31"])
    assert not voice.allows(at, tok["TimeSig_4/4"]) and voice.allows([bos, bar],
                                                                     tok["TimeSig_4/4"])

    def chords(tracks: str, folder: str) -> tuple[int, int]:
        loaded.extras["midi_tracks"] = tracks
        samples = fam.sample(loaded, cfg.sample, 0, tmp_path / folder)
        assert not any("problem" in s.meta for s in samples)
        found = [_onsets_with_chords(s.path) for s in samples]
        return sum(a for a, _ in found), sum(b for _, b in found)

    # tilt the model toward starting notes, so that chords come easily without the grammar
    starts = [i for i in range(len(tok))
              if "".join(base_tokens(tok, i)[:1]).startswith(("Pitch_", "Program_"))]
    loaded.model.generation_config.sequence_bias = {(i,): 3.0 for i in starts}
    onsets, stacked = chords("melody", "one")
    assert onsets >= 8 and stacked == 0
    assert chords("all", "any")[1] > 0   # the same seeds without the grammar stack notes
