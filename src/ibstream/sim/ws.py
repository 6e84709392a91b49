"""The ``/v1/api/ws`` endpoint: authentication, opening burst, receive loop (protocol.md §1.3-§1.5).

* ``mode="gateway"`` (default): the local gateway authenticates any socket with its own
  session (IBKR's sample scripts send no cookie); ``mode="direct"``: as follows.
* Session from the ``api`` cookie — ``{"session":"…"}`` JSON with or without spaces, or the
  OAuth-style bare ``api=<session>`` — else ``{"message":"waiting for session"}`` and a
  ``{"session":"…"}`` text frame (§1.3).
* Opening burst ``system`` → ``act`` → ``sts`` ``open_burst_delay`` after authentication (§1.4).
* A subscription before the burst closes the socket ~0.5 s later when
  ``drop_early_subscribers`` (§1.6, §8.1).
* A wrong session closes with 1000 and an empty reason (§1.6, §8.16).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import orjson
from aiohttp import WSMsgType, web

from ibstream.sim import frames, topics
from ibstream.sim.connection import Connection
from ibstream.sim.gateway import Gateway

__all__ = ["session_from_cookie", "ws_handler"]

log = logging.getLogger("ibstream.sim")

ReplayStarter = Callable[[Connection], None]


def session_from_cookie(header: str) -> str | None:
    """Extract the session from a ``Cookie`` header's ``api`` cookie (§1.3 forms 1 and 3)."""
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name.strip() != "api":
            continue
        value = unquote(value.strip())
        if value.startswith("{"):
            try:
                obj = orjson.loads(value)
            except orjson.JSONDecodeError:
                return None
            sess = obj.get("session") if isinstance(obj, dict) else None
            return sess if isinstance(sess, str) else None
        return value or None
    return None


def _session_message(text: str) -> str | None:
    if not text.startswith("{"):
        return None
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if isinstance(obj, dict) and isinstance(obj.get("session"), str):
        return str(obj["session"])
    return None


async def _burst(gw: Gateway, conn: Connection) -> None:
    """``system`` / ``act`` / ``sts`` after authentication (§1.4)."""
    await asyncio.sleep(gw.cfg.open_burst_delay)
    if conn.closed:
        return
    conn.send(frames.system_login(gw.cfg))
    conn.send({"topic": "act", "args": frames.accounts_body(gw.cfg, gw.ws_session)})
    for f in gw.sts():
        conn.send(f)
    conn.authed = True


async def _drop_later(conn: Connection, delay: float) -> None:
    await asyncio.sleep(delay)
    await conn.close(1000)


def make_ws_handler(
    gw: Gateway, replay: ReplayStarter | None = None
) -> Callable[[web.Request], Any]:
    """Build the aiohttp handler bound to ``gw`` (and a replay starter in replay mode)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return await ws_handler(gw, request, replay)

    return handler


async def ws_handler(
    gw: Gateway, request: web.Request, replay: ReplayStarter | None = None
) -> web.StreamResponse:
    """Serve one WebSocket connection until it closes."""
    ws = web.WebSocketResponse(compress=False, autoping=True, max_msg_size=1 << 20)
    await ws.prepare(request)
    conn = Connection(ws, gw.cfg.binary)
    gw.connections.add(conn)
    gw.peak_connections = max(gw.peak_connections, sum(not c.closed for c in gw.connections))
    gw.received[conn.id] = conn.received
    burst: asyncio.Task[None] | None = None
    background: set[asyncio.Task[None]] = set()

    def authenticate() -> None:
        nonlocal burst
        conn.session_ok = True
        if replay is not None:
            replay(conn)
            conn.authed = True
            return
        burst = asyncio.get_running_loop().create_task(_burst(gw, conn))

    cookie_session = session_from_cookie(request.headers.get("Cookie", ""))
    if gw.logged_in and (gw.cfg.mode == "gateway" or cookie_session == gw.session_id):
        authenticate()  # the local gateway authenticates sockets with its own session
    else:
        conn.send({"message": "waiting for session"})
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                text = str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                text = bytes(msg.data).decode("utf-8", "replace")
            else:
                break
            conn.record(text)
            if replay is not None:
                sess = _session_message(text)
                if sess is not None and not conn.session_ok:
                    authenticate()
                continue
            sess = _session_message(text)
            if sess is not None:
                if conn.session_ok:
                    if not gw.authenticated:  # §8.11: does not fix auth
                        conn.send({"topic": "error", "error": "Topic unknown '{\"s'"})
                    continue
                if gw.logged_in and sess == gw.session_id:
                    authenticate()
                else:
                    await conn.close(1000)
                    break
                continue
            if not conn.authed:
                if text.strip() in ("tic", "ech+hb") and conn.session_ok:
                    topics.handle(gw, conn, text)
                elif gw.cfg.drop_early_subscribers and text[:1] == "s":
                    task = asyncio.get_running_loop().create_task(_drop_later(conn, 0.5))
                    background.add(task)
                continue
            topics.handle(gw, conn, text)
    except ConnectionResetError:
        pass
    finally:
        if burst is not None:
            burst.cancel()
        for t in background:
            t.cancel()
        conn.clear_subs()
        gw.connections.discard(conn)
        if not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
    return ws
