"""Decoders of the account-side data topics (``sbd``, ``sor``, ``str``, ``spl``, ``ssd``,
``sld``) and the small value coercions they share with :mod:`ibstream.protocol.decoding`.

A decoder raises :class:`BadFrame` when the frame's shape is wrong; ``decode()`` turns it into a
``Malformed`` event. Entry-level problems in list topics give a ``Malformed`` event for that
entry only, so one bad entry never hides the others. A single field whose value cannot be
represented (``"inf"``, ``"nan"``, ``"1e999"``, an integer beyond 64 bits, a conid beyond 32
bits) is left out of its entry's event and reported by a ``ValueRejected`` event right after it
(:class:`_Checks`); an identity that cannot be represented (an ``orderId`` of ``1e308``) makes the
entry ``Malformed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ibstream.protocol.events import (
    AccountLedger,
    AccountSummary,
    Event,
    LadderRow,
    Malformed,
    OrderUpdate,
    Pnl,
    PriceLadder,
    SummaryValue,
    Trade,
    TradesOpened,
    ValueRejected,
)
from ibstream.protocol.fields import (
    CONID_MAX,
    INT64_MAX,
    INT64_MIN,
    Unrepresentable,
    checked_float,
    checked_int,
    to_float,
    to_int,
)
from ibstream.protocol.specs import StreamKey, Topic

__all__ = [
    "BadFrame",
    "as_int",
    "decode_ledger",
    "decode_orders",
    "decode_pnl",
    "decode_price_ladder",
    "decode_summary",
    "decode_trades",
    "opt_bool",
    "opt_int",
    "opt_str",
    "order_changes",
    "to_float",
]


class BadFrame(Exception):
    """A known frame with the wrong shape or value types (internal to the decoder)."""


# --- value coercions ------------------------------------------------------------------------------


def _short(value: object, limit: int = 200) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def as_int(value: object, name: str, lo: int = INT64_MIN, hi: int = INT64_MAX) -> int:
    """An int within ``[lo, hi]`` from an int, an integral float or a digit string;
    :class:`BadFrame` otherwise (also for ``1e308`` or a 5,000-digit string)."""
    if type(value) is int and lo <= value <= hi:
        return value
    try:
        number = checked_int(value, lo, hi)
    except Unrepresentable as exc:
        raise BadFrame(f"{name} cannot be represented: {exc}") from None
    if number is None:
        raise BadFrame(f"{name} must be an integer, got {_short(value)}")
    return number


def opt_int(value: object) -> int | None:
    """An int within 64 bits, or ``None`` when absent, not integral or out of range."""
    if value is None:
        return None
    return to_int(value)


class _Checks:
    """Typed reads of one frame's fields that drop what cannot be represented.

    Each read returns the value, or ``None`` with a :class:`ValueRejected` queued when the value
    is numeric but not representable (non-finite, out of range). Text such as ``""`` or
    ``"N/A"`` is just absent (``None``), not a rejection: IBKR sends it routinely.
    """

    __slots__ = ("index", "rejected", "topic")

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.index = 0
        self.rejected: list[Event] = []

    def reject(self, name: str, value: object, reason: str) -> None:
        self.rejected.append(
            ValueRejected(
                topic=self.topic, index=self.index, field=name, value=_short(value), reason=reason
            )
        )

    def integer(
        self, value: object, name: str, lo: int = INT64_MIN, hi: int = INT64_MAX
    ) -> int | None:
        try:
            return checked_int(value, lo, hi)
        except Unrepresentable as exc:
            self.reject(name, value, str(exc))
            return None

    def conid(self, value: object, name: str = "conid") -> int | None:
        return self.integer(value, name, 1, CONID_MAX)

    def number(self, value: object, name: str) -> float | None:
        try:
            return checked_float(value)
        except Unrepresentable as exc:
            self.reject(name, value, str(exc))
            return None

    def flush(self, events: list[Event]) -> None:
        """Append the queued rejections to ``events`` (after the entry they belong to)."""
        if self.rejected:
            events.extend(self.rejected)
            self.rejected = []


def opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def opt_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _entry_malformed(topic: str, index: int, entry: object, reason: str) -> Malformed:
    try:
        raw = orjson.dumps(entry).decode()
    except TypeError:  # pragma: no cover - entries come from orjson, always serialisable
        raw = repr(entry)
    return Malformed(raw=raw, reason=f"{topic} entry {index}: {reason}")


def _list_arg(msg: dict[str, Any], name: str, topic: str) -> list[Any]:
    value = msg.get(name)
    if isinstance(value, list):
        return value
    if isinstance(value, dict):  # a single entry sent bare
        return [value]
    raise BadFrame(f"{name} must be a list, got {type(value).__name__}")


# --- sbd: price ladder ----------------------------------------------------------------------------


def _ladder_side(value: object) -> tuple[float | None, float | None]:
    """A ladder ``bid``/``ask`` value: a size, or the ``"size @ price"`` form (size, price)."""
    if isinstance(value, str) and "@" in value:
        size_text, _, price_text = value.partition("@")
        return to_float(size_text.strip()), to_float(price_text.strip())
    return to_float(value), None


def decode_price_ladder(msg: dict[str, Any], topic: str) -> list[Event]:
    parts = topic.split("+")
    if len(parts) < 2 or not parts[1]:
        raise BadFrame("price ladder topic must be sbd+ACCOUNT+CONID[+EXCHANGE]")
    account = parts[1]
    checks = _Checks(topic)
    conid = checks.conid(parts[2]) if len(parts) > 2 else None
    exchange = parts[3] if len(parts) > 3 and parts[3] else None
    data = msg.get("data", [])
    if not isinstance(data, list):
        raise BadFrame(f"data must be a list, got {type(data).__name__}")
    rows: list[LadderRow] = []
    for item in data:
        if not isinstance(item, dict):
            raise BadFrame(f"ladder rows must be objects, got {type(item).__name__}")
        checks.index = len(rows)
        # a side is a size, or "size @ price" (the price then also tells the row's price)
        bid_size, bid_price = _ladder_side(item.get("bid"))
        ask_size, ask_price = _ladder_side(item.get("ask"))
        price = checks.number(item.get("price"), "price")
        if price is None:
            price = bid_price if bid_price is not None else ask_price
            price = None if price is None else checks.number(price, "price")
        rows.append(
            LadderRow(
                row=checks.integer(item.get("row"), "row"),
                focus=item.get("focus") in (1, "1", True),
                price=price,
                bid_size=None if bid_size is None else checks.number(bid_size, "bid"),
                ask_size=None if ask_size is None else checks.number(ask_size, "ask"),
            )
        )
    events: list[Event] = [
        PriceLadder(
            key=StreamKey.of(Topic.PRICE_LADDER, account),
            account=account,
            conid=conid,
            exchange=exchange,
            rows=tuple(rows),
            raw=msg,
        )
    ]
    checks.flush(events)
    return events


# --- sor: orders ----------------------------------------------------------------------------------

_ORDERS_KEY = StreamKey.of(Topic.ORDERS, "")
_ORDER_NOISE = frozenset({"bgColor", "fgColor"})
_ORDER_FLOATS = frozenset(
    {
        "price",
        "avgPrice",
        "auxPrice",
        "stopPrice",
        "trailingAmt",
        "remainingQuantity",
        "filledQuantity",
        "totalSize",
        "size",
        "quantity",
        "cashQuantity",
    }
)


# integer keys of an order record, with the range a value must fit
_ORDER_INTS: dict[str, tuple[int, int]] = {
    "conid": (1, CONID_MAX),
    "orderId": (INT64_MIN, INT64_MAX),
    "parentId": (INT64_MIN, INT64_MAX),
    "lastExecutionTime_r": (INT64_MIN, INT64_MAX),
}


def order_changes(entry: Mapping[str, Any], checks: _Checks | None = None) -> dict[str, Any]:
    """An order entry as ``OrderUpdate.changes``: colour noise out, numeric strings as floats,
    values that cannot be represented left out (reported through ``checks`` when given).

    Also used for REST order records, so both sources merge to the same values.
    """
    checks = checks or _Checks("")
    changes: dict[str, Any] = {}
    for name, value in entry.items():
        if name in _ORDER_NOISE:
            continue
        if name in _ORDER_FLOATS:
            if value is None:
                changes[name] = value
                continue
            number = checks.number(value, name)
            if number is not None:
                changes[name] = number
            elif to_float(value) is None and not _is_unrepresentable(value):
                changes[name] = value  # text such as "" or "N/A": kept as sent
        elif name in _ORDER_INTS and value is not None:
            lo, hi = _ORDER_INTS[name]
            before = len(checks.rejected)
            checks.integer(value, name, lo, hi)
            if len(checks.rejected) == before:
                changes[name] = value
        else:
            changes[name] = value
    return changes


def _is_unrepresentable(value: object) -> bool:
    try:
        checked_float(value)
    except Unrepresentable:
        return True
    return False


def decode_orders(msg: dict[str, Any], topic: str) -> list[Event]:
    events: list[Event] = []
    checks = _Checks(topic)
    for index, entry in enumerate(_list_arg(msg, "args", topic)):
        if not isinstance(entry, dict):
            events.append(_entry_malformed(topic, index, entry, "not an object"))
            continue
        try:
            order_id = as_int(entry.get("orderId"), "orderId")
        except BadFrame as exc:
            events.append(_entry_malformed(topic, index, entry, str(exc)))
            continue
        checks.index = index
        account = entry.get("acct", entry.get("account"))
        status = entry.get("status")
        changes = order_changes(entry, checks)
        events.append(
            OrderUpdate(
                key=_ORDERS_KEY,
                account=opt_str(account),
                order_id=order_id,
                conid=to_int(changes.get("conid"), 1, CONID_MAX),
                status=opt_str(status),
                changes=changes,
                raw=entry,
            )
        )
        checks.flush(events)
    return events


# --- str: trades ----------------------------------------------------------------------------------

_TRADES_KEY = StreamKey.of(Topic.TRADES, "")


def decode_trades(msg: dict[str, Any], topic: str) -> list[Event]:
    entries = _list_arg(msg, "args", topic)
    if not entries:
        return [TradesOpened(key=_TRADES_KEY)]
    events: list[Event] = []
    checks = _Checks(topic)
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            events.append(_entry_malformed(topic, index, entry, "not an object"))
            continue
        checks.index = index
        execution_id = entry.get("execution_id")
        if not isinstance(execution_id, str) or not execution_id:
            reason = f"execution_id must be a non-empty string, got {execution_id!r}"
            events.append(_entry_malformed(topic, index, entry, reason))
            continue
        account = entry.get("account", entry.get("accountCode"))
        events.append(
            Trade(
                key=_TRADES_KEY,
                execution_id=execution_id,
                account=opt_str(account),
                conid=checks.conid(entry.get("conid")),
                symbol=opt_str(entry.get("symbol")),
                side=opt_str(entry.get("side")),
                size=checks.number(entry.get("size"), "size"),
                price=checks.number(entry.get("price"), "price"),
                commission=checks.number(entry.get("commission"), "commission"),
                net_amount=checks.number(entry.get("net_amount"), "net_amount"),
                trade_time_ms=checks.integer(entry.get("trade_time_r"), "trade_time_r"),
                order_id=checks.integer(entry.get("order_id"), "order_id"),
                exchange=opt_str(entry.get("exchange")),
                raw=entry,
            )
        )
        checks.flush(events)
    return events


# --- spl: P&L -------------------------------------------------------------------------------------

_PNL_KEY = StreamKey.of(Topic.PNL, "")


def decode_pnl(msg: dict[str, Any], topic: str) -> list[Event]:
    args = msg.get("args", {})
    if not isinstance(args, dict):
        raise BadFrame(f"args must be an object of rows, got {type(args).__name__}")
    events: list[Event] = []
    checks = _Checks(topic)
    for index, (row, values) in enumerate(args.items()):
        if not isinstance(values, dict):
            events.append(_entry_malformed(topic, index, {row: values}, "row must be an object"))
            continue
        checks.index = index
        events.append(
            Pnl(
                key=_PNL_KEY,
                account=row.partition(".")[0],
                row=row,
                row_type=checks.integer(values.get("rowType"), "rowType"),
                daily_pnl=checks.number(values.get("dpl"), "dpl"),
                unrealized_pnl=checks.number(values.get("upl"), "upl"),
                net_liquidity=checks.number(values.get("nl"), "nl"),
                excess_liquidity=checks.number(values.get("uel"), "uel"),
                market_value=checks.number(values.get("mv"), "mv"),
                raw=values,
            )
        )
        checks.flush(events)
    return events


# --- ssd / sld: account summary and ledger --------------------------------------------------------


def _account_of(topic: str, fallback: object) -> str:
    account = topic[4:] if len(topic) > 4 else ""
    if not account and isinstance(fallback, str):
        account = fallback
    if not account:
        raise BadFrame("no account in the topic nor in the frame")
    return account


def _result_entries(msg: dict[str, Any], topic: str) -> list[Any]:
    name = "result" if "result" in msg else "args"
    return _list_arg(msg, name, topic)


_BLANK = frozenset({"key", "timestamp"})


def _summary_value(value: object) -> float | str | bool | None:
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    return _json_text(value)


def _json_text(value: object) -> str:
    """A nested value as JSON text (one too deep for the encoder as a placeholder)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return "<value nested too deep>"


