"""The session state machine: transitions, deadlines and actions (pure, no event loop)."""

from __future__ import annotations

import itertools

import pytest

from ibstream.exceptions import InvalidArgument, InvalidState, NotAuthenticated
from ibstream.protocol.config import ProtocolConfig
from ibstream.protocol.lifecycle import (
    Fatal,
    PollAuthStatus,
    Reauthenticate,
    Reconnect,
    SessionStateChanged,
    Tickle,
)
from ibstream.protocol.session import (
    OPEN_STATES,
    SESSION_TRANSITIONS,
    Session,
    SessionState,
    SessionTrigger,
)

S = SessionState
T = SessionTrigger
SID = "e5af95a05fe55041a403680abb434efa"


def session_in(state: SessionState, **config: object) -> Session:
    """A session brought into ``state`` through the public API only (at t=0..1)."""
    s = Session(ProtocolConfig(**config))  # type: ignore[arg-type]
    if state is S.DISCONNECTED:
        return s
    if state is S.CLOSED:
        s.close(0)
        return s
    s.connecting(0)
    if state is S.CONNECTING:
        return s
    s.connection_made(0.1)
    if state is S.WAITING_FOR_SESSION:
        s.waiting_for_session(0.2)
    elif state is S.AUTHENTICATED:
        s.auth_status(0.2, True, False)
    elif state is S.AUTH_LOST:
        s.auth_status(0.2, True, None)
        s.auth_status(0.3, False, None)
    elif state is S.COMPETING:
        s.auth_status(0.2, None, True)
    elif state is S.CLOSING:
        s.close(0.2)
    assert s.state is state
    return s


def drain(s: Session) -> tuple[list[object], list[str], list[object]]:
    return s.events_received(), s.data_to_send(), s.actions_requested()


# --- the transition table -----------------------------------------------------------------------

ALL_PAIRS = list(itertools.product(SessionState, SessionTrigger))


@pytest.mark.parametrize(("state", "trigger"), ALL_PAIRS, ids=lambda v: v.name)
def test_transition_table(state: SessionState, trigger: SessionTrigger) -> None:
    """Every (state, trigger) either moves as the table says or raises InvalidState."""
    s = session_in(state)
    drain(s)
    expected = SESSION_TRANSITIONS.get((state, trigger))
    if expected is None:
        with pytest.raises(InvalidState, match=trigger.value):
            s._fire(trigger, 5.0, "test")
        assert s.state is state
        return
    s._fire(trigger, 5.0, "test")
    assert s.state is expected
    events = s.events_received()
    if expected is state:
        assert events == [], "a self-transition emits nothing"
    else:
        assert events == [SessionStateChanged(previous=state, current=expected, reason="test")]


def test_closed_is_terminal() -> None:
    """Only an idempotent close is allowed once CLOSED."""
    legal = {trig for (st, trig) in SESSION_TRANSITIONS if st is S.CLOSED}
    assert legal == {T.CLOSE}
    assert SESSION_TRANSITIONS[(S.CLOSED, T.CLOSE)] is S.CLOSED


def test_every_open_state_handles_every_gateway_trigger() -> None:
    """The gateway can say anything at any time on an open socket: never an InvalidState."""
    gateway = {
        T.WAITING_FOR_SESSION,
        T.AUTHENTICATED,
        T.NOT_AUTHENTICATED,
        T.COMPETING,
        T.COMPETING_CLEARED,
    }
    for state in [*OPEN_STATES, S.CLOSING]:
        for trigger in gateway:
            assert (state, trigger) in SESSION_TRANSITIONS


@pytest.mark.parametrize(
    ("calls", "error"),
    [
        (["connection_made"], "connection_made is not allowed in state DISCONNECTED"),
        (["connecting", "connecting"], "connect is not allowed in state CONNECTING"),
        (["connection_lost"], "connection_lost is not allowed in state DISCONNECTED"),
        (["close", "connecting"], "connect is not allowed in state CLOSED"),
        (["connecting", "waiting_for_session"], "not allowed in state CONNECTING"),
    ],
)
def test_driver_misuse_raises(calls: list[str], error: str) -> None:
    """Calls out of order are driver bugs and raise InvalidState naming the state."""
    s = Session()
    *ok, bad = calls
    for name in ok:
        getattr(s, name)(0)
    with pytest.raises(InvalidState, match=error):
        getattr(s, bad)(0)


