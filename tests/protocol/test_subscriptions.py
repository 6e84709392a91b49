"""The subscription book: desired vs confirmed state, retries, renewal, history slots, gaps."""

from __future__ import annotations

import itertools

import orjson
import pytest

from ibstream.exceptions import (
    InvalidArgument,
    InvalidState,
    SubscriptionConflict,
    SubscriptionRejected,
    SubscriptionTimeout,
)
from ibstream.protocol.config import ProtocolConfig
from ibstream.protocol.decoding import decode
from ibstream.protocol.events import Event
from ibstream.protocol.lifecycle import Gap, SubscriptionState, SubscriptionStateChanged
from ibstream.protocol.specs import (
    AccountLedgerSpec,
    AccountSummarySpec,
    MarketDataSpec,
    MarketHistorySpec,
    OrdersSpec,
    PnlSpec,
    PriceLadderSpec,
    Spec,
    StreamKey,
    Topic,
    TradesSpec,
)
from ibstream.protocol.subscriptions import (
    HISTORY_LIMIT,
    SUBSCRIPTION_TRANSITIONS,
    SubscriptionBook,
    SubscriptionTrigger,
    key_from_topic,
)

St = SubscriptionState
Tr = SubscriptionTrigger
ACCT = "DU1234567"
MD = MarketDataSpec(265598, fields=("31", "84"))
MD_KEY = MD.key


def one(text: str | dict[str, object]) -> Event:
    """Decode one frame (text or a dict) into its single event."""
    data = text if isinstance(text, str) else orjson.dumps(text).decode()
    (event,) = decode(data)
    return event


def md_frame(conid: int = 265598, server_id: str = "q1") -> Event:
    return one({"topic": f"smd+{conid}", "conid": conid, "server_id": server_id, "31": "1.0"})


def mh_frame(conid: int, server_id: str | None = "341115") -> Event:
    frame: dict[str, object] = {"topic": f"smh+{conid}", "symbol": "X", "data": [], "points": 0}
    if server_id is not None:
        frame["serverId"] = server_id
    return one(frame)


def data(book: SubscriptionBook, event: Event, now: float) -> None:
    book.on_data(event, event.key, now)  # type: ignore[union-attr]


def states(book: SubscriptionBook) -> dict[str, St]:
    return {str(k): st for k, (_, st) in book.view().items()}


def changes(book: SubscriptionBook) -> list[tuple[str, St | None, St]]:
    return [
        (str(e.key), e.previous, e.current)
        for e in book.events_received()
        if isinstance(e, SubscriptionStateChanged)
    ]


def live_book(*specs: Spec, now: float = 0.0, **config: object) -> SubscriptionBook:
    """A book with ``specs`` subscribed and sent on an authenticated socket."""
    book = SubscriptionBook(ProtocolConfig(**config))  # type: ignore[arg-type]
    for spec in specs:
        book.subscribe(spec, now)
    book.reconcile(now, True)
    book.events_received()
    return book


# --- the transition table -----------------------------------------------------------------------

MACHINE_STATES = [s for s in SubscriptionState if s is not St.REMOVED]


@pytest.mark.parametrize(
    ("state", "trigger"),
    list(itertools.product(MACHINE_STATES, SubscriptionTrigger)),
    ids=lambda v: v.name,
)
def test_transition_table(state: St, trigger: SubscriptionTrigger) -> None:
    """Every (state, trigger) either moves as the table says or raises InvalidState."""
    book = SubscriptionBook()
    book.subscribe(MD, 0)
    book.events_received()
    binding = book.get(MD_KEY)
    assert binding is not None
    binding.state = state  # table test: place the binding directly
    expected = SUBSCRIPTION_TRANSITIONS.get((state, trigger))
    if expected is None:
        with pytest.raises(InvalidState, match=f"{trigger.value} is not allowed in state"):
            book._fire(binding, trigger, 1.0, "test")
        return
    book._fire(binding, trigger, 1.0, "test")
    assert binding.state is expected
    assert (MD_KEY in book) == (expected is not St.REMOVED)
    emitted = book.events_received()
    if expected is state:
        assert emitted == []
    else:
        assert emitted == [
            SubscriptionStateChanged(key=MD_KEY, previous=state, current=expected, reason="test")
        ]


def test_removed_is_terminal() -> None:
    assert not any(st is St.REMOVED for (st, _) in SUBSCRIPTION_TRANSITIONS)


