"""StreamProtocol end to end: real frame text in, events, messages and actions out."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from ibstream.exceptions import InvalidArgument, InvalidState, SubscriptionConflict
from ibstream.protocol.connection import ProtocolConfig, StreamProtocol
from ibstream.protocol.events import AuthStatus, Heartbeat, MarketData, SystemLogin
from ibstream.protocol.lifecycle import (
    Gap,
    PollAuthStatus,
    Reconnect,
    SessionState,
    SessionStateChanged,
    SubscriptionState,
    SubscriptionStateChanged,
    Tickle,
)
from ibstream.protocol.session import OPEN_STATES
from ibstream.protocol.specs import (
    AccountSummarySpec,
    MarketDataSpec,
    MarketHistorySpec,
    OrdersSpec,
    Spec,
    StreamKey,
    Topic,
    TradesSpec,
)

S = SessionState
St = SubscriptionState
SID = "e5af95a05fe55041a403680abb434efa"
ACCT = "U25235077"

# Frames from protocol.md §1.4 / §4 / §5 (abbreviated where the spec abbreviates them).
SYSTEM = '{"topic":"system","success":"cborlm154","isFT":false,"isPaper":false}'
STS_OK = (
    '{"topic":"sts","args":{"connected":true,"authenticated":true,"established":true,'
    '"competing":false,"message":"","fail":"","serverName":"JifZ11074",'
    '"serverVersion":"Build 10.45.1a, Apr 22, 2026 1:39:05 PM","username":"cborlm154"}}'
)
STS_LOST = '{"topic":"sts","args":{"authenticated":false}}'
STS_COMPETING = '{"topic":"sts","args":{"competing":true}}'
STS_COMPETING_FALSE = '{"topic":"sts","args":{"competing":false}}'
STS_MESSAGE = '{"topic":"sts","args":{"message":""}}'
HB = '{"topic":"system","hb":1777415611502}'
WAITING = '{"message":"waiting for session"}'
TIC = '{"topic":"tic","alive":true,"id":"' + SID + '","lastAccessed":1777415639969}'
SMD = (
    '{"6509":"DPB","conidEx":"265598","topic":"smd+265598","conid":265598,'
    '"_updated":1777552110061,"6119":"q1","83":0.56,"server_id":"q1","84":"271.55",'
    '"31":"271.67","86":"271.66"}'
)
SMD_DELTA = (
    '{"server_id":"q1","conidEx":"265598","conid":265598,"_updated":1777552129156,'
    '"6119":"q1","84":"271.70","86":"271.80","topic":"smd+265598"}'
)
MD = MarketDataSpec(265598, fields=("31", "84", "86", "6509", "83"))
MD_MSG = 'smd+265598+{"fields":["31","84","86","6509","83"]}'


def smh(conid: int, server_id: str) -> str:
    return orjson.dumps(
        {
            "serverId": server_id,
            "symbol": "AAPL",
            "priceFactor": 100,
            "data": [{"o": 1, "c": 2, "h": 3, "l": 1, "v": 10, "t": 1698796800000}],
            "points": 1,
            "topic": f"smh+{conid}",
        }
    ).decode()


def authenticated(now: float = 0.0, **config: Any) -> StreamProtocol:
    """A protocol connected and authenticated at ``now``, outputs drained."""
    p = StreamProtocol(ProtocolConfig(**config))
    p.connecting(now)
    p.connection_made(now, SID)
    p.receive_frame(SYSTEM, now)
    p.receive_frame(STS_OK, now)
    drain(p)
    return p


def drain(p: StreamProtocol) -> tuple[list[Any], list[str], list[Any]]:
    return p.events_received(), p.data_to_send(), p.actions_requested()


def names(events: list[Any]) -> list[str]:
    out = []
    for e in events:
        if isinstance(e, SessionStateChanged | SubscriptionStateChanged):
            out.append(f"{type(e).__name__}:{e.current.name}")
        else:
            out.append(type(e).__name__)
    return out


# --- the recorded session of protocol.md §1.7 ---------------------------------------------------


def test_recorded_session() -> None:
    """Subscribe before authentication; sent after sts; confirmed by the (doubled) first frame,
    delivered once."""
    p = StreamProtocol()
    p.connecting(0.0)
    p.connection_made(0.0, SID)
    assert p.subscribe(MD, 0.001) == MD.key
    assert p.data_to_send() == []  # never before sts authenticated:true (§8.1)
    p.receive_frame(SYSTEM, 0.178)
    p.receive_frame(STS_OK, 0.209)
    assert p.authenticated
    assert p.data_to_send() == [MD_MSG]
    p.receive_frame(SMD, 0.75)
    p.receive_frame(SMD, 0.75)
    p.receive_frame(SMD_DELTA, 4.0)
    events = p.events_received()
    assert names(events) == [
        "SessionStateChanged:CONNECTING",
        "SessionStateChanged:CONNECTED",
        "SubscriptionStateChanged:PENDING",
        "SystemLogin",
        "SessionStateChanged:AUTHENTICATED",
        "AuthStatus",
        "SubscriptionStateChanged:SUBSCRIBING",
        "SubscriptionStateChanged:ACTIVE",
        "MarketData",
        "MarketData",
    ]
    assert p.suppressed["opening_snapshots"] == 1
    assert isinstance(events[3], SystemLogin)
    assert p.subscriptions == {MD.key: (MD, St.ACTIVE)}
    assert repr(p) == "<StreamProtocol AUTHENTICATED 1 streams (1 ACTIVE)>"
    # tic at 30 s, answered four times; heartbeats every 10 s keep the socket alive, deltas
    # every few seconds the stream (the stall detector re-sends nothing).
    for t in (10.0, 20.0, 30.0):
        p.receive_frame(HB, t)
        p.receive_frame(SMD_DELTA, t)
        p.tick(t)
    assert p.data_to_send() == []
    p.tick(30.209)
    assert p.data_to_send() == ["tic"]
    for _ in range(4):
        p.receive_frame(TIC, 30.3)
    assert drain(p)[2] == []


def test_outputs_are_drained() -> None:
    p = authenticated()
    assert p.events_received() == []
    assert p.data_to_send() == []
    assert p.actions_requested() == []
    assert repr(StreamProtocol()) == "<StreamProtocol DISCONNECTED 0 streams>"


def test_waiting_for_session_sends_the_session_message() -> None:
    p = StreamProtocol()
    p.connecting(0)
    p.connection_made(0, SID)
    p.receive_frame(WAITING, 0.1)
    assert p.state is S.WAITING_FOR_SESSION
    assert p.data_to_send() == ['{"session":"' + SID + '"}']
    p.receive_frame(STS_OK, 0.3)
    assert p.state is S.AUTHENTICATED


def test_session_message_right_after_connect() -> None:
    p = StreamProtocol(ProtocolConfig(send_session_message=True, session_id="abc"))
    p.connecting(0)
    p.connection_made(0)
    assert p.data_to_send() == ['{"session":"abc"}']


# --- authentication lost and restored -----------------------------------------------------------


@pytest.mark.parametrize(
    "lost",
    [
        [STS_LOST],
        [STS_LOST, STS_COMPETING_FALSE, STS_MESSAGE],  # older gateways: one key per frame
        ['{"topic":"sts","args":{"connected":true,"authenticated":false,"competing":false}}'],
    ],
)
def test_auth_lost_suspends_polls_and_restores_with_gaps(lost: list[str]) -> None:
    """sts authenticated:false: subscriptions suspended, auth polled; a positive poll re-sends
    everything and reports a Gap per stream that was live (§8.10)."""
    p = authenticated()
    p.subscribe(MD, 0)
    p.subscribe(OrdersSpec(), 0)
    p.receive_frame(SMD, 1)
    drain(p)
    for frame in lost:
        p.receive_frame(frame, 10)
    assert p.state is S.AUTH_LOST
    assert {k: s for k, (_, s) in p.subscriptions.items()} == {
        MD.key: St.PENDING,
        OrdersSpec().key: St.PENDING,
    }
    events, sent, _ = drain(p)
    assert sent == []
    assert names(events)[0] == "SessionStateChanged:AUTH_LOST"
    p.receive_frame(HB, 14)
    p.tick(15)
    assert p.actions_requested() == [PollAuthStatus()]
    p.auth_status_polled(15.5, False, False, True)
    assert p.state is S.AUTH_LOST
    p.auth_status_polled(16, True, False, True)
    assert p.state is S.AUTHENTICATED
    assert p.data_to_send() == [MD_MSG, "sor+{}"]
    p.receive_frame(SMD, 17)
    gaps = [e for e in p.events_received() if isinstance(e, Gap)]
    assert gaps == [
        Gap(key=OrdersSpec().key, start=10, end=16),
        Gap(key=MD.key, start=10, end=17),
    ]


def test_competing_session() -> None:
    p = authenticated(reclaim_competing=True)
    p.subscribe(MD, 0)
    drain(p)
    p.receive_frame(STS_COMPETING, 5)
    p.receive_frame(STS_LOST, 5.1)
    assert p.state is S.COMPETING
    events, _, actions = drain(p)
    assert "SessionStateChanged:COMPETING" in names(events)
    assert [type(a).__name__ for a in actions] == ["Reauthenticate"]
    p.auth_status_polled(8, True, False, True)
    assert p.data_to_send() == [MD_MSG]


# --- reconnect ----------------------------------------------------------------------------------


def test_heartbeat_timeout_reconnect_and_resubscribe() -> None:
    """No frame for 25 s -> Reconnect; on the new socket everything is re-sent after sts."""
    hist = MarketHistorySpec(265598)
    p = authenticated()
    p.subscribe(MD, 0)
    p.subscribe(hist, 0)
    p.subscribe(AccountSummarySpec(ACCT), 0)
    p.receive_frame(SMD, 1)
    p.receive_frame(smh(265598, "341115"), 1)
    drain(p)
    assert p.book.get(hist.key).server_id == "341115"  # type: ignore[union-attr]
    p.receive_frame(HB, 10)
    assert p.next_deadline() == 2  # the summary's first retry (subscribe_first_timeout) comes first
    p.tick(34.9)
    assert p.actions_requested() == []
    p.tick(35)
    assert p.actions_requested() == [Reconnect(reason="heartbeat timeout: no frame for 25 s")]
    assert p.state is S.CLOSING
    p.connection_lost(35.1, 4000, "heartbeat timeout")
    assert p.state is S.DISCONNECTED
    assert p.book.get(hist.key).server_id is None  # type: ignore[union-attr]
    drain(p)
    p.connecting(36)
    p.connection_made(36.5, SID)
    assert p.data_to_send() == []
    p.receive_frame(STS_OK, 36.7)
    sent = p.data_to_send()
    assert [m[:3] for m in sent] == ["smd", "smh", "ssd"]
    p.receive_frame(SMD, 37)
    p.receive_frame(smh(265598, "341200"), 37)
    gaps = {e.key: (e.start, e.end) for e in p.events_received() if isinstance(e, Gap)}
    assert gaps == {MD.key: (35, 37), hist.key: (35, 37)}
    p.unsubscribe(hist.key, 38)  # before the summary's retry (36.7 + 2 s)
    assert p.data_to_send() == ["umh+341200"]
    p.receive_frame('{"message":"Unsubscribed 341200"}', 38.1)
    assert hist.key not in p.subscriptions


def test_error_frame_rejects() -> None:
    p = authenticated()
    p.subscribe(TradesSpec(), 0)
    drain(p)
    p.receive_frame('{"topic":"str","error":"not allowed"}', 1)
    events = p.events_received()
    assert names(events) == ["SubscriptionStateChanged:REJECTED", "ErrorMessage"]


def test_retries_and_renewal_through_tick() -> None:
    p = authenticated(md_stall_after=None)  # the renewal alone (stalls: test_subscriptions)
    p.subscribe(MD, 0)
    assert p.data_to_send() == [MD_MSG]
    p.receive_frame(HB, 1.9)
    p.tick(1.9)
    assert p.data_to_send() == []
    p.receive_frame(HB, 2)
    p.tick(2)
    assert p.data_to_send() == [MD_MSG]  # first retry after subscribe_first_timeout
    p.receive_frame(SMD, 6)
    drain(p)
    t = 6.0
    while t < 546:  # heartbeats and tics keep the session up; renewal at 540 s
        t += 10
        p.receive_frame(HB, t)
        p.tick(t)
    sent = p.data_to_send()
    assert sent.count(MD_MSG) == 1
    assert "tic" in sent
    assert Tickle() in p.actions_requested()


def test_close() -> None:
    p = authenticated()
    p.subscribe(MD, 0)
    p.close(1)
    assert p.state is S.CLOSING
    assert p.subscriptions[MD.key][1] is St.PENDING
    with pytest.raises(InvalidState, match="cannot subscribe"):
        p.subscribe(OrdersSpec(), 1)
    p.connection_lost(2, 1000, "")
    assert p.state is S.CLOSED
    assert p.next_deadline() is None
    p.unsubscribe(MD.key, 3)  # still allowed: forgets the stream


def test_conflict_surfaces() -> None:
    p = authenticated()
    p.subscribe(MD, 0)
    with pytest.raises(SubscriptionConflict):
        p.subscribe(MarketDataSpec(265598), 0)
    p.subscribe(MarketDataSpec(265598), 0, replace=True)


def test_next_deadline_combines_both_machines() -> None:
    p = authenticated(heartbeat_timeout=20.0)
    assert p.next_deadline() == 20.0  # heartbeat
    p.subscribe(MD, 1)
    assert p.next_deadline() == 3.0  # first subscribe retry
    assert StreamProtocol().next_deadline() is None


def test_config() -> None:
    c = ProtocolConfig(tic_interval=20, subscribe_attempts=3, md_stall_after=60)
    assert c.tic_interval == 20
    assert c.subscribe_attempts == 3
    assert c.md_stall_after == 60
    with pytest.raises(InvalidArgument):
        ProtocolConfig(tic_interval=90)
    with pytest.raises(InvalidArgument):
        ProtocolConfig(md_renew_after=0)


def test_hot_path_market_data_is_a_lookup() -> None:
    """An ACTIVE stream's frames neither reconcile nor emit lifecycle events."""
    p = authenticated()
    p.subscribe(MD, 0)
    p.receive_frame(SMD, 1)
    drain(p)
    before = p.next_deadline()
    for i in range(100):
        p.receive_frame(SMD_DELTA, 2 + i * 0.01)
    events = p.events_received()
    assert all(isinstance(e, MarketData) for e in events) and len(events) == 100
    assert p.data_to_send() == []
    assert p.next_deadline() == before
    assert p.session.last_frame_at == pytest.approx(2.99)


