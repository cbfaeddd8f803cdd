"""The install self-test (studio self-test), run from source: every family's real starter,
the real engine, the shipped demo projects."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from studio import selftest
from studio.config.families import names as family_names
from studio.launcher import main as launcher_main


def test_selftest_trains_every_family_and_writes_a_sample(tmp_path):
    lines: list[str] = []
    res = selftest.run_selftest(device="cpu", work_dir=tmp_path, echo=lines.append)
    assert res.ok, "\n".join(lines)
    assert tuple(res.families) == family_names()  # every family, from the registry
    for family, fam in res.families.items():
        assert fam.ok and len(fam.losses) == 2, family
        assert all(0 < x < 20 for x in fam.losses), (family, fam.losses)
        assert (Path(fam.sample_dir) / "index.json").is_file(), family
        assert (Path(fam.run_dir) / "config.toml").is_file(), family
        assert any(x.strip().startswith(family) and "2 steps on cpu" in x for x in lines)
    text = res.families["text"]
    assert text.sample.startswith("Shall I compare thee")
    index = json.loads((Path(text.sample_dir) / "index.json").read_text("utf-8"))
    assert "Shall I compare thee" in json.dumps(index)
    assert res.families["image"].sample.endswith(".png")
    assert res.families["audio"].sample.endswith(".wav")
    assert all(Path(res.families[f].sample).is_file() for f in ("image", "audio"))
    assert lines[-1].startswith("self-test passed")


def test_selftest_names_the_family_and_the_missing_package(tmp_path, monkeypatch, capsys):
    # a bundle built without torchaudio (the torch-only fallback this replaced)
    monkeypatch.setitem(sys.modules, "torchaudio", None)
    code = launcher_main(["self-test", "--device", "cpu", "--family", "audio",
                          "--keep", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "audio   FAILED: torchaudio is missing from this install" in out
    assert "self-test FAILED: audio: torchaudio is missing from this install" in out
    assert "reinstall" in out


def test_selftest_names_missing_resources_and_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STUDIO_RESOURCES", str(tmp_path / "nowhere"))
    code = launcher_main(["self-test", "--steps", "1"])
    out = capsys.readouterr().out
    assert code == 1
    assert "self-test FAILED" in out
    for family in family_names():  # each family says what it lacks; none stops the others
        assert f"the {family} starter is missing" in out
    assert str(tmp_path / "nowhere") in out and "reinstall" in out


def test_every_family_has_a_shipped_demo_project():
    assert set(selftest.demo_projects()) >= set(family_names())


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
