"""Shared plumbing of the REST commands (``contract``, ``snapshot``, ``history``,
``positions``): a pre-flighted client for one command, instrument resolution through the
shared grammar, and plain/JSON output. Heavy imports happen only when a command runs."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from ibstream.cli.common import (
    EXIT_USAGE,
    CliError,
    add_gateway_args,
    stop_on_signals,
    unless_stopped,
)

if TYPE_CHECKING:
    from ibstream.aio.client import StreamClient
    from ibstream.aio.contracts import Resolved

__all__ = ["add_common_args", "emit_json", "resolve_all", "run_rest_command", "table"]

T = TypeVar("T")


def add_common_args(p: argparse.ArgumentParser) -> None:
    """Gateway flags (with ``--sim``) and ``--json``."""
    p.add_argument("--json", action="store_true", help="print one JSON document")
    add_gateway_args(p, sim=True)


def run_rest_command(
    args: argparse.Namespace, body: Callable[[StreamClient], Awaitable[int]]
) -> int:
    """Run ``body(client)`` with a pre-flighted (REST-only, not streaming) client."""

    async def main() -> int:
        from ibstream.cli.connect import connected_client

        stop = asyncio.Event()
        stop_on_signals(stop)
        async with connected_client(args, stop) as client:
            return await unless_stopped(stop, body(client))

    return asyncio.run(main())


async def resolve_all(client: StreamClient, texts: Sequence[str]) -> list[Resolved]:
    """Resolve every text of the instrument grammar; unknown ones are a usage error."""
    from ibstream.exceptions import InvalidArgument, NotFound

    out = []
    for text in texts:
        try:
            out.append(await client.contracts.resolve(text))
        except InvalidArgument as exc:
            raise CliError(str(exc), EXIT_USAGE) from exc
        except NotFound as exc:
            name = " ".join(text.split()).upper()
            raise CliError(
                f"unknown symbol {name!r}: {exc.error or 'not found'} ({exc.endpoint})",
                EXIT_USAGE,
            ) from exc
    return out


def emit_json(doc: Any) -> None:
    """Print ``doc`` as one JSON document (dataclasses and mappings serialised)."""
    sys.stdout.write(orjson.dumps(doc, default=_default, option=orjson.OPT_INDENT_2).decode())
    sys.stdout.write("\n")


def _default(obj: Any) -> Any:
    from collections.abc import Mapping

    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, tuple | set | frozenset):
        return list(obj)
    raise TypeError(type(obj).__name__)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:,.0f}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Aligned plain-text columns."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for r in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)