# --- subscribing and confirmation ---------------------------------------------------------------


def test_nothing_is_sent_until_authenticated() -> None:
    """PENDING until the socket is authenticated (§8.1)."""
    book = SubscriptionBook()
    assert book.subscribe(MD, 0) == MD_KEY
    assert book.dirty
    assert book.reconcile(0, False) == []
    assert states(book) == {"md:265598": St.PENDING}
    assert book.reconcile(1, True) == ['smd+265598+{"fields":["31","84"]}']
    assert changes(book) == [
        ("md:265598", None, St.PENDING),
        ("md:265598", St.PENDING, St.SUBSCRIBING),
    ]


def test_first_frame_confirms() -> None:
    book = live_book(MD)
    data(book, md_frame(server_id="q7"), 0.5)
    assert states(book) == {"md:265598": St.ACTIVE}
    binding = book.get(MD_KEY)
    assert binding is not None
    assert (binding.server_id, binding.confirmed_at, binding.last_data_at) == ("q7", 0.5, 0.5)
    assert changes(book) == [("md:265598", St.SUBSCRIBING, St.ACTIVE)]
    data(book, md_frame(), 0.6)  # later frames: nothing to report
    assert book.events_received() == []
    assert not book.dirty


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (OrdersSpec(), "sor+{}"),
        (PriceLadderSpec(ACCT, 265598), f"sbd+{ACCT}+265598"),
    ],
)
def test_on_send_topics_are_active_when_sent(spec: Spec, message: str) -> None:
    """sor and sbd are never confirmed by the gateway: ACTIVE once sent (§4.0)."""
    book = SubscriptionBook()
    book.subscribe(spec, 0)
    assert book.reconcile(0, True) == [message]
    assert states(book) == {str(spec.key): St.ACTIVE}
    assert book.next_deadline() is None


@pytest.mark.parametrize(
    ("spec", "frame"),
    [
        (TradesSpec(), {"topic": "str", "args": []}),
        (PnlSpec(), {"topic": "spl", "args": {"DU1.Core": {"rowType": 1, "dpl": 1.0}}}),
        (
            AccountSummarySpec(ACCT),
            {"topic": f"ssd+{ACCT}", "result": [{"key": "AccountCode", "value": ACCT}]},
        ),
        (
            AccountLedgerSpec(ACCT),
            {
                "topic": f"sld+{ACCT}",
                "result": [{"acctCode": ACCT, "key": "LedgerListBASE", "cashbalance": 1.0}],
            },
        ),
    ],
)
def test_first_frame_topics(spec: Spec, frame: dict[str, object]) -> None:
    book = live_book(spec)
    for event in decode(orjson.dumps(frame).decode()):
        data(book, event, 1)
    assert states(book) == {str(spec.key): St.ACTIVE}


def test_retries_then_fails() -> None:
    """Re-sent after 2 s, then 4 s, then every subscribe_timeout (5 s); after
    subscribe_attempts sends: FAILED with the reason."""
    book = live_book(MD)
    sends = [0]
    assert book.next_deadline() == 2.0
    for t in range(1, 60):
        if book.reconcile(float(t), True):
            sends.append(t)
    assert sends == [0, 2, 6, 11, 16, 21]
    assert states(book) == {"md:265598": St.FAILED}
    *_, failed = book.events_received()
    assert isinstance(failed, SubscriptionStateChanged)
    assert failed.current is St.FAILED
    assert isinstance(failed.error, SubscriptionTimeout)
    assert failed.reason == "md:265598: no confirmation after 6 attempts in 26 s"
    assert book.next_deadline() is None


def test_history_retries_wait_the_full_timeout() -> None:
    """A re-sent smh may open a second server-side stream (§4.2): no short first retry."""
    hist = MarketHistorySpec(265598)
    book = live_book(hist, TradesSpec())
    assert book.get(hist.key).deadline == 5.0  # type: ignore[union-attr]
    assert book.get(TradesSpec().key).deadline == 2.0  # type: ignore[union-attr]


def test_first_retry_is_capped_by_subscribe_timeout() -> None:
    book = live_book(MD, subscribe_timeout=0.5)
    assert book.next_deadline() == 0.5
    assert book.reconcile(0.5, True) == ['smd+265598+{"fields":["31","84"]}']
    assert book.next_deadline() == 1.0


