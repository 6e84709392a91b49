"""REST endpoints under ``/v1/api`` (protocol.md §2, §9).

Middleware adds the recorded response headers (§2), the HTML 404 body for unknown paths
(§2.3), the ``/iserver/*`` rate limit (§2.9, HTTP 429; ``/tickle``, ``/sso/validate`` and other
keep-alive paths are never limited so ordinary clients cannot trip it) and resets the idle
timer on every request (§3.2).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from ibstream.sim import frames
from ibstream.sim.contract_routes import add_contract_routes
from ibstream.sim.gateway import Gateway
from ibstream.sim.portfolio_routes import add_portfolio_routes

__all__ = ["NOT_FOUND_HTML", "add_routes", "make_middleware"]

PREFIX = "/v1/api"
NOT_FOUND_HTML = "<html><body><h1>Resource not found</h1></body></html>"
_HEADERS = {
    "cache-control": "max-age=0, no-cache, no-store",
    "pragma": "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "Origin-when-cross-origin",
    "strict-transport-security": "max-age=600 ; includeSubDomains",
    "vary": "Accept-Encoding,Origin",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", charset="utf-8"
    )


def _not_found() -> web.Response:
    return web.Response(text=NOT_FOUND_HTML, status=404, content_type="text/html")


def make_middleware(gw: Gateway) -> Any:
    """Headers, 404 body, rate limit and idle-timer middleware."""
    window: collections.deque[float] = collections.deque()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        started = time.perf_counter()
        if path.startswith(PREFIX + "/iserver/") and gw.cfg.rate_limit:
            now = time.monotonic()
            while window and now - window[0] > 1.0:
                window.popleft()
            if len(window) >= gw.cfg.rate_limit:
                return _json({"error": "Too many requests"}, 429)
            window.append(now)
        if not gw.limits.check(request.method, path):  # per-endpoint limits (sim/pacing.py)
            return _json({"error": "Too many requests"}, 429)
        if path.startswith(PREFIX):
            gw.touch()
        try:
            resp = await handler(request)
        except web.HTTPNotFound:
            return _not_found()
        except web.HTTPMethodNotAllowed:
            return _not_found()
        if path.startswith(PREFIX) and not isinstance(resp, web.WebSocketResponse):
            for k, v in _HEADERS.items():
                resp.headers.setdefault(k, v)
            resp.headers["x-response-time"] = f"{(time.perf_counter() - started) * 1000:.0f}ms"
        return resp

    return middleware


def add_routes(app: web.Application, gw: Gateway) -> None:
    """Register every REST route of the simulated gateway."""
    r = app.router

    async def tickle(request: web.Request) -> web.Response:
        if not gw.logged_in:
            return _json({"error": "not authenticated"}, 401)
        resp = _json(
            frames.tickle_body(gw.cfg, gw.session_id, gw.sso_expires_ms(), gw.auth_status())
        )
        resp.set_cookie(
            "x-sess-uuid",
            f"0.{gw.session_id[:8]}.{gw.ws_session}",
            path="/v1/api",
            httponly=True,
            secure=gw.cfg.tls,
        )
        return resp

    async def auth_status(request: web.Request) -> web.Response:
        if not gw.logged_in:
            return _json(gw.auth_status(), 200)
        return _json(gw.auth_status())

    async def reauthenticate(request: web.Request) -> web.Response:
        if not gw.logged_in:
            return _json({"error": "not authenticated"}, 401)
        gw.restore_auth()
        return _json({"message": "triggered"})

    async def ssodh_init(request: web.Request) -> web.Response:
        if not gw.logged_in:
            return _json({"error": "not authenticated"}, 401)
        gw.restore_auth()
        return _json(gw.auth_status())

    async def logout(request: web.Request) -> web.Response:
        gw.logout()
        return _json({"status": True})

    async def accounts(request: web.Request) -> web.Response:
        if not gw.logged_in:
            return _json({"error": "not authenticated"}, 401)
        return _json(frames.accounts_body(gw.cfg, gw.ws_session))

    async def sso_validate(request: web.Request) -> web.Response:
        if not gw.logged_in or gw.sso_expires_ms() <= 0:
            return _json({"error": "not authenticated"}, 401)
        return _json(frames.sso_validate_body(gw.cfg, gw.sso_expires_ms()))

    async def one_user(request: web.Request) -> web.Response:
        if not gw.logged_in:
            return _json({"error": "not authenticated"}, 401)
        return _json({"username": gw.cfg.username, "isPaper": gw.cfg.paper})

    async def snapshot(request: web.Request) -> web.Response:
        if not (gw.logged_in and gw.authenticated):
            return _json({"error": "no bridge"}, 400)
        raw = request.query.get("conids", "")
        fields = [f for f in request.query.get("fields", "31,84,86").split(",") if f]
        out: list[dict[str, Any]] = []
        for token in [c.strip() for c in raw.split(",") if c.strip()]:
            try:
                conid = int(token.split("@")[0])
            except ValueError:
                continue
            item: dict[str, Any] = {"conid": conid, "conidEx": token}
            if gw.cfg.snapshot_preflight and conid not in gw.preflighted:
                gw.preflighted.add(conid)  # first call only starts the stream (§2.8)
                out.append(item)
                continue
            sid = gw.md_server_id()
            item.update({"_updated": int(time.time() * 1000), "6119": sid, "server_id": sid})
            if not gw.market.known(conid):
                item.update({"55": "-", "31": "N/A"})
            else:
                values = gw.market.fields(conid)
                item.update({f: values[f] for f in fields if f in values})
                item["6509"] = values["6509"]
            out.append(item)
        return _json(out)

    p = PREFIX
    for method in ("GET", "POST"):
        r.add_route(method, f"{p}/tickle", tickle)
        r.add_route(method, f"{p}/iserver/auth/status", auth_status)
        r.add_route(method, f"{p}/iserver/reauthenticate", reauthenticate)
        r.add_route(method, f"{p}/logout", logout)
    r.add_post(f"{p}/iserver/auth/ssodh/init", ssodh_init)
    r.add_get(f"{p}/iserver/accounts", accounts)
    r.add_get(f"{p}/sso/validate", sso_validate)
    r.add_get(f"{p}/one/user", one_user)
    r.add_get(f"{p}/iserver/marketdata/snapshot", snapshot)
    # Order entry, live orders and trades: ibstream.sim.entry_http (added by the Simulator).
    add_contract_routes(app, gw, gw.universe)  # contracts, history (sim/contract_routes.py)
    add_portfolio_routes(app, gw, gw.universe)  # portfolio (sim/portfolio_routes.py)
