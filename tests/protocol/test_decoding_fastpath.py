"""The inlined ``smd`` path of ``decode`` against the reference path (hypothesis).

``decode`` takes a shortcut for an ``smd`` frame of a topic it has seen: meta keys read by
subscript, fields looked up without the checks for unknown keys. Whatever the frame holds
(meta keys missing or of the wrong type, unknown numeric or text keys, unhashable values, an
``error`` key), the result must equal what the reference path (``_dispatch``) gives for it.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from ibstream.protocol import decoding
from ibstream.protocol.decoding import decode
from ibstream.protocol.events import ErrorMessage, MarketData

scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=6)
values = (
    scalars
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["271.50", "C271.2", "H1", "1,300", "24.2M", "N/A", "", "DPB", "+0.45%"])
    | st.lists(scalars, max_size=2)
    | st.dictionaries(st.text(max_size=3), scalars, max_size=2)
)
field_keys = st.sampled_from(["31", "84", "85", "86", "87", "88", "7059", "6509", "55", "83"])
other_keys = st.sampled_from(["99999", "123456789", "foo", "error", "1234567890", "0"])


@st.composite
def smd_frames(draw: st.DrawFn) -> dict[str, Any]:
    conid = draw(st.sampled_from([265598, 8314, 7]))
    frame: dict[str, Any] = {}
    meta = {
        "server_id": st.sampled_from(["q1", "q2"]) | scalars,
        "conidEx": st.just(str(conid)),
        "conid": st.just(conid) | st.just(str(conid)) | scalars,
        "_updated": st.integers(0, 2**40) | scalars,
        "6119": st.sampled_from(["q1", "q2"]) | scalars,
    }
    for key, strategy in meta.items():
        if draw(st.integers(0, 9)):  # usually present, as the gateway sends it
            frame[key] = draw(strategy)
    frame.update(draw(st.dictionaries(field_keys, values, max_size=5)))
    if not draw(st.integers(0, 4)):
        frame.update(draw(st.dictionaries(other_keys, values, max_size=2)))
    frame["topic"] = f"smd+{conid}"
    return frame


@settings(max_examples=400, deadline=None)
@given(smd_frames())
def test_fast_path_equals_reference_path(frame: dict[str, Any]) -> None:
    data = orjson.dumps(frame)
    decode(orjson.dumps({"topic": frame["topic"], "conid": 1}))  # the topic is known now
    assert frame["topic"] in decoding._MD_KEYS
    assert decode(data) == decoding._dispatch(orjson.loads(data), data)


def test_fast_path_is_taken_for_a_gateway_frame() -> None:
    """A frame shaped like the gateway's (all meta keys) is decoded without ``_dispatch``."""
    frame = b'{"server_id":"q1","conidEx":"8314","conid":8314,"_updated":5,"6119":"q1",'
    frame += b'"31":"1.5","84":"1.4","topic":"smd+8314"}'
    decode(frame)
    calls: list[Any] = []
    original = decoding._dispatch

    def spy(msg: Any, data: Any) -> Any:
        calls.append(msg)
        return original(msg, data)

    # the closure bound _dispatch when it was made: build a decoder that binds the spy
    decoding._dispatch = spy
    try:
        fresh = decoding._make_decode()
        (event,) = fresh(frame)
        (again,) = fresh(b'{"topic":"smd+8314","31":"2"}')  # no meta keys: reference path
    finally:
        decoding._dispatch = original
    assert len(calls) == 1 and calls[0]["31"] == "2"
    assert event == original(orjson.loads(frame), frame)[0]
    assert isinstance(again, MarketData) and again.values == {31: 2.0}


def test_an_error_key_wins_over_the_fast_path() -> None:
    """An ``smd`` frame with every meta key and an ``error`` key is an ErrorMessage (§5.7)."""
    frame = b'{"server_id":"q1","conidEx":"8314","conid":8314,"_updated":5,"6119":"q1",'
    decode(frame + b'"topic":"smd+8314"}')
    data = frame + b'"31":"1.5","error":"boom","topic":"smd+8314"}'
    (event,) = decode(data)
    assert isinstance(event, ErrorMessage) and event.message == "boom"
    assert [event] == decoding._dispatch(orjson.loads(data), data)