def test_retry_then_confirm() -> None:
    book = live_book(MD, subscribe_timeout=2.0, subscribe_attempts=3)
    assert book.reconcile(2.0, True) == ['smd+265598+{"fields":["31","84"]}']
    binding = book.get(MD_KEY)
    assert binding is not None
    assert binding.attempts == 2
    assert repr(binding) == "<Binding md:265598 SUBSCRIBING attempts=2>"
    data(book, md_frame(), 3)
    assert states(book) == {"md:265598": St.ACTIVE}


def test_failed_is_not_resent_until_asked() -> None:
    book = live_book(MD, subscribe_attempts=1)
    book.reconcile(5, True)
    assert states(book) == {"md:265598": St.FAILED}
    book.suspend(6, "connection lost")
    assert book.reconcile(7, True) == []
    assert states(book) == {"md:265598": St.FAILED}
    book.subscribe(MD, 8)  # asking again starts over
    assert book.reconcile(8, True) == ['smd+265598+{"fields":["31","84"]}']
    binding = book.get(MD_KEY)
    assert binding is not None
    assert binding.attempts == 1


# --- market-data renewal and stalls -------------------------------------------------------------


def test_market_data_renewed_every_540_s() -> None:
    """IBKR silently ends smd after 10-15 min (§4.1): re-send 540 s after confirmation."""
    book = live_book(MD, md_stall_after=None)
    data(book, md_frame(), 1.0)
    book.reconcile(1.0, True)
    book.events_received()
    assert book.next_deadline() == 541.0
    assert book.reconcile(540.9, True) == []
    assert book.reconcile(541.0, True) == ['smd+265598+{"fields":["31","84"]}']
    assert states(book) == {"md:265598": St.ACTIVE}
    assert book.events_received() == []  # renewal is not a state change
    assert book.next_deadline() == 1081.0
    assert book.reconcile(1081.0, True) == ['smd+265598+{"fields":["31","84"]}']


def test_renewal_period_is_configurable() -> None:
    book = live_book(MD, md_renew_after=60.0, md_stall_after=None)
    data(book, md_frame(), 0)
    assert book.reconcile(60, True) == ['smd+265598+{"fields":["31","84"]}']


def test_only_market_data_is_renewed() -> None:
    book = live_book(TradesSpec())
    data(book, one({"topic": "str", "args": []}), 0)
    book.reconcile(0, True)
    assert book.next_deadline() is None
    assert book.reconcile(10_000, True) == []


def test_stall_detector_resends_silent_market_data() -> None:
    """md_stall_after: a stream silent for that long is re-sent; data postpones the check."""
    book = live_book(MD, md_stall_after=30.0)
    data(book, md_frame(), 1)
    book.reconcile(1, True)
    assert book.next_deadline() == 31
    data(book, md_frame(), 20)  # data arrived: the check at 31 finds it
    assert book.reconcile(31, True) == []
    assert book.next_deadline() == 50
    assert book.reconcile(50, True) == ['smd+265598+{"fields":["31","84"]}']
    assert book.next_deadline() == 110  # the next stall check waits twice as long


def test_stall_wait_doubles_on_a_quiet_contract_and_resets_when_data_flows() -> None:
    """A quiet contract answers each re-send with its opening snapshot and nothing more: the
    stall re-sends back off (10, 20, 40, 80 s ...) up to md_renew_after; data that keeps flowing
    long after a re-send's reply makes the wait short again."""
    book = live_book(MD)  # defaults: md_stall_after 10 s, md_renew_after 540 s
    data(book, md_frame(), 0.5)
    book.reconcile(0.5, True)
    resends: list[float] = []
    while len(resends) < 8:
        t = book.next_deadline()  # may be early (the reply moved the check), never late
        assert t is not None
        if not book.reconcile(t, True):
            continue
        resends.append(t)
        data(book, md_frame(), t + 0.5)  # the re-send's own reply, then silence
    waits = [round(b - a - 0.5, 6) for a, b in itertools.pairwise([0.0, *resends])]
    # ... then the renewal (540 s after the last send) is the only re-send left
    assert waits == [10, 20, 40, 80, 160, 320, 539.5, 539.5]
    # data flows on its own again: the detector is back to md_stall_after
    last = resends[-1]
    for at in range(1, 16):
        data(book, md_frame(), last + at)
    assert book.next_deadline() == last + 20  # the first frame 10 s after the re-send
    assert book.reconcile(last + 20, True) == []  # data since: postponed
    assert book.next_deadline() == last + 25
    assert book.reconcile(last + 24.9, True) == []
    assert book.reconcile(last + 25, True) == ['smd+265598+{"fields":["31","84"]}']


