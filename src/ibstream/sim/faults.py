"""Fault vocabulary shared by the admin HTTP API and scenario files (protocol.md §8).

The action table is the simulator's own (:meth:`Simulator.fault_actions`, name -> bound method);
this module only sees it through the :class:`FaultTarget` interface, so it does not import the
simulator (no import cycle) and dispatches through the table, never by ``getattr``:

* Admin API: ``POST /sim/admin/fault`` with ``{"action": "lose_auth", ...params}``;
  ``GET /sim/admin/state``. Guards (a web page must not be able to drive it): a POST must be
  ``Content-Type: application/json`` (a page can send ``text/plain`` cross-site without a
  preflight, never JSON), requests carrying an ``Origin`` header (browsers) are refused, the
  ``Host`` must be an IP address, ``localhost`` or the bind address (DNS rebinding), and with
  ``SimConfig.admin_token`` (required off loopback) ``Authorization: Bearer <token>``.
* Scenario file (``--scenario FILE``): a JSON list of steps
  ``{"at": <simulated seconds since start>, "action": "<name>", ...params}``, run in ``at``
  order.

Actions: ``drop_connections(abrupt=false, code=1000)``, ``stop_heartbeats``,
``resume_heartbeats``, ``lose_auth``, ``restore_auth``, ``competing_session``, ``logout``,
``login``, ``set_market_data_expiry(seconds)``, ``set_time_scale(x)``,
``ignore_subscriptions(prefix, count=1)``, ``reject_subscriptions(prefix, count=1)``,
``send_malformed(kind)``, ``set_update_interval(conid=null, seconds)``, ``slow_feed(factor)``,
``set_market_state(state)``, ``restart(reset_server_ids=false, downtime=0)``,
``refuse_connections(seconds)``, ``place_order(conid, side, quantity, order_type, price, tif)``,
``cancel_order(order_id)``, ``send_bulletin(message)``, ``send_notification(text)``,
``send_order_prompt(order_id, text)``, ``oauth_expire_tokens``,
``oauth_invalid_signature(count=1)``, ``oauth_clock_skew(seconds)``, ``oauth_revoke``,
``send_error(error, code=500)``; order entry (``ibstream.sim.entry``):
``order_fault(step, kind, count=1, seconds=0)``, ``clear_order_faults``,
``set_order_prompts(prompts)``, ``set_price(conid, price)``, ``close_auction``.
"""

from __future__ import annotations

import hmac
import inspect
import ipaddress
import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol

import orjson
from aiohttp import web

from ibstream.exceptions import InvalidArgument
from ibstream.hosts import host_name
from ibstream.sim.config import SimConfig
from ibstream.sim.gateway import Gateway
from ibstream.sim.wire import OP_BINARY, OP_TEXT

__all__ = [
    "FaultTarget",
    "add_admin_routes",
    "apply",
    "load_scenario",
    "malformed",
    "run_scenario",
]

log = logging.getLogger("ibstream.sim")


class FaultTarget(Protocol):
    """What fault injection needs from the simulator."""

    @property
    def gateway(self) -> Gateway: ...

    def fault_actions(self) -> Mapping[str, Callable[..., Any]]:
        """Every action name and the callable that performs it."""
        ...

    def state(self) -> dict[str, Any]:
        """A JSON-able view of the simulator."""
        ...

    @property
    def config(self) -> SimConfig: ...


MALFORMED_KINDS = ("not_json", "invalid_utf8", "binary", "truncated", "wrong_types")


def malformed(kind: str) -> list[tuple[bytes, int]]:
    """Payloads (and opcodes) for :meth:`Simulator.send_malformed` (§1.5, §8.15)."""
    if kind == "not_json":
        return [(b"this is not json", OP_TEXT)]
    if kind == "invalid_utf8":
        return [(b'{"topic":"blt","args":{"id":"99","message":"bad \x99 byte"}}', OP_TEXT)]
    if kind == "binary":
        return [(orjson.dumps({"topic": "system", "hb": 1777415611502}), OP_BINARY)]
    if kind == "truncated":
        return [(b'{"topic":"smd+265598","conid":265598,"31":"27', OP_TEXT)]
    if kind == "wrong_types":
        return [
            (b'{"topic":"smd+265598","conid":"abc","_updated":"x","31":271.5,"6119":7}', OP_TEXT),
            (b'{"topic":["sts"],"args":"yes"}', OP_TEXT),
            (b"[1,2,3]", OP_TEXT),
        ]
    raise InvalidArgument("kind", f"one of {', '.join(MALFORMED_KINDS)}")


