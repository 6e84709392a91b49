"""Option exercise over the socket: ``shs+exercise`` and ``inp+exercise`` (IBKR Campus,
"Exercise Options"; docs/gateway-fidelity.md).

1. ``shs+exercise+{"CEX":"<option conid>"}`` → ``{"topic":"shs+exercise"}`` then an
   ``action:"content"`` message with ``user_action`` [Submit, Cancel], the contract, the position
   and a request ``id``; an in-the-money ``warning`` content message follows.
2. ``inp+exercise+{"action":"user_input","data":{"id":"5","user_action":"submit",
   "exercise":{"make_final":true,"value":5}}}`` → an ``action:"prompt"`` on ``inp+exercise``
   with ``user_actions`` [Continue, Cancel] and a new ``id``.
3. ``inp+exercise+{"action":"user_input","data":{"id":"7","user_action":"continue"}}`` → a
   ``content`` message with the ticket's new quantities (``submitted``, ``qty_exercise``; the
   keys of the documented content, values INFERRED), then the exercise shows in ``sor`` with
   ``"side":"EXER"``. ``cancel`` forgets the ticket and sends nothing.

Independent of the client: nothing here imports ``ibstream.protocol``.
"""

from __future__ import annotations

import itertools
import weakref
from dataclasses import dataclass
from typing import Any

from ibstream.sim.clock import wall_ms
from ibstream.sim.connection import Connection
from ibstream.sim.gateway import Gateway

__all__ = ["inp", "shs"]

_mids = itertools.count(14)
_ids = itertools.count(5)


@dataclass(slots=True)
class _Ticket:
    conid: int
    position: int
    request_id: int
    quantity: int = 0
    confirm_id: int | None = None


_TICKETS: weakref.WeakKeyDictionary[Connection, dict[int, _Ticket]] = weakref.WeakKeyDictionary()


def _tickets(conn: Connection) -> dict[int, _Ticket]:
    """The open exercise tickets of one socket (gone with the socket)."""
    return _TICKETS.setdefault(conn, {})


def _position(gw: Gateway, conid: int) -> int:
    pos = gw.book.positions.get(conid)
    return int(pos.quantity) if pos is not None else 0


def shs(gw: Gateway, conn: Connection, ids: list[str], args: dict[str, Any]) -> None:
    """``shs+exercise+{"CEX":"CONID"}``: ack, then the ticket (``content``)."""
    if not ids or ids[0] != "exercise":
        conn.send({"topic": "error", "error": f"Topic unknown 'shs+{'+'.join(ids)}'"})
        return
    raw = str(args.get("CEX", ""))
    if not raw.isdigit() or int(raw) == 0:
        conn.send({"topic": "shs+exercise", "error": f"Invalid contract {raw!r}"})
        return
    conid = int(raw)
    ticket = _Ticket(conid=conid, position=_position(gw, conid), request_id=next(_ids))
    _tickets(conn)[ticket.request_id] = ticket
    known = gw.market.known(conid)
    inst = gw.market.instruments.get(conid)
    symbol = inst.symbol if inst is not None else str(conid)
    conn.send({"topic": "shs+exercise"})
    data = {
        "user_action": [{"id": "submit", "text": "Submit"}, {"id": "cancel", "text": "Cancel"}],
        "underlying_price": f"${gw.market.quote(conid).last:.2f}" if known else "",
        "contract": f"**{symbol}**",
        "underlying_symbol": symbol,
        "exercise": {"confirm": False, "confirm_final": False, "enabled": True},
        "revocable": False,
        "loading": True,
        "hold": {"confirm": False, "enabled": True},
        "qty_lapse": 0,
        "submitted": 0,
        "qty_hold": 0,
        "sec_type": inst.sec_type if inst is not None else "OPT",
        "qty_exercise": 0,
        "underlying_conid": str(conid),
        "morning_expiration": False,
        "id": ticket.request_id,
        "position": ticket.position,
        "deadline": "16:25",
    }
    conn.send({"data": data, "action": "content", "MID": str(next(_mids)), "topic": "shs+exercise"})
    conn.send(
        {
            "data": {
                "submitted": 0,
                "qty_hold": 0,
                "qty_exercise": 0,
                "warning": "Currently the option is in-the-money",
                "exercise": {"confirm": False, "enabled": True},
                "revocable": False,
                "loading": False,
                "qty_lapse": 0,
            },
            "action": "content",
            "MID": str(next(_mids)),
            "topic": "shs+exercise",
        }
    )