def test_stall_detector_can_be_turned_off() -> None:
    book = live_book(MD, md_stall_after=None)
    data(book, md_frame(), 1)
    book.reconcile(1, True)
    assert book.next_deadline() == 541


# --- conflicts, replace, idempotency ------------------------------------------------------------


def test_subscribe_is_idempotent() -> None:
    book = live_book(MD)
    assert book.subscribe(MarketDataSpec(265598, fields=("31", "84")), 1) == MD_KEY
    assert book.reconcile(1, True) == []
    assert book.events_received() == []


def test_conflict_without_replace() -> None:
    book = live_book(MD)
    with pytest.raises(SubscriptionConflict, match="replace=True"):
        book.subscribe(MarketDataSpec(265598, fields=("31",)), 1)


def test_replace_market_data_with_more_fields_is_a_resend() -> None:
    """Re-sending smd with more fields adds them to the stream (§4.1)."""
    book = live_book(MD)
    data(book, md_frame(), 0.5)
    book.events_received()
    more = MarketDataSpec(265598, fields=("31", "84", "86"))
    book.subscribe(more, 1, replace=True)
    assert book.reconcile(1, True) == ['smd+265598+{"fields":["31","84","86"]}']
    assert changes(book) == [("md:265598", St.ACTIVE, St.SUBSCRIBING)]
    data(book, md_frame(), 1.5)
    assert book.view()[MD_KEY] == (more, St.ACTIVE)
    assert not any(isinstance(e, Gap) for e in book.events_received())


def test_replace_market_data_with_fewer_fields_unsubscribes_first() -> None:
    book = live_book(MD)
    book.subscribe(MarketDataSpec(265598, fields=("31",)), 1, replace=True)
    assert book.reconcile(1, True) == ["umd+265598+{}", 'smd+265598+{"fields":["31"]}']


def test_replace_history_uses_the_server_id() -> None:
    old = MarketHistorySpec(265598)
    book = live_book(old)
    data(book, mh_frame(265598, "341115"), 1)
    book.subscribe(MarketHistorySpec(265598, bar="1h"), 2, replace=True)
    out = book.reconcile(2, True)
    assert out[0] == "umh+341115"
    assert out[1].startswith("smh+265598+") and '"bar":"1h"' in out[1]


def test_replace_history_without_server_id_just_resends() -> None:
    book = live_book(MarketHistorySpec(265598))
    book.subscribe(MarketHistorySpec(265598, bar="1h"), 2, replace=True)
    (msg,) = book.reconcile(2, True)
    assert msg.startswith("smh+265598+")


def test_replace_orders_resends_and_stays_active() -> None:
    book = live_book(OrdersSpec())
    book.subscribe(OrdersSpec(filters=("Submitted",)), 1, replace=True)
    assert book.reconcile(1, True) == ["uor+{}", 'sor+{"filters":["Submitted"]}']
    assert states(book) == {"or": St.ACTIVE}


def test_replace_before_sending_swaps_the_spec() -> None:
    book = SubscriptionBook()
    book.subscribe(MD, 0)
    book.subscribe(MarketDataSpec(265598, fields=("55",)), 0, replace=True)
    assert book.reconcile(0, True) == ['smd+265598+{"fields":["55"]}']


# --- unsubscribing ------------------------------------------------------------------------------


def test_unsubscribe_market_data_is_immediate() -> None:
    """umd has no reply (§4.1): removed as soon as it is sent."""
    book = live_book(MD)
    data(book, md_frame(), 0.5)
    book.events_received()
    book.unsubscribe(MD_KEY, 1)
    book.unsubscribe(MD_KEY, 1)  # idempotent
    assert book.reconcile(1, True) == ["umd+265598+{}"]
    assert changes(book) == [("md:265598", St.ACTIVE, St.REMOVED)]
    assert len(book) == 0


def test_unsubscribe_unknown_or_unsent() -> None:
    book = SubscriptionBook()
    book.unsubscribe(MD_KEY, 0)  # unknown: ignored
    book.subscribe(MD, 0)
    book.unsubscribe(MD_KEY, 0)  # never sent: nothing to tell the gateway
    assert book.reconcile(0, True) == []
    assert len(book) == 0