def test_heartbeat_and_status_events_pass_through() -> None:
    p = authenticated()
    p.receive_frame(HB, 1)
    p.receive_frame(STS_MESSAGE, 1)
    events = p.events_received()
    assert [type(e) for e in events] == [Heartbeat, AuthStatus]


# --- random sequences ---------------------------------------------------------------------------

SUBSCRIBE_PREFIXES = ("smd", "smh", "sbd", "sor", "str", "spl", "ssd", "sld")
SPECS: list[Spec] = [
    MarketDataSpec(1),
    MarketDataSpec(1, fields=("31",)),
    MarketDataSpec(2),
    OrdersSpec(),
    TradesSpec(),
    AccountSummarySpec(ACCT),
    *[MarketHistorySpec(c) for c in range(10, 17)],
    MarketHistorySpec(10, bar="1h"),
]


def data_frame(spec: Spec, server_id: str) -> str:
    key = spec.key
    if key.topic is Topic.MARKET_DATA:
        return orjson.dumps(
            {"topic": f"smd+{key.ident}", "conid": int(key.ident), "server_id": server_id}
        ).decode()
    if key.topic is Topic.MARKET_HISTORY:
        return smh(int(key.ident), server_id)
    if key.topic is Topic.TRADES:
        return '{"topic":"str","args":[]}'
    if key.topic is Topic.ACCOUNT_SUMMARY:
        return orjson.dumps(
            {"topic": f"ssd+{ACCT}", "result": [{"key": "AccountCode", "value": ACCT}]}
        ).decode()
    return '{"topic":"sor","args":[{"acct":"U1","orderId":1,"status":"Submitted"}]}'


