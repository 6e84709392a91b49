"""Wire encoding written from protocol.md, independent of ``ibstream.protocol``.

* JSON payloads (§1.5): compact ``orjson`` objects, server-to-client.
* RFC 6455 server frames (unmasked) built by hand, so the simulator can write text frames with
  invalid UTF-8 (§1.5 / §8.15: IBKR emits ``0x99`` inside text frames), binary frames (§10
  "Frame opcode") and pre-encoded batches at saturation.
* ``java_double``: Java's ``Double.toString`` style (``2.0201311791131118E8``) used by ``sld``
  ledger numbers (§4.7 "numbers may use exponent notation").
"""

from __future__ import annotations

import math
import struct
from decimal import Decimal
from typing import Any

import orjson

__all__ = [
    "OP_BINARY",
    "OP_TEXT",
    "dumps",
    "encode_frame",
    "java_double",
    "json_with_java_doubles",
]

OP_TEXT = 0x1
OP_BINARY = 0x2

_LEN2 = struct.Struct("!BBH")
_LEN8 = struct.Struct("!BBQ")


def dumps(obj: Any) -> bytes:
    """Encode one S→C JSON object (UTF-8 bytes)."""
    return orjson.dumps(obj)


def encode_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One final, unmasked WebSocket frame (RFC 6455 §5.2) carrying ``payload``."""
    n = len(payload)
    first = 0x80 | opcode
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return _LEN2.pack(first, 126, n) + payload
    return _LEN8.pack(first, 127, n) + payload


def java_double(value: float) -> str:
    """Format like Java's ``Double.toString`` (exponent form outside ``[1e-3, 1e7)``)."""
    if math.isnan(value) or math.isinf(value):
        return "0.0"
    if value == 0:
        return "0.0"
    mag = abs(value)
    if 1e-3 <= mag < 1e7:
        text = repr(float(value))
        return text if "." in text or "e" in text else text + ".0"
    sign, digits, exp = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exp, int)
    text = "".join(map(str, digits))
    mantissa = text[0] + "." + (text[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{len(text) - 1 + exp}"


def json_with_java_doubles(obj: dict[str, Any]) -> str:
    """Serialise a flat-ish dict, writing every float with :func:`java_double`.

    Nested dicts/lists are supported; non-float scalars go through ``orjson``.
    """
    return _encode(obj)


def _encode(value: Any) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return orjson.dumps(value).decode()
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_encode(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    return orjson.dumps(value).decode()
