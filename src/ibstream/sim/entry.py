"""Order entry of the simulated gateway, modelled on IBKR's Web API order endpoints.

Endpoints (under ``/v1/api``; shapes from IBKR's Web API reference, prompt ids INFERRED):

* ``POST /iserver/account/{acct}/orders`` ``{"orders": [...]}``: validation errors as
  ``{"error": "..."}`` (HTTP 400); reply prompts ``[{"id", "message", "isSuppressed",
  "messageIds"}]``, one at a time (a chain when several apply); success ``[{"order_id",
  "order_status", "encrypt_message": "1", "local_order_id": cOID}]``. Customer order ids are
  unique per account: a repeated ``cOID`` is refused (also when the first copy is still waiting
  for its prompts to be confirmed - the second is refused once the first exists).
* ``POST /iserver/reply/{replyId}`` ``{"confirmed": true|false}``: the next prompt or the
  success; a reply id is single use (an unknown or used one is an error).
* ``POST /iserver/questions/suppress`` ``{"messageIds": [...]}`` and ``.../suppress/reset``.
* ``POST /iserver/account/{acct}/order/{orderId}`` (modify, prompts too) and ``DELETE`` (cancel).
* ``POST /iserver/account/{acct}/orders/whatif``; ``GET /iserver/account/order/status/{id}``;
  ``GET /iserver/account/orders`` (live orders with ``order_ref`` = cOID; a filtered call mutes
  ``sor`` until ``force=true``, §4.4); ``GET /iserver/account/trades``.

Prompts (message ids as IBKR numbers them, conditions INFERRED): ``o163`` limit price more than
``price_band`` away from the last price; ``o383`` quantity above ``size_limit``; ``o451`` value
above ``value_limit``; ``o10331`` outside regular trading hours; plus ``extra_prompts`` asked
for every placement (tests of chains). Suppressed ids are not asked.

Faults (per step: ``place, reply, modify, cancel, orders, whatif, status``; ``count`` times):
``lose_response`` (done, then the connection is dropped unanswered), ``drop_request`` (dropped
unprocessed), ``error_500`` (500, unprocessed), ``error_500_after`` (done, then 500),
``disconnect`` (done, then every WebSocket is dropped, answered normally), ``delay`` (done,
answered after ``seconds``).

The model is transport-free: :meth:`OrderEntry.handle` maps (method, path, query, body) to a
:class:`Reply`; :mod:`ibstream.sim.entry_http` serves it over aiohttp, and tests can call it in
process.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ibstream.sim.clock import wall_ms
from ibstream.sim.entry_reads import status_body, whatif_body
from ibstream.sim.orders import Order
from ibstream.sim.working import Working

if TYPE_CHECKING:
    from ibstream.sim.gateway import Gateway

__all__ = ["FAULT_KINDS", "FAULT_STEPS", "OrderEntry", "Reply"]

log = logging.getLogger("ibstream.sim")

FAULT_STEPS = ("place", "reply", "modify", "cancel", "orders", "whatif", "status")
FAULT_KINDS = (
    "lose_response",
    "drop_request",
    "error_500",
    "error_500_after",
    "disconnect",
    "delay",
)
_TYPES = {"MKT", "LMT", "STP", "STOP_LIMIT", "TRAIL", "MOC", "LOC"}
_ALIASES = {"MARKET": "MKT", "LIMIT": "LMT", "STOP": "STP", "STPLMT": "STOP_LIMIT"}
_TIFS = {"DAY", "GTC", "IOC", "OPG"}
_WANTS_PRICE = {"LMT", "STOP_LIMIT", "LOC"}
_WANTS_AUX = {"STP", "STOP_LIMIT"}


@dataclass(slots=True)
class Reply:
    """What the HTTP layer sends: status and JSON body, or a dropped connection, after
    ``delay`` seconds."""

    status: int
    body: Any
    drop: bool = False
    delay: float = 0.0


@dataclass(slots=True)
class _Fault:
    kind: str
    count: int
    seconds: float = 0.0


@dataclass(slots=True)
class _Pending:
    """A request waiting for its prompts to be confirmed."""

    account: str
    kind: str  # "place" or "modify"
    specs: list[dict[str, Any]]
    prompts: list[tuple[str, str]]  # (message id, text) still to ask
    order_id: int | None = None  # modify: the order


@dataclass(slots=True)
class _Invalid(Exception):
    message: str


@dataclass(slots=True)
class Counters:
    placed: int = 0
    refused: int = 0
    prompts: int = 0
    duplicates_refused: int = 0
    faults: int = 0
    per_coid: dict[str, int] = field(default_factory=dict)


class OrderEntry:
    """The order entry model on top of the gateway's order book."""

    def __init__(self, gw: Gateway, on_disconnect: Callable[[], object] | None = None) -> None:
        self.gw = gw
        self.working = Working(gw)
        self.on_disconnect = on_disconnect
        # Prompt rules (see module doc)
        self.price_band = 0.05
        self.size_limit = 500.0
        self.value_limit = 1_000_000.0
        self.extra_prompts: list[tuple[str, str]] = []
        #: IBKR documents that ``/iserver/account/orders?force=true`` clears its cache and may
        #: answer an empty list; on, the model does so (off by default: the quirk is documented,
        #: not recorded).
        self.force_blank = False
        self.suppressed: set[str] = set()
        # State
        self.pending: dict[str, _Pending] = {}
        self.coids: dict[tuple[str, str], int] = {}  # (account, cOID) -> order id
        self.faults: dict[str, list[_Fault]] = {}
        self.counters = Counters()
        self._reply_ids = itertools.count(1)

    # -- control (Python and admin API) -----------------------------------------------------

    def add_fault(self, step: str, kind: str, count: int = 1, seconds: float = 0.0) -> None:
        """Inject ``kind`` at the next ``count`` requests of ``step``."""
        if step not in FAULT_STEPS:
            raise ValueError(f"step must be one of {', '.join(FAULT_STEPS)}")
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        if count < 1:
            raise ValueError("count must be >= 1")
        self.faults.setdefault(step, []).append(_Fault(kind, count, seconds))

    def clear_faults(self) -> None:
        self.faults.clear()

    def _take_fault(self, step: str) -> _Fault | None:
        queue = self.faults.get(step)
        if not queue:
            return None
        fault = queue[0]
        fault.count -= 1
        if fault.count <= 0:
            queue.pop(0)
        self.counters.faults += 1
        return fault

    # -- dispatch ---------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> Reply:
        """Serve one order-entry request (``path`` below ``/v1/api``)."""
        route = self._route(method, path)
        if route is None:
            return Reply(404, {"error": "not found"})
        step, fn, args = route
        if not (self.gw.logged_in and self.gw.authenticated):
            return Reply(401, {"error": "not authenticated"})
        fault = self._take_fault(step)
        if fault is not None:
            log.info("sim: order fault %s at %s", fault.kind, step)
            if fault.kind == "drop_request":
                return Reply(0, None, drop=True)
            if fault.kind == "error_500":
                return Reply(500, {"error": "Internal Server Error"})
        try:
            reply = fn(*args, query, body)
        except _Invalid as exc:
            self.counters.refused += 1
            reply = Reply(400, {"error": exc.message})
        if fault is None:
            return reply
        if fault.kind == "lose_response":
            return Reply(0, None, drop=True)
        if fault.kind == "error_500_after":
            return Reply(500, {"error": "Internal Server Error"})
        if fault.kind == "disconnect" and self.on_disconnect is not None:
            self.on_disconnect()
        if fault.kind == "delay":
            reply.delay = fault.seconds or 1.0
        return reply

    def _route(
        self, method: str, path: str
    ) -> tuple[str, Callable[..., Reply], tuple[Any, ...]] | None:
        p = path.rstrip("/")
        m = re.fullmatch(r"/iserver/account/([^/]+)/orders(/whatif)?", p)
        if m and method == "POST":
            return ("whatif", self.whatif, (m[1],)) if m[2] else ("place", self.place, (m[1],))
        m = re.fullmatch(r"/iserver/account/([^/]+)/order/([^/]+)", p)
        if m and method == "POST":
            return "modify", self.modify, (m[1], m[2])
        if m and method == "DELETE":
            return "cancel", self.cancel, (m[1], m[2])
        m = re.fullmatch(r"/iserver/reply/([^/]+)", p)
        if m and method == "POST":
            return "reply", self.reply, (m[1],)
        if p == "/iserver/questions/suppress" and method == "POST":
            return "suppress", self.suppress, ()
        if p == "/iserver/questions/suppress/reset" and method == "POST":
            return "suppress", self.reset_suppression, ()
        if p == "/iserver/account/orders" and method == "GET":
            return "orders", self.live_orders, ()
        m = re.fullmatch(r"/iserver/account/order/status/([^/]+)", p)
        if m and method == "GET":
            return "status", self.status, (m[1],)
        if p == "/iserver/account/trades" and method == "GET":
            return "trades", self.trades, ()
        return None

    # -- placement --------------------------------------------------------------------------

    def _account(self, acct: str) -> str:
        if acct not in self.gw.cfg.accounts:
            raise _Invalid(f"Account {acct} is not a valid account")
        return acct

    def _validate(self, acct: str, spec: Any) -> dict[str, Any]:
        if not isinstance(spec, dict):
            raise _Invalid("Bad Request: each order must be an object")
        try:
            conid = int(spec["conid"])
        except (KeyError, TypeError, ValueError):
            raise _Invalid("Bad Request: conid is required") from None
        if not self.gw.market.known(conid):
            raise _Invalid(f"Contract {conid} not found")
        side = str(spec.get("side", "")).upper()
        if side not in ("BUY", "SELL"):
            raise _Invalid("Bad Request: side must be BUY or SELL")
        otype = str(spec.get("orderType", "")).upper()
        otype = _ALIASES.get(otype, otype)
        if otype not in _TYPES:
            raise _Invalid(f"Bad Request: unsupported order type {spec.get('orderType')!r}")
        tif = str(spec.get("tif", "DAY")).upper()
        if tif not in _TIFS:
            raise _Invalid(f"Bad Request: unsupported tif {spec.get('tif')!r}")

        def num(key: str) -> float | None:
            v = spec.get(key)
            if v is None:
                return None
            try:
                f = float(v)
            except (TypeError, ValueError):
                raise _Invalid(f"Bad Request: {key} must be a number") from None
            if not math.isfinite(f) or f <= 0:
                raise _Invalid(f"Bad Request: {key} must be positive")
            return f

        qty, cash, price, aux, trail = (
            num(k) for k in ("quantity", "cashQty", "price", "auxPrice", "trailingAmt")
        )
        if (qty is None) == (cash is None):
            raise _Invalid("Bad Request: exactly one of quantity and cashQty")
        if (price is None) == (otype in _WANTS_PRICE):
            raise _Invalid(
                f"Bad Request: price {'missing' if price is None else 'not allowed'} for {otype}"
            )
        if (aux is None) == (otype in _WANTS_AUX):
            raise _Invalid(
                f"Bad Request: auxPrice {'missing' if aux is None else 'not allowed'} for {otype}"
            )
        if otype == "TRAIL" and trail is None:
            raise _Invalid("Bad Request: trailingAmt missing for TRAIL")
        if otype in ("MOC", "LOC") and tif != "DAY":
            raise _Invalid(f"Bad Request: {otype} orders must be DAY orders")
        coid = spec.get("cOID")
        if coid is not None and (not isinstance(coid, str) or not coid):
            raise _Invalid("Bad Request: cOID must be a non-empty string")
        last = self.gw.market.quote(conid).last
        if cash is not None:
            qty = max(1.0, float(int(cash / (price or last))))
        return {
            "conid": conid,
            "side": side,
            "type": otype,
            "tif": tif,
            "qty": qty,
            "price": price,
            "aux": aux,
            "trail": trail,
            "trail_type": str(spec.get("trailingType") or "amt"),
            "coid": coid,
            "parent": spec.get("parentId"),
            "oca": spec.get("isSingleGroup") is True,
            "rth": spec.get("outsideRTH") is True,
            "last": last,
        }

    def _prompts_for(self, v: dict[str, Any]) -> list[tuple[str, str]]:
        inst = self.gw.market.instruments[v["conid"]]
        desc = f"{v['side']} {v['qty']:g} {inst.symbol} {v['type']}"
        out: list[tuple[str, str]] = []
        ref = v["price"] or v["aux"]
        if ref is not None and abs(ref - v["last"]) > self.price_band * v["last"]:
            out.append(
                (
                    "o163",
                    f'The following order "{desc}" price exceeds the Percentage '
                    f"constraint of {self.price_band * 100:g}%.",
                )
            )
        if v["qty"] > self.size_limit:
            out.append(
                (
                    "o383",
                    f'The following order "{desc}" size exceeds the Size Limit of '
                    f"{self.size_limit:g}.",
                )
            )
        value = v["qty"] * (ref or v["last"]) * inst.multiplier
        if value > self.value_limit:
            out.append(
                (
                    "o451",
                    f'The following order "{desc}" value estimate of {value:,.2f} '
                    f"exceeds the Total Value Limit of {self.value_limit:,.0f}.",
                )
            )
        if v["rth"]:
            out.append(("o10331", "This order will be placed outside regular trading hours."))
        return out

    def _chain(self, prompts: list[tuple[str, str]]) -> list[tuple[str, str]]:
        seen: dict[str, str] = {}
        for mid, text in [*prompts, *self.extra_prompts]:
            if mid not in self.suppressed and mid not in seen:
                seen[mid] = text
        return list(seen.items())

    def _ask(self, pending: _Pending) -> Reply:
        mid, text = pending.prompts.pop(0)
        reply_id = f"{next(self._reply_ids):08x}-{self.gw.rng.getrandbits(32):08x}"
        self.pending[reply_id] = pending
        self.counters.prompts += 1
        return Reply(
            200, [{"id": reply_id, "message": [text], "isSuppressed": False, "messageIds": [mid]}]
        )

    def place(self, acct: str, query: dict[str, str], body: Any) -> Reply:
        account = self._account(acct)
        specs = body.get("orders") if isinstance(body, dict) else None
        if not isinstance(specs, list) or not specs:
            raise _Invalid('Bad Request: body must be {"orders": [...]}')
        checked = [self._validate(account, s) for s in specs]
        self._check_coids(account, checked)
        prompts = self._chain([p for v in checked for p in self._prompts_for(v)])
        pending = _Pending(account, "place", checked, prompts)
        return self._ask(pending) if prompts else self._create(pending)

    def _check_coids(self, account: str, checked: list[dict[str, Any]]) -> None:
        coids = [v["coid"] for v in checked if v["coid"] is not None]
        if len(set(coids)) != len(coids):
            raise _Invalid("Bad Request: duplicate cOID in one request")
        for coid in coids:
            if (account, coid) in self.coids:
                self.counters.duplicates_refused += 1
                raise _Invalid(f"Local order ID={coid} is already registered.")
        parents = {v["coid"] for v in checked}
        for v in checked:
            if v["parent"] is not None and v["parent"] not in parents:
                raise _Invalid(f"Bad Request: parentId {v['parent']!r} is not in this request")

    def _create(self, pending: _Pending) -> Reply:
        account, checked = pending.account, pending.specs
        self._check_coids(account, checked)  # again: a copy may exist since the prompts
        by_coid: dict[str, Order] = {}
        created: list[Order] = []
        group = f"oca-{self.gw.rng.getrandbits(32):08x}" if any(v["oca"] for v in checked) else None
        for v in checked:
            parent = by_coid.get(v["parent"]) if v["parent"] is not None else None
            order = Order(
                order_id=self.gw.book.new_order_id(),
                account=account,
                instrument=self.gw.market.instruments[v["conid"]],
                side=v["side"],
                quantity=float(v["qty"]),
                order_type=v["type"],
                price=v["price"],
                tif=v["tif"],
                coid=v["coid"],
                aux_price=v["aux"],
                outside_rth=v["rth"],
                trailing_amount=v["trail"] if v["type"] == "TRAIL" else None,
                trailing_type=v["trail_type"] if v["type"] == "TRAIL" else None,
                parent_id=parent.order_id if parent is not None else None,
                oca_group=group if v["oca"] else (f"bracket-{parent.order_id}" if parent else None),
            )
            self.gw.book.add(order)
            created.append(order)
            if v["coid"] is not None:
                by_coid[v["coid"]] = order
                self.coids[(account, v["coid"])] = order.order_id
                self.counters.per_coid[v["coid"]] = self.counters.per_coid.get(v["coid"], 0) + 1
        self.counters.placed += len(created)
        self.working.submit(created)
        return Reply(
            200,
            [
                {
                    "order_id": str(o.order_id),
                    "order_status": "PreSubmitted",
                    "encrypt_message": "1",
                    **({"local_order_id": o.coid} if o.coid else {}),
                }
                for o in created
            ],
        )

    def reply(self, reply_id: str, query: dict[str, str], body: Any) -> Reply:
        pending = self.pending.pop(reply_id, None)
        if pending is None:
            raise _Invalid(f"Reply id {reply_id} is not valid or has expired")
        if not (isinstance(body, dict) and body.get("confirmed") is True):
            return Reply(200, {"error": "Order was not confirmed and has been discarded"})
        if pending.prompts:
            return self._ask(pending)
        if pending.kind == "modify":
            return self._apply_modify(pending)
        return self._create(pending)

    def suppress(self, query: dict[str, str], body: Any) -> Reply:
        ids = body.get("messageIds") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise _Invalid("Bad Request: messageIds must be a list of message ids")
        self.suppressed.update(ids)
        return Reply(200, {"status": "submitted"})

    def reset_suppression(self, query: dict[str, str], body: Any) -> Reply:
        self.suppressed.clear()
        return Reply(200, {"status": "submitted"})

    # -- modify / cancel --------------------------------------------------------------------

    def _order(self, acct: str, raw_id: str) -> Order:
        try:
            order = self.gw.book.orders.get(int(raw_id))
        except ValueError:
            order = None
        if order is None or order.account != acct:
            raise _Invalid(f"OrderID {raw_id} doesn't exist")
        return order

    def modify(self, acct: str, raw_id: str, query: dict[str, str], body: Any) -> Reply:
        order = self._order(self._account(acct), raw_id)
        if not order.active or order.status in ("PendingCancel", "Filled"):
            raise _Invalid(f"Order {raw_id} cannot be modified in status {order.status}")
        if not isinstance(body, dict):
            raise _Invalid("Bad Request: the modify body must be an order object")
        spec = {
            "conid": order.instrument.conid,
            "side": order.side,
            "orderType": order.order_type,
            "tif": order.tif,
            "quantity": order.quantity,
            "price": order.price,
            "auxPrice": order.aux_price,
            "trailingAmt": order.trailing_amount,
            "trailingType": order.trailing_type,
            "outsideRTH": False if self.gw.cfg.modify_replaces else order.outside_rth,
        }
        spec.update({k: v for k, v in body.items() if k in spec and k not in ("conid", "side")})
        spec["orderType"] = order.order_type
        v = self._validate(acct, {k: val for k, val in spec.items() if val is not None})
        if v["qty"] < order.filled:
            raise _Invalid("Bad Request: quantity below the filled quantity")
        pending = _Pending(acct, "modify", [v], self._chain(self._prompts_for(v)), order.order_id)
        return self._ask(pending) if pending.prompts else self._apply_modify(pending)

    def _apply_modify(self, pending: _Pending) -> Reply:
        order = self.gw.book.orders[pending.order_id or 0]
        if not order.active:
            raise _Invalid(f"Order {order.order_id} is no longer working")
        v = pending.specs[0]
        order.quantity, order.price, order.aux_price = float(v["qty"]), v["price"], v["aux"]
        order.tif, order.outside_rth = v["tif"], v["rth"]
        if v["type"] == "TRAIL":
            order.trailing_amount = v["trail"]
        self.working.modified(order)
        return Reply(
            200,
            [
                {
                    "order_id": str(order.order_id),
                    "order_status": order.status,
                    "encrypt_message": "1",
                }
            ],
        )

    def cancel(self, acct: str, raw_id: str, query: dict[str, str], body: Any) -> Reply:
        order = self._order(self._account(acct), raw_id)
        if order.active:
            self.working.cancel(order)
        return Reply(
            200,
            {
                "msg": "Request was submitted",
                "order_id": order.order_id,
                "conid": order.instrument.conid,
                "account": order.account,
            },
        )

    # -- reads ------------------------------------------------------------------------------

    def whatif(self, acct: str, query: dict[str, str], body: Any) -> Reply:
        account = self._account(acct)
        specs = body.get("orders") if isinstance(body, dict) else None
        if not isinstance(specs, list) or not specs:
            raise _Invalid('Bad Request: body must be {"orders": [...]}')
        return Reply(200, whatif_body(self.gw, self._validate(account, specs[0])))

    def status(self, raw_id: str, query: dict[str, str], body: Any) -> Reply:
        try:
            order = self.gw.book.orders.get(int(raw_id))
        except ValueError:
            order = None
        if order is None:
            raise _Invalid(f"OrderID {raw_id} doesn't exist")
        return Reply(200, status_body(order))

    def live_orders(self, query: dict[str, str], body: Any) -> Reply:
        gw = self.gw
        if query.get("force", "").lower() == "true":
            gw.sor_muted = False  # §4.4 caveat: force clears the filter cache
            if self.force_blank:
                return Reply(200, {"orders": [], "snapshot": False})
        filters = [f.lower() for f in query.get("filters", "").split(",") if f]
        if filters:
            gw.sor_muted = True
        items = [o.full() for o in gw.book.orders.values()]
        if filters:
            items = [o for o in items if str(o["status"]).lower() in filters]
        return Reply(200, {"orders": items, "snapshot": gw.cfg.orders_snapshot})

    def trades(self, query: dict[str, str], body: Any) -> Reply:
        """Executions of today, or of the last ``days`` (1-7) days."""
        try:
            days = min(7, max(1, int(query.get("days", "1"))))
        except ValueError:
            raise _Invalid("Bad Request: days must be 1 to 7") from None
        cutoff = wall_ms() - days * 86_400_000
        out = []
        for e in self.gw.book.executions:
            if e.time_ms < cutoff:
                continue
            entry = e.entry(True)
            order = self.gw.book.orders.get(e.order_id)
            if order is not None and order.coid is not None:
                entry["order_ref"] = order.coid
            out.append(entry)
        return Reply(200, out)
