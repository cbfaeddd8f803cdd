"""The PyTorch trio an installer must hold: torch, torchvision and torchaudio, released together.

The image family needs torchvision (resizing, augmentations) and the audio family torchaudio
(resampling, pitch shifts), so a bundle with torch alone trains text only. The build checks
the trio twice and stops on any gap: in the build venv (make_build_venv.sh, build_linux.sh)
and inside the built bundle (``studio --check-torch``, see entry.py). Stdlib only: it runs
under any Python, before or without torch.

    python packaging/torch_check.py check [--variant cpu]   this Python's trio; exit 1 if not
    python packaging/torch_check.py wheelhouse DIR --local cpu [--requirements FILE]
                                            the pinned trio's wheels in DIR; exit 1 if any lacks
    python packaging/torch_check.py index VARIANT            the default index of a variant
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

TRIO = ("torch", "torchvision", "torchaudio")

# torch release (major.minor) -> the torchvision and torchaudio releases built against it
# (pytorch.org's compatibility matrix). The one table every check reads: add a row when
# requirements.txt's torch pin moves (tests/test_packaging_torch.py holds them together).
COMPANIONS: dict[str, dict[str, str]] = {
    "2.8": {"torchvision": "0.23", "torchaudio": "2.8"},
    "2.9": {"torchvision": "0.24", "torchaudio": "2.9"},
    "2.10": {"torchvision": "0.25", "torchaudio": "2.10"},
    "2.11": {"torchvision": "0.26", "torchaudio": "2.11"},
}

# Where each TORCH_VARIANT's wheels come from: (environment variable, default index URL).
# make_build_venv.sh reads the defaults from here (``index``); the error hints name them.
VARIANT_INDEX: dict[str, tuple[str, str]] = {
    "cpu": ("TORCH_CPU_INDEX", "https://download.pytorch.org/whl/cpu"),
    "cuda": ("TORCH_CUDA_INDEX", "https://download.pytorch.org/whl/cu130"),  # Windows only
    "rocm": ("TORCH_ROCM_INDEX", "https://download.pytorch.org/whl/rocm7.1"),
}


def release(version: str) -> str:
    """'2.11.0+cpu' -> '2.11' (the part that must match across the trio)."""
    return ".".join(version.split("+")[0].split(".")[:2])


def build_label(version: str) -> str:
    """'2.11.0+cpu' -> 'cpu'; '' for PyPI's unlabelled wheels."""
    return version.partition("+")[2]


def problems(versions: dict[str, str | None],
             import_errors: dict[str, str] | None = None) -> list[str]:
    """What is wrong with a trio ({name: version or None when not installed}); [] when it is
    complete and matching."""
    out = [f"{name} is missing" for name in TRIO if not versions.get(name)]
    out += [f"{name} {versions.get(name) or ''} is installed but does not import ({err})"
            for name, err in (import_errors or {}).items()]
    torch = versions.get("torch")
    if not torch:
        return out
    want = COMPANIONS.get(release(torch))
    if want is None:
        known = ", ".join(COMPANIONS)
        return out + [f"torch {torch} is not a release the build knows the companions of "
                      f"(packaging/torch_check.py COMPANIONS has {known}); build the pinned "
                      "torch of requirements.txt, or add its row"]
    for name, minor in want.items():
        have = versions.get(name)
        if have and release(have) != minor:
            out.append(f"{name} {have} does not match torch {torch} (it needs {name} "
                       f"{minor}.x)")
        elif have and build_label(have) != build_label(torch):
            out.append(f"{name} {have} is another build than torch {torch} "
                       f"('+{build_label(have)}' vs '+{build_label(torch)}'): install all "
                       "three from the same index")
    return out


def fix_hint(variant: str | None) -> str:
    """How to get a matching trio into the build, for this TORCH_VARIANT."""
    var, url = VARIANT_INDEX.get(variant or "", ("", ""))
    source = f"{var} (default {url})" if var else "PyPI"
    if variant == "cuda":  # PyPI's Linux wheels are the CUDA build; Windows needs the index
        source = f"PyPI on Linux and {source} on Windows"
    reach = f"make it reachable or set {var} to a mirror" if var else "make PyPI reachable"
    wheels = (", or put requirements.txt's torch, torchvision and torchaudio '+cpu' wheels "
              "in TORCH_WHEELHOUSE" if variant == "cpu" else "")
    return (f"Fix: TORCH_VARIANT={variant or 'default'} installs the three from {source}: "
            f"{reach}{wheels}; or build another TORCH_VARIANT (cpu, cuda, rocm, default). "
            f"Then delete packaging/.venv-build-{variant or '<variant>'}/ and build again.")


