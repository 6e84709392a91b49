"""``GET /api/symbols?q=EUR``: a symbol -> contracts, for the dashboard's symbol box.

Small and isolated on purpose, so it can be swapped for a full contracts API: one function,
:func:`resolve_symbol`, asks the gateway's ``/iserver/secdef/search`` through the hub's client
REST (``client.rest.request``) and returns plain rows; the handler adds input checks and errors
as JSON (400 for a bad query, 502 when the gateway fails). The dashboard then subscribes to the
chosen conid over its ``/stream`` socket like any other.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ibstream.exceptions import IBStreamError
from ibstream.service.hub import Hub
from ibstream.service.keys import HUB

__all__ = ["MAX_RESULTS", "resolve_symbol", "symbols_handler"]

MAX_RESULTS = 20
"""The most contracts one search returns."""

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
