"""What this machine offers for training: the first-run system check.

``probe()`` gathers the facts (which accelerator PyTorch found, the torch build, the
NVIDIA driver and the CUDA version it supports, free GPU memory, free disk where models
and runs go); ``advise(facts)`` turns them into plain advice; ``format_report`` prints
both. The window's Help > System check and ``studio doctor`` show the same report.

The device is picked by ``engine.device.pick_device("auto")``, the same rule a run uses,
so the check says what training will really use. Everything here is Qt-free.
"""

from __future__ import annotations

import ctypes
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from studio.core import units

GiB = units.GB
# Below these, the check warns.
LOW_GPU_FREE = 2 * GiB       # a small hub model (~125M parameters) with AdamW needs ~2 GB
LOW_DISK_FREE = 10 * GiB     # hub models are 0.5-15 GB each; runs keep checkpoints


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    total_bytes: int
    free_bytes: int | None = None
    capability: str = ""      # CUDA compute capability, e.g. "8.9"


@dataclass(frozen=True)
class DiskSpace:
    what: str                 # "model cache" or "runs folder"
    path: str
    free_bytes: int | None    # None: could not be measured


@dataclass(frozen=True)
class Finding:
    level: str                # "ok", "warning" or "problem"
    title: str
    advice: str = ""


@dataclass(frozen=True)
class SystemFacts:
    os: str
    python: str
    torch_version: str
    torch_build: str          # "cuda", "rocm" or "cpu": what the installed wheel can use
    torch_cuda: str | None    # CUDA version torch was built for (torch.version.cuda)
    torch_hip: str | None     # ROCm/HIP version (torch.version.hip)
    accelerator: str          # "cuda", "mps" or "cpu": what a run with device=auto uses
    gpus: tuple[Gpu, ...] = ()
    driver_version: str | None = None        # NVIDIA driver, e.g. "580.65.06"
    driver_cuda: str | None = None           # newest CUDA the driver supports, e.g. "13.0"
    nvidia_gpu_seen: bool = False            # a driver answered, even if torch can't use it
    mps_built: bool = False
    cpu_threads: int = 0
    disks: tuple[DiskSpace, ...] = ()
    notes: tuple[str, ...] = field(default=(), hash=False)


# -- probing ------------------------------------------------------------------------------

def _nvml_driver() -> tuple[str | None, str | None]:
    """(driver version, newest CUDA it supports) from NVIDIA's management library, which
    ships with the driver (no CUDA toolkit needed); (None, None) when there is none."""
    names = ["nvml.dll"] if sys.platform == "win32" else ["libnvidia-ml.so.1",
                                                           "libnvidia-ml.so"]
    lib = None
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if lib is None:
        return None, None
    try:
        if lib.nvmlInit_v2() != 0:
            return None, None
        try:
            buf = ctypes.create_string_buffer(96)
            driver = buf.value.decode() if lib.nvmlSystemGetDriverVersion(buf, 96) == 0 else None
            ver = ctypes.c_int(0)
            cuda = None
            if lib.nvmlSystemGetCudaDriverVersion_v2(ctypes.byref(ver)) == 0 and ver.value:
                cuda = f"{ver.value // 1000}.{(ver.value % 1000) // 10}"
            return driver, cuda
        finally:
            lib.nvmlShutdown()
    except (AttributeError, OSError):
        return None, None


