"""``ibstream`` entry point: an argparse dispatcher over subcommand modules.

Each subcommand module exposes ``register(subparsers) -> None`` which adds its parser and sets
``func`` (``Callable[[argparse.Namespace], int]``) as a default. To add a subcommand, write
``cli/<name>_cmd.py`` and list it in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ibstream import __version__

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS: tuple[str, ...] = (
    "demo",
    "watch",
    "status",
    "record",
    "replay",
    "plot",
    "sim",
    "serve",
    "order",
    "contract",
    "snapshot",
    "history",
    "positions",
    "bridge",
)
"""Subcommand modules ``ibstream.cli.<name>_cmd``; a missing module is skipped."""

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="ibstream",
        description="Stream the Interactive Brokers Client Portal Web API WebSocket. "
        "Start with: ibstream demo",
    )
    parser.add_argument("--version", action="version", version=f"ibstream {__version__}")
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=None,
        help="log to stderr at this level (default: only the command's own output)",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="-v: info logs, -vv: debug logs"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"ibstream.cli.{name}_cmd")
        except ModuleNotFoundError as exc:  # a subcommand whose module is not there (yet)
            if exc.name != f"ibstream.cli.{name}_cmd":
                raise
            continue
        module.register(sub)
    return parser


def _setup_logging(args: argparse.Namespace) -> None:
    if args.log_level is not None:
        level = getattr(logging, str(args.log_level).upper())
    elif args.verbose:
        level = logging.DEBUG if args.verbose > 1 else logging.INFO
    else:
        # Errors reach the user as one line from the command; library logs stay quiet.
        level = logging.CRITICAL + 1
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )


def main(argv: list[str] | None = None) -> int:
    """Run ``ibstream`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    _setup_logging(args)
    from ibstream.cli.common import EXIT_INTERRUPTED, Interrupted, describe_error

    prog = f"ibstream {args.command}"
    try:
        result = func(args)
    except (KeyboardInterrupt, Interrupted):
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``ibstream replay FILE | head``): not an error.
        _silence_stdout()
        return 0
    except Exception as exc:  # one line, never a traceback, for anything a user can cause
        message, code = describe_error(exc)
        print(f"{prog}: {message}", file=sys.stderr, flush=True)
        logging.getLogger("ibstream.cli").debug("details", exc_info=True)
        return code
    return int(result)


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