def decode_summary(msg: dict[str, Any], topic: str) -> list[Event]:
    entries = _result_entries(msg, topic)
    values: dict[str, SummaryValue] = {}
    code: object = None
    timestamp: int | None = None
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            raise BadFrame("summary entries must be objects with a string key")
        name = entry["key"]
        entry_ts = opt_int(entry.get("timestamp"))
        if timestamp is None:
            timestamp = entry_ts
        if _BLANK.issuperset(entry):
            continue
        if name == "AccountCode":
            code = entry.get("value")
        raw_value = entry["monetaryValue"] if "monetaryValue" in entry else entry.get("value")
        values[name] = SummaryValue(
            value=_summary_value(raw_value),
            currency=opt_str(entry.get("currency")),
            severity=opt_int(entry.get("severity")),
            timestamp=entry_ts,
        )
    account = _account_of(topic, code)
    return [
        AccountSummary(
            key=StreamKey.of(Topic.ACCOUNT_SUMMARY, account),
            account=account,
            timestamp=timestamp,
            values=values,
            raw=msg,
        )
    ]


_LEDGER_META = frozenset({"key", "secondKey", "timestamp", "acctCode"})


def _ledger_value(value: object) -> float | str | None:
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return _json_text(value)


def decode_ledger(msg: dict[str, Any], topic: str) -> list[Event]:
    events: list[Event] = []
    for index, entry in enumerate(_result_entries(msg, topic)):
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            events.append(_entry_malformed(topic, index, entry, "not an object with a key"))
            continue
        if _BLANK.issuperset(entry):
            continue  # "blank" entry: nothing changed for this currency
        name: str = entry["key"]
        currency = entry.get("secondKey")
        if not isinstance(currency, str) or not currency:
            currency = name.removeprefix("LedgerList")
        account = _account_of(topic, entry.get("acctCode"))
        events.append(
            AccountLedger(
                key=StreamKey.of(Topic.ACCOUNT_LEDGER, account),
                account=account,
                currency=currency,
                timestamp=opt_int(entry.get("timestamp")),
                values={k: _ledger_value(v) for k, v in entry.items() if k not in _LEDGER_META},
                raw=entry,
            )
        )
    return events
