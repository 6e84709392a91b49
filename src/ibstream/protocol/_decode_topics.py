"""Decoders of the account-side data topics (``sbd``, ``sor``, ``str``, ``spl``, ``ssd``,
``sld``) and the small value coercions they share with :mod:`ibstream.protocol.decoding`.

A decoder raises :class:`BadFrame` when the frame's shape is wrong; ``decode()`` turns it into a
``Malformed`` event. Entry-level problems in list topics give a ``Malformed`` event for that
entry only, so one bad entry never hides the others.
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
)
from ibstream.protocol.fields import to_float
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


def as_int(value: object, name: str) -> int:
    """An int from an int or a numeric string; :class:`BadFrame` otherwise."""
    if type(value) is int:
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit() and text.isascii():
            return int(text)
    if type(value) is float and value.is_integer():
        return int(value)
    raise BadFrame(f"{name} must be an integer, got {value!r}")


def opt_int(value: object) -> int | None:
    """An int, or ``None`` when absent or not integral."""
    try:
        return None if value is None else as_int(value, "")
    except BadFrame:
        return None


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
    conid = opt_int(parts[2]) if len(parts) > 2 else None
    exchange = parts[3] if len(parts) > 3 and parts[3] else None
    data = msg.get("data", [])
    if not isinstance(data, list):
        raise BadFrame(f"data must be a list, got {type(data).__name__}")
    rows = []
    for item in data:
        if not isinstance(item, dict):
            raise BadFrame(f"ladder rows must be objects, got {type(item).__name__}")
        bid_size, bid_price = _ladder_side(item.get("bid"))
        ask_size, ask_price = _ladder_side(item.get("ask"))
        price = to_float(item.get("price"))
        if price is None:
            price = bid_price if bid_price is not None else ask_price
        rows.append(
            LadderRow(
                row=opt_int(item.get("row")),
                focus=item.get("focus") in (1, "1", True),
                price=price,
                bid_size=bid_size,
                ask_size=ask_size,
            )
        )
    return [
        PriceLadder(
            key=StreamKey.of(Topic.PRICE_LADDER, account),
            account=account,
            conid=conid,
            exchange=exchange,
            rows=tuple(rows),
            raw=msg,
        )
    ]


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


def order_changes(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An order entry as ``OrderUpdate.changes``: colour noise out, numeric strings as floats.

    Also used for REST order records, so both sources merge to the same values.
    """
    changes: dict[str, Any] = {}
    for name, value in entry.items():
        if name in _ORDER_NOISE:
            continue
        if name in _ORDER_FLOATS:
            number = to_float(value)
            changes[name] = value if number is None else number
        else:
            changes[name] = value
    return changes


def decode_orders(msg: dict[str, Any], topic: str) -> list[Event]:
    events: list[Event] = []
    for index, entry in enumerate(_list_arg(msg, "args", topic)):
        if not isinstance(entry, dict):
            events.append(_entry_malformed(topic, index, entry, "not an object"))
            continue
        try:
            order_id = as_int(entry.get("orderId"), "orderId")
        except BadFrame as exc:
            events.append(_entry_malformed(topic, index, entry, str(exc)))
            continue
        account = entry.get("acct", entry.get("account"))
        status = entry.get("status")
        events.append(
            OrderUpdate(
                key=_ORDERS_KEY,
                account=opt_str(account),
                order_id=order_id,
                conid=opt_int(entry.get("conid")),
                status=opt_str(status),
                changes=order_changes(entry),
                raw=entry,
            )
        )
    return events


# --- str: trades ----------------------------------------------------------------------------------

_TRADES_KEY = StreamKey.of(Topic.TRADES, "")


def decode_trades(msg: dict[str, Any], topic: str) -> list[Event]:
    entries = _list_arg(msg, "args", topic)
    if not entries:
        return [TradesOpened(key=_TRADES_KEY)]
    events: list[Event] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            events.append(_entry_malformed(topic, index, entry, "not an object"))
            continue
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
                conid=opt_int(entry.get("conid")),
                symbol=opt_str(entry.get("symbol")),
                side=opt_str(entry.get("side")),
                size=to_float(entry.get("size")),
                price=to_float(entry.get("price")),
                commission=to_float(entry.get("commission")),
                net_amount=to_float(entry.get("net_amount")),
                trade_time_ms=opt_int(entry.get("trade_time_r")),
                order_id=opt_int(entry.get("order_id")),
                exchange=opt_str(entry.get("exchange")),
                raw=entry,
            )
        )
    return events


# --- spl: P&L -------------------------------------------------------------------------------------

_PNL_KEY = StreamKey.of(Topic.PNL, "")


def decode_pnl(msg: dict[str, Any], topic: str) -> list[Event]:
    args = msg.get("args", {})
    if not isinstance(args, dict):
        raise BadFrame(f"args must be an object of rows, got {type(args).__name__}")
    events: list[Event] = []
    for row, values in args.items():
        if not isinstance(values, dict):
            events.append(_entry_malformed(topic, 0, {row: values}, "row must be an object"))
            continue
        events.append(
            Pnl(
                key=_PNL_KEY,
                account=row.partition(".")[0],
                row=row,
                row_type=opt_int(values.get("rowType")),
                daily_pnl=to_float(values.get("dpl")),
                unrealized_pnl=to_float(values.get("upl")),
                net_liquidity=to_float(values.get("nl")),
                excess_liquidity=to_float(values.get("uel")),
                market_value=to_float(values.get("mv")),
                raw=values,
            )
        )
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
    return orjson.dumps(value).decode()


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
    return orjson.dumps(value).decode()


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
