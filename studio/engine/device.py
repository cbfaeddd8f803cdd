"""Device and precision choice."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch

from studio.core.errors import ConfigError


def pick_device(name: str) -> torch.device:
    """auto: CUDA, then Apple MPS, then CPU. A forced device that is missing is a user error."""
    has_mps = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if has_mps else torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device", "CUDA was asked for but no CUDA GPU is visible",
                          'use device = "auto" or "cpu" (or check the NVIDIA driver)')
    if name == "mps" and not has_mps:
        raise ConfigError("train.device", "Apple MPS was asked for but is not available",
                          'use device = "auto" or "cpu"')
    return torch.device(name)


@dataclass
class Precision:
    name: str                     # "fp32", "bf16" or "fp16"
    autocast_dtype: torch.dtype | None
    use_scaler: bool

    def autocast(self, device: torch.device):
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.autocast_dtype)


def pick_precision(name: str, device: torch.device) -> Precision:
    """auto: bf16 autocast on CUDA where supported, else fp16 + grad scaler; fp32 elsewhere."""
    if name == "auto":
        if device.type == "cuda":
            name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            name = "fp32"
    if name == "fp32":
        return Precision("fp32", None, False)
    if name == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError("train.precision", "this GPU does not support bf16",
                              'use precision = "fp16" or "auto"')
        if device.type == "mps":
            raise ConfigError("train.precision", "bf16 autocast is not supported on MPS here",
                              'use precision = "fp32" or "auto"')
        return Precision("bf16", torch.bfloat16, False)
    if name == "fp16":
        if device.type != "cuda":
            raise ConfigError("train.precision", f"fp16 training needs a CUDA GPU, not {device.type}",
                              'use precision = "auto" (fp32 on the CPU)')
        return Precision("fp16", torch.float16, True)
    raise ConfigError("train.precision", f"unknown precision {name!r}")


def gpu_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return 0


_TUNED = {"done": False}


def tune_cpu_allocator() -> None:
    """On Linux, keep freed memory in the process instead of returning it to the system
    after every step: a CPU training step otherwise page-faults its activations back in
    each time (measured by bench/image_throughput.py: ~20,000 faults per step, about 1.5x
    slower). The cost: the process keeps its peak memory until it exits."""
    import sys

    if _TUNED["done"] or not sys.platform.startswith("linux"):
        return
    _TUNED["done"] = True
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-1, 1 << 30)   # M_TRIM_THRESHOLD: don't trim the heap after frees
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: big blocks from the reusable heap
    except (OSError, AttributeError):
        pass