# --- the happy path -----------------------------------------------------------------------------


def test_connect_and_authenticate_emits_every_change() -> None:
    """DISCONNECTED -> CONNECTING -> CONNECTED -> AUTHENTICATED, one event per change."""
    s = Session()
    s.connecting(0)
    s.connection_made(0.1)
    s.auth_status(0.3, True, False)
    s.auth_status(0.4, True, None)  # repeated status: no event
    assert [(e.previous, e.current) for e in s.events_received()] == [  # type: ignore[union-attr]
        (S.DISCONNECTED, S.CONNECTING),
        (S.CONNECTING, S.CONNECTED),
        (S.CONNECTED, S.AUTHENTICATED),
    ]
    assert s.authenticated
    assert s.reason == "sts authenticated=true competing=false"
    assert repr(s) == "<Session AUTHENTICATED reason='sts authenticated=true competing=false'>"


def test_status_frame_without_auth_keys_changes_nothing() -> None:
    """One-key sts frames like {"message":""} carry neither flag: ignored (§5.3)."""
    s = session_in(S.CONNECTED)
    drain(s)
    s.auth_status(1, None, None)
    assert s.state is S.CONNECTED
    assert s.events_received() == []


def test_one_key_frames_in_sequence() -> None:
    """Older gateways split sts into one-key frames (§1.4): false, competing false, message."""
    s = session_in(S.AUTHENTICATED)
    s.auth_status(1, False, None)
    s.auth_status(1, None, False)
    s.auth_status(1, None, None)
    assert s.state is S.AUTH_LOST


# --- deadlines ----------------------------------------------------------------------------------


def test_heartbeat_timeout_requests_reconnect() -> None:
    """No frame for heartbeat_timeout -> Reconnect and CLOSING; frames postpone it."""
    s = session_in(S.AUTHENTICATED)
    drain(s)
    s.frame_received(10.0)
    assert s.last_frame_at == 10.0
    s.tick(34.9)
    assert s.state is S.AUTHENTICATED
    assert Reconnect not in map(type, s.actions_requested())
    s.tick(35.0)
    assert s.state is S.CLOSING
    assert Reconnect(reason="heartbeat timeout: no frame for 25 s") in s.actions_requested()
    assert s.next_deadline() is None  # closing: the driver closes the socket
    s.connection_lost(35.1, 4000, "reconnect")
    assert s.state is S.DISCONNECTED  # not stopping: the client reconnects


def test_heartbeat_timeout_is_configurable() -> None:
    s = session_in(S.AUTHENTICATED, heartbeat_timeout=12.0)
    assert s.next_deadline() == pytest.approx(0.1 + 12.0)


def test_tic_cadence_while_authenticated_only() -> None:
    """tic every tic_interval from authentication; none while authentication is lost."""
    s = session_in(S.AUTHENTICATED)
    drain(s)
    sent: list[tuple[float, str]] = []
    for t in range(1, 95):
        s.frame_received(float(t))  # heartbeats keep the socket alive
        s.tick(float(t))
        sent += [(t, m) for m in s.data_to_send()]
    assert sent == [(31, "tic"), (61, "tic"), (91, "tic")]  # authenticated at 0.2
    s.auth_status(95, False, None)
    for t in range(96, 140):
        s.frame_received(float(t))
        s.tick(float(t))
    assert "tic" not in s.data_to_send()


def test_tickle_cadence_in_every_running_state() -> None:
    """Tickle every tickle_interval once started, connected or not; never after close."""
    s = Session(ProtocolConfig(max_unauthenticated=None))
    s.tick(1000)
    assert s.actions_requested() == []  # not started
    assert s.next_deadline() is None
    s.connecting(0)
    assert s.next_deadline() == 60
    s.connection_lost(1, None, "refused")
    s.tick(60)
    assert s.actions_requested() == [Tickle()]
    s.tick(100)
    assert s.actions_requested() == []
    assert s.next_deadline() == 120
    s.close(101)
    s.tick(500)
    assert s.actions_requested() == []
    assert s.next_deadline() is None


