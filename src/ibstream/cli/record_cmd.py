"""``ibstream record FILE SPEC...``: record the raw WebSocket frames, both directions, with their
receive timestamps: JSON lines (gzip-compressed when FILE ends in .gz) or, with
``--format parquet`` or a FILE ending in .parquet, Parquet (zstd; ``--roll-size``/``--roll-time``
start a new file FILE-00000.parquet, FILE-00001.parquet, ... at that size or age).

The file is what ``ibstream replay FILE`` decodes, ``ibstream plot FILE`` draws and
``ibstream sim --replay FILE`` serves to any client (plain or .gz). The recorder is attached
before the client starts, so the opening burst (system, act, sts) is in the file. Ctrl-C,
SIGTERM, SIGHUP (a closed terminal) or ``--duration`` end the recording and close the file
(exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

from ibstream.cli.common import (
    EXIT_USAGE,
    CliError,
    add_gateway_args,
    help_text,
    stop_on_signals,
    unless_stopped,
)
from ibstream.cli.specs import GRAMMAR, build_specs, parse_spec
from ibstream.exceptions import InvalidArgument

if TYPE_CHECKING:
    from ibstream.aio.recorder import FrameRecorder, ParquetFrameRecorder

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``record`` subparser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "record",
        help="record raw frames to a JSON-lines file (for replay, plot and sim --replay)",
        description=help_text(__doc__),
        epilog=GRAMMAR
        + "\n\nExamples:\n  ibstream record aapl.jsonl md:AAPL orders pnl --duration 60\n"
        "  ibstream record day.jsonl.gz md:265598:31,84,86 mh:265598:1d:5min --sim",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE", help="output file (.gz: compressed)")
    p.add_argument("specs", nargs="+", metavar="SPEC", help="streams to record (grammar below)")
    add_gateway_args(p, sim=True)
    p.add_argument(
        "--duration", type=float, metavar="S", help="stop after S seconds (default: until Ctrl-C)"
    )
    p.add_argument(
        "--format",
        choices=("jsonl", "parquet"),
        default=None,
        help="file format (default: parquet for a .parquet FILE, else JSON lines)",
    )
    p.add_argument(
        "--roll-size", type=float, metavar="MB", help="parquet: a new file every MB of frames"
    )
    p.add_argument(
        "--roll-time", type=float, metavar="S", help="parquet: a new file every S seconds"
    )
    p.add_argument(
        "--no-outgoing",
        action="store_true",
        help="leave out our own messages (the replay sync points)",
    )
    p.set_defaults(func=run)


def _progress(rec: FrameRecorder | ParquetFrameRecorder, started: float) -> str:
    elapsed = max(time.monotonic() - started, 1e-9)
    return (
        f"recording {rec.path}: {rec.frames} frames, {_size(rec.bytes)}, "
        f"{rec.frames / elapsed:,.1f} frames/s, {elapsed:.1f} s"
    )


def _size(n: int) -> str:
    for unit, div in (("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


async def _record(args: argparse.Namespace) -> int:
    from ibstream.aio.recorder import FrameRecorder, ParquetFrameRecorder
    from ibstream.cli.connect import check_client, connected_client, resolve_instruments

    if args.duration is not None and args.duration < 0:
        raise CliError("--duration must be >= 0", EXIT_USAGE)
    fmt = args.format or ("parquet" if str(args.file).endswith(".parquet") else "jsonl")
    rolling = args.roll_size is not None or args.roll_time is not None
    if rolling and fmt != "parquet":
        raise CliError("--roll-size/--roll-time need --format parquet", EXIT_USAGE)
    for flag, value in (("--roll-size", args.roll_size), ("--roll-time", args.roll_time)):
        if value is not None and not value > 0:
            raise CliError(f"{flag} must be > 0", EXIT_USAGE)
    parsed = [parse_spec(text) for text in args.specs]
    stop = asyncio.Event()
    stop_on_signals(stop)
    # a closed terminal or dropped ssh session must not kill the recording mid-write (a .gz
    # without its end marker, a Parquet file without its footer: unreadable)
    with contextlib.suppress(AttributeError, NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, stop.set)
    async with connected_client(args, stop) as client:
        specs = await unless_stopped(
            stop, build_specs(parsed, lambda names: resolve_instruments(client.rest, names))
        )
        recorder: FrameRecorder | ParquetFrameRecorder
        try:
            if fmt == "parquet":
                recorder = ParquetFrameRecorder(
                    args.file,
                    include_outgoing=not args.no_outgoing,
                    roll_bytes=None if args.roll_size is None else int(args.roll_size * (1 << 20)),
                    roll_seconds=args.roll_time,
                )
            else:
                recorder = FrameRecorder(args.file, include_outgoing=not args.no_outgoing)
        except InvalidArgument as exc:
            raise CliError(
                f"cannot write {args.file!r}: {exc.__cause__ or exc}", EXIT_USAGE
            ) from exc
        tty = sys.stderr.isatty()
        started = time.monotonic()
        try:
            client.on_frame(recorder)  # before start(): the opening burst is recorded too
            await unless_stopped(stop, client.start())
            for spec in specs:
                client.subscribe(spec)
            loop = asyncio.get_running_loop()
            deadline = None if args.duration is None else loop.time() + args.duration
            last_line = loop.time()
            while not stop.is_set():
                left = 0.5 if deadline is None else min(0.5, deadline - loop.time())
                if left <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), left)
                check_client(client)
                if fmt == "jsonl":  # Parquet writes a row group per batch and on close
                    recorder.flush()
                if tty:
                    print("\r" + _progress(recorder, started), end="", file=sys.stderr, flush=True)
                elif loop.time() - last_line >= 5.0:
                    last_line = loop.time()
                    print(_progress(recorder, started), file=sys.stderr, flush=True)
        finally:
            try:
                await client.stop()
            finally:  # a second Ctrl-C while stopping: the file still gets its rows and footer
                recorder.close()
        if tty:
            print(file=sys.stderr)
        elapsed = time.monotonic() - started
        print(
            f"recorded {recorder.frames} frames ({_size(recorder.bytes)}) in {elapsed:.1f} s "
            f"to {recorder.path}",
            file=sys.stderr,
            flush=True,
        )
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry of ``ibstream record``."""
    return asyncio.run(_record(args))
