"""The family spec (studio.config.families) answers every question about a family.

A fake fourth family ("poems", tests/fake_family.py) is registered at run time; the CLI
trains, inspects and exports it with no edit anywhere else in the program."""

from __future__ import annotations

import json

import pytest

from studio.config import dumps_toml, families, load_config
from tests.fake_family import make_poems_model, poems_registered
from tests.tinymodels import write_text_dataset


def test_the_shipped_families_are_complete():
    assert families.names()[:3] == ("text", "image", "audio")
    for spec in families.all_specs():
        assert spec.title and spec.summary and spec.file_kinds and spec.export_loader
        assert spec.sample_kind in ("text", "image", "audio", "midi", "caption")
        module, cls = spec.implementation.split(":")
        assert module.startswith("studio.models.") and cls
    assert families.get("image").defaults["train"]["lr"] == 1e-4
    with pytest.raises(Exception, match="run.family"):
        families.get("sculpture")


def test_a_config_file_gets_its_familys_defaults(tmp_path):
    """The CLI applies the image family's defaults (it used to apply the text ones)."""
    p = tmp_path / "img.toml"
    p.write_text(dumps_toml({"run": {"family": "image"}, "data": {"paths": ["x"]}}))
    cfg = load_config(p)
    assert cfg.train.lr == 1e-4 and cfg.train.weight_decay == 0.0 and cfg.sample.every == 100
    p.write_text(dumps_toml({"run": {"family": "image"}, "data": {"paths": ["x"]},
                             "train": {"lr": 0.01}}))
    assert load_config(p).train.lr == 0.01  # the file's own setting wins


def test_shipped_starters_are_recognised_by_their_folders():
    for spec in families.all_specs():
        if spec.starter:
            assert families.family_of_folder(spec.starter) == spec.name


def test_a_fourth_family_trains_inspects_and_exports_from_the_cli(tmp_path, tiny_text_model,
                                                                  capsys):
    from studio.cli.main import main
    from studio.runs import RunFolder

    with poems_registered():
        model = make_poems_model(tiny_text_model, tmp_path / "poems-model")
        assert families.family_of_folder(str(model)) == "poems"
        data = write_text_dataset(tmp_path / "verses", n_docs=5)
        cfg = tmp_path / "poems.toml"
        cfg.write_text(dumps_toml({
            "run": {"name": "verse", "family": "poems", "runs_dir": str(tmp_path / "runs")},
            "model": {"source": str(model)},
            "data": {"paths": [str(data)], "block_size": 16, "val_fraction": 0.2},
            "train": {"max_steps": 4, "batch_size": 2, "device": "cpu"},
            "eval": {"every": 2}, "sample": {"every": 4, "max_new_tokens": 4},
            "checkpoint": {"every": 4}}))
        assert main(["train", str(cfg), "--quiet"]) == 0
        run_dir = next((tmp_path / "runs").iterdir())
        ran = load_config(RunFolder(run_dir).config_path)
        assert ran.run.family == "poems"
        assert ran.train.lr == 2e-3 and ran.sample.prompts == ("Roses",)  # its defaults
        records = [json.loads(line) for line in
                   (run_dir / "metrics.jsonl").read_text().splitlines()]
        evals = [r for r in records if r.get("event") == "EvalLogged"]
        assert evals and all("perplexity" in r and r["perplexity"] is None for r in evals)  # spec: no perplexity
        samples = [r for r in records if r.get("event") == "SampleReady"]
        assert samples and samples[-1]["samples"][0]["prompt"] == "Roses"

        capsys.readouterr()
        assert main(["inspect", str(model)]) == 0
        out = capsys.readouterr().out
        assert "GPT2LMHeadModel" in out and "parameters" in out

        assert main(["export", str(run_dir), str(tmp_path / "out")]) == 0
        assert "poems.load(folder)" in capsys.readouterr().out
        assert (tmp_path / "out" / "config.json").is_file()

        assert main(["config", "--family", "poems"]) == 0
        assert "lr = 0.002" in capsys.readouterr().out
    assert "poems" not in families.names()