def test_opening_burst_timeout_polls_then_promotes() -> None:
    """No sts within auth_timeout -> PollAuthStatus every auth_poll_interval; a positive poll
    promotes the socket (IBind does the same, §3.3)."""
    s = session_in(S.CONNECTED)
    drain(s)
    assert s.next_deadline() == pytest.approx(15.1)
    s.frame_received(14)
    s.tick(15.0)
    assert s.actions_requested() == []
    s.tick(15.1)
    assert s.actions_requested() == [PollAuthStatus()]
    assert s.next_deadline() == pytest.approx(17.1)
    s.tick(17.1)
    assert s.actions_requested() == [PollAuthStatus()]
    s.auth_status_polled(17.5, True, False, True)
    assert s.state is S.AUTHENTICATED
    assert s.reason.startswith("auth status poll:")


@pytest.mark.parametrize(
    ("authenticated", "competing", "connected", "expected"),
    [
        (True, False, True, S.AUTHENTICATED),
        (True, False, False, S.AUTH_LOST),
        (False, False, True, S.AUTH_LOST),
        (True, True, True, S.COMPETING),
        (False, True, True, S.COMPETING),
    ],
)
def test_poll_results(
    authenticated: bool, competing: bool, connected: bool, expected: SessionState
) -> None:
    """Usable only when authenticated, connected and not competing (§2.2)."""
    s = session_in(S.AUTH_LOST)
    s.auth_status_polled(1, authenticated, competing, connected)
    assert s.state is expected


@pytest.mark.parametrize("state", [S.DISCONNECTED, S.CONNECTING, S.CLOSING, S.CLOSED])
def test_stale_poll_results_are_ignored(state: SessionState) -> None:
    """A poll answered after the socket went away changes nothing (polls are asynchronous)."""
    s = session_in(state)
    drain(s)
    s.auth_status_polled(1, True, False, True)
    assert s.state is state
    assert s.events_received() == []


def test_auth_lost_polls_and_reconnects_after_a_while() -> None:
    """AUTH_LOST: poll every 2 s; still lost after auth_lost_reconnect_after -> Reconnect."""
    s = session_in(S.AUTHENTICATED)
    s.auth_status(10, False, None)
    drain(s)
    polls = []
    for t in range(11, 71):
        s.frame_received(float(t))
        s.tick(float(t))
        for a in s.actions_requested():
            polls.append((t, a))
    assert polls[:3] == [(12, PollAuthStatus()), (14, PollAuthStatus()), (16, PollAuthStatus())]
    assert sum(1 for _, a in polls if a == PollAuthStatus()) == 29  # 2 s apart: 12 ... 68
    assert polls[-1] == (70, Reconnect(reason="not authenticated for 60 s on this socket"))
    assert s.state is S.CLOSING


def test_auth_restored_before_reconnect() -> None:
    """Authentication back in time: no reconnect, polling stops, tic resumes."""
    s = session_in(S.AUTH_LOST)
    s.auth_status_polled(30, True, False, True)
    drain(s)
    assert s.state is S.AUTHENTICATED
    assert s.next_deadline() == pytest.approx(0.1 + 25)  # heartbeat (last frame at connect)
    s.frame_received(30)
    assert s.next_deadline() == 55  # heartbeat 30 + 25 < tic 60


def test_max_unauthenticated_is_fatal() -> None:
    """Never authenticated for max_unauthenticated -> Fatal(NotAuthenticated), then CLOSED."""
    s = session_in(S.CONNECTED, max_unauthenticated=30.0, auth_lost_reconnect_after=100.0)
    drain(s)
    for t in range(1, 30):
        s.frame_received(float(t))
        s.tick(float(t))
    assert not any(isinstance(a, Fatal) for a in s.actions_requested())
    s.tick(30)
    (fatal,) = [a for a in s.actions_requested() if isinstance(a, Fatal)]
    assert isinstance(fatal.error, NotAuthenticated)
    assert "within 30 s" in str(fatal.error)
    assert s.state is S.CLOSING
    assert s.stopping
    s.connection_lost(31, 1000, "")
    assert s.state is S.CLOSED


