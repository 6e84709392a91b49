"""Combo (spread) market data: ``smd+SPREAD;;;LEG/RATIO,...`` (docs/gateway-fidelity.md).

IBKR's staff sample script subscribes to a combo with
``smd+28812380;;;497222760/1,495512552/-1+{"fields":["31","84","86"]}``: the topic target is the
spread conid, ``;;;``, then comma-separated ``leg conid/ratio`` pairs (negative = sell leg).
The frames echo that topic. The simulator prices the combo from its legs' walks: last =
Σ ratio·last; bid = Σ ratio·(bid if buying the leg else ask); ask the mirror; sizes the
smallest leg size per ratio. ``conid`` is the spread conid and ``conidEx`` the combo string
(INFERRED: no recorded combo frame was found).

Independent of the client: nothing here imports ``ibstream.protocol``.
"""

from __future__ import annotations

from typing import Any

from ibstream.sim.clock import wall_ms
from ibstream.sim.connection import Connection, Sub
from ibstream.sim.gateway import Gateway

__all__ = ["parse_combo", "subscribe_combo"]

Legs = list[tuple[int, int]]


def parse_combo(text: str) -> tuple[int, Legs] | None:
    """``(spread, [(leg, ratio), ...])`` from ``SPREAD;;;LEG/RATIO,...``; ``None`` if bad."""
    head, sep, tail = text.partition(";;;")
    if not sep or not head.isdigit():
        return None
    legs: Legs = []
    for item in tail.split(","):
        conid, slash, ratio = item.partition("/")
        if not slash or not conid.isdigit() or not ratio.lstrip("-").isdigit():
            return None
        if int(ratio) == 0 or int(conid) == 0:
            return None
        legs.append((int(conid), int(ratio)))
    if len(legs) < 2 or len({c for c, _ in legs}) != len(legs):
        return None
    return int(head), legs


def combo_fields(gw: Gateway, legs: Legs) -> dict[str, Any]:
    """The combo's level-1 fields from its legs' current quotes (strings, like ``smd``)."""
    last = bid = ask = 0.0
    bid_size = ask_size = None
    for conid, ratio in legs:
        q = gw.market.quote(conid)
        last += ratio * q.last
        if ratio > 0:
            bid += ratio * q.bid
            ask += ratio * q.ask
        else:
            bid += ratio * q.ask
            ask += ratio * q.bid
        bsz = (q.bid_size if ratio > 0 else q.ask_size) // (100 * abs(ratio))
        asz = (q.ask_size if ratio > 0 else q.bid_size) // (100 * abs(ratio))
        bid_size = bsz if bid_size is None else min(bid_size, bsz)
        ask_size = asz if ask_size is None else min(ask_size, asz)
    symbols = ",".join(gw.market.instruments[c].symbol for c, _ in legs)
    return {
        "31": f"{last:.2f}",
        "55": symbols,
        "84": f"{bid:.2f}",
        "85": f"{ask_size or 0:,}",
        "86": f"{ask:.2f}",
        "88": f"{bid_size or 0:,}",
        "6509": "DPB" if gw.cfg.delayed else "RpB",
        "6070": "BAG",
    }


def _frame(sub: Sub, spread: int, body: dict[str, Any]) -> dict[str, Any]:
    head: dict[str, Any] = {
        "server_id": sub.server_id,
        "conidEx": sub.args["conidEx"],
        "conid": spread,
        "_updated": wall_ms(),
        "6119": sub.server_id,
    }
    head.update(body)
    head["topic"] = sub.topic
    return head


class _ComboListener:
    """Re-prices the combo when any leg steps; sends the changed requested fields."""

    __slots__ = ("conn", "gw", "last", "legs", "spread", "sub")

    def __init__(self, gw: Gateway, conn: Connection, sub: Sub, spread: int, legs: Legs) -> None:
        self.gw, self.conn, self.sub, self.spread, self.legs = gw, conn, sub, spread, legs
        self.last: dict[str, Any] = {}

    def _alive(self) -> bool:
        return self.conn.holds(self.sub, self.gw.clock.now)

    def on_tick(self, changed: dict[str, Any], saturated: bool) -> None:
        if not self._alive():
            for conid, _ in self.legs:
                self.gw.unwatch(conid, self)
            return
        now = combo_fields(self.gw, self.legs)
        body = {k: v for k, v in now.items() if k in self.sub.fields and self.last.get(k) != v}
        self.last = now
        if body:
            self.conn.send(_frame(self.sub, self.spread, body))


def subscribe_combo(gw: Gateway, conn: Connection, conidex: str, args: dict[str, Any]) -> None:
    """Handle ``smd+<combo>``: first frame twice, then deltas as the legs move (§4.1)."""
    topic = f"smd+{conidex}"
    parsed = parse_combo(conidex)
    if parsed is None:
        conn.send({"topic": topic, "error": f"Invalid conid {conidex}"})
        return
    spread, legs = parsed
    sub = gw.open_md_sub(conn, conidex, spread, args)
    if not all(gw.market.known(c) for c, _ in legs):
        conn.send(_frame(sub, spread, {"55": "-", "31": "N/A"}))
        return
    listener = _ComboListener(gw, conn, sub, spread, legs)
    full = combo_fields(gw, legs)
    listener.last = full
    body = {k: v for k, v in full.items() if k in sub.fields}
    first = _frame(sub, spread, body)
    conn.send(first)
    conn.send(dict(reversed(list(first.items()))))  # twice, same stamp (§8.3)
    for conid, _ in legs:
        gw.watch(conid, listener)
