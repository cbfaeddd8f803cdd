"""The build's torch check (packaging/torch_check.py), without building a bundle: an
installer must hold torch, torchvision and torchaudio of one release, or the build stops."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _torch_check():
    spec = importlib.util.spec_from_file_location("torch_check",
                                                  ROOT / "packaging" / "torch_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


tc = _torch_check()


def trio(torch="2.11.0+cpu", vision="0.26.0+cpu", audio="2.11.0+cpu"):
    return {"torch": torch, "torchvision": vision, "torchaudio": audio}


@pytest.mark.parametrize("versions", [
    trio(),                                              # the CPU index
    trio("2.11.0", "0.26.0", "2.11.0"),                  # PyPI macOS (no build label)
    trio("2.11.1+cu130", "0.26.1+cu130", "2.11.1+cu130"),  # PyPI Linux, a patch release
])
def test_a_matching_trio_passes(versions):
    assert tc.problems(versions) == []


def test_the_torch_only_fallback_is_refused_naming_what_is_missing():
    # what the old wheelhouse fallback built: a newer CPU torch and nothing to match it
    bad = tc.problems({"torch": "2.13.0+cpu", "torchvision": None, "torchaudio": None})
    assert "torchvision is missing" in bad and "torchaudio is missing" in bad
    assert any("torch 2.13.0+cpu is not a release" in p for p in bad)


def test_companions_of_another_release_are_refused():
    bad = tc.problems(trio(vision="0.25.0+cpu", audio="2.10.0+cpu"))
    assert any("torchvision 0.25.0+cpu does not match torch 2.11.0+cpu" in p
               and "torchvision 0.26.x" in p for p in bad)
    assert any("torchaudio 2.10.0+cpu does not match" in p and "2.11.x" in p for p in bad)


def test_a_companion_from_another_index_is_refused():
    bad = tc.problems(trio(audio="2.11.0"))  # PyPI's torchaudio beside a CPU-index torch
    assert len(bad) == 1 and "torchaudio 2.11.0 is another build" in bad[0]


def test_an_installed_companion_that_does_not_import_is_refused():
    bad = tc.problems(trio(), {"torchvision": "RuntimeError: operator torchvision::nms "
                                              "does not exist"})
    assert bad == ["torchvision 0.26.0+cpu is installed but does not import (RuntimeError: "
                   "operator torchvision::nms does not exist)"]


def test_requirements_pins_are_a_row_of_the_table():
    pins = tc.pins(ROOT / "requirements.txt")
    assert set(pins) == set(tc.TRIO)
    assert tc.problems(pins) == [], "requirements.txt's pins disagree with COMPANIONS"


def test_the_hint_names_the_variant_index_and_the_venv():
    hint = tc.fix_hint("cpu")
    assert "TORCH_CPU_INDEX" in hint and "https://download.pytorch.org/whl/cpu" in hint
    assert "TORCH_WHEELHOUSE" in hint and "packaging/.venv-build-cpu/" in hint
    assert "PyPI on Linux" in tc.fix_hint("cuda") and "TORCH_CUDA_INDEX" in tc.fix_hint("cuda")
    assert "PyPI" in tc.fix_hint("default")


def _wheel(folder: Path, name: str, version: str) -> Path:
    path = folder / f"{name}-{version}-cp311-cp311-manylinux_2_28_x86_64.whl"
    path.write_bytes(b"")
    return path


def test_the_wheelhouse_fallback_takes_all_three_or_refuses(tmp_path):
    pins = {"torch": "2.11.0", "torchvision": "0.26.0", "torchaudio": "2.11.0"}
    _wheel(tmp_path, "torch", "2.11.0+cpu")
    _wheel(tmp_path, "torch", "2.13.0+cpu")  # the newest torch alone is no longer taken
    with pytest.raises(tc.MissingWheels) as err:
        tc.wheelhouse_wheels(tmp_path, pins, "cpu")
    assert "torchvision-0.26.0+cpu, torchaudio-2.11.0+cpu" in str(err.value)
    assert "torch-2.11.0+cpu" not in str(err.value)
    vision = _wheel(tmp_path, "torchvision", "0.26.0+cpu")
    audio = _wheel(tmp_path, "torchaudio", "2.11.0+cpu")
    found = tc.wheelhouse_wheels(tmp_path, pins, "cpu")
    assert [p.name for p in found] == [
        "torch-2.11.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl", vision.name, audio.name]
    with pytest.raises(tc.MissingWheels, match="TORCH_WHEELHOUSE is unset"):
        tc.wheelhouse_wheels(None, pins, "cpu")


def test_the_wheelhouse_command_fails_loudly(tmp_path, capsys):
    _wheel(tmp_path, "torch", "2.11.0+cpu")
    assert tc.main(["wheelhouse", str(tmp_path), "--local", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "has no torchvision-0.26.0+cpu, torchaudio-2.11.0+cpu wheel" in err
    assert "TORCH_CPU_INDEX" in err


def test_check_names_a_missing_torchaudio(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torchaudio", None)
    assert tc.main(["check", "--variant", "cpu", "--where", "the bundle"]) == 1
    err = capsys.readouterr().err
    assert "error: the bundle does not hold a matching torch, torchvision and torchaudio" in err
    assert "torchaudio is missing" in err and "the audio family" in err
    assert "TORCH_CPU_INDEX" in err


def test_the_bundle_entry_runs_the_check_on_this_install():
    # what build_linux.sh runs on the frozen bundle, here on the dev venv (a matching trio)
    out = subprocess.run([sys.executable, str(ROOT / "packaging" / "entry.py"),
                          "--check-torch", "--variant", "cpu"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "== the bundle: torch " in out.stdout and "a matching set" in out.stdout