@pytest.mark.parametrize(
    ("spec", "message", "confirmation"),
    [
        (AccountSummarySpec(ACCT), f"usd+{ACCT}+{{}}", '{"result":"unsubscribed from summary"}'),
        (AccountLedgerSpec(ACCT), f"uld+{ACCT}+{{}}", '{"result":"unsubscribed from ledger"}'),
    ],
)
def test_unsubscribe_confirmed_by_topicless_reply(
    spec: Spec, message: str, confirmation: str
) -> None:
    """usd/uld are confirmed by topic-less frames (§4.7, §5.8)."""
    book = live_book(spec)
    book.unsubscribe(spec.key, 1)
    assert book.reconcile(1, True) == [message]
    assert states(book) == {str(spec.key): St.UNSUBSCRIBING}
    book.on_event(one(confirmation), 1.2)
    assert len(book) == 0


def test_unconfirmed_unsubscribe_is_assumed_done() -> None:
    book = live_book(AccountSummarySpec(ACCT))
    book.unsubscribe(StreamKey(Topic.ACCOUNT_SUMMARY, ACCT), 1)
    book.reconcile(1, True)
    book.on_event(one('{"result":"unsubscribed from ledger"}'), 1.1)  # not ours
    assert len(book) == 1
    book.reconcile(6, True)
    assert len(book) == 0
    *_, removed = book.events_received()
    assert isinstance(removed, SubscriptionStateChanged)
    assert removed.reason == "no unsubscribe confirmation in 5 s; assumed removed"


def test_history_unsubscribe_uses_server_id() -> None:
    """umh+SERVERID with the id of the first frame; confirmed by "Unsubscribed <id>" (§4.2)."""
    spec = MarketHistorySpec(265598)
    book = live_book(spec)
    data(book, mh_frame(265598, "341115"), 1)
    book.unsubscribe(spec.key, 2)
    assert book.reconcile(2, True) == ["umh+341115"]
    book.on_event(one('{"message":"Unsubscribed 999"}'), 2.1)  # someone else's
    assert len(book) == 1
    book.on_event(one('{"message":"Unsubscribed 341115"}'), 2.2)
    assert len(book) == 0


def test_history_unsubscribe_waits_for_the_server_id() -> None:
    spec = MarketHistorySpec(265598)
    book = live_book(spec)
    book.unsubscribe(spec.key, 1)
    assert book.reconcile(1, True) == []
    assert states(book) == {"mh:265598": St.UNSUBSCRIBING}
    data(book, mh_frame(265598, None), 1.5)  # no server id: still waiting
    data(book, mh_frame(265598, "77"), 2)
    assert book.reconcile(2, True) == ["umh+77"]


def test_history_unsubscribe_gives_up_without_server_id() -> None:
    spec = MarketHistorySpec(265598)
    book = live_book(spec)
    book.unsubscribe(spec.key, 1)
    book.reconcile(6, True)
    assert len(book) == 0
    *_, removed = book.events_received()
    assert isinstance(removed, SubscriptionStateChanged)
    assert removed.reason == "history server id never arrived; assumed removed"
    # The frame shows up late: the orphan stream is unsubscribed, once.
    data(book, mh_frame(265598, "55"), 7)
    data(book, mh_frame(265598, "55"), 7.1)
    assert book.reconcile(7, True) == ["umh+55"]
    book.on_event(one('{"message":"Unsubscribed 55"}'), 7.2)


def test_subscribe_again_while_unsubscribing() -> None:
    spec = AccountSummarySpec(ACCT)
    book = live_book(spec)
    book.unsubscribe(spec.key, 1)
    book.reconcile(1, True)
    book.subscribe(spec, 2)
    assert states(book) == {f"sd:{ACCT}": St.PENDING}
    assert book.reconcile(2, True) == [f"ssd+{ACCT}+{{}}"]


# --- history slots ------------------------------------------------------------------------------


