"""Entry point of the bundled app (PyInstaller runs this file).

Double-clicking the app (no arguments) or opening a project file with it (file association:
``FineTuningStudio my-project.toml``) opens the window; ``--self-test`` runs the install
self-test including the window check; ``--check-torch`` is the build's check that the bundle
holds a matching torch, torchvision and torchaudio (packaging/torch_check.py); anything else
is the ``studio`` command line.
"""

import multiprocessing
import os
import sys
from pathlib import Path


def _args(argv: list[str]) -> list[str]:
    args = [a for a in argv if not a.startswith("-psn_")]  # old macOS Finder adds -psn_0_123
    if not args:
        return ["gui"]
    if args[0].endswith(".toml") and Path(args[0]).is_file():
        return ["gui", *args]
    if args[0] == "--self-test":
        return ["self-test", "--gui", *args[1:]]
    return args


def _work_folder() -> None:
    """A menu, Finder or Explorer start leaves the working folder at / or inside the app
    (read-only, or wiped on update), and the demo's runs would go there: move to a folder
    of the user's own instead. A start from a terminal keeps the terminal's folder."""
    cwd = Path.cwd().resolve()
    app = Path(sys.executable).resolve().parent
    inside_app = cwd == app or app in cwd.parents
    if cwd == Path(cwd.anchor) or inside_app or not os.access(cwd, os.W_OK):
        docs = Path.home() / "Documents"
        target = (docs if docs.is_dir() else Path.home()) / "Fine-Tuning Studio"
        try:
            target.mkdir(parents=True, exist_ok=True)
            os.chdir(target)
        except OSError:
            pass


if __name__ == "__main__":
    multiprocessing.freeze_support()  # torch / DataLoader workers re-enter here
    for name in ("stdout", "stderr"):  # a windowed app (Windows, macOS) has no console
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))
    args = _args(sys.argv[1:])
    if args[0] == "--check-torch":  # build_*.sh, on the built bundle
        import torch_check  # packaging/torch_check.py, bundled beside this script

        raise SystemExit(torch_check.main(["check", "--where", "the bundle", *args[1:]]))
    if args[0] == "gui":
        _work_folder()
    from studio.launcher import main

    raise SystemExit(main(args))
