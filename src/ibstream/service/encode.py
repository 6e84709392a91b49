"""Event encoding for the service: :func:`ibstream.serialize.event_to_json`, with a fast path.

Market data is nearly all the traffic, and the generic encoder walks every value through
``jsonable``. :func:`encode_event` builds the same object for ``MarketData`` directly and lets
orjson write the integer field ids as strings; the bytes are identical to ``event_to_json``
(checked by ``tests/service/test_units.py``). Every other event goes through ``event_to_json``.
"""

from __future__ import annotations

from typing import Any

import orjson

from ibstream.protocol.events import MarketData
from ibstream.protocol.fields import Availability
from ibstream.serialize import event_to_json

__all__ = ["encode_event"]

_NON_STR_KEYS = orjson.OPT_NON_STR_KEYS
_dumps = orjson.dumps
# StreamKey -> its text ("md:265598"); StreamKey.__str__ costs more than the lookup
_KEY_TEXT: dict[Any, str] = {}


def encode_event(event: Any) -> bytes:
    """The event as compact JSON bytes, exactly as ``event_to_json(event)`` writes it."""
    if event.__class__ is not MarketData:
        return event_to_json(event)
    values = event.values
    for v in values.values():
        if v.__class__ is Availability:
            values = {k: (x.code if x.__class__ is Availability else x) for k, x in values.items()}
            break
    key = event.key
    text = _KEY_TEXT.get(key)
    if text is None:
        text = _KEY_TEXT[key] = str(key)
        if len(_KEY_TEXT) > 100_000:  # pragma: no cover - bound the cache
            _KEY_TEXT.clear()
    return _dumps(
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