def test_at_most_five_history_streams() -> None:
    """Beyond 5 concurrent smh the rest wait QUEUED and are promoted when a slot frees."""
    specs = [MarketHistorySpec(c) for c in range(1, 8)]
    book = live_book(*specs)
    assert HISTORY_LIMIT == 5
    st = states(book)
    assert [st[f"mh:{c}"] for c in range(1, 8)] == [St.SUBSCRIBING] * 5 + [St.QUEUED] * 2
    for c in range(1, 6):
        data(book, mh_frame(c, f"s{c}"), 1)
    assert book.reconcile(1, True) == []
    book.unsubscribe(specs[0].key, 2)
    assert book.reconcile(2, True) == ["umh+s1"]  # the slot is held until confirmed
    book.on_event(one('{"message":"Unsubscribed s1"}'), 3)
    (msg,) = book.reconcile(3, True)
    assert msg.startswith("smh+6+")
    assert states(book)["mh:7"] is St.QUEUED


def test_failed_history_frees_its_slot() -> None:
    specs = [MarketHistorySpec(c) for c in range(1, 7)]
    book = live_book(*specs, subscribe_attempts=1)
    assert states(book)["mh:6"] is St.QUEUED
    out = book.reconcile(5, True)
    assert [m[:6] for m in out] == ["smh+6+"]
    assert states(book)["mh:6"] is St.SUBSCRIBING


# --- connection and authentication loss ---------------------------------------------------------


def test_suspend_and_resend_everything_with_gaps() -> None:
    """Subscriptions are per socket (§8.2): all go back to PENDING, then are re-sent; a Gap is
    reported for every stream that was ACTIVE when interrupted."""
    hist = MarketHistorySpec(1)
    book = live_book(MD, hist, OrdersSpec(), TradesSpec())
    data(book, md_frame(), 1)
    data(book, mh_frame(1, "h1"), 1)
    book.events_received()
    book.suspend(10, "connection lost")
    assert set(states(book).values()) == {St.PENDING}
    binding = book.get(hist.key)
    assert binding is not None
    assert binding.server_id is None  # history server ids are per socket
    assert book.reconcile(11, False) == []  # not authenticated yet
    book.suspend(12, "again")  # a second interruption keeps the first start
    out = book.reconcile(20, True)
    assert sorted(m[:3] for m in out) == ["smd", "smh", "sor", "str"]
    events = book.events_received()
    gaps = [e for e in events if isinstance(e, Gap)]
    assert gaps == [Gap(key=StreamKey(Topic.ORDERS, ""), start=10, end=20)]  # sor: on send
    data(book, md_frame(), 21)
    (gap,) = [e for e in book.events_received() if isinstance(e, Gap)]
    assert gap == Gap(key=MD_KEY, start=10, end=21)
    data(book, one({"topic": "str", "args": []}), 22)
    assert [e for e in book.events_received() if isinstance(e, Gap)] == []  # was SUBSCRIBING


def test_suspend_drops_unsent_unsubscribes_and_unsubscribing_streams() -> None:
    spec = AccountSummarySpec(ACCT)
    book = live_book(MD, spec)
    book.unsubscribe(MD_KEY, 1)
    book.unsubscribe(spec.key, 1)
    book.suspend(1, "auth lost")
    assert book.reconcile(2, True) == []
    assert len(book) == 0


def test_data_for_pending_streams_is_ignored() -> None:
    book = SubscriptionBook()
    book.subscribe(MD, 0)
    data(book, md_frame(), 1)
    assert states(book) == {"md:265598": St.PENDING}


# --- errors -------------------------------------------------------------------------------------


def test_error_frame_rejects_the_binding() -> None:
    book = live_book(OrdersSpec(), MD)
    book.on_event(one({"topic": "sor", "error": "not authenticated"}), 1)
    book.on_event(one({"topic": "error", "error": "general"}), 1)  # no stream
    book.on_event(one({"error": "topicless"}), 1)
    assert states(book) == {"or": St.REJECTED, "md:265598": St.SUBSCRIBING}
    (event,) = book.events_received()
    assert isinstance(event, SubscriptionStateChanged)
    assert isinstance(event.error, SubscriptionRejected)
    assert "not authenticated" in event.reason
    book.subscribe(OrdersSpec(filters=("Filled",)), 1.5)  # a new spec for a rejected stream
    assert book.reconcile(1.5, True) == ['sor+{"filters":["Filled"]}']


def test_error_for_a_pending_stream_is_ignored() -> None:
    book = SubscriptionBook()
    book.subscribe(MD, 0)
    book.on_event(one({"topic": "smd+265598", "error": "x"}), 1)
    assert states(book) == {"md:265598": St.PENDING}


