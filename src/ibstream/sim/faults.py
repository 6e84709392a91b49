"""Fault vocabulary shared by the admin HTTP API and scenario files (protocol.md §8).

One action table maps names to :class:`~ibstream.sim.simulator.Simulator` methods:

* Admin API: ``POST /sim/admin/fault`` with ``{"action": "lose_auth", ...params}``;
  ``GET /sim/admin/state``.
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
``send_error(error, code=500)``; order entry (``ibstream.sim.entry``):
``order_fault(step, kind, count=1, seconds=0)``, ``clear_order_faults``,
``set_order_prompts(prompts)``, ``set_price(conid, price)``, ``close_auction``.
"""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from ibstream.exceptions import InvalidArgument
from ibstream.sim.wire import OP_BINARY, OP_TEXT

if TYPE_CHECKING:
    from ibstream.sim.simulator import Simulator

__all__ = ["ACTIONS", "add_admin_routes", "apply", "load_scenario", "malformed", "run_scenario"]

log = logging.getLogger("ibstream.sim")

ACTIONS = frozenset(
    {
        "drop_connections",
        "stop_heartbeats",
        "resume_heartbeats",
        "lose_auth",
        "restore_auth",
        "competing_session",
        "logout",
        "login",
        "set_market_data_expiry",
        "set_time_scale",
        "ignore_subscriptions",
        "reject_subscriptions",
        "send_malformed",
        "set_update_interval",
        "slow_feed",
        "set_market_state",
        "restart",
        "refuse_connections",
        "place_order",
        "cancel_order",
        "send_bulletin",
        "send_notification",
        "send_error",
        "order_fault",
        "clear_order_faults",
        "set_order_prompts",
        "set_price",
        "close_auction",
    }
)

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


async def apply(sim: Simulator, action: str, params: dict[str, Any]) -> Any:
    """Run one named action with keyword ``params``; returns a JSON-able result."""
    if action not in ACTIONS:
        raise InvalidArgument("action", f"unknown action {action!r}")
    method = getattr(sim, action)
    result = method(**params)
    if inspect.isawaitable(result):
        result = await result
    if hasattr(result, "full"):
        return result.full()
    return result


def load_scenario(path: str) -> list[dict[str, Any]]:
    """Read and validate a scenario file (JSON list of ``{"at", "action", ...}``)."""
    with open(path, "rb") as fh:
        steps = orjson.loads(fh.read())
    if not isinstance(steps, list):
        raise InvalidArgument("scenario", "must be a JSON list of steps")
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or step.get("action") not in ACTIONS:
            raise InvalidArgument("scenario", f"step {i}: unknown or missing action")
        if not isinstance(step.get("at", 0), int | float):
            raise InvalidArgument("scenario", f"step {i}: 'at' must be a number")
    return sorted(steps, key=lambda s: float(s.get("at", 0)))


async def run_scenario(sim: Simulator, steps: list[dict[str, Any]]) -> None:
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


def add_admin_routes(app: web.Application, sim: Simulator) -> None:
    """``GET /sim/admin/state`` and ``POST /sim/admin/fault``."""

    async def state(request: web.Request) -> web.Response:
        return web.json_response(sim.state(), dumps=lambda o: orjson.dumps(o).decode())

    async def fault(request: web.Request) -> web.Response:
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
