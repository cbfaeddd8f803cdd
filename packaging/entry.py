"""Entry point of the bundled app (PyInstaller runs this file).

Double-clicking the app (no arguments) or opening a project file with it (file association:
``FineTuningStudio my.ftstudio.toml``) opens the window; ``--self-test`` runs the install
self-test including the window check; anything else is the ``studio`` command line.
"""

import multiprocessing
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


if __name__ == "__main__":
    multiprocessing.freeze_support()  # torch / DataLoader workers re-enter here
    from studio.launcher import main

    raise SystemExit(main(_args(sys.argv[1:])))
