"""Bus messages back into typed events: the inverse of :mod:`ibstream.serialize`.

Pure (no I/O, no clock). The bridge encodes each event once with
:func:`ibstream.serialize.event_to_json`; :func:`event_from_json` turns those bytes into the same
frozen event classes the local client delivers (``MarketData``, ``OrderUpdate``, ``Trade``,
``Gap``, ``SessionStateChanged``...), so code written against ``ibstream.connect`` reads remote
events unchanged.

What the JSON encoding leaves out comes back as follows:

* ``raw`` is not carried (it repeats the frame). Events get an empty ``raw``, except
  ``MarketData``, whose ``raw`` is rebuilt from its values with the ``C``/``H`` prefix of field 31
  restored, so ``closed``/``halted`` and ``Ticker.raw`` keep working;
* ``Availability`` values (field 6509) are parsed again from their code;
* ``SubscriptionStateChanged.error`` becomes the named ``ibstream.exceptions`` class when it
  exists (else ``IBStreamError``) carrying the encoded message.

Never raises: bytes that are not JSON, or an object that is not a known event, become
:class:`~ibstream.protocol.events.Malformed` / :class:`~ibstream.protocol.events.Unknown`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from ibstream import exceptions as _exc
from ibstream.protocol import events as _ev
from ibstream.protocol import lifecycle as _lc
from ibstream.protocol.fields import FIELDS, Availability, FieldKind, parse_availability
from ibstream.protocol.portfolio import Position
from ibstream.protocol.specs import StreamKey, Topic
from ibstream.remote.wire import PositionUpdate

__all__ = ["event_from_dict", "event_from_json", "parse_key"]

_TOPICS = {t.value: t for t in Topic}
_AVAILABILITY_IDS = frozenset(i.id for i in FIELDS.values() if i.kind is FieldKind.AVAILABILITY)


def parse_key(text: str) -> StreamKey:
    """``"md:265598"`` / ``"or"`` back into the shared :class:`StreamKey`; raises ``ValueError``."""
    topic, _, ident = text.partition(":")
    t = _TOPICS.get(topic)
    if t is None:
        raise ValueError(f"unknown stream key {text!r}")
    return StreamKey.of(t, ident)


def _md_values(values: Mapping[str, Any]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for k, v in values.items():
        fid = int(k)
        if fid in _AVAILABILITY_IDS and isinstance(v, str):
            out[fid] = parse_availability(v)
        else:
            out[fid] = v
    return out


def _md_raw(values: Mapping[int, Any], closed: bool, halted: bool) -> dict[str, Any]:
    raw: dict[str, Any] = {
        str(k): (v.code if isinstance(v, Availability) else v) for k, v in values.items()
    }
    if (closed or halted) and 31 in values:
        raw["31"] = ("C" if closed else "H") + str(values[31])
    elif closed or halted:
        raw["31"] = "C" if closed else "H"
    return raw


def _market_data(d: Mapping[str, Any]) -> _ev.MarketData:
    values = _md_values(d.get("values") or {})
    return _ev.MarketData(
        key=parse_key(d["key"]),
        conid=int(d["conid"]),
        server_id=d.get("server_id"),
        updated_ms=d.get("updated_ms"),
        values=values,
        raw=_md_raw(values, bool(d.get("closed")), bool(d.get("halted"))),
    )


def _error(value: Any) -> _exc.IBStreamError | None:
    if not isinstance(value, str):
        return None
    name, _, message = value.partition(": ")
    cls = getattr(_exc, name, None)
    if isinstance(cls, type) and issubclass(cls, _exc.IBStreamError):
        try:
            return cls(message)
        except TypeError:  # a class whose constructor takes other arguments
            pass
    return _exc.IBStreamError(message or value)


def _convert(name: str, value: Any) -> Any:
    if name == "key":
        return parse_key(value)
    return value


def _obj(cls: type, d: Mapping[str, Any]) -> Any:
    """A nested value object (``Bar``, ``LadderRow``, ``SummaryValue``) without its type tag."""
    return cls(**{k: v for k, v in d.items() if k != "type"})


# field name -> converter, per event class (fields not listed pass through as decoded)
_SPECIAL: dict[type, dict[str, Callable[[Any], Any]]] = {
    _ev.AccountInfo: {"accounts": tuple},
    _ev.MarketHistory: {"bars": lambda bs: tuple(_obj(_ev.Bar, b) for b in bs)},
    _ev.PriceLadder: {"rows": lambda rs: tuple(_obj(_ev.LadderRow, r) for r in rs)},
    _ev.AccountSummary: {
        "values": lambda vs: {k: _obj(_ev.SummaryValue, v) for k, v in vs.items()},
    },
    _lc.SessionStateChanged: {
        "previous": lambda n: _lc.SessionState[n],
        "current": lambda n: _lc.SessionState[n],
    },
    _lc.SubscriptionStateChanged: {
        "previous": lambda n: None if n is None else _lc.SubscriptionState[n],
        "current": lambda n: _lc.SubscriptionState[n],
        "error": _error,
    },
}


def _position(d: Mapping[str, Any] | None) -> Position | None:
    """A portfolio position (``raw``, the REST row, is not carried)."""
    if d is None:
        return None
    return Position(**{k: v for k, v in d.items() if k not in ("type", "raw")}, raw={})


_SPECIAL[PositionUpdate] = {"position": _position}

_CLASSES: dict[str, type] = {
    name: cls
    for module in (_ev, _lc)
    for name in module.__all__
    if isinstance(cls := getattr(module, name), type) and hasattr(cls, "__dataclass_fields__")
}
_CLASSES["PositionUpdate"] = PositionUpdate


def event_from_dict(d: Mapping[str, Any]) -> Any:
    """The typed event of one decoded JSON object (see the module docstring)."""
    try:
        kind = d.get("type")
        if kind == "MarketData":
            return _market_data(d)
        cls = _CLASSES.get(kind) if isinstance(kind, str) else None
        if cls is None:
            return _ev.Unknown(topic=kind if isinstance(kind, str) else None, payload=dict(d))
        special = _SPECIAL.get(cls, {})
        kwargs: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:  # type: ignore[attr-defined]
            if name == "raw":
                kwargs[name] = d.get("raw", "" if cls is _ev.Malformed else {})
                continue
            if name not in d:
                continue  # a default applies, or the constructor names what is missing
            fn = special.get(name)
            kwargs[name] = fn(d[name]) if fn is not None else _convert(name, d[name])
        return cls(**kwargs)
    except Exception as exc:  # the contract: never raise on bad input
        text = orjson.dumps(d, default=str).decode() if isinstance(d, Mapping) else repr(d)
        return _ev.Malformed(raw=text, reason=f"not an ibstream event: {type(exc).__name__}")


def event_from_json(data: bytes | str) -> Any:
    """The typed event of bytes written by :func:`ibstream.serialize.event_to_json`."""
    try:
        d = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        return _ev.Malformed(raw=text, reason=f"not JSON: {exc}")
    if not isinstance(d, dict):
        return _ev.Malformed(raw=orjson.dumps(d).decode(), reason="not a JSON object")
    return event_from_dict(d)
