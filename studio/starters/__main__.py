"""``python -m studio.starters build <family> ...`` — build a shipped starter model."""

from __future__ import annotations

import argparse
import importlib
import sys

from studio.core.errors import StudioError
from studio.starters import BUILDERS


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m studio.starters",
        description="Build the offline starter models shipped in resources/starters/.")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="pre-train a starter model and save it")
    families = build.add_subparsers(dest="family", required=True, metavar="FAMILY")
    for name, module_name in BUILDERS.items():
        module = importlib.import_module(module_name)
        sub = families.add_parser(name, help=module.__doc__.strip().splitlines()[0],
                                  formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = make_parser().parse_args(argv)
    args.argv = argv  # recorded in the built starter so it can be rebuilt the same way
    try:
        return args.handler(args)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
