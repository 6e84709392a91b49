"""Inbound decoding: one gateway frame in, a list of typed events out.

:func:`decode` never raises. Input that is not a JSON object, or a known frame whose values have
the wrong types, becomes :class:`~ibstream.protocol.events.Malformed` (with the raw text and the
reason); a well-formed frame with a topic we do not know becomes
:class:`~ibstream.protocol.events.Unknown`.

Dispatch (protocol.md §1.5): data topics by their first three characters (``smd+265598`` ->
``smd``), with the conid or account taken from the topic suffix and falling back to the payload;
unsolicited topics (``system``, ``sts``, ``act``, ``tic``, ``blt``, ``ntf``, ``error``) by exact
name; topic-less frames per §5.8. Any frame with a top-level ``error`` key is an
:class:`~ibstream.protocol.events.ErrorMessage` (§5.7). The legacy echo ``ech+hb`` (bare text or
as a topic) decodes to ``Heartbeat(hb_ms=None)``.

The ``smd`` path is the hot one (most frames of a busy socket): it avoids regexes, caches stream
keys by topic and parses values with one table lookup per key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

from ibstream.exceptions import InvalidArgument
from ibstream.protocol._decode_prompts import decode_exercise
from ibstream.protocol._decode_session import (
    _act,
    _blt,
    _echo,
    _error,
    _ntf,
    _sts,
    _system,
    _tic,
    _topicless,
)
from ibstream.protocol._decode_topics import (
    BadFrame,
    as_int,
    decode_ledger,
    decode_orders,
    decode_pnl,
    decode_price_ladder,
    decode_summary,
    decode_trades,
    opt_int,
    opt_str,
    order_changes,
    to_float,
)
from ibstream.protocol.combo import Combo, ComboId, is_combo_text
from ibstream.protocol.events import (
    Bar,
    Event,
    Heartbeat,
    Malformed,
    MarketData,
    MarketHistory,
    Unknown,
)
from ibstream.protocol.fields import CONID_MAX, FIELDS, FieldValue, value_parser
from ibstream.protocol.specs import StreamKey, Topic

__all__ = ["cache_stats", "decode", "order_changes", "set_cache_limits"]

_Handler = Callable[[dict[str, Any], str], list[Event]]

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError

# --- smd: the hot path --------------------------------------------------------------------------

_Parser = Callable[[object], FieldValue]
# field key -> (id, parser, cache of parsed values); meta keys map to None. Wire values repeat a
# lot (price levels, sizes, markers), so each parser has a bounded cache: a dict hit is several
# times cheaper than float() on a string. Parsers are pure, so caching cannot change a result.
_CACHE_MAX = 8_192
_CACHE_VALUE_MAX = 64  # longer wire strings are parsed every time, never kept


class _ValueCache(dict[Any, FieldValue]):
    """Parsed values by wire value for one parser; a hit is one C-level subscript.

    Wire values repeat a lot (price levels, sizes, markers) and parsers are pure, so caching
    cannot change a result. Bounded in entries *and bytes* (values come from the network):
    cleared when full, and a string longer than 64 characters is never kept, so a cache holds
    at most 8,192 x 64 characters however large the values a gateway sends.
    """

    __slots__ = ("parse",)

    def __init__(self, parse: _Parser) -> None:
        super().__init__()
        self.parse = parse

    def __missing__(self, raw: Any) -> FieldValue:
        value = self.parse(raw)
        if raw.__class__ is str and len(raw) > _CACHE_VALUE_MAX:
            return value
        if len(self) >= _CACHE_MAX:
            self.clear()
            if not _CACHE_MAX:
                return value
        self[raw] = value
        return value


_FieldEntry = tuple[int, _Parser, _ValueCache]
_CACHES: dict[_Parser, _ValueCache] = {}


def set_cache_limits(max_entries: int = 8_192, max_value_chars: int = 64) -> None:
    """Bound the decoder's value caches (process-wide): at most ``max_entries`` values per
    parser, and wire strings longer than ``max_value_chars`` never cached. ``max_entries=0``
    turns caching off. Caches are emptied so the new bounds hold at once."""
    global _CACHE_MAX, _CACHE_VALUE_MAX
    if type(max_entries) is not int or max_entries < 0:
        raise ValueError(f"max_entries must be an int >= 0, got {max_entries!r}")
    if type(max_value_chars) is not int or max_value_chars < 0:
        raise ValueError(f"max_value_chars must be an int >= 0, got {max_value_chars!r}")
    _CACHE_MAX, _CACHE_VALUE_MAX = max_entries, max_value_chars
    for cache in _CACHES.values():
        cache.clear()


def cache_stats() -> dict[str, int]:
    """Entries and characters of wire text held by the value caches, and their bounds."""
    entries = sum(len(c) for c in _CACHES.values())
    chars = sum(len(k) for c in _CACHES.values() for k in c if k.__class__ is str)
    return {
        "entries": entries,
        "text_chars": chars,
        "max_entries_per_parser": _CACHE_MAX,
        "max_value_chars": _CACHE_VALUE_MAX,
    }


def _entry(fid: int) -> _FieldEntry:
    parser = value_parser(fid)
    cache = _CACHES.get(parser)
    if cache is None:
        cache = _CACHES[parser] = _ValueCache(parser)
    return fid, parser, cache


# field key -> entry: the catalogue, plus numeric ids first seen on the wire (bounded)
_MD_TABLE: dict[str, _FieldEntry] = {str(fid): _entry(fid) for fid in FIELDS}
# meta keys (protocol.md §6.1) are carried by the event's own attributes, not in ``values``;
# 6119 is the delivery marker, always equal to ``server_id``. A set membership test is a
# bytecode, a ``dict.get`` a call: the hot loop skips meta keys with ``in`` and then subscripts
# the field table (a key in neither is rare and takes the slow path).
_MD_META = frozenset(("topic", "conid", "conidEx", "_updated", "server_id", "6119"))
_TABLE_MAX = 5_000  # bounded: unknown field ids come from the network
_MISSING: Any = object()
_MD_KEYS: dict[str, tuple[StreamKey, int]] = {}  # smd topic -> (key, conid), bounded
_MD_KEYS_MAX = 20_000
_MD_TOPIC_MAX = 64  # longer topics are not cached (bytes bound)
_CONID_DIGITS = len(str(CONID_MAX))
_FIELD_ID_DIGITS = 9  # a longer numeric key is no field id (and never reaches int())

# MarketData is a NamedTuple built with one C call (see its docstring for the measurement).
_new_md = tuple.__new__
if MarketData._fields != ("key", "conid", "server_id", "updated_ms", "values", "raw"):
    raise ImportError("MarketData fields changed: update decoding._market_data")  # pragma: no cover


def _md_key(topic: str, msg: dict[str, Any]) -> tuple[StreamKey, int]:
    """Stream key and conid of an ``smd``/``smh`` frame: topic suffix, else payload ``conid``.

    A combo topic (``smd+SPREAD;;;LEG/RATIO,...``) gives the combo string as the key and a
    :class:`~ibstream.protocol.combo.ComboId` as the conid.
    """
    suffix = topic[4:].partition("@")[0]
    if (
        suffix.isascii()
        and suffix.isdigit()
        and suffix[0] != "0"
        and len(suffix) <= _CONID_DIGITS
        and int(suffix) <= CONID_MAX
    ):
        conid = int(suffix)
    elif is_combo_text(suffix):
        try:
            combo = Combo.parse(suffix)
        except InvalidArgument as exc:
            raise BadFrame(f"bad combo in topic: {exc}") from None
        return StreamKey.of(Topic.MARKET_DATA, combo.wire), ComboId(combo)
    else:
        payload = msg.get("conid")
        if payload is None:
            raise BadFrame(f"no conid in topic {topic[:80]!r} nor in the frame")
        conid = as_int(payload, "conid", 1, CONID_MAX)
    return StreamKey.of(Topic.MARKET_DATA, str(conid)), conid


def _unknown_field(key: str) -> _FieldEntry | None:
    """Entry for a key not in the catalogue: numeric ids are kept, other keys skipped."""
    if key.isascii() and key.isdigit() and len(key) <= _FIELD_ID_DIGITS:
        entry = _entry(int(key))
        if len(_MD_TABLE) < _TABLE_MAX:
            _MD_TABLE[key] = entry
        return entry
    return None


def _marker(msg: dict[str, Any]) -> str | None:
    """Server id from field 6119 when ``server_id`` is missing."""
    marker = msg.get("6119")
    return marker if isinstance(marker, str) else None


def _market_data(msg: dict[str, Any], cached: tuple[StreamKey, int]) -> MarketData:
    payload_conid = msg.get("conid")
    if payload_conid is not None and payload_conid.__class__ is not int:
        as_int(payload_conid, "conid", 1, CONID_MAX)  # tolerate "265598", reject the rest
    values: dict[int, FieldValue] = {}
    table_get = _MD_TABLE.get
    meta = _MD_META
    for k, v in msg.items():
        if k in meta:
            continue
        entry = table_get(k)
        if entry is None:
            entry = _unknown_field(k)
            if entry is None:
                continue
        fid, parse, cache = entry
        try:
            values[fid] = cache[v]
        except TypeError:  # unhashable (list, dict): not cacheable
            values[fid] = parse(v)
    updated = msg.get("_updated")
    server_id = msg.get("server_id")
    return _new_md(
        MarketData,
        (
            cached[0],
            cached[1],
            server_id if server_id.__class__ is str else _marker(msg),
            updated if updated.__class__ is int else opt_int(updated),
            values,
            msg,
        ),
    )


def _smd(msg: dict[str, Any], topic: str) -> list[Event]:
    cached = _MD_KEYS.get(topic)
    if cached is None:
        cached = _md_key(topic, msg)
        if len(topic) <= _MD_TOPIC_MAX:
            if len(_MD_KEYS) >= _MD_KEYS_MAX:
                _MD_KEYS.clear()
            _MD_KEYS[topic] = cached
    return [_market_data(msg, cached)]


# --- smh ------------------------------------------------------------------------------------------


def _bar(item: object) -> Bar:
    if not isinstance(item, dict):
        raise BadFrame(f"history bar must be an object, got {type(item).__name__}")
    return Bar(
        time_ms=opt_int(item.get("t")),
        open=to_float(item.get("o")),
        high=to_float(item.get("h")),
        low=to_float(item.get("l")),
        close=to_float(item.get("c")),
        volume=to_float(item.get("v")),
    )


def _smh(msg: dict[str, Any], topic: str) -> list[Event]:
    _, conid = _md_key(topic, msg)
    data = msg.get("data", [])
    if not isinstance(data, list):
        raise BadFrame(f"smh data must be a list, got {type(data).__name__}")
    server_id = msg.get("serverId")
    return [
        MarketHistory(
            key=StreamKey.of(Topic.MARKET_HISTORY, str(conid)),
            conid=conid,
            server_id=None if server_id is None else str(server_id),
            symbol=opt_str(msg.get("symbol")),
            text=opt_str(msg.get("text")),
            bars=tuple(_bar(item) for item in data),
            price_factor=to_float(msg.get("priceFactor")),
            start_time=opt_str(msg.get("startTime")),
            bar_length_s=opt_int(msg.get("barLength")),
            points=opt_int(msg.get("points")),
            raw=msg,
        )
    ]


# --- dispatch -------------------------------------------------------------------------------------

# data topics: the first three characters, followed by nothing or "+..."
_DATA: dict[str, _Handler] = {
    "smd": _smd,
    "smh": _smh,
    "sbd": decode_price_ladder,
    "sor": decode_orders,
    "str": decode_trades,
    "spl": decode_pnl,
    "ssd": decode_summary,
    "sld": decode_ledger,
}
# unsolicited topics: the exact name
_PLAIN: dict[str, _Handler] = {
    "system": _system,
    "sts": _sts,
    "act": _act,
    "tic": _tic,
    "blt": _blt,
    "ntf": _ntf,
    "error": _error,
    "ech+hb": _echo,
    "shs+exercise": decode_exercise,
    "inp+exercise": decode_exercise,
}


def _text(data: str | bytes | bytearray | memoryview) -> str:
    """The frame as text for :class:`Malformed`: invalid UTF-8 and lone surrogates replaced."""
    if isinstance(data, str):
        return data.encode("utf-8", "replace").decode("utf-8")
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data).decode("utf-8", "replace")
    return repr(data)


def _dispatch(msg: Any, data: str | bytes | bytearray | memoryview) -> list[Event]:
    if msg.__class__ is not dict:
        return [Malformed(raw=_text(data), reason=f"not a JSON object: {type(msg).__name__}")]
    topic = msg.get("topic")
    if "error" in msg:
        return _error(msg, topic if isinstance(topic, str) else None)
    if topic.__class__ is not str:
        if topic is None:
            return _topicless(msg)
        return [Malformed(raw=_text(data), reason=f"topic must be a string, got {topic!r}")]
    handler = _DATA.get(topic[:3])
    if handler is None or (len(topic) > 3 and topic[3] != "+"):
        handler = _PLAIN.get(topic)
        if handler is None:
            return [Unknown(topic=topic, payload=msg)]
    try:
        return handler(msg, topic)
    except BadFrame as exc:
        return [Malformed(raw=_text(data), reason=f"{topic}: {exc}")]


def _big_int(text: str) -> int | str:
    """``parse_int`` of the fallback parser: an integer beyond 64 bits stays text."""
    if len(text) <= 20:
        number = int(text)
        if -(2**63) <= number < 2**64:
            return number
    return text


def _big_float(text: str) -> float | str:
    """``parse_float`` of the fallback parser: a number beyond a double (``1e999``) stays text."""
    number = float(text)
    return number if number - number == 0.0 else text


def _loads_numbers(text: str) -> Any:
    """Parse JSON that orjson refused only for a number it cannot hold (``1e999``, a 5,000-digit
    integer): such numbers become their text, so the one field holding one is rejected by the
    decoder while the rest of the frame is kept. The result is re-checked by orjson (lone
    surrogates and the like stay errors)."""
    msg = json.loads(
        text, parse_int=_big_int, parse_float=_big_float, parse_constant=lambda name: name
    )
    return _loads(orjson.dumps(msg))


def _not_json(data: str | bytes | bytearray | memoryview) -> list[Event]:
    """orjson refused the frame: retry with invalid UTF-8 replaced, then with numbers it
    cannot hold as text, else :class:`Malformed`."""
    text = _text(data)
    if text.strip() == "ech+hb":
        return [Heartbeat(hb_ms=None)]
    try:
        msg = _loads(text)  # invalid UTF-8 replaced: maybe it parses now
    except _JSONDecodeError as exc:
        msg = _MISSING
        if "number" in str(exc):
            try:
                msg = _loads_numbers(text)
            except (ValueError, TypeError, RecursionError):
                msg = _MISSING
        if msg is _MISSING:
            reason = "empty frame" if not text.strip() else f"not JSON: {exc}"
            return [Malformed(raw=text, reason=reason)]
    if msg.__class__ is dict:
        return _dispatch(msg, data)
    return [Malformed(raw=text, reason=f"not a JSON object: {type(msg).__name__}")]


def _crashed(data: str | bytes | bytearray | memoryview, exc: Exception) -> list[Event]:
    return [Malformed(raw=_text(data), reason=f"cannot decode: {type(exc).__name__}: {exc}")]


def _make_decode() -> Callable[[str | bytes | bytearray | memoryview], list[Event]]:
    # The hot path (an smd frame of a topic seen before) is inlined here with every name bound
    # in the closure: a copy of _market_data() without the call and global lookups. Keep the
    # two in step; tests check both give equal events.
    loads = _loads
    json_error = _JSONDecodeError
    md_keys = _MD_KEYS
    table = _MD_TABLE
    meta = _MD_META
    new = _new_md
    md = MarketData
    str_, int_ = str, int
    dispatch, not_json, crashed = _dispatch, _not_json, _crashed

    def decode(data: str | bytes | bytearray | memoryview) -> list[Event]:
        """Decode one WebSocket frame (text or binary) into events. Never raises.

        One frame can give several events (``sor``/``str``/``ntf`` lists, ``spl`` rows, ``sld``
        entries) or none (an ``sld`` frame whose entries are all blank).
        """
        try:
            try:
                msg = loads(data)
            except json_error:
                return not_json(data)
            try:
                # An ``smd`` frame of a known topic carries all four meta keys (§6.1):
                # subscripts are bytecodes where ``.get`` is a call. Other topics leave without
                # an exception (raising costs more than a lookup); a frame that is no object,
                # has no topic or misses a meta key raises here: all take the full path.
                topic = msg["topic"]
                if topic not in md_keys:
                    return dispatch(msg, data)
                cached = md_keys[topic]
                conid = msg["conid"]
                updated = msg["_updated"]
                server_id = msg["server_id"]
            except (KeyError, TypeError):
                return dispatch(msg, data)
            if (
                conid.__class__ is not int_
                or updated.__class__ is not int_
                or server_id.__class__ is not str_
            ):
                return dispatch(msg, data)
            values: dict[int, FieldValue] = {}
            try:
                for k, v in msg.items():
                    if k in meta:
                        continue
                    entry = table[k]
                    values[entry[0]] = entry[2][v]
            except (KeyError, TypeError):
                # a key not seen before (an ``error`` key among them: ErrorMessage, §5.7) or
                # an unhashable value (list, dict): the reference path
                return dispatch(msg, data)
            return [new(md, (cached[0], cached[1], server_id, updated, values, msg))]
        except Exception as exc:  # last line of defence: decode() must never raise
            return crashed(data, exc)

    return decode


decode = _make_decode()
