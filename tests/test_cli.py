"""The `studio` command: train, resume, runs, sample, export, inspect; errors in one line."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio.cli.main import main
from studio.runs import list_runs, read_status

ROOT = Path(__file__).resolve().parent.parent


def studio_proc(*args, **kw) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "studio", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_train_runs_sample_export_inspect(tiny_run_config, tiny_text_model, tmp_path, capsys):
    cfg = tiny_run_config()
    assert main(["train", str(cfg), "train.max_steps=4"]) == 0
    out = capsys.readouterr().out
    assert "step 4/4" in out and "finished (completed)" in out and "sample @ step 0" in out
    runs_dir = tmp_path / "runs"
    (run,) = list_runs(runs_dir)
    assert run.state == "completed" and run.step == 4
    # training tokenized into the on-disk token cache (the next run memory-maps it)
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "fine-tuning-studio" / "text-tokens"
    assert any(p.name == "tokens.bin" for p in cache.rglob("*"))

    assert main(["runs", str(runs_dir)]) == 0
    assert "completed" in capsys.readouterr().out

    assert main(["sample", str(run.path), "--prompt", "Rough winds", "--max-new-tokens", "5",
                 "--seed", "7"]) == 0
    first = capsys.readouterr().out
    assert "Rough winds" in first and "best" in first
    main(["sample", str(run.path), "--prompt", "Rough winds", "--max-new-tokens", "5",
          "--seed", "7"])
    assert capsys.readouterr().out == first  # fixed seed: the same sample

    out_dir = tmp_path / "exported"
    assert main(["export", str(run.path), str(out_dir)]) == 0
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline
    model = AutoModelForCausalLM.from_pretrained(out_dir)
    tok = AutoTokenizer.from_pretrained(out_dir)
    gen = pipeline("text-generation", model=model, tokenizer=tok)
    text = gen("Shall I", max_new_tokens=5, do_sample=False)[0]["generated_text"]
    assert text.startswith("Shall I") and len(text) > len("Shall I")
    # the export holds the trained weights, not the base model's
    import torch
    from safetensors.torch import load_file
    best = load_file(str(run.path / "best" / "model.safetensors"))
    name = next(iter(best))
    torch.testing.assert_close(dict(model.named_parameters())[name].detach(), best[name])
    base = AutoModelForCausalLM.from_pretrained(tiny_text_model)
    assert not torch.equal(dict(base.named_parameters())[name], best[name])

    assert main(["inspect", str(tiny_text_model)]) == 0
    out = capsys.readouterr().out
    assert "block.0" in out and "block.1" in out and "lm_head" in out and "tied" in out
    assert "estimated training memory" in out


def test_user_errors_are_one_line_naming_the_field(tiny_run_config, capsys):
    cfg = tiny_run_config()
    assert main(["train", str(cfg), "train.lr=-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: train.lr") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert main(["train", str(cfg), "data.paths=[\"/no/such/folder\"]"]) == 2
    err = capsys.readouterr().err
    assert "/no/such/folder" in err and "Traceback" not in err
    assert main(["--debug", "train", str(cfg), "train.optimizer=adamm"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "did you mean" in err
    assert main(["resume", "/no/such/run"]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_ctrl_c_stops_cleanly_with_a_checkpoint_and_resume_continues(tiny_run_config):
    cfg = tiny_run_config(train={"max_steps": 100000}, checkpoint={"every": 0},
                          eval={"every": 0}, sample={"every": 0})
    proc = studio_proc("train", str(cfg))
    deadline = time.time() + 120
    for line in proc.stdout:
        if "step 3/" in line:
            break
        assert time.time() < deadline, "no progress"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "finished (stopped)" in out and "checkpoint (stop)" in out
    (run,) = list_runs(cfg.parent / "runs")
    assert run.state == "stopped" and run.step >= 3
    assert read_status(run.path)["state"] == "stopped"
    ckpt = run.path / "checkpoints" / f"step_{run.step:06d}"
    assert (ckpt / "state.json").is_file()
    assert main(["resume", str(run.path), f"train.max_steps={run.step + 2}", "--quiet"]) == 0
    assert read_status(run.path)["step"] == run.step + 2


def test_a_killed_run_is_shown_as_interrupted_and_resumes(tiny_run_config, capsys):
    cfg = tiny_run_config(train={"max_steps": 100000}, checkpoint={"every": 2},
                          eval={"every": 0}, sample={"every": 0})
    proc = studio_proc("train", str(cfg))
    for line in proc.stdout:
        if "checkpoint (interval) @ step 4" in line:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    (run,) = list_runs(cfg.parent / "runs")
    assert run.state == "interrupted" and run.resumable
    assert main(["runs", str(cfg.parent / "runs")]) == 0
    assert "interrupted" in capsys.readouterr().out
    last = run.path / "checkpoints"
    step = max(int(p.name[5:]) for p in last.iterdir() if p.name.startswith("step_"))
    assert main(["resume", str(run.path), f"train.max_steps={step + 1}", "--quiet"]) == 0
    assert read_status(run.path)["state"] == "completed"


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["--version"]])
def test_help_and_version(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0


def test_config_command_prints_a_valid_commented_config(capsys, tmp_path):
    assert main(["config"]) == 0
    text = capsys.readouterr().out
    assert "# Peak learning rate" in text
    from studio.config import loads_config
    cfg = loads_config(text.replace("paths = []", 'paths = ["x"]'))
    assert cfg.train.lr > 0
    assert "block_size" in text and "clip_seconds" not in text  # text knobs only
    assert main(["config", "--family", "audio"]) == 0
    audio = capsys.readouterr().out
    assert "clip_seconds" in audio and "block_size" not in audio
    assert loads_config(audio.replace("paths = []", 'paths = ["x"]')).run.family == "audio"


def test_inspect_reads_the_family_from_the_model_folder(tiny_text_model, tmp_path, capsys):
    from studio.config.families import family_of_folder as guess_family
    from tests.tinymodels import make_tiny_musicgen, make_tiny_unet
    unet = make_tiny_unet(tmp_path / "unet")
    music = make_tiny_musicgen(tmp_path / "musicgen")
    assert guess_family(str(tiny_text_model)) == "text"
    assert guess_family(str(unet)) == "image" and guess_family("starter:image") == "image"
    assert guess_family(str(music)) == "audio" and guess_family("starter:audio") == "audio"
    assert guess_family("someone/on-the-hub") is None
    assert main(["inspect", str(unet)]) == 0  # no --family needed
    assert "UNet2DModel" in capsys.readouterr().out
    assert main(["inspect", str(music)]) == 0
    assert "MusicgenForConditionalGeneration" in capsys.readouterr().out
    # a project file given where the model goes is read as the project (--config)
    project = tmp_path / "p.toml"
    project.write_text(f'[run]\nfamily = "audio"\n[model]\nsource = "{music.as_posix()}"\n'
                       '[data]\npaths = ["x"]\nclip_seconds = 3.0\n', encoding="utf-8")
    assert main(["inspect", str(project)]) == 0
    out = capsys.readouterr().out
    assert "MusicgenForConditionalGeneration" in out and "150 codec frames (3 s clips)" in out


def test_choosing_a_model_of_another_family_switches_the_project_family(tmp_path):
    from studio.state.project import Project
    from tests.tinymodels import make_tiny_unet
    project = Project(name="p")
    assert project.config.run.family == "text"
    project.set_model_source(str(make_tiny_unet(tmp_path / "unet")))
    assert project.config.run.family == "image"
    project.set_model_source("starter:audio")
    assert project.config.run.family == "audio"
    project.set_model_source("someone/on-the-hub")  # unknown: the family stays
    assert project.config.run.family == "audio"
    # typed into Settings (model.source) works the same; a change that also picks the
    # family keeps the family it picked
    project.replace_section("model", source="starter:image")
    assert project.config.run.family == "image"
    both = dataclasses.replace(project.config,
                               run=dataclasses.replace(project.config.run, family="text"),
                               model=dataclasses.replace(project.config.model,
                                                         source="starter:audio"))
    project.set_config(both)
    assert project.config.run.family == "text"


def test_export_says_when_the_best_weights_are_the_base_model(tiny_run_config, tmp_path,
                                                              capsys):
    """A run that never beat its step-0 evaluation used to export a silent copy of the
    base model."""
    from studio.engine.restore import weights_choices
    from studio.runs import RunFolder

    assert main(["train", str(tiny_run_config()), "train.max_steps=3", "--quiet"]) == 0
    (run,) = list_runs(tmp_path / "runs")
    RunFolder(run.path).update_status(best_step=0)  # as if validation only ever rose
    choices = weights_choices(run.path)
    assert choices[0].key == "best" and choices[0].unchanged
    assert "before any training" in choices[0].label
    assert [c.key for c in choices[1:3]] == ["latest", "step_000003"]
    capsys.readouterr()
    assert main(["export", str(run.path), str(tmp_path / "same")]) != 0
    err = capsys.readouterr().err
    assert "at step 0, before any training" in err and "--weights latest" in err
    assert not (tmp_path / "same").exists()
    assert main(["export", str(run.path), str(tmp_path / "same"), "--allow-unchanged"]) == 0
    assert main(["export", str(run.path), str(tmp_path / "trained"), "--weights",
                 "latest"]) == 0