class ProtocolMachine(RuleBasedStateMachine):
    """Random connect/auth/frames/ticks/subscribe/unsubscribe sequences keep the invariants."""

    @initialize()
    def start(self) -> None:
        self.p = StreamProtocol(ProtocolConfig(max_unauthenticated=None))
        self.now = 0.0
        self.server_ids = 0
        self.ever_resent_after_reauth = True

    def step(self, action: Any) -> None:
        """Run one input and check what it sent against the state it left."""
        before = self.p.state
        action()
        sent = self.p.data_to_send()
        self.p.events_received()
        self.p.actions_requested()
        after = self.p.state
        subscribes = [m for m in sent if m.startswith(SUBSCRIBE_PREFIXES)]
        if after is not S.AUTHENTICATED:
            # Nothing but the session message goes out on an unauthenticated socket.
            assert all(m.startswith('{"session"') for m in sent), (before, after, sent)
        if before is not S.AUTHENTICATED and after is S.AUTHENTICATED:
            # Re-authenticated: every stream that is live again was re-sent in this step.
            wanted = {
                spec.subscribe_message()
                for spec, state in self.p.subscriptions.values()
                if state in (St.SUBSCRIBING, St.ACTIVE)
            }
            assert wanted <= set(subscribes), (wanted, subscribes)

    def advance(self, dt: float) -> None:
        self.now += dt

    @precondition(lambda self: self.p.state is S.DISCONNECTED)
    @rule(dt=st.floats(0, 5))
    def connect(self, dt: float) -> None:
        self.advance(dt)
        self.step(lambda: self.p.connecting(self.now))

    @precondition(lambda self: self.p.state is S.CONNECTING)
    @rule(made=st.booleans())
    def connect_result(self, made: bool) -> None:
        if made:
            self.step(lambda: self.p.connection_made(self.now, SID))
        else:
            self.step(lambda: self.p.connection_lost(self.now, None, "refused"))

    @precondition(lambda self: self.p.state is S.DISCONNECTED)
    @rule()
    def connect_and_authenticate(self) -> None:
        """The happy path in one rule, so that random runs spend time authenticated."""
        self.step(lambda: self.p.connecting(self.now))
        self.step(lambda: self.p.connection_made(self.now, SID))
        self.step(lambda: self.p.receive_frame(STS_OK, self.now))

    @precondition(lambda self: self.p.authenticated)
    @rule()
    def confirm_everything(self) -> None:
        """The gateway answers every stream waiting for its first frame."""
        for spec, state in list(self.p.subscriptions.values()):
            if state is St.SUBSCRIBING:
                self.data_arrives(spec)

    @precondition(lambda self: self.p.state in OPEN_STATES or self.p.state is S.CLOSING)
    @rule()
    def lose_connection(self) -> None:
        self.step(lambda: self.p.connection_lost(self.now, 1006, "lost"))

    @precondition(lambda self: self.p.state in OPEN_STATES)
    @rule(
        frame=st.sampled_from(
            [STS_OK, STS_LOST, STS_COMPETING, STS_COMPETING_FALSE, STS_MESSAGE, WAITING, HB, TIC]
        )
    )
    def gateway_says(self, frame: str) -> None:
        self.step(lambda: self.p.receive_frame(frame, self.now))

    @precondition(lambda self: self.p.state in OPEN_STATES)
    @rule(spec=st.sampled_from(SPECS))
    def data_arrives(self, spec: Spec) -> None:
        self.server_ids += 1
        frame = data_frame(spec, str(self.server_ids))
        self.step(lambda: self.p.receive_frame(frame, self.now))

    @precondition(lambda self: self.p.state in OPEN_STATES)
    @rule(spec=st.sampled_from(SPECS))
    def history_unsubscribed(self, spec: Spec) -> None:
        binding = self.p.book.get(spec.key)
        sid = binding.server_id if binding is not None else None
        frame = orjson.dumps({"message": f"Unsubscribed {sid or 'x'}"}).decode()
        self.step(lambda: self.p.receive_frame(frame, self.now))

    @rule(
        authenticated=st.booleans(),
        competing=st.booleans(),
        connected=st.booleans(),
    )
    def poll_result(self, authenticated: bool, competing: bool, connected: bool) -> None:
        self.step(lambda: self.p.auth_status_polled(self.now, authenticated, competing, connected))

    @rule(dt=st.one_of(st.floats(0, 6), st.floats(0, 600)))
    def time_passes(self, dt: float) -> None:
        self.advance(dt)
        self.step(lambda: self.p.tick(self.now))

    @rule(spec=st.sampled_from(SPECS), replace=st.booleans())
    def subscribe(self, spec: Spec, replace: bool) -> None:
        def go() -> None:
            try:
                self.p.subscribe(spec, self.now, replace=replace)
            except SubscriptionConflict:
                assert not replace

        self.step(go)

    @rule(spec=st.sampled_from(SPECS))
    def unsubscribe(self, spec: Spec) -> None:
        self.step(lambda: self.p.unsubscribe(spec.key, self.now))

    @invariant()
    def at_most_five_history_streams(self) -> None:
        held = [
            k
            for k, (_, s) in self.p.subscriptions.items()
            if k.topic is Topic.MARKET_HISTORY
            and s in (St.SUBSCRIBING, St.ACTIVE, St.UNSUBSCRIBING)
        ]
        assert len(held) <= 5

    @invariant()
    def nothing_waits_while_authenticated(self) -> None:
        if self.p.authenticated:
            pending = [k for k, (_, s) in self.p.subscriptions.items() if s is St.PENDING]
            assert pending == []

    @invariant()
    def nothing_live_while_unauthenticated(self) -> None:
        if not self.p.authenticated:
            live = [
                k
                for k, (_, s) in self.p.subscriptions.items()
                if s in (St.SUBSCRIBING, St.ACTIVE, St.UNSUBSCRIBING)
            ]
            assert live == []

    @invariant()
    def deadline_is_never_in_the_past_after_tick(self) -> None:
        self.step(lambda: self.p.tick(self.now))
        deadline = self.p.next_deadline()
        if self.p.state in OPEN_STATES:
            assert deadline is not None
        if deadline is not None:
            assert deadline > self.now


ProtocolMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=60, deadline=None
)
TestProtocolMachine = ProtocolMachine.TestCase


def test_keys_are_what_ibkr_keys_streams_by() -> None:
    assert MarketDataSpec(1).key == StreamKey(Topic.MARKET_DATA, "1")


def test_state_reprs() -> None:
    assert repr(S.AUTH_LOST) == "<SessionState.AUTH_LOST>"
    assert repr(St.QUEUED) == "<SubscriptionState.QUEUED>"
