"""The system check (studio doctor, Help > System check): facts and the advice on them."""

from __future__ import annotations

from studio.cli.main import main as cli_main
from studio.engine import sysinfo
from studio.engine.sysinfo import DiskSpace, GiB, Gpu, SystemFacts


def facts(**kw) -> SystemFacts:
    base = dict(os="Linux 6 (x86_64)", python="3.11.7", torch_version="2.11.0",
                torch_build="cuda", torch_cuda="13.0", torch_hip=None, accelerator="cpu",
                cpu_threads=8, disks=(DiskSpace("model cache", "/c", 100 * GiB),
                                      DiskSpace("runs folder", "/r", 100 * GiB)))
    base.update(kw)
    return SystemFacts(**base)


def test_gpu_found_is_ok_and_low_free_memory_warns():
    f = facts(accelerator="cuda", gpus=(Gpu(0, "RTX 4090", 24 * GiB, 1 * GiB, "8.9"),),
              driver_version="580.65", driver_cuda="13.0", nvidia_gpu_seen=True)
    found = sysinfo.advise(f)
    assert [x.level for x in found] == ["warning", "ok"]
    assert "RTX 4090" in found[1].title
    assert "1.0 GB of 24.0 GB free" in found[0].title and "batch size" in found[0].advice
    text = sysinfo.format_report(f)
    assert "CUDA GPU" in text and "580.65 (supports CUDA up to 13.0)" in text
    assert "RTX 4090 (1.0 GB free of 24.0 GB, compute 8.9)" in text


def test_old_driver_is_a_problem_that_says_update():
    f = facts(driver_version="535.1", driver_cuda="12.2", nvidia_gpu_seen=True)
    (x,) = sysinfo.advise(f)
    assert x.level == "problem" and sysinfo.overall([x]) == "problem"
    assert "CUDA up to 12.2" in x.title and "needs CUDA 13.0" in x.title
    assert "Update the NVIDIA driver" in x.advice


def test_cpu_only_torch_beside_an_nvidia_gpu_says_install_the_gpu_edition():
    f = facts(torch_build="cpu", torch_cuda=None, driver_version="580.1",
              nvidia_gpu_seen=True)
    (x,) = sysinfo.advise(f)
    assert x.level == "problem" and "CPU-only PyTorch" in x.title
    assert "GPU (CUDA) edition" in x.advice


def test_no_gpu_warns_plainly_and_low_disk_names_the_folder_and_the_variable():
    f = facts(disks=(DiskSpace("model cache", "/small", 3 * GiB),
                     DiskSpace("runs folder", "/r", None)))
    found = sysinfo.advise(f)
    assert [x.level for x in found] == ["warning", "warning"]
    assert "No GPU: training runs on the CPU (8 threads)" in found[0].title
    assert "starters" in found[0].advice and "driver" in found[0].advice
    assert "3.0 GB free for the model cache (/small)" in found[1].title
    assert "HF_HOME" in found[1].advice
    assert "unknown" in sysinfo.format_report(f)  # unmeasurable disk shown, not hidden


def test_probe_on_this_machine_matches_the_engine_device(tmp_path):
    import torch

    f = sysinfo.probe(tmp_path / "runs")
    assert f.accelerator == ("cuda" if torch.cuda.is_available() else f.accelerator)
    assert f.torch_version == torch.__version__
    assert f.cpu_threads >= 1
    assert {d.what for d in f.disks} == {"model cache", "runs folder"}
    assert all(d.free_bytes and d.free_bytes > 0 for d in f.disks)
    assert f.disks[1].path == str(tmp_path / "runs")


def test_studio_doctor_prints_the_report(tmp_path, capsys):
    code = cli_main(["doctor", "--runs-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code in (0, 1)
    for label in ("Accelerator:", "PyTorch:", "Free disk, model cache:", "Free disk, runs "
                  "folder:", str(tmp_path)):
        assert label in out
    assert ("ok " in out) or ("WARNING" in out) or ("PROBLEM" in out)