def test_max_unauthenticated_between_reconnects() -> None:
    """Fatal also fires while DISCONNECTED between attempts: straight to CLOSED."""
    s = session_in(S.CONNECTING)
    s.connection_lost(1, None, "refused")
    s.tick(300)
    assert s.state is S.CLOSED
    assert any(isinstance(a, Fatal) for a in s.actions_requested())


def test_max_unauthenticated_only_until_first_authentication() -> None:
    """Once authenticated, losing it later is handled by reconnects, not by Fatal."""
    s = session_in(S.AUTHENTICATED, max_unauthenticated=30.0)
    s.connection_lost(1, 1006, "")
    s.tick(1000)
    assert not any(isinstance(a, Fatal) for a in s.actions_requested())
    assert s.state is S.DISCONNECTED


def test_max_unauthenticated_can_be_disabled() -> None:
    s = session_in(S.CONNECTING, max_unauthenticated=None)
    s.connection_lost(1, None, "refused")
    s.tick(10_000)
    assert s.state is S.DISCONNECTED
    assert s.next_deadline() == 10_060  # only the tickle


def test_next_deadline_is_the_earliest() -> None:
    s = session_in(S.CONNECTED, max_unauthenticated=10.0)
    assert s.next_deadline() == 10.0  # fatal before the 15.1 poll and the 25.1 heartbeat
    assert session_in(S.CLOSED).next_deadline() is None
    assert Session().next_deadline() is None


# --- competing sessions -------------------------------------------------------------------------


def test_competing_then_unauthenticated_stays_competing() -> None:
    """competing:true is followed by authenticated:false (§3.3): report competing, poll."""
    s = session_in(S.AUTHENTICATED)
    drain(s)
    s.auth_status(5, None, True)
    s.auth_status(5.1, False, None)
    assert s.state is S.COMPETING
    (change,) = s.events_received()
    assert change == SessionStateChanged(
        previous=S.AUTHENTICATED, current=S.COMPETING, reason="sts competing=true"
    )
    assert s.actions_requested() == []  # reclaiming is opt-in
    s.tick(10)
    assert s.actions_requested() == [PollAuthStatus()]


def test_competing_reclaimed_when_asked() -> None:
    s = session_in(S.AUTHENTICATED, reclaim_competing=True)
    drain(s)
    s.auth_status(5, False, True)
    assert s.actions_requested() == [Reauthenticate()]
    s.auth_status_polled(6, True, False, True)
    assert s.state is S.AUTHENTICATED


def test_competing_reclaim_is_retried_at_each_poll() -> None:
    """A takeover that lands after our first reclaim is reclaimed again at the next poll."""
    s = session_in(S.AUTHENTICATED, reclaim_competing=True, auth_poll_interval=5.0)
    drain(s)
    s.auth_status(5, None, True)
    assert s.actions_requested() == [Reauthenticate()]
    s.auth_status(5.2, False, None)  # the gateway completes the takeover
    assert s.state is S.COMPETING
    s.tick(10)
    assert s.actions_requested() == [PollAuthStatus(), Reauthenticate()]
    s.tick(15)
    assert s.actions_requested() == [PollAuthStatus(), Reauthenticate()]


def test_competing_reclaim_is_paced_when_polls_are_faster() -> None:
    """Polls every 2 s (the default) reclaim at most every 5 s: faster polling must not fight
    the other login faster."""
    s = session_in(S.AUTHENTICATED, reclaim_competing=True)
    drain(s)
    s.auth_status(5, False, True)
    assert s.actions_requested() == [Reauthenticate()]
    reclaims = []
    for t in (7, 9, 11, 13, 15, 17, 19, 21):
        s.frame_received(t)
        s.tick(t)
        if Reauthenticate() in s.actions_requested():
            reclaims.append(t)
    assert reclaims == [11, 17]


