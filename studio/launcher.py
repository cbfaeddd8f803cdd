"""The ``studio`` entry point: ``studio gui`` opens the window (studio.qt), everything
else is the Qt-free CLI (studio.cli). Kept outside both so neither imports the other."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    rest = [a for a in args if a != "--debug"]
    if rest[:1] == ["gui"] and not ({"-h", "--help"} & set(rest)):
        from studio.qt.app import main as gui_main
        return gui_main(rest[1:])
    from studio.cli.main import main as cli_main
    return cli_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
