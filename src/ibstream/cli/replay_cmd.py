"""``ibstream replay FILE``: decode a recording offline into events.

Each received frame of the recording goes through the same decoder the client uses. Output: an
aligned table (time, event type, stream, summary) or, with ``--json``, one JSON object per line
(the encoding the sinks and the service use) with the receive time as ``"t"``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ibstream.aio.recorder import is_parquet_recording, read_recording
from ibstream.cli.common import EXIT_FAILURE, EXIT_USAGE, CliError, help_text
from ibstream.exceptions import InvalidArgument
from ibstream.protocol import lifecycle
from ibstream.protocol.decoding import decode
from ibstream.protocol.events import Event, MarketData
from ibstream.protocol.fields import field_name
from ibstream.protocol.once import CountOnce
from ibstream.protocol.registry import parse_topic
from ibstream.protocol.specs import Topic
from ibstream.serialize import event_to_dict, event_to_json, jsonable

__all__ = ["ReplayedEvent", "register", "replay_events", "run"]


def register(subparsers: Any) -> None:
    """Add the ``replay`` subparser."""
    topics = ", ".join(t.value for t in Topic)
    p: argparse.ArgumentParser = subparsers.add_parser(
        "replay",
        help="decode a recording offline into events (table or JSON lines)",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "file",
        metavar="FILE",
        help="a recording made by 'ibstream record' (JSON lines, .gz, .parquet or a directory)",
    )
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    p.add_argument(
        "--topic",
        action="append",
        metavar="T",
        help=f"only events of this stream topic ({topics}, or orders/trades/pnl/...) or of "
        "this event type (MarketData, Heartbeat, ...); repeatable",
    )
    p.add_argument("--conid", type=int, action="append", metavar="C", help="only this conid")
    p.add_argument("--raw", action="store_true", help="include the raw frame in --json output")
    p.add_argument(
        "--ids",
        action="store_true",
        help="--json: key market-data values by field id (31) instead of name (last)",
    )
    p.set_defaults(func=run)


@dataclass(frozen=True, slots=True)
class ReplayedEvent:
    """One decoded event and the receive time of its frame."""

    t: float
    event: Event


def replay_events(path: str, seen: dict[str, int] | None = None) -> Iterator[ReplayedEvent]:
    """Every event of the received frames of a recording, in order. ``seen``, when given,
    counts the frames read (``"frames"``) and the events per stream topic or event type."""
    once = CountOnce()  # the live protocol's rules: one opening snapshot, one Trade per fill
    for frame in read_recording(path):
        if seen is not None:
            seen["frames"] = seen.get("frames", 0) + 1
        if frame.direction != "in":
            once.sent(frame.text)
            continue
        for event in once.received(decode(frame.data)):
            if seen is not None:
                name = _kind(event)
                seen[name] = seen.get(name, 0) + 1
            yield ReplayedEvent(frame.t, event)


def _kind(event: Event) -> str:
    key = getattr(event, "key", None)
    return key.topic.value if key is not None else type(event).__name__


def _event_type_names() -> set[str]:
    """The names ``--topic`` accepts as event types (every decoded and lifecycle event)."""
    names = {cls.__name__.lower() for cls in typing.get_args(Event)}
    names.update(n.lower() for n in lifecycle.__all__ if n[:1].isupper())
    return names


class _Filter:
    def __init__(self, topics: list[str] | None, conids: list[int] | None) -> None:
        self.topics: set[str] = set()
        self.types: set[str] = set()
        types = _event_type_names()
        for raw in topics or ():
            try:
                self.topics.add(parse_topic(raw).value)
                continue
            except InvalidArgument:  # not a topic name: an event type?
                pass
            if raw.lower() in types:
                self.types.add(raw.lower())
            else:
                raise CliError(
                    f"--topic: unknown topic or event type {raw!r}; topics: "
                    f"{', '.join(t.value for t in Topic)} (or orders, trades, pnl, summary, "
                    "ledger, ladder, history); or an event type such as MarketData, OrderUpdate, "
                    "Trade, Heartbeat",
                    EXIT_USAGE,
                )
        self.conids = set(conids or ())

    def __call__(self, event: Event) -> bool:
        if self.topics or self.types:
            key = getattr(event, "key", None)
            topic = key.topic.value if key is not None else None
            if topic not in self.topics and type(event).__name__.lower() not in self.types:
                return False
        return not self.conids or getattr(event, "conid", None) in self.conids


def _summary(event: Event) -> str:
    if isinstance(event, MarketData):
        parts = []
        for fid, value in event.values.items():
            parts.append(f"{field_name(fid)}={jsonable(value)}")
        flags = " closed" if event.closed else " halted" if event.halted else ""
        return " ".join(parts) + flags
    data = event_to_dict(event)
    data.pop("type", None)
    data.pop("key", None)
    parts = []
    for k, v in data.items():
        if v is None or v == {} or v == []:
            continue
        text = orjson.dumps(v).decode() if isinstance(v, dict | list) else str(v)
        parts.append(f"{k}={text}")
    return " ".join(parts)


def _clock(t: float) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%H:%M:%S.%f")[:-3]


def _replay(args: argparse.Namespace) -> int:
    keep = _Filter(args.topic, args.conid)
    parquet = is_parquet_recording(Path(args.file))
    if not parquet and not os.path.isfile(args.file):  # Parquet: read_recording finds sets
        what = "is not a file" if os.path.exists(args.file) else "no such file"
        raise CliError(f"{args.file}: {what}", EXIT_USAGE)
    out = sys.stdout
    count = 0
    seen: dict[str, int] = {}
    try:
        events = replay_events(args.file, seen)
        # read up to the first event before printing anything: a corrupt file is one error line
        first = next(events, None)
        events = itertools.chain([first] if first is not None else [], events)
        if args.json:
            write = out.buffer.write if hasattr(out, "buffer") else None
            for item in events:
                if not keep(item.event):
                    continue
                body = event_to_json(item.event, include_raw=args.raw, field_names=not args.ids)
                data = b'{"t":' + repr(item.t).encode() + b"," + body[1:] + b"\n"
                if write is not None:
                    write(data)
                else:  # pragma: no cover - a text-only stdout
                    out.write(data.decode())
                count += 1
        else:
            header = False
            for item in events:
                if not keep(item.event):
                    continue
                if not header:
                    print(f"{'time':<12}  {'event':<24} {'stream':<16} details", file=out)
                    header = True
                key = getattr(item.event, "key", None)
                line = (
                    f"{_clock(item.t):<12}  {type(item.event).__name__:<24} "
                    f"{str(key) if key is not None else '':<16} {_summary(item.event)}"
                )
                print(line[:240], file=out)
                count += 1
        out.flush()
    except (CliError, BrokenPipeError):
        raise
    except ValueError as exc:  # InvalidArgument from read_recording: names the bad line
        raise CliError(f"{args.file}: {_strip_argument(exc)}", EXIT_USAGE) from exc
    except (OSError, EOFError) as exc:  # e.g. a truncated or corrupt .gz
        raise CliError(f"{args.file}: unreadable recording ({exc})", EXIT_USAGE) from exc
    if not seen.get("frames"):
        raise CliError(f"{args.file}: empty recording (no frames)", EXIT_USAGE)
    if count == 0:
        contents = ", ".join(f"{k} ({n})" for k, n in sorted(seen.items()) if k != "frames")
        raise CliError(
            f"no matching events in {args.file}; it holds: {contents or 'no received frames'}",
            EXIT_FAILURE,
        )
    return 0


def _strip_argument(exc: BaseException) -> str:
    text = str(exc)
    return text[len("file: ") :] if text.startswith("file: ") else text


def run(args: argparse.Namespace) -> int:
    """Entry of ``ibstream replay``."""
    return _replay(args)