def test_competing_cleared_one_key_frame_means_unknown() -> None:
    s = session_in(S.COMPETING)
    s.auth_status(1, None, False)
    assert s.state is S.AUTH_LOST


# --- waiting for session ------------------------------------------------------------------------


def test_waiting_for_session_sends_session_message_once() -> None:
    """{"message":"waiting for session"} -> {"session":...} once per socket (§1.3, §8.11)."""
    s = Session()
    s.connecting(0)
    s.connection_made(0.1, SID)
    assert s.data_to_send() == []  # not proactively by default
    s.waiting_for_session(0.2)
    s.waiting_for_session(0.3)
    assert s.data_to_send() == ['{"session":"' + SID + '"}']
    assert s.state is S.WAITING_FOR_SESSION
    s.auth_status(0.5, True, False)
    assert s.state is S.AUTHENTICATED


def test_waiting_for_session_without_session_id_sends_nothing() -> None:
    s = session_in(S.WAITING_FOR_SESSION)
    assert s.data_to_send() == []


def test_session_message_after_connect_when_configured() -> None:
    """send_session_message: sent right after connection_made, once per socket."""
    s = Session(ProtocolConfig(send_session_message=True, session_id="abc"))
    s.connecting(0)
    s.connection_made(0.1)
    s.waiting_for_session(0.2)
    assert s.data_to_send() == ['{"session":"abc"}']
    s.connection_lost(1)
    s.connecting(2)
    s.connection_made(2.1, "fresh")
    assert s.data_to_send() == ['{"session":"fresh"}']


def test_waiting_for_session_on_an_authenticated_socket() -> None:
    """The gateway forgot our session: unauthenticated, polling starts, data stops."""
    s = session_in(S.AUTHENTICATED)
    s.waiting_for_session(5)
    assert s.state is S.WAITING_FOR_SESSION
    assert not s.authenticated
    assert s.next_deadline() == 7


# --- closing ------------------------------------------------------------------------------------


def test_close_is_idempotent_and_final() -> None:
    s = session_in(S.AUTHENTICATED)
    s.close(1)
    s.close(2)
    assert s.state is S.CLOSING
    s.auth_status(2.5, True, False)  # late frames are ignored
    assert s.state is S.CLOSING
    s.connection_lost(3, 1000, "bye")
    assert s.state is S.CLOSED
    s.close(4)
    assert s.state is S.CLOSED
    assert s.reason == "connection lost (code=1000, reason='bye')"


def test_close_while_connecting() -> None:
    s = session_in(S.CONNECTING)
    s.close(1)
    s.connection_made(1.1)  # the connect finished anyway; the driver closes it
    assert s.state is S.CLOSING
    s.connection_lost(1.2)
    assert s.state is S.CLOSED


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"tic_interval": 61}, "tic_interval"),
        ({"tic_interval": 0}, "tic_interval"),
        ({"heartbeat_timeout": -1}, "heartbeat_timeout"),
        ({"auth_poll_interval": True}, "auth_poll_interval"),
        ({"tickle_interval": "60"}, "tickle_interval"),
        ({"max_unauthenticated": 0}, "max_unauthenticated"),
        ({"session_id": ""}, "session_id"),
    ],
)
def test_config_validation(kwargs: dict[str, object], argument: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        ProtocolConfig(**kwargs)  # type: ignore[arg-type]
    assert info.value.argument == argument


def test_config_defaults() -> None:
    c = ProtocolConfig()
    assert (c.heartbeat_timeout, c.tic_interval, c.tickle_interval) == (25.0, 30.0, 60.0)
    assert (c.auth_poll_interval, c.auth_timeout, c.auth_lost_reconnect_after) == (2.0, 15.0, 60.0)
    assert (c.max_unauthenticated, c.reclaim_competing) == (300.0, False)
    assert (c.send_session_message, c.session_id) == (False, None)
