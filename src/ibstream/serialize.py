"""Events as JSON: one encoding shared by the CLI (``replay --json``), the sinks and the service.

Pure (no I/O, no clock). Every event becomes an object with a ``"type"`` member (the class name)
and its fields; ``StreamKey`` becomes ``"md:265598"``, enums their name, ``Availability`` its
code, mappings with integer keys (market-data values) string keys. ``raw`` members are left out
unless ``include_raw`` is set: they repeat the frame.

The service serialises each event once and sends the same bytes to every consumer; market data,
nearly all of that traffic, takes a direct path that writes the same bytes.

:func:`event_to_json` never raises for an event the decoder made: a value JSON cannot carry
(nesting deeper than the encoder's limit, an integer beyond 64 bits, a lone surrogate) is
written as text instead (``"<nested too deep>"``, the integer's digits, replaced characters),
so one odd frame cannot stop an event from reaching every consumer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import Enum
from typing import Any

import orjson

from ibstream.protocol.events import MarketData
from ibstream.protocol.fields import Availability, field_name
from ibstream.protocol.specs import StreamKey

__all__ = ["event_to_dict", "event_to_json", "jsonable"]

_FIELDS_CACHE: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELDS_CACHE.get(cls)
    if names is None:
        if hasattr(cls, "_fields"):  # MarketData is a NamedTuple (its docstring says why)
            names = (*cls._fields, *(n for n in ("closed", "halted") if hasattr(cls, n)))
        else:
            names = tuple(f.name for f in dataclasses.fields(cls))
        _FIELDS_CACHE[cls] = names
    return names


def jsonable(value: Any, include_raw: bool = False) -> Any:
    """``value`` converted to what JSON can carry (recursively)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, StreamKey):
        return str(value)
    if hasattr(value, "_fields"):  # a NamedTuple event
        return event_to_dict(value, include_raw=include_raw)
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, Availability):
        return value.code
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, include_raw) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v, include_raw) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return event_to_dict(value, include_raw=include_raw)
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return str(value)


def event_to_dict(event: Any, *, include_raw: bool = False) -> dict[str, Any]:
    """``{"type": "<ClassName>", field: value, ...}`` for any ibstream event or value object."""
    out: dict[str, Any] = {"type": type(event).__name__}
    for name in _field_names(type(event)):
        if name == "raw" and not include_raw:
            continue
        out[name] = jsonable(getattr(event, name), include_raw)
    return out


def event_to_json(event: Any, *, include_raw: bool = False, field_names: bool = False) -> bytes:
    """The event as compact JSON bytes (the bytes of ``event_to_dict`` encoded with orjson).

    Market-data ``values`` are keyed by field id (``"31"``), the wire form every consumer of
    the service and the bridge reads; ``field_names=True`` keys them by canonical field name
    (``"last"``) instead, for people and notebooks (``ibstream replay --json``).
    Never raises for decoder events: see the module docstring.
    """
    try:
        if event.__class__ is MarketData:
            if field_names:
                out = event_to_dict(event, include_raw=include_raw)
                out["values"] = {field_name(fid): out["values"][str(fid)] for fid in event.values}
                return orjson.dumps(out)
            if not include_raw:
                return _market_data_json(event)
        return orjson.dumps(event_to_dict(event, include_raw=include_raw))
    except (TypeError, RecursionError):  # too deep, an int beyond 64 bits, a lone surrogate
        return orjson.dumps(_bounded(event, include_raw, 0))


# Market data is nearly all the traffic (the service encodes every event it fans out): build its
# object directly and let orjson write the integer field ids as strings, instead of walking
# every value through jsonable(). tests/test_serialize.py checks the bytes equal the generic
# encoding.
_NON_STR_KEYS = orjson.OPT_NON_STR_KEYS
_KEY_TEXT: dict[StreamKey, str] = {}  # StreamKey.__str__ costs more than the lookup
_KEY_TEXT_MAX = 100_000


def _market_data_json(event: MarketData) -> bytes:
    values: Any = event.values
    for v in values.values():
        if v.__class__ is Availability:
            values = {k: (x.code if x.__class__ is Availability else x) for k, x in values.items()}
            break
    key = event.key
    text = _KEY_TEXT.get(key)
    if text is None:
        if len(_KEY_TEXT) >= _KEY_TEXT_MAX:  # bounded: conids come from the network
            _KEY_TEXT.clear()
        text = _KEY_TEXT[key] = str(key)
    return orjson.dumps(
        {
            "type": "MarketData",
            "key": text,
            "conid": event.conid,
            "server_id": event.server_id,
            "updated_ms": event.updated_ms,
            "values": values,
            "closed": event.closed,
            "halted": event.halted,
        },
        option=_NON_STR_KEYS,
    )


# -- the fallback encoding of event_to_json ------------------------------------------------------

_MAX_DEPTH = 64  # nesting kept by the fallback encoding (orjson refuses more than 255)
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # what orjson writes as a JSON integer


def _bounded(value: Any, include_raw: bool, depth: int) -> Any:
    """:func:`jsonable` that cannot fail to encode: bounded depth, big ints and bad text as
    strings (the fallback of :func:`event_to_json`, off the hot path)."""
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return value if _INT_MIN <= value <= _INT_MAX else f"<integer of {value.bit_length()} bits>"
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, StreamKey | Enum | Availability | BaseException):
        return jsonable(value)
    if depth >= _MAX_DEPTH:
        return "<nested too deep>"
    if hasattr(value, "_fields") or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    ):
        out: dict[str, Any] = {"type": type(value).__name__}
        for name in _field_names(type(value)):
            if name != "raw" or include_raw:
                out[name] = _bounded(getattr(value, name), include_raw, depth + 1)
        return out
    if isinstance(value, Mapping):
        return {
            _bounded(str(k), include_raw, depth): _bounded(v, include_raw, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_bounded(v, include_raw, depth + 1) for v in value]
    return _bounded(str(value), include_raw, depth)