@pytest.mark.parametrize(
    ("topic", "key"),
    [
        ("smd+265598", StreamKey(Topic.MARKET_DATA, "265598")),
        ("smd+265598@NASDAQ", StreamKey(Topic.MARKET_DATA, "265598")),
        ("umh+341115", StreamKey(Topic.MARKET_HISTORY, "341115")),
        (f"sbd+{ACCT}+265598+ARCA", StreamKey(Topic.PRICE_LADDER, ACCT)),
        (f"ssd+{ACCT}", StreamKey(Topic.ACCOUNT_SUMMARY, ACCT)),
        (f"sld+{ACCT}", StreamKey(Topic.ACCOUNT_LEDGER, ACCT)),
        ("sor", StreamKey(Topic.ORDERS, "")),
        ("sor+{}", StreamKey(Topic.ORDERS, "")),
        ("str", StreamKey(Topic.TRADES, "")),
        ("spl", StreamKey(Topic.PNL, "")),
        ("sorx", None),
        ("smd", None),
        ("smd+", None),
        ("smd265598", None),
        ("error", None),
        ("system", None),
        ("sxx+1", None),
        ("", None),
        (None, None),
    ],
)
def test_key_from_topic(topic: str | None, key: StreamKey | None) -> None:
    assert key_from_topic(topic) == key


# --- views and configuration --------------------------------------------------------------------


def test_repr_and_views() -> None:
    book = live_book(MD, OrdersSpec())
    assert repr(book) == "<SubscriptionBook 2 streams ACTIVE=1 SUBSCRIBING=1>"
    assert repr(SubscriptionBook()) == "<SubscriptionBook 0 streams>"
    assert MD_KEY in book
    assert book.get(StreamKey(Topic.PNL, "")) is None
    binding = book.get(MD_KEY)
    assert binding is not None
    data(book, md_frame(server_id="q3"), 1)
    assert repr(binding) == "<Binding md:265598 ACTIVE attempts=1 server_id=q3>"


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"subscribe_timeout": 0}, "subscribe_timeout"),
        ({"md_renew_after": -5}, "md_renew_after"),
        ({"md_stall_after": 0}, "md_stall_after"),
        ({"subscribe_first_timeout": -1}, "subscribe_first_timeout"),
        ({"subscribe_attempts": 0}, "subscribe_attempts"),
        ({"subscribe_attempts": 2.0}, "subscribe_attempts"),
    ],
)
def test_config_validation(kwargs: dict[str, object], argument: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        ProtocolConfig(**kwargs)  # type: ignore[arg-type]
    assert info.value.argument == argument


def test_config_defaults() -> None:
    c = ProtocolConfig()
    assert (c.subscribe_timeout, c.subscribe_attempts) == (5.0, 6)
    assert (c.md_renew_after, c.md_stall_after) == (540.0, 10.0)
    assert c.subscribe_first_timeout == 2.0


def test_deadlines_are_per_binding() -> None:
    """Only due bindings are handled; others keep their own deadlines."""
    book = live_book(MD, OrdersSpec())
    book.subscribe(MarketDataSpec(8314), 1)
    book.reconcile(1, True)
    assert book.next_deadline() == 2
    assert book.reconcile(2, True) == ['smd+265598+{"fields":["31","84"]}']
    assert book.next_deadline() == 3


def test_unrelated_events_are_ignored() -> None:
    book = live_book(MD)
    book.on_event(one({"topic": "system", "hb": 1}), 1)
    data(book, md_frame(conid=8314), 1)  # nobody asked for it: no action for market data
    assert book.reconcile(1, True) == []
    assert states(book) == {"md:265598": St.SUBSCRIBING}


def test_identity_cache_never_serves_a_removed_binding() -> None:
    """The hot-path cache is keyed by the decoder's key instance; removal invalidates it."""
    book = live_book(MD)
    frame = md_frame()
    data(book, frame, 1)
    book.unsubscribe(MD_KEY, 2)
    book.subscribe(MD, 3)
    book.reconcile(3, True)
    data(book, frame, 4)  # the same key instance as before
    assert states(book) == {"md:265598": St.ACTIVE}


def test_identity_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import ibstream.protocol.subscriptions as subscriptions

    monkeypatch.setattr(subscriptions, "_BY_ID_MAX", 1)
    book = live_book(MD, MarketDataSpec(8314))
    data(book, md_frame(), 1)
    data(book, md_frame(conid=8314), 1)
    assert set(states(book).values()) == {St.ACTIVE}
    assert len(book._by_id) == 1
