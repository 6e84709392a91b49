"""``GET /api/symbols?q=EUR``: a symbol -> contracts, for the dashboard's symbol box, and
``GET /api/increments?conids=...``: the price increments the dashboard formats prices with.

Small and isolated on purpose, so it can be swapped for a full contracts API: one function,
:func:`resolve_symbol`, asks the gateway's ``/iserver/secdef/search`` through the hub's client
REST (``client.rest.request``) and returns plain rows; the handler adds input checks and errors
as JSON (400 for a bad query, 502 when the gateway fails). The dashboard then subscribes to the
chosen conid over its ``/stream`` socket like any other.

The increments come from the contract rules (``client.contracts.price_rules``) through one
:class:`~ibstream.aio.decimals.PriceDecimals` per application (cached per conid; a failed lookup
is tried again after a while): known conids answer at once, new ones within
:data:`INCREMENTS_WAIT` seconds or as ``pending`` (the page asks again); conids the gateway has
no usable increment for are ``unknown`` and the page keeps the decimals it infers.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from ibstream.aio.decimals import PriceDecimals
from ibstream.exceptions import IBStreamError
from ibstream.protocol.ticks import PriceRules, decimals_for_increment
from ibstream.service.hub import Hub
from ibstream.service.keys import HUB

__all__ = [
    "INCREMENTS_WAIT",
    "MAX_CONIDS",
    "MAX_RESULTS",
    "PRICE_DECIMALS",
    "increments_handler",
    "install_increments",
    "resolve_symbol",
    "symbols_handler",
]

MAX_RESULTS = 20
"""The most contracts one search returns."""
MAX_CONIDS = 50
"""The most conids one ``/api/increments`` call asks for."""
INCREMENTS_WAIT = 3.0
"""Seconds ``/api/increments`` waits for lookups before answering the rest as ``pending``."""

PRICE_DECIMALS = web.AppKey("ibstream_price_decimals", PriceDecimals)

_QUERY = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .\-/&]{0,31}")
_CONID_MAX = 2**31 - 1


def _row(entry: dict[str, Any]) -> dict[str, Any] | None:
    try:
        conid = int(str(entry.get("conid", "")))
    except ValueError:
        return None
    if not 0 < conid <= _CONID_MAX:
        return None
    sections = entry.get("sections")
    first = sections[0] if isinstance(sections, list) and sections else {}
    sec_type = first.get("secType") if isinstance(first, dict) else None
    return {
        "conid": conid,
        "symbol": str(entry.get("symbol") or ""),
        "name": str(entry.get("companyName") or entry.get("companyHeader") or ""),
        "description": str(entry.get("description") or ""),
        "sec_type": str(sec_type or ""),
    }


async def resolve_symbol(hub: Hub, text: str) -> list[dict[str, Any]]:
    """Contracts whose symbol matches ``text`` (``conid``, ``symbol``, ``name``,
    ``description``, ``sec_type``), the gateway's order, at most :data:`MAX_RESULTS`.

    Raises ``IBStreamError`` subclasses when the gateway cannot be asked."""
    _, body = await hub.client.rest.request(
        "GET", "/iserver/secdef/search", params={"symbol": text}, allow=(200, 400, 404)
    )
    rows = [_row(e) for e in body if isinstance(e, dict)] if isinstance(body, list) else []
    return [r for r in rows if r is not None][:MAX_RESULTS]


async def symbols_handler(request: web.Request) -> web.Response:
    """``GET /api/symbols?q=...`` -> ``{"query": ..., "results": [...]}``."""
    text = request.query.get("q", "").strip()
    if not _QUERY.fullmatch(text):
        return web.json_response(
            {"error": "q: give a symbol (letters, digits, space . - / &; at most 32)"},
            status=400,
        )
    try:
        results = await resolve_symbol(request.app[HUB], text)
    except IBStreamError as exc:
        return web.json_response({"error": f"symbol search failed: {exc}"}, status=502)
    return web.json_response({"query": text, "results": results})


class _HubRules:
    """The rules source of the hub's client (resolved at lookup time: the client may be
    replaced while the service runs)."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    async def price_rules(self, conid: int) -> PriceRules:
        return await self._hub.client.contracts.price_rules(conid)


def install_increments(app: web.Application, hub: Hub) -> None:
    """Add ``GET /api/increments`` and its cache to ``app`` (closed with the app)."""
    app[PRICE_DECIMALS] = PriceDecimals(_HubRules(hub))

    async def close(app: web.Application) -> None:
        await app[PRICE_DECIMALS].close()

    app.on_cleanup.append(close)
    app.router.add_get("/api/increments", increments_handler)


def _describe(rules: PriceRules) -> dict[str, Any]:
    return {
        "increment": rules.increment,
        "decimals": rules.decimals(),
        "ladder": [[edge, inc, decimals_for_increment(inc)] for edge, inc in rules.ladder],
    }


async def increments_handler(request: web.Request) -> web.Response:
    """``GET /api/increments?conids=1,2`` -> ``{"increments": {"1": {"increment", "decimals",
    "ladder": [[lower edge, increment, decimals]]}}, "pending": [...], "unknown": [...]}``."""
    parts = [p.strip() for p in request.query.get("conids", "").split(",") if p.strip()]
    if (
        not parts
        or len(parts) > MAX_CONIDS
        or not all(p.isdigit() and 0 < int(p) <= _CONID_MAX for p in parts)
    ):
        return web.json_response(
            {"error": f"conids: 1 to {MAX_CONIDS} positive contract ids, comma-separated"},
            status=400,
        )
    ids = list(dict.fromkeys(int(p) for p in parts))
    decimals = request.app[PRICE_DECIMALS]
    try:
        async with asyncio.timeout(INCREMENTS_WAIT):
            await decimals.lookup_many(ids)
    except TimeoutError:
        pass  # the lookups go on; the page asks again for the pending ones
    known: dict[str, Any] = {}
    pending: list[int] = []
    unknown: list[int] = []
    for conid in ids:
        rules = decimals.rules(conid)
        if rules is not None:
            known[str(conid)] = _describe(rules)
        elif decimals.pending(conid):
            pending.append(conid)
        else:
            unknown.append(conid)
    return web.json_response({"increments": known, "pending": pending, "unknown": unknown})
