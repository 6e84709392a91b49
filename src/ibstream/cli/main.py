"""``ibstream`` entry point: an argparse dispatcher over subcommand modules.

Each subcommand module exposes ``register(subparsers) -> None`` which adds its parser and sets
``func`` (``Callable[[argparse.Namespace], int]``) as a default. To add a subcommand, write
``cli/<name>_cmd.py`` and list it in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS: tuple[str, ...] = ("sim",)
"""Subcommand modules ``ibstream.cli.<name>_cmd`` (others add ``demo``, ``watch`` ...)."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(prog="ibstream", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"ibstream.cli.{name}_cmd")
        except ImportError:  # pragma: no cover - a subcommand whose module is missing
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``ibstream`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    result = func(args)
    return int(result)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