def _nvidia_smi_driver() -> tuple[str | None, str | None]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None, None
    try:
        out = subprocess.run([exe, "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None, None
    lines = [x.strip() for x in out.stdout.splitlines() if x.strip()]
    return (lines[0] if out.returncode == 0 and lines else None), None


def _free_bytes(path: Path) -> int | None:
    """Free space on the disk that holds ``path`` (its nearest existing parent)."""
    p = path.expanduser().absolute()
    while not p.exists() and p.parent != p:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None


def model_cache_dir() -> Path:
    """Where hub models are downloaded: the Hugging Face cache (HF_HOME / HF_HUB_CACHE)."""
    try:
        from huggingface_hub import constants
        return Path(constants.HF_HUB_CACHE)
    except ImportError:
        home = os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface"
        return Path(home) / "hub"


def probe(runs_dir: str | os.PathLike | None = None) -> SystemFacts:
    """Look at this machine. Takes a second or two (imports torch; on a GPU machine it
    creates a CUDA context to read free memory)."""
    import torch

    from studio.core.paths import default_runs_dir
    from studio.engine.device import pick_device

    notes: list[str] = []
    hip = getattr(torch.version, "hip", None)
    build = "rocm" if hip else ("cuda" if torch.version.cuda else "cpu")
    try:
        accelerator = pick_device("auto").type
    except Exception as exc:  # noqa: BLE001 - a broken driver must not break the check
        accelerator = "cpu"
        notes.append(f"picking the device failed: {type(exc).__name__}: {exc}")
    gpus: list[Gpu] = []
    if accelerator == "cuda":
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            free = None
            try:
                free, _total = torch.cuda.mem_get_info(i)
            except RuntimeError as exc:
                notes.append(f"GPU {i}: free memory unreadable ({exc})")
            gpus.append(Gpu(i, props.name, int(props.total_memory), free,
                            f"{props.major}.{props.minor}"))
    elif accelerator == "mps":
        try:
            total = int(torch.mps.recommended_max_memory())
        except (AttributeError, RuntimeError):
            total = 0
        gpus.append(Gpu(0, f"Apple GPU ({platform.machine()})", total, None))
    driver, driver_cuda = _nvml_driver()
    if driver is None:
        driver, driver_cuda = _nvidia_smi_driver()
    runs = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    cache = model_cache_dir()
    return SystemFacts(
        os=f"{platform.system()} {platform.release()} ({platform.machine()})",
        python=platform.python_version(),
        torch_version=str(torch.__version__),
        torch_build=build, torch_cuda=torch.version.cuda, torch_hip=hip,
        accelerator=accelerator, gpus=tuple(gpus), driver_version=driver,
        driver_cuda=driver_cuda, nvidia_gpu_seen=driver is not None,
        mps_built=bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_built()),
        cpu_threads=torch.get_num_threads(),
        disks=(DiskSpace("model cache", str(cache), _free_bytes(cache)),
               DiskSpace("runs folder", str(runs), _free_bytes(runs))),
        notes=tuple(notes))


# -- advice -------------------------------------------------------------------------------

def _version_tuple(v: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in (v or "").split(".")[:2])
    except ValueError:
        return ()


def advise(f: SystemFacts) -> list[Finding]:
    """Plain advice for what is found, worst first."""
    out: list[Finding] = []
    if f.accelerator == "cuda":
        what = "ROCm" if f.torch_build == "rocm" else "CUDA"
        names = ", ".join(g.name for g in f.gpus) or "a GPU"
        out.append(Finding("ok", f"Training runs on the GPU ({what}): {names}."))
        for g in f.gpus:
            if g.free_bytes is not None and g.free_bytes < LOW_GPU_FREE:
                out.append(Finding(
                    "warning", f"GPU {g.index} has only {units.gigabytes(g.free_bytes)} of "
                               f"{units.gigabytes(g.total_bytes)} free.",
                    "Close other programs that use the GPU (games, other trainings, "
                    "browsers with many tabs), or train with a smaller batch size "
                    "(Settings > batch size) or gradient checkpointing."))
    elif f.accelerator == "mps":
        out.append(Finding("ok", "Training runs on the Apple GPU (Metal, MPS)."))
    elif f.nvidia_gpu_seen and f.torch_build == "cpu":
        out.append(Finding(
            "problem", f"An NVIDIA GPU is present (driver {f.driver_version}), but this "
                       "install has the CPU-only PyTorch, so training runs on the CPU.",
            "Install the GPU (CUDA) edition of Fine-Tuning Studio, or in a Python install: "
            "pip install torch (PyPI's Linux and Windows wheels are CUDA builds)."))
    elif f.nvidia_gpu_seen and f.torch_build == "cuda":
        need, have = _version_tuple(f.torch_cuda), _version_tuple(f.driver_cuda)
        if need and have and have < need:
            out.append(Finding(
                "problem", f"The NVIDIA driver {f.driver_version} supports CUDA up to "
                           f"{f.driver_cuda}, but this PyTorch needs CUDA {f.torch_cuda}.",
                "Update the NVIDIA driver (nvidia.com/drivers, or your distribution's "
                "driver manager), then restart. Until then training runs on the CPU."))
        else:
            out.append(Finding(
                "problem", f"An NVIDIA driver ({f.driver_version}) answers, but PyTorch "
                           "cannot use the GPU.",
                "Restart the computer after a driver update; check that the GPU is not "
                "reserved by another program or hidden by CUDA_VISIBLE_DEVICES."))
    else:
        if sys.platform == "darwin" and not f.mps_built:
            tip = "This PyTorch has no Metal (MPS) support: use the macOS installer."
        elif sys.platform == "darwin":
            tip = "Apple's GPU needs macOS 12.3 or newer on an Apple-silicon Mac."
        elif f.torch_build == "cuda":
            tip = ("No NVIDIA GPU or driver was found. With an NVIDIA card, install its "
                   "driver (nvidia.com/drivers) and restart.")
        elif f.torch_build == "rocm":
            tip = ("This is the ROCm (AMD) edition but no supported AMD GPU answered: check "
                   "the ROCm driver (amdgpu) and that your user is in the 'render' and "
                   "'video' groups.")
        else:
            tip = ("This install has the CPU-only PyTorch. With an NVIDIA GPU, install the "
                   "GPU (CUDA) edition.")
        out.append(Finding(
            "warning", f"No GPU: training runs on the CPU ({f.cpu_threads} threads).",
            "Fine for the built-in starters (a few minutes); models from the hub with 100 M "
            "parameters or more train slowly on a CPU (hours). " + tip))
    for d in f.disks:
        if d.free_bytes is not None and d.free_bytes < LOW_DISK_FREE:
            env = "HF_HOME" if d.what == "model cache" else "STUDIO_RUNS_DIR"
            out.append(Finding(
                "warning", f"Only {units.gigabytes(d.free_bytes)} free for the {d.what} ({d.path}).",
                f"Models from the hub take 0.5-15 GB each and runs keep checkpoints: free "
                f"some space, or point {env} at a bigger disk."))
    rank = {"problem": 0, "warning": 1, "ok": 2}
    return sorted(out, key=lambda x: rank[x.level])


def overall(findings: list[Finding]) -> str:
    """"problem", "warning" or "ok": the worst level found."""
    levels = {x.level for x in findings}
    return "problem" if "problem" in levels else "warning" if "warning" in levels else "ok"


def fact_rows(f: SystemFacts) -> list[tuple[str, str]]:
    """(label, value) pairs: what the dialog's table and ``studio doctor`` show."""
    acc = {"cuda": "ROCm GPU" if f.torch_build == "rocm" else "CUDA GPU",
           "mps": "Apple GPU (MPS)", "cpu": "none (CPU)"}[f.accelerator]
    build = {"cuda": f"CUDA {f.torch_cuda}", "rocm": f"ROCm {f.torch_hip}",
             "cpu": "CPU-only"}[f.torch_build]
    rows = [("Accelerator", acc), ("PyTorch", f"{f.torch_version} ({build} build)")]
    for g in f.gpus:
        mem = f"{units.gigabytes(g.free_bytes)} free of {units.gigabytes(g.total_bytes)}" if g.free_bytes is not None \
            else f"{units.gigabytes(g.total_bytes)}" if g.total_bytes else "shared with the system"
        cap = f", compute {g.capability}" if g.capability else ""
        rows.append((f"GPU {g.index}", f"{g.name} ({mem}{cap})"))
    drv = "not found" if f.driver_version is None else f.driver_version + (
        f" (supports CUDA up to {f.driver_cuda})" if f.driver_cuda else "")
    if sys.platform != "darwin":
        rows.append(("NVIDIA driver", drv))
    for d in f.disks:
        rows.append((f"Free disk, {d.what}", f"{units.gigabytes(d.free_bytes)}  ({d.path})"))
    rows += [("CPU threads", str(f.cpu_threads)), ("System", f.os), ("Python", f.python)]
    return rows


def format_report(f: SystemFacts, findings: list[Finding] | None = None) -> str:
    findings = advise(f) if findings is None else findings
    width = max(len(k) for k, _ in fact_rows(f))
    lines = [f"{k + ':':<{width + 1}} {v}" for k, v in fact_rows(f)]
    lines.append("")
    mark = {"ok": "ok     ", "warning": "WARNING", "problem": "PROBLEM"}
    for x in findings:
        lines.append(f"{mark[x.level]} {x.title}")
        if x.advice:
            lines.append(f"        {x.advice}")
    for n in f.notes:
        lines.append(f"note:   {n}")
    return "\n".join(lines)
