"""The install self-test (studio self-test), run from source: the real starter, the real
engine, the shipped demo text."""

from __future__ import annotations

import json
from pathlib import Path

from studio import selftest
from studio.launcher import main as launcher_main


def test_selftest_trains_the_starter_and_writes_a_sample(tmp_path):
    lines: list[str] = []
    res = selftest.run_selftest(steps=2, device="cpu", work_dir=tmp_path, echo=lines.append)
    assert res.ok, "\n".join(lines)
    assert len(res.losses) == 2 and all(0 < x < 20 for x in res.losses)
    index = Path(res.sample_dir) / "index.json"
    assert index.is_file()
    assert "Shall I compare thee" in json.dumps(json.loads(index.read_text("utf-8")))
    assert res.sample_text.startswith("Shall I compare thee")
    assert (Path(res.run_dir) / "config.toml").is_file()
    assert lines[-1].startswith("self-test passed")
    assert any(x.strip().startswith("starter:text") and "GPT2LMHeadModel" in x for x in lines)


def test_selftest_names_missing_resources_and_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STUDIO_RESOURCES", str(tmp_path / "nowhere"))
    code = launcher_main(["self-test", "--steps", "1"])
    out = capsys.readouterr().out
    assert code == 1
    assert "self-test FAILED" in out and "the text starter is missing" in out
    assert str(tmp_path / "nowhere") in out and "reinstall" in out


def test_selftest_rejects_bad_steps(capsys):
    assert launcher_main(["--self-test", "--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err


def _entry():
    import importlib.util

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("bundle_entry", root / "packaging" / "entry.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bundle_entry_maps_double_click_file_open_and_self_test(tmp_path):
    args = _entry()._args
    project = tmp_path / "song.toml"
    project.write_text("[run]\n", encoding="utf-8")
    assert args([]) == ["gui"]
    assert args(["-psn_0_12345"]) == ["gui"]                    # macOS Finder
    assert args([str(project)]) == ["gui", str(project)]        # "Open with"
    assert args(["--self-test"]) == ["self-test", "--gui"]      # make test-package
    assert args(["train", str(project)]) == ["train", str(project)]
    assert args([str(tmp_path / "missing.toml")]) == [str(tmp_path / "missing.toml")]
