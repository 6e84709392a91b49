"""Topic handlers: what the gateway does with each C→S message (protocol.md §4, §4.0 table).

``handle(gw, conn, text)`` parses ``TOPIC+ARGS`` (§1.5) and dispatches. Confirmation behaviour
per §4.0: ``smd`` first frame (twice), ``smh`` first frame with ``serverId``, ``sor`` silent,
``str`` ``args:[]`` opener, ``spl``/``ssd``/``sld`` first frame, ``usd``/``uld`` topic-less
results, ``umh`` ``{"message":"Unsubscribed ID"}`` (selectable), everything else silent.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson

from ibstream.sim import combos, exercise, frames
from ibstream.sim.clock import wall_ms
from ibstream.sim.connection import Connection, Sub
from ibstream.sim.gateway import Gateway
from ibstream.sim.wire import dumps, json_with_java_doubles

__all__ = ["handle", "parse"]

SATURATION_BATCH = 512
SATURATION_REFRESH = 16


def parse(text: str) -> tuple[str, list[str], dict[str, Any]]:
    """Split ``smd+265598+{"fields":[...]}`` into (``smd``, [``265598``], args) (§1.5).

    The JSON argument starts at the first ``+{``; IDs between are ``+``-separated.
    """
    brace = text.find("{")
    head, raw = (text[:brace], text[brace:]) if brace >= 0 else (text, "")
    parts = [p for p in head.split("+") if p != ""]
    topic = parts[0] if parts else ""
    args: dict[str, Any] = {}
    if raw:
        try:
            loaded = orjson.loads(raw)
        except orjson.JSONDecodeError:
            loaded = {}
        if isinstance(loaded, dict):
            args = loaded
    return topic, parts[1:], args


def handle(gw: Gateway, conn: Connection, text: str) -> None:
    """Apply one C→S text message to ``conn``."""
    gw.touch()
    topic, ids, args = parse(text.strip())
    if topic == "tic":
        now = wall_ms()
        frame = {"topic": "tic", "alive": True, "id": gw.session_id, "lastAccessed": now}
        for _ in range(gw.cfg.tic_replies if gw.answer_tic else 0):
            conn.send(frame)
        return
    if topic == "ech":
        if gw.cfg.echo_reply:
            conn.send({"topic": "ech+hb", "alive": True, "hb": wall_ms()})
        return
    if topic[:1] == "s" and len(topic) == 3:
        if not gw.authenticated:
            if topic == "sor":
                conn.send({"topic": "sor", "error": "not authenticated", "args": []})
            return
        fault = gw.take_fault(text)
        if fault == "ignore":
            return
        if fault == "reject":
            echo = "+".join([topic, *ids])
            conn.send({"topic": echo, "error": f"Subscription rejected: {text[:60]}", "code": 400})
            return
    handler = _HANDLERS.get(topic)
    if handler is None:
        conn.send({"topic": "error", "error": f"Topic unknown '{text[:3]}'"})
        return
    handler(gw, conn, ids, args)


# --- market data (§4.1) -----------------------------------------------------------------------


class _MdListener:
    """Turns market steps into ``smd`` delta frames for one socket subscription."""

    __slots__ = ("conn", "gw", "rng", "sub")

    def __init__(self, gw: Gateway, conn: Connection, sub: Sub) -> None:
        self.gw = gw
        self.conn = conn
        self.sub = sub
        self.rng = random.Random(f"{gw.cfg.seed}:{sub.server_id}")

    def _alive(self) -> bool:
        return self.conn.holds(self.sub, self.gw.clock.now)

    def on_tick(self, changed: dict[str, Any], saturated: bool) -> None:
        sub = self.sub
        if not self._alive():
            self.gw.unwatch(sub.conid, self)
            return
        if saturated:
            if not sub.saturating:
                sub.saturating = True
                sub.task = asyncio.get_running_loop().create_task(_saturate(self))
            return
        if self.gw.cfg.empty_smd_probability and (
            self.rng.random() < self.gw.cfg.empty_smd_probability
        ):
            self.conn.send({"topic": sub.topic})
            return
        body = {k: v for k, v in changed.items() if k in sub.fields and k != "6508"}
        if "6508" in sub.fields and self.rng.random() < 0.05:
            body["6508"] = changed.get("6508") or self.gw.market.fields(sub.conid)["6508"]
        if not body:
            return
        self.conn.send(_md_frame(sub, body))


def _md_frame(sub: Sub, body: dict[str, Any]) -> dict[str, Any]:
    head: dict[str, Any] = {
        "server_id": sub.server_id,
        "conidEx": sub.args.get("conidEx", str(sub.conid)),
        "conid": sub.conid,
        "_updated": wall_ms(),
        "6119": sub.server_id,
    }
    head.update(body)
    head["topic"] = sub.topic
    return head


async def _saturate(listener: _MdListener) -> None:
    """As many delta frames as the socket drains (saturation mode: a benchmark load).

    Frames are pre-encoded as ``head + _updated + body``: a ring of bodies rendered from the
    walk, refreshed by ``SATURATION_REFRESH`` new steps per batch; each batch shares one
    ``_updated`` stamp and goes out in a single ``transport.write``.
    """
    gw, conn, sub = listener.gw, listener.conn, listener.sub
    quote = gw.market.quote(sub.conid)
    want = [f for f in ("31", "84", "86", "85", "88", "7059") if f in sub.fields] or ["31"]
    conidex = sub.args.get("conidEx", str(sub.conid))
    head = dumps({"server_id": sub.server_id, "conidEx": conidex, "conid": sub.conid})
    head = head[:-1] + b',"_updated":'
    tail_id = b',"6119":' + dumps(sub.server_id)
    topic = b',"topic":' + dumps(sub.topic) + b"}"

    def body() -> bytes:
        quote.step()
        hot = quote.hot_fields(gw.market.state)
        fields = dumps({k: hot[k] for k in want})
        return tail_id + b"," + fields[1:-1] + topic

    ring = [body() for _ in range(SATURATION_BATCH)]
    i = 0
    try:
        while listener._alive() and gw.market.interval(sub.conid) <= 0 and gw.authenticated:
            for _ in range(SATURATION_REFRESH):
                ring[i] = body()
                i = (i + 1) % SATURATION_BATCH
            stamp = head + str(wall_ms()).encode()
            conn.send_many([stamp + b for b in ring])
            if conn.paused:
                await conn.drain()
            else:
                await asyncio.sleep(0)
    finally:
        sub.saturating = False


def _smd(gw: Gateway, conn: Connection, ids: list[str], args: dict[str, Any]) -> None:
    if not ids:
        return
    conidex = ids[0]
    if ";;;" in conidex:
        combos.subscribe_combo(gw, conn, conidex, args)
        return
    try:
        conid = int(conidex.split("@")[0])
    except ValueError:
        conn.send({"topic": f"smd+{conidex}", "error": f"Invalid conid {conidex}"})
        return
    sub = gw.open_md_sub(conn, conidex, conid, args)
    if not gw.market.known(conid):
        conn.send(_md_frame(sub, {"55": "-", "31": "N/A"}))
        return
    full = gw.market.fields(conid)
    body = {k: full[k] for k in sub.fields if k in full and k != "6508"}
    first = _md_frame(sub, body)
    conn.send(first)
    # the first frame twice: same stamp, keys in another order (§8.3, §8.19)
    conn.send(dict(reversed(list(first.items()))))
    gw.watch(conid, _MdListener(gw, conn, sub))


def _umd(gw: Gateway, conn: Connection, ids: list[str], args: dict[str, Any]) -> None:
    if ids:
        conn.drop_sub(f"md:{ids[0]}")  # no reply (§4.1)


# --- market history (§4.2) --------------------------------------------------------------------


def _smh(gw: Gateway, conn: Connection, ids: list[str], args: dict[str, Any]) -> None:
    if not ids:
        return
    conidex = ids[0]
    try:
        conid = int(conidex.split("@")[0])
    except ValueError:
        return
    active = sum(1 for c in gw.connections for k in c.subs if k.startswith("mh:"))
    if active >= gw.cfg.history_limit:
        if gw.cfg.history_limit_reply == "error":
            conn.send(
                {
                    "topic": f"smh+{conid}",
                    "error": "Too many requests: maximum of "
                    f"{gw.cfg.history_limit} concurrent market history streams",
                    "code": 429,
                }
            )
        return
    if not gw.market.known(conid):
        conn.send({"topic": f"smh+{conid}", "error": f"No data for conid {conid}"})
        return
    sid = gw.hist_server_id()
    sub = conn.add_sub(
        Sub(
            key=f"mh:{sid}",
            topic=f"smh+{conid}",
            args=dict(args),
            server_id=sid,
            conid=conid,
            created=gw.clock.now(),
        )
    )
    last = gw.market.quote(conid).last
    frame = frames.history_frame(
        gw.market.instruments[conid], sid, args, gw.cfg.seed, last, wall_ms()
    )
    conn.send(frame)
    if gw.cfg.history_update_interval:
        sub.task = asyncio.get_running_loop().create_task(_history_updates(gw, conn, sub, frame))


async def _history_updates(gw: Gateway, conn: Connection, sub: Sub, first: dict[str, Any]) -> None:
    """Partial-bar updates: the forming (last) bar re-sent with the moving price, in frames of
    the first frame's shape, until ``umh`` (the live gateway keeps sending; §4.2)."""
    bar = dict(first["data"][-1])
    interval = gw.cfg.history_update_interval or 60.0
    while not conn.closed and gw.authenticated:
        await gw.clock.sleep(interval)
        q = gw.market.quote(sub.conid)
        q.step()
        bar["c"] = round(q.last, 2)
        bar["h"] = max(bar["h"], bar["c"])
        bar["l"] = min(bar["l"], bar["c"])
        bar["v"] = bar["v"] + q.last_size
        update = dict(first)
        update["data"] = [dict(bar)]
        update["points"] = 1
        conn.send(update)


def _umh(gw: Gateway, conn: Connection, ids: list[str], args: dict[str, Any]) -> None:
    if not ids:
        return
    sid = ids[0]
    owner = next((c for c in gw.connections if f"mh:{sid}" in c.subs), None)
    if owner is not None:
        owner.drop_sub(f"mh:{sid}")
    if gw.cfg.umh_reply == "message":
        conn.send({"message": f"Unsubscribed {sid}"})


# --- price ladder (§4.3) ----------------------------------------------------------------------


def _sbd(gw: Gateway, conn: Connection, ids: list[str], args: dict[str, Any]) -> None:
    if len(ids) < 2:
        return
    acct, conidex = ids[0], ids[1]
    try:
        conid = int(conidex)
    except ValueError:
        return
    if not gw.market.known(conid):
        return
    sub = conn.add_sub(Sub(key=f"bd:{acct}", topic="+".join(["sbd", *ids]), conid=conid))
    sub.task = asyncio.get_running_loop().create_task(_ladder(gw, conn, sub))


async def _ladder(gw: Gateway, conn: Connection, sub: Sub) -> None:
    rng = random.Random(f"{gw.cfg.seed}:ladder:{sub.conid}")
    while not conn.closed and gw.authenticated:
        q = gw.market.quote(sub.conid)
        rows = frames.ladder_rows(
            q.last, q.tick, rng, size_at_price=gw.cfg.ladder_form == "size_at_price"
        )
        conn.send({"topic": sub.topic, "data": rows})
        await gw.clock.sleep(gw.cfg.ladder_interval * gw.market.slowdown)


def _ubd(gw: Gateway, conn: Connection, ids: list[str], args: dict[str, Any]) -> None:
    if ids:
        conn.drop_sub(f"bd:{ids[0]}")


# --- orders, trades, P&L (§4.4-§4.6) ---------------------------------------------------------


def _sor(gw: Gateway, conn: Connection, ids: list[str], args: dict[str, Any]) -> None:
    conn.add_sub(Sub(key="or", topic="sor", args=dict(args)))  # silent (§8.6)


def _str(gw: Gateway, conn: Connection, ids: list[str], args: dict[str, Any]) -> None:
    rt = bool(args.get("realtimeUpdatesOnly", args.get("realtime_updates_only", False)))
    days = int(args.get("days", 1) or 1)
    conn.add_sub(Sub(key="tr", topic="str", args=dict(args)))
    conn.send({"topic": "str", "args": []})  # opener (§8.8)
    if rt:
        return
    cutoff = wall_ms() - max(1, min(days, 7)) * 86_400_000
    for e in gw.book.executions:
        if e.time_ms >= cutoff:
            conn.send({"topic": "str", "args": [e.entry(False)]})
            conn.send({"topic": "str", "args": [e.entry(True)]})


def _spl(gw: Gateway, conn: Connection, ids: list[str], args: dict[str, Any]) -> None:
    sub = conn.add_sub(Sub(key="pl", topic="spl"))
    sub.task = asyncio.get_running_loop().create_task(_pnl(gw, conn))


def pnl_args(gw: Gateway) -> dict[str, Any]:
    """``spl`` args per ``ACCT.Core`` (§4.6)."""
    upl, mv = gw.book.unrealized(gw.prices())
    nl = gw.book.cash + mv
    return {
        f"{gw.cfg.account}.Core": {
            "rowType": 1,
            "dpl": round(gw.book.realized + upl, 2),
            "nl": round(nl, 2),
            "upl": round(upl, 2),
            "uel": round(nl * 0.9, 2),
            "mv": round(mv, 2),
        }
    }


async def _pnl(gw: Gateway, conn: Connection) -> None:
    while not conn.closed and gw.authenticated:
        conn.send({"topic": "spl", "args": pnl_args(gw)})
        await gw.clock.sleep(gw.cfg.pnl_interval * gw.market.slowdown)


def _sub_drop(key: str) -> Any:
    def drop(gw: Gateway, conn: Connection, ids: list[str], args: dict[str, Any]) -> None:
        conn.drop_sub(key)  # no reply (§4.4-§4.6)

    return drop


# --- account summary / ledger (§4.7) ----------------------------------------------------------


def _account_values(gw: Gateway) -> dict[str, float]:
    upl, mv = gw.book.unrealized(gw.prices())
    nl = gw.book.cash + mv
    return {
        "NetLiquidation": round(nl, 2),
        "TotalCashValue": round(gw.book.cash, 2),
        "GrossPositionValue": round(abs(mv), 2),
        "ExcessLiquidity": round(nl * 0.9, 2),
        "AvailableFunds": round(nl * 0.9, 2),
        "BuyingPower": round(nl * 3.6, 2),
        "AccruedCash": 0.0,
        "UnrealizedPnL": round(upl, 2),
        "RealizedPnL": round(gw.book.realized, 2),
    }


def _ssd(gw: Gateway, conn: Connection, ids: list[str], args: dict[str, Any]) -> None:
    acct = ids[0] if ids else gw.cfg.account
    sub = conn.add_sub(Sub(key=f"sd:{acct}", topic=f"ssd+{acct}", args=dict(args)))
    sub.task = asyncio.get_running_loop().create_task(_summary(gw, conn, sub, acct))


async def _summary(gw: Gateway, conn: Connection, sub: Sub, acct: str) -> None:
    keys = [str(k).removesuffix("-S") for k in sub.args.get("keys", []) or []]
    last: dict[str, float] = {}
    while not conn.closed and gw.authenticated:
        values = _account_values(gw)
        changed = {k: v for k, v in values.items() if last.get(k) != v}
        if changed or not last:
            ts = int(wall_ms() / 1000)
            conn.send(
                {"topic": sub.topic, "result": frames.summary_entries(acct, changed, keys, ts)}
            )
        last = values
        await gw.clock.sleep(gw.cfg.summary_interval)


def _usd(gw: Gateway, conn: Connection, ids: list[str], args: dict[str, Any]) -> None:
    acct = ids[0] if ids else gw.cfg.account
    conn.drop_sub(f"sd:{acct}")
    conn.send({"result": "unsubscribed from summary"})


def _sld(gw: Gateway, conn: Connection, ids: list[str], args: dict[str, Any]) -> None:
    acct = ids[0] if ids else gw.cfg.account
    sub = conn.add_sub(Sub(key=f"ld:{acct}", topic=f"sld+{acct}", args=dict(args)))
    sub.task = asyncio.get_running_loop().create_task(_ledger(gw, conn, sub, acct))


async def _ledger(gw: Gateway, conn: Connection, sub: Sub, acct: str) -> None:
    """Every ``ledger_interval``; blank entries when nothing changed; Java doubles (§4.7)."""
    last: dict[str, float] = {}
    while not conn.closed and gw.authenticated:
        upl, mv = gw.book.unrealized(gw.prices())
        cash = gw.book.cash
        values = {
            "cashbalance": float(cash),
            "exchangeRate": 1.0,
            "netLiquidationValue": float(cash + mv),
            "unrealizedPnl": float(upl),
            "settledCash": float(cash),
            "stockMarketValue": float(mv),
        }
        ts = int(wall_ms() / 1000)
        entries = frames.ledger_entries(acct, values, values != last, ts, ["BASE", "USD", "EUR"])
        text = json_with_java_doubles({"result": entries, "topic": sub.topic})
        conn.send_payload(text.encode())
        last = values
        await gw.clock.sleep(gw.cfg.ledger_interval)


def _uld(gw: Gateway, conn: Connection, ids: list[str], args: dict[str, Any]) -> None:
    acct = ids[0] if ids else gw.cfg.account
    conn.drop_sub(f"ld:{acct}")
    conn.send({"result": "unsubscribed from ledger"})


_HANDLERS: dict[str, Any] = {
    "smd": _smd,
    "umd": _umd,
    "smh": _smh,
    "umh": _umh,
    "sbd": _sbd,
    "ubd": _ubd,
    "sor": _sor,
    "uor": _sub_drop("or"),
    "str": _str,
    "utr": _sub_drop("tr"),
    "spl": _spl,
    "upl": _sub_drop("pl"),
    "ssd": _ssd,
    "usd": _usd,
    "sld": _sld,
    "uld": _uld,
    "shs": exercise.shs,
    "inp": exercise.inp,
}