def installed() -> tuple[dict[str, str | None], dict[str, str]]:
    """This Python's trio: versions (None: not installed) and import errors. Each is
    imported, not just looked up, so a torchvision built for another torch shows up here."""
    versions: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    for name in TRIO:
        try:
            module = __import__(name)
            versions[name] = str(getattr(module, "__version__", "") or "?")
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the package is there, something it needs is not
                errors[name] = f"ModuleNotFoundError: {exc}"
                versions[name] = _metadata_version(name)
            else:
                versions[name] = None
        except Exception as exc:  # noqa: BLE001 - an ABI mismatch raises anything
            errors[name] = f"{type(exc).__name__}: {exc}"
            versions[name] = _metadata_version(name)
    return versions, errors


def _metadata_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def pins(requirements: Path) -> dict[str, str]:
    """requirements.txt's exact pins of the trio: {'torch': '2.11.0', ...}."""
    out = {}
    for line in requirements.read_text("utf-8").splitlines():
        m = re.match(r"^(torch|torchvision|torchaudio)==([\w.]+)\s*(#.*)?$", line.strip())
        if m:
            out[m.group(1)] = m.group(2)
    return out


class MissingWheels(Exception):
    """The wheelhouse lacks part of the trio: the message names which."""


def wheelhouse_wheels(folder: Path | None, pinned: dict[str, str], label: str) -> list[Path]:
    """The pinned trio's ``+label`` wheels in ``folder`` (the newest file per package);
    MissingWheels when any of the three is absent: the build never falls back to torch alone."""
    if folder is None or not folder.is_dir():
        raise MissingWheels(f"no wheelhouse folder ({folder or 'TORCH_WHEELHOUSE is unset'})"
                            " to take the CPU torch, torchvision and torchaudio from")
    found, missing = [], []
    for name in TRIO:
        version = pinned.get(name)
        hits = sorted(folder.glob(f"{name}-{version}+{label}-*.whl")) if version else []
        if hits:
            found.append(hits[-1])
        else:
            missing.append(f"{name}-{version or '<no pin in requirements.txt>'}+{label}")
    if missing:
        raise MissingWheels(f"the wheelhouse {folder} has no {', '.join(missing)} wheel "
                            f"(it needs all of {', '.join(TRIO)}, matching)")
    return found


def _check(variant: str | None, where: str) -> int:
    versions, errors = installed()
    bad = problems(versions, errors)
    shown = ", ".join(f"{n} {versions.get(n) or '(missing)'}" for n in TRIO)
    if not bad:
        print(f"== {where}: {shown}: a matching set")
        return 0
    print(f"error: {where} does not hold a matching torch, torchvision and torchaudio "
          f"({shown}):", file=sys.stderr)
    for line in bad:
        print(f"  - {line}", file=sys.stderr)
    print("  Without torchvision the image family cannot train, without torchaudio the audio "
          "family.", file=sys.stderr)
    print(f"  {fix_hint(variant)}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="torch_check", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="this Python's torch, torchvision and torchaudio")
    c.add_argument("--variant", help="the TORCH_VARIANT being built (for the advice)")
    c.add_argument("--where", default="the build venv", help="named in the messages")
    w = sub.add_parser("wheelhouse", help="the pinned trio's wheels in a folder")
    w.add_argument("folder", help="the wheelhouse ('' when there is none)")
    w.add_argument("--local", required=True, help="the wheels' build label, e.g. cpu")
    w.add_argument("--requirements", type=Path,
                   default=Path(__file__).resolve().parent.parent / "requirements.txt")
    i = sub.add_parser("index", help="a variant's default index URL")
    i.add_argument("variant", choices=sorted(VARIANT_INDEX))
    args = p.parse_args(argv)
    if args.cmd == "check":
        return _check(args.variant, args.where)
    if args.cmd == "index":
        print(VARIANT_INDEX[args.variant][1])
        return 0
    try:
        print(" ".join(str(x) for x in wheelhouse_wheels(Path(args.folder) if args.folder else None, pins(args.requirements),
                                                          args.local)))
    except MissingWheels as exc:
        print(f"error: {exc}.", file=sys.stderr)
        print(f"  {fix_hint('cpu')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