async def apply(sim: FaultTarget, action: str, params: dict[str, Any]) -> Any:
    """Run one named action with keyword ``params``; returns a JSON-able result."""
    method = sim.fault_actions().get(action)
    if method is None:
        raise InvalidArgument("action", f"unknown action {action!r}")
    result = method(**params)
    if inspect.isawaitable(result):
        result = await result
    if hasattr(result, "full"):
        return result.full()
    return result


def load_scenario(path: str, actions: Collection[str]) -> list[dict[str, Any]]:
    """Read and validate a scenario file (JSON list of ``{"at", "action", ...}``); ``actions``
    are the known action names (``sim.fault_actions()``)."""
    with open(path, "rb") as fh:
        steps = orjson.loads(fh.read())
    if not isinstance(steps, list):
        raise InvalidArgument("scenario", "must be a JSON list of steps")
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or step.get("action") not in actions:
            raise InvalidArgument("scenario", f"step {i}: unknown or missing action")
        if not isinstance(step.get("at", 0), int | float):
            raise InvalidArgument("scenario", f"step {i}: 'at' must be a number")
    return sorted(steps, key=lambda s: float(s.get("at", 0)))


async def run_scenario(sim: FaultTarget, steps: list[dict[str, Any]]) -> None:
    """Run ``steps`` at their simulated times (relative to the call)."""
    clock = sim.gateway.clock
    start = clock.now()
    for step in steps:
        at = float(step.get("at", 0))
        delay = start + at - clock.now()
        if delay > 0:
            await clock.sleep(delay)
        params = {k: v for k, v in step.items() if k not in ("at", "action")}
        log.info("sim scenario: t=%.1f %s %s", at, step["action"], params)
        try:
            await apply(sim, str(step["action"]), params)
        except (InvalidArgument, TypeError, ValueError) as exc:
            log.warning("sim scenario step failed: %s", exc)


def _host_ok(host: str | None, bind_host: str) -> bool:
    """``Host`` of an admin request: an IP address, ``localhost`` or the bind address."""
    if host is None:
        return True
    name = host_name(host)
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return name in ("localhost", bind_host.lower())


def admin_refusal(request: web.Request, sim: FaultTarget) -> web.Response | None:
    """Why this admin request is refused (a response), or ``None`` to serve it."""
    cfg = sim.config

    def no(status: int, error: str) -> web.Response:
        log.warning("sim admin: %s %s refused: %s", request.method, request.path, error)
        return web.json_response({"ok": False, "error": error}, status=status)

    if "Origin" in request.headers:
        return no(403, "the admin API does not serve browsers (Origin header present)")
    if not _host_ok(request.headers.get("Host"), cfg.host):
        return no(403, "Host not allowed for the admin API")
    if cfg.admin_token is not None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), cfg.admin_token.encode()
        ):
            return no(401, "admin token required (Authorization: Bearer <token>)")
    if request.method == "POST" and request.content_type != "application/json":
        return no(415, f"Content-Type must be application/json, got {request.content_type!r}")
    return None


def add_admin_routes(app: web.Application, sim: FaultTarget) -> None:
    """``GET /sim/admin/state`` and ``POST /sim/admin/fault``."""

    async def state(request: web.Request) -> web.Response:
        refused = admin_refusal(request, sim)
        if refused is not None:
            return refused
        return web.json_response(sim.state(), dumps=lambda o: orjson.dumps(o).decode())

    async def fault(request: web.Request) -> web.Response:
        refused = admin_refusal(request, sim)
        if refused is not None:
            return refused
        try:
            body = await request.json(loads=orjson.loads)
            if not isinstance(body, dict):
                raise InvalidArgument("body", "a JSON object is required")
            action = str(body.pop("action", body.pop("fault", "")))
            result = await apply(sim, action, body)
        except (InvalidArgument, TypeError, ValueError) as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        return web.json_response(
            {"ok": True, "result": result}, dumps=lambda o: orjson.dumps(o).decode()
        )

    app.router.add_get("/sim/admin/state", state)
    app.router.add_post("/sim/admin/fault", fault)