def _prompt(conn: Connection, ticket: _Ticket) -> None:
    ticket.confirm_id = next(_ids)
    conn.send(
        {
            "data": {
                "user_actions": [
                    {"id": "continue", "text": "Continue"},
                    {"id": "cancel", "text": "Cancel"},
                ],
                "id": ticket.confirm_id,
                "text": "This exercise request will be final and irreversible.",
                "title": "Warning",
            },
            "MID": str(next(_mids)),
            "action": "prompt",
            "topic": "inp+exercise",
        }
    )


def _submitted(conn: Connection, ticket: _Ticket) -> None:
    """The ticket after the confirmation: the quantity is submitted for exercise."""
    qty = ticket.quantity
    data = {
        "id": ticket.request_id,
        "submitted": qty,
        "qty_exercise": qty,
        "qty_hold": 0,
        "qty_lapse": 0,
        "position": ticket.position,
        "exercise": {"confirm": False, "enabled": False},
        "revocable": False,
        "loading": False,
    }
    conn.send({"data": data, "action": "content", "MID": str(next(_mids)), "topic": "shs+exercise"})


def _submit(gw: Gateway, ticket: _Ticket) -> None:
    """The exercise as an ``sor`` entry to every order subscriber (not a book order)."""
    order_id = gw.book.new_order_id()
    entry = {
        "acct": gw.cfg.account,
        "conidex": str(ticket.conid),
        "conid": ticket.conid,
        "account": gw.cfg.account,
        "orderId": order_id,
        "cashCcy": "USD",
        "sizeAndFills": f"0/{ticket.quantity}",
        "orderDesc": f"EXERCISE {ticket.quantity}, Day",
        "remainingQuantity": float(ticket.quantity),
        "filledQuantity": 0.0,
        "totalSize": float(ticket.quantity),
        "status": "Inactive",
        "order_ccp_status": "Pending Submit",
        "isEventTrading": "0",
        "lastExecutionTime_r": wall_ms(),
        "side": "EXER",
    }
    for conn in gw.authed_connections():
        if "or" in conn.subs and not gw.sor_muted:
            conn.send({"topic": "sor", "args": [entry]})


def inp(gw: Gateway, conn: Connection, ids: list[str], args: dict[str, Any]) -> None:
    """``inp+exercise+{"action":"user_input","data":{...}}``: submit, continue or cancel."""
    data = args.get("data")
    if not ids or ids[0] != "exercise" or not isinstance(data, dict):
        conn.send({"topic": "inp+exercise", "error": "user_input with data expected"})
        return
    raw_id = str(data.get("id", ""))
    request = int(raw_id) if raw_id.isdigit() else -1
    tickets = _tickets(conn)
    ticket = tickets.get(request) or next(
        (t for t in tickets.values() if t.confirm_id == request), None
    )
    if ticket is None:
        conn.send({"topic": "inp+exercise", "error": f"Unknown request id {raw_id!r}"})
        return
    action = data.get("user_action")
    if action == "cancel":
        tickets.pop(ticket.request_id, None)
        return
    if action == "submit" and request == ticket.request_id:
        exercise = data.get("exercise")
        value = exercise.get("value") if isinstance(exercise, dict) else None
        if type(value) is not int or value <= 0:
            conn.send({"topic": "inp+exercise", "error": "exercise value must be > 0"})
            return
        ticket.quantity = value
        _prompt(conn, ticket)
        return
    if action == "continue" and request == ticket.confirm_id and ticket.quantity:
        tickets.pop(ticket.request_id, None)
        _submitted(conn, ticket)
        _submit(gw, ticket)
        return
    conn.send({"topic": "inp+exercise", "error": f"Unexpected user_action {action!r}"})
