"""``ibstream replay FILE``: decode a recording offline into events.

Each received frame of the recording goes through the same decoder the client uses. Output: an
aligned table (time, event type, stream, summary) or, with ``--json``, one JSON object per line
(the encoding the sinks and the service use) with the receive time as ``"t"``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from ibstream.aio.recorder import read_recording
from ibstream.cli.common import EXIT_USAGE, CliError, help_text
from ibstream.exceptions import InvalidArgument
from ibstream.protocol.decoding import decode
from ibstream.protocol.events import Event, MarketData
from ibstream.protocol.fields import FIELDS
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
    p.add_argument("file", metavar="FILE", help="a recording made by 'ibstream record'")
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
    p.set_defaults(func=run)


@dataclass(frozen=True, slots=True)
class ReplayedEvent:
    """One decoded event and the receive time of its frame."""

    t: float
    event: Event


def replay_events(path: str) -> Iterator[ReplayedEvent]:
    """Every event of the received frames of a recording, in order."""
    for frame in read_recording(path):
        if frame.direction != "in":
            continue
        for event in decode(frame.data):
            yield ReplayedEvent(frame.t, event)


class _Filter:
    def __init__(self, topics: list[str] | None, conids: list[int] | None) -> None:
        self.topics: set[str] = set()
        self.types: set[str] = set()
        for raw in topics or ():
            try:
                self.topics.add(parse_topic(raw).value)
            except InvalidArgument:  # not a topic name: an event type
                self.types.add(raw.lower())
        self.conids = set(conids or ())

    def __call__(self, event: Event) -> bool:
        if self.topics or self.types:
            key = getattr(event, "key", None)
            topic = key.topic.value if key is not None else None
            if topic not in self.topics and type(event).__name__.lower() not in self.types:
                return False
        return not self.conids or getattr(event, "conid", None) in self.conids


_SHORT = {31: "last", 84: "bid", 86: "ask", 88: "bid_size", 85: "ask_size", 87: "volume"}


def _summary(event: Event) -> str:
    if isinstance(event, MarketData):
        parts = []
        for fid, value in event.values.items():
            info = FIELDS.get(fid)
            name = _SHORT.get(fid) or (info.name if info is not None else str(fid))
            parts.append(f"{name}={jsonable(value)}")
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
    out = sys.stdout
    count = 0
    try:
        events = replay_events(args.file)
        if args.json:
            write = out.buffer.write if hasattr(out, "buffer") else None
            for item in events:
                if not keep(item.event):
                    continue
                body = event_to_json(item.event, include_raw=args.raw)
                data = b'{"t":' + repr(item.t).encode() + b"," + body[1:] + b"\n"
                if write is not None:
                    write(data)
                else:  # pragma: no cover - a text-only stdout
                    out.write(data.decode())
                count += 1
        else:
            print(f"{'time':<12}  {'event':<24} {'stream':<16} details", file=out)
            for item in events:
                if not keep(item.event):
                    continue
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
    if count == 0:
        print(f"ibstream replay: no matching events in {args.file}", file=sys.stderr)
    return 0


def _strip_argument(exc: BaseException) -> str:
    text = str(exc)
    return text[len("file: ") :] if text.startswith("file: ") else text


def run(args: argparse.Namespace) -> int:
    """Entry of ``ibstream replay``."""
    return _replay(args)
