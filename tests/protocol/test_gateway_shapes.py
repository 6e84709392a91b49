"""Combos, option-exercise frames, order prompts and the ladder's "size @ price" rows."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.combo import Combo, ComboId, ComboLeg
from ibstream.protocol.decoding import decode
from ibstream.protocol.events import (
    ExerciseAck,
    ExerciseContent,
    ExercisePrompt,
    Malformed,
    MarketData,
    Notification,
    OrderPrompt,
    PriceLadder,
    UserAction,
)
from ibstream.protocol.exercise import (
    exercise_answer_message,
    exercise_start_message,
    exercise_submit_message,
)
from ibstream.protocol.specs import MarketDataSpec, StreamKey, Topic
from ibstream.state.ticker import Tickers

WIRE = "28812380;;;497222760/1,495512552/-1"


def test_combo_parses_and_renders_the_gateway_string() -> None:
    combo = Combo.parse(WIRE)
    assert combo == Combo.of(28812380, (497222760, 1), (495512552, -1))
    assert combo.legs == (ComboLeg(497222760, 1), ComboLeg(495512552, -1))
    assert combo.wire == WIRE == str(combo)


@pytest.mark.parametrize(
    "text",
    [
        "28812380",
        "28812380;;;",
        "28812380;;;497222760/1",
        "0;;;1/1,2/1",
        "28812380;;;497222760/0,495512552/1",
        "28812380;;;497222760,495512552/1",
        "28812380;;;497222760/1,497222760/2",
        "x;;;1/1,2/1",
        "28812380;;;1/a,2/1",
    ],
)
def test_combo_rejects_bad_strings(text: str) -> None:
    with pytest.raises(InvalidArgument):
        Combo.parse(text)


@given(
    st.integers(1, 10**9),
    st.lists(
        st.tuples(st.integers(1, 10**9), st.integers(-9, 9).filter(bool)),
        min_size=2,
        max_size=5,
        unique_by=lambda leg: leg[0],
    ),
)
def test_combo_round_trips(spread: int, legs: list[tuple[int, int]]) -> None:
    combo = Combo.of(spread, *legs)
    assert Combo.parse(combo.wire) == combo


def test_combo_id_is_the_combo_not_the_spread_conid() -> None:
    a = ComboId(Combo.parse(WIRE))
    b = ComboId(Combo.parse("28812380;;;265598/1,272093/-1"))
    assert int(a) == 28812380
    assert a != 28812380 and 28812380 != a and a != b  # noqa: SIM300 - both operand orders
    assert a == ComboId(Combo.parse(WIRE))
    assert len({a, b, 28812380}) == 3
    assert str(a) == WIRE


def test_market_data_spec_accepts_a_combo_string() -> None:
    spec = MarketDataSpec(WIRE, fields=("31", "84", "86"))
    assert spec.combo == Combo.parse(WIRE)
    assert spec.subscribe_message() == f'smd+{WIRE}+{{"fields":["31","84","86"]}}'
    assert spec.unsubscribe_message() == f"umd+{WIRE}+{{}}"
    assert spec.key == StreamKey.of(Topic.MARKET_DATA, WIRE)
    assert MarketDataSpec(Combo.parse(WIRE)) == MarketDataSpec(WIRE)
    assert MarketDataSpec(265598).combo is None


@pytest.mark.parametrize("bad", ["265598", "abc;;;1/1", WIRE + ",x"])
def test_market_data_spec_refuses_bad_combo_strings(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        MarketDataSpec(bad)


def test_market_data_spec_refuses_an_exchange_on_a_combo() -> None:
    with pytest.raises(InvalidArgument, match="exchange"):
        MarketDataSpec(WIRE, exchange="SMART")


def _combo_frame(wire: str, last: str) -> str:
    return (
        f'{{"server_id":"q7","conidEx":"{wire}","conid":28812380,"_updated":1777552110061,'
        f'"6119":"q7","31":"{last}","84":"1.20","86":"1.30","topic":"smd+{wire}"}}'
    )


def test_a_combo_frame_decodes_to_market_data_with_legs() -> None:
    for _ in range(2):  # cold and cached topic paths
        [event] = decode(_combo_frame(WIRE, "1.25"))
        assert isinstance(event, MarketData)
        assert event.key == MarketDataSpec(WIRE).key
        assert event.combo == Combo.parse(WIRE)
        assert event.values == {31: 1.25, 84: 1.2, 86: 1.3}
        assert event.server_id == "q7"


def test_a_bad_combo_topic_is_malformed() -> None:
    [event] = decode('{"topic":"smd+28812380;;;1/0,2/1","31":"1"}')
    assert isinstance(event, Malformed) and "combo" in event.reason


def test_two_combos_on_one_spread_conid_keep_separate_tickers() -> None:
    other = "28812380;;;265598/1,272093/-1"
    tickers = Tickers()
    changed = tickers.apply_all(
        decode(_combo_frame(WIRE, "1.25")) + decode(_combo_frame(other, "-3.5"))
    )
    assert len(changed) == 2
    assert tickers.get_or_create(Combo.parse(WIRE)).last == 1.25
    assert tickers.get_or_create(Combo.parse(other)).last == -3.5
    assert 28812380 not in tickers
    assert tickers.for_ident(WIRE) is tickers.get_or_create(Combo.parse(WIRE))
    assert tickers.for_ident("28812380;;;1/0,2/1") is None and tickers.for_ident("x") is None
    assert tickers.remove(Combo.parse(other)) is not None and len(tickers) == 1


# --- option exercise (IBKR Campus, "Exercise Options") ---------------------------------------

CONTENT = (
    '{"data":{"user_action":[{"id":"submit","text":"Submit"},{"id":"cancel","text":"Cancel"}],'
    '"underlying_price":"$211.35","contract":"**AAPL** JUN 28 \'24 192.5 Call",'
    '"underlying_symbol":"AAPL","exercise":{"confirm":false,"confirm_final":false,"enabled":true},'
    '"revocable":false,"loading":true,"hold":{"confirm":false,"enabled":true},"qty_lapse":0,'
    '"submitted":0,"qty_hold":0,"sec_type":"OPT","qty_exercise":0,"underlying_conid":"265598",'
    '"morning_expiration":false,"id":5,"position":50,"deadline":"16:25"},"action":"content",'
    '"MID":"14","topic":"shs+exercise"}'
)


def test_exercise_content() -> None:
    [event] = decode(CONTENT)
    assert isinstance(event, ExerciseContent)
    assert event.request_id == 5 and event.message_id == "14"
    assert event.actions == (
        UserAction(id="submit", text="Submit"),
        UserAction(id="cancel", text="Cancel"),
    )
    assert event.underlying_conid == 265598 and event.underlying_symbol == "AAPL"
    assert event.position == 50.0 and event.deadline == "16:25" and event.loading is True
    assert event.sec_type == "OPT" and event.warning is None


def test_exercise_ack_prompt_and_bad_data() -> None:
    assert decode('{"topic":"shs+exercise"}') == [ExerciseAck()]
    [prompt] = decode(
        '{"data":{"user_actions":[{"id":"continue","text":"Continue"}],"id":7,'
        '"text":"final","title":"Warning"},"MID":"19","action":"prompt","topic":"inp+exercise"}'
    )
    assert isinstance(prompt, ExercisePrompt)
    assert prompt.request_id == 7 and prompt.title == "Warning"
    assert prompt.actions == (UserAction(id="continue", text="Continue"),)
    [bad] = decode('{"data":[1],"action":"content","topic":"shs+exercise"}')
    assert isinstance(bad, Malformed)


def test_ntf_order_prompt_and_notice() -> None:
    events = decode(
        '{"topic":"ntf","args":[{"id":"118","text":"notice","title":null,"url":null},'
        '{"orderId":1883733600,"reqId":"29042","dismissable":[],"text":"Use the algo?",'
        '"options":["Use on this order","Always use","Do not use"],"type":"M",'
        '"messageId":"p12","prompt":true}]}'
    )
    assert events[0] == Notification(
        notification_id="118", text="notice", title=None, url=None, raw=events[0].raw
    )
    prompt = events[1]
    assert isinstance(prompt, OrderPrompt)
    assert prompt.order_id == 1883733600 and prompt.request_id == "29042"
    assert prompt.message_id == "p12" and prompt.prompt is True and prompt.prompt_type == "M"
    assert prompt.options == ("Use on this order", "Always use", "Do not use")
    assert prompt.dismissable == ()


def test_ladder_size_at_price_rows_keep_the_price() -> None:
    [ladder] = decode(
        '{"topic":"sbd+DU1234567+265598","data":[{"row":0,"focus":0,"ask":"100 @ 178.87"},'
        '{"row":1,"focus":1,"bid":"1,200 @ 178.86"},{"row":2,"price":"178.85","bid":"3"}]}'
    )
    assert isinstance(ladder, PriceLadder)
    assert [(r.price, r.bid_size, r.ask_size) for r in ladder.rows] == [
        (178.87, None, 100.0),
        (178.86, 1200.0, None),
        (178.85, 3.0, None),
    ]


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)
_keys = st.sampled_from(
    ["data", "action", "MID", "id", "user_action", "user_actions", "orderId", "reqId",
     "options", "dismissable", "prompt", "messageId", "text", "position", "bid", "ask", "price"]
) | st.text(max_size=5)  # fmt: skip


@given(
    topic=st.sampled_from(
        ["shs+exercise", "inp+exercise", "ntf", "sbd+DU1+1", f"smd+{WIRE}", "smd+1;;;2/1,3/x"]
    ),
    body=st.dictionaries(_keys, _json, max_size=5),
    entries=st.lists(st.dictionaries(_keys, _json, max_size=4), max_size=3),
)
def test_new_handlers_never_crash(
    topic: str, body: dict[str, object], entries: list[object]
) -> None:
    """Any shape reaching the new handlers gives events or a Malformed with a reason, never the
    decoder's last-resort 'cannot decode' (a crash inside a handler)."""
    for frame in (
        {**body, "topic": topic},
        {**body, "topic": topic, "args": entries},
        {**body, "topic": topic, "data": entries},
        {**body, "topic": topic, "data": dict(enumerate(entries))},
    ):
        for event in decode(orjson.dumps(frame, option=orjson.OPT_NON_STR_KEYS)):
            assert not (isinstance(event, Malformed) and "cannot decode" in event.reason), event


def test_exercise_messages_are_ibkrs_documented_text() -> None:
    corpus = json.loads((Path(__file__).parents[1] / "corpus" / "ws_frames.json").read_text())
    sent = {f["id"]: f.get("sent") for f in corpus["frames"]}
    assert exercise_submit_message(5, quantity=5) == sent["exercise-prompt"]
    assert exercise_start_message(708764406) == 'shs+exercise+{"CEX":"708764406"}'
    assert exercise_answer_message(7, "continue") == (
        'inp+exercise+{"action":"user_input","data":{"id":"7","user_action":"continue"}}'
    )
    for bad in (
        lambda: exercise_start_message(0),
        lambda: exercise_submit_message(5, quantity=0),
        lambda: exercise_submit_message(5, quantity=1, final=1),  # type: ignore[arg-type]
        lambda: exercise_answer_message(7, ""),
    ):
        with pytest.raises(InvalidArgument):
            bad()
