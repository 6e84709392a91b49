"""The session state machine: connection, authentication and keep-alive deadlines (pure).

Theory of operation
-------------------

:class:`Session` tracks one logical client across sockets. It is driven by plain method calls
from :class:`~ibstream.protocol.connection.StreamProtocol` (``connecting``, ``connection_made``,
``auth_status``, ``waiting_for_session``, ``auth_status_polled``, ``connection_lost``, ``close``,
``tick``) and never reads a clock: every input carries ``now`` (epoch seconds). Its outputs go to
three lists it appends to (shared with the subscription book when run inside ``StreamProtocol``):
lifecycle events (:class:`~ibstream.protocol.lifecycle.SessionStateChanged`), text to send
(``tic``, ``{"session":...}``) and actions for the I/O layer
(:mod:`~ibstream.protocol.lifecycle` ``Reconnect``, ``PollAuthStatus``, ``Tickle``,
``Reauthenticate``, ``Fatal``).

Every transition lives in :data:`SESSION_TRANSITIONS`, keyed by ``(state, trigger)``. A pair that
is not in the table raises :class:`~ibstream.exceptions.InvalidState`: those are driver bugs
(``connection_made`` twice, ``connecting`` after ``close``...). Triggers that come from the gateway
(``sts`` frames, ``waiting for session``) are legal in every state with an open socket; where they
change nothing the table maps the state to itself and no event is emitted.

Deadlines (all measured from facts, never from a timer we own; ``next_deadline()`` gives the
earliest, the I/O layer calls ``tick(now)`` when it passes):

* heartbeat: the gateway sends ``system hb`` every 10 s (§5.1, §7); if no frame of any kind
  arrived for ``heartbeat_timeout`` the socket is presumed dead -> ``Reconnect``.
* ``tic``: sent every ``tic_interval`` while authenticated (IBKR asks for one per minute, §7).
* ``/tickle``: REST keep-alive every ``tickle_interval`` while running (§2.1) -> ``Tickle``.
* opening burst: no ``sts authenticated:true`` within ``auth_timeout`` of ``connection_made`` ->
  ``PollAuthStatus`` (IBind promotes the socket on a positive poll, §3.3), then every
  ``auth_poll_interval``. The same polling runs in ``AUTH_LOST`` / ``COMPETING``, because the
  gateway never announces that authentication came back (§8.10).
* unauthenticated too long on one socket (``auth_lost_reconnect_after``) -> ``Reconnect``, like
  IBind v1 did.
* never authenticated at all for ``max_unauthenticated`` since the first ``connecting`` ->
  ``Fatal(NotAuthenticated)`` so a misconfigured client does not loop silently forever.
"""

from __future__ import annotations

from enum import Enum

from ibstream.exceptions import InvalidState, NotAuthenticated
from ibstream.protocol.config import ProtocolConfig
from ibstream.protocol.lifecycle import (
    Action,
    Fatal,
    PollAuthStatus,
    ProtocolEvent,
    Reauthenticate,
    Reconnect,
    SessionState,
    SessionStateChanged,
    Tickle,
)
from ibstream.protocol.specs import session_message, tic_message

__all__ = [
    "OPEN_STATES",
    "SESSION_TRANSITIONS",
    "Session",
    "SessionState",
    "SessionTrigger",
]

DISCONNECTED = SessionState.DISCONNECTED
CONNECTING = SessionState.CONNECTING
CONNECTED = SessionState.CONNECTED
WAITING_FOR_SESSION = SessionState.WAITING_FOR_SESSION
AUTHENTICATED = SessionState.AUTHENTICATED
AUTH_LOST = SessionState.AUTH_LOST
COMPETING = SessionState.COMPETING
CLOSING = SessionState.CLOSING
CLOSED = SessionState.CLOSED

RECLAIM_EVERY = 5.0
"""With ``reclaim_competing``: at most one ``Reauthenticate`` per this many seconds (each one
takes the brokerage session from the other login; polling faster must not fight faster)."""


class SessionTrigger(Enum):
    """What can move the session machine."""

    CONNECT = "connect"
    """The I/O layer starts opening a socket."""
    CONNECTION_MADE = "connection_made"
    """The socket is open."""
    WAITING_FOR_SESSION = "waiting_for_session"
    """``{"message":"waiting for session"}`` received."""
    AUTHENTICATED = "authenticated"
    """``sts`` or a poll says authenticated (and not competing)."""
    NOT_AUTHENTICATED = "not_authenticated"
    """``sts`` or a poll says not authenticated."""
    COMPETING = "competing"
    """``sts`` or a poll says ``competing:true``."""
    COMPETING_CLEARED = "competing_cleared"
    """A one-key ``sts {"competing":false}`` frame (older gateways, §1.4)."""
    RECONNECT = "reconnect"
    """A deadline decided the socket must be replaced."""
    FATAL = "fatal"
    """A deadline decided the client must stop."""
    CLOSE = "close"
    """The user stops the client."""
    CONNECTION_LOST = "connection_lost"
    """The socket closed (or the connect attempt failed) and the client keeps running."""
    CONNECTION_RELEASED = "connection_released"
    """The socket closed after the client was told to stop."""


OPEN_STATES: frozenset[SessionState] = frozenset(
    {CONNECTED, WAITING_FOR_SESSION, AUTHENTICATED, AUTH_LOST, COMPETING}
)
"""States with an open socket in which the gateway talks to us."""

_T = SessionTrigger


def _build_table() -> dict[tuple[SessionState, SessionTrigger], SessionState]:
    table: dict[tuple[SessionState, SessionTrigger], SessionState] = {
        (DISCONNECTED, _T.CONNECT): CONNECTING,
        (DISCONNECTED, _T.CLOSE): CLOSED,
        (DISCONNECTED, _T.FATAL): CLOSED,
        (CONNECTING, _T.CONNECTION_MADE): CONNECTED,
        (CONNECTING, _T.CONNECTION_LOST): DISCONNECTED,
        (CONNECTING, _T.CLOSE): CLOSING,
        (CONNECTING, _T.FATAL): CLOSING,
        # What the gateway says about authentication, per open state:
        #                     WAITING              AUTHENTICATED  NOT_AUTH   COMPETING  CLEARED
        **_auth_row(CONNECTED, WAITING_FOR_SESSION, AUTHENTICATED, AUTH_LOST, COMPETING, CONNECTED),
        **_auth_row(
            WAITING_FOR_SESSION,
            WAITING_FOR_SESSION,
            AUTHENTICATED,
            AUTH_LOST,
            COMPETING,
            WAITING_FOR_SESSION,
        ),
        # "waiting for session" on an authenticated socket: the gateway lost our session.
        **_auth_row(
            AUTHENTICATED, WAITING_FOR_SESSION, AUTHENTICATED, AUTH_LOST, COMPETING, AUTHENTICATED
        ),
        **_auth_row(AUTH_LOST, AUTH_LOST, AUTHENTICATED, AUTH_LOST, COMPETING, AUTH_LOST),
        # competing:true is followed by authenticated:false (§3.3): stay COMPETING until a
        # positive status; a one-key competing:false means "unknown, keep polling".
        **_auth_row(COMPETING, COMPETING, AUTHENTICATED, COMPETING, COMPETING, AUTH_LOST),
        # While closing, whatever the gateway says is ignored.
        **_auth_row(CLOSING, CLOSING, CLOSING, CLOSING, CLOSING, CLOSING),
        (CLOSING, _T.CONNECTION_MADE): CLOSING,  # closed while connecting; the driver closes it
        (CLOSING, _T.RECONNECT): CLOSING,
        (CLOSING, _T.FATAL): CLOSING,
        (CLOSING, _T.CLOSE): CLOSING,
        (CLOSING, _T.CONNECTION_LOST): DISCONNECTED,
        (CLOSING, _T.CONNECTION_RELEASED): CLOSED,
        (CLOSED, _T.CLOSE): CLOSED,
    }
    for state in OPEN_STATES:
        table[(state, _T.CONNECTION_LOST)] = DISCONNECTED
        table[(state, _T.RECONNECT)] = CLOSING
        table[(state, _T.FATAL)] = CLOSING
        table[(state, _T.CLOSE)] = CLOSING
    return table


def _auth_row(
    state: SessionState,
    waiting: SessionState,
    authenticated: SessionState,
    not_authenticated: SessionState,
    competing: SessionState,
    cleared: SessionState,
) -> dict[tuple[SessionState, SessionTrigger], SessionState]:
    return {
        (state, _T.WAITING_FOR_SESSION): waiting,
        (state, _T.AUTHENTICATED): authenticated,
        (state, _T.NOT_AUTHENTICATED): not_authenticated,
        (state, _T.COMPETING): competing,
        (state, _T.COMPETING_CLEARED): cleared,
    }


SESSION_TRANSITIONS: dict[tuple[SessionState, SessionTrigger], SessionState] = _build_table()
"""Every legal ``(state, trigger) -> next state`` of the session machine; nothing else is."""


class Session:
    """The session machine. See the module docstring for the theory of operation.

    Args:
        config: timing knobs; defaults to :class:`~ibstream.protocol.config.ProtocolConfig()`.
        events, outgoing, actions: output lists to append to. ``StreamProtocol`` shares them with
            the subscription book so that everything comes out in order; standalone, the session
            makes its own and :meth:`events_received` / :meth:`data_to_send` /
            :meth:`actions_requested` drain them.
    """

    def __init__(
        self,
        config: ProtocolConfig | None = None,
        *,
        events: list[ProtocolEvent] | None = None,
        outgoing: list[str] | None = None,
        actions: list[Action] | None = None,
    ) -> None:
        self.config = config if config is not None else ProtocolConfig()
        # Outputs
        self._events: list[ProtocolEvent] = events if events is not None else []
        self._outgoing: list[str] = outgoing if outgoing is not None else []
        self._actions: list[Action] = actions if actions is not None else []
        # State
        self._state = DISCONNECTED
        self._stopping = False  # close() or Fatal: CLOSING ends in CLOSED, not DISCONNECTED
        self.reason = "initial"
        """Why the machine is in its current state."""
        # Session-wide facts
        self._started_at: float | None = None  # first connecting(): the client is running
        self._ever_authenticated = False
        self._session_id: str | None = self.config.session_id
        self._next_tickle: float | None = None
        # Per-socket facts (reset on connection_made)
        self._last_frame_at: float | None = None  # liveness: any frame counts
        self._unauth_since: float | None = None  # open socket, not authenticated, since when
        self._next_poll: float | None = None
        self._next_reclaim = 0.0  # with reclaim_competing: no Reauthenticate before this
        self._next_tic: float | None = None
        self._session_sent = False  # {"session":...} sent on this socket (at most once)

    def __repr__(self) -> str:
        return f"<Session {self._state.name} reason={self.reason!r}>"

    # --- read-only views ------------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """The current :class:`SessionState`."""
        return self._state

    @property
    def authenticated(self) -> bool:
        """True when subscriptions may flow (state ``AUTHENTICATED``)."""
        return self._state is AUTHENTICATED

    @property
    def stopping(self) -> bool:
        """True once ``close()`` was called or a ``Fatal`` was requested."""
        return self._stopping

    @property
    def last_frame_at(self) -> float | None:
        """When the last frame of any kind arrived on the current socket."""
        return self._last_frame_at

    # --- outputs (standalone use) ---------------------------------------------------------------

    def events_received(self) -> list[ProtocolEvent]:
        """Drain the lifecycle events emitted so far."""
        out, self._events[:] = list(self._events), []
        return out

    def data_to_send(self) -> list[str]:
        """Drain the text messages to send on the socket."""
        out, self._outgoing[:] = list(self._outgoing), []
        return out

    def actions_requested(self) -> list[Action]:
        """Drain the actions requested from the I/O layer."""
        out, self._actions[:] = list(self._actions), []
        return out

    # --- inputs from the I/O layer --------------------------------------------------------------

    def connecting(self, now: float) -> None:
        """The I/O layer starts opening a socket; it must end in connection_made or _lost."""
        self._fire(_T.CONNECT, now, "connecting")
        if self._started_at is None:
            self._started_at = now
            self._next_tickle = now + self.config.tickle_interval

    def connection_made(self, now: float, session_id: str | None = None) -> None:
        """The socket is open; ``session_id`` is the ``/tickle`` session id if known."""
        if session_id is not None:
            self._session_id = session_id
        self._fire(_T.CONNECTION_MADE, now, "connection made")

    def frame_received(self, now: float) -> None:
        """Any frame arrived: the socket is alive (the hot path; keep it a single store)."""
        self._last_frame_at = now

    def auth_status(self, now: float, authenticated: bool | None, competing: bool | None) -> None:
        """An ``sts`` frame (full or one-key form, absent keys are ``None``)."""
        trigger = _auth_trigger(authenticated, competing)
        if trigger is not None:
            self._fire(trigger, now, f"sts {_describe(authenticated, competing)}")

    def waiting_for_session(self, now: float) -> None:
        """The gateway said ``waiting for session``."""
        self._fire(_T.WAITING_FOR_SESSION, now, "gateway is waiting for session")

    def auth_status_polled(
        self, now: float, authenticated: bool, competing: bool, connected: bool
    ) -> None:
        """The result of a ``PollAuthStatus`` action (``/iserver/auth/status``).

        Polls are asynchronous: a result that arrives when no socket is open is stale and ignored.
        """
        if self._state not in OPEN_STATES:
            return
        ok = authenticated and connected
        trigger = _auth_trigger(ok, competing)
        assert trigger is not None
        what = f"authenticated={authenticated} competing={competing} connected={connected}"
        self._fire(trigger, now, f"auth status poll: {what}")

    def connection_lost(self, now: float, code: int | None = None, reason: str = "") -> None:
        """The socket closed, or the connect attempt failed."""
        trigger = _T.CONNECTION_RELEASED if self._stopping else _T.CONNECTION_LOST
        self._fire(trigger, now, f"connection lost (code={code}, reason={reason!r})")

    def close(self, now: float) -> None:
        """The user stops the client. Idempotent."""
        self._stopping = True
        self._fire(_T.CLOSE, now, "closed by user")

    def tick(self, now: float) -> None:
        """Handle every deadline that has passed."""
        state = self._state
        cfg = self.config
        if state is CLOSED or state is CLOSING or self._started_at is None:
            return
        if (
            cfg.max_unauthenticated is not None
            and not self._ever_authenticated
            and now >= self._started_at + cfg.max_unauthenticated
        ):
            error = NotAuthenticated(
                f"not authenticated within {cfg.max_unauthenticated:g} s of starting; "
                "log in to the gateway (browser, IBeam or OAuth) and start again"
            )
            self._actions.append(Fatal(error=error))
            self._stopping = True
            self._fire(_T.FATAL, now, str(error))
            return
        if self._next_tickle is not None and now >= self._next_tickle:
            self._actions.append(Tickle())
            self._next_tickle = now + cfg.tickle_interval
        if state not in OPEN_STATES:
            return
        assert self._last_frame_at is not None
        if now >= self._last_frame_at + cfg.heartbeat_timeout:
            self._reconnect(now, f"heartbeat timeout: no frame for {cfg.heartbeat_timeout:g} s")
            return
        if (
            self._unauth_since is not None
            and now >= self._unauth_since + cfg.auth_lost_reconnect_after
        ):
            self._reconnect(
                now, f"not authenticated for {cfg.auth_lost_reconnect_after:g} s on this socket"
            )
            return
        if self._next_tic is not None and now >= self._next_tic:
            self._outgoing.append(tic_message())
            self._next_tic = now + cfg.tic_interval
        if self._next_poll is not None and now >= self._next_poll:
            self._actions.append(PollAuthStatus())
            if state is COMPETING and cfg.reclaim_competing:
                # the takeover can land after our first reclaim: keep reclaiming while it lasts
                self._reclaim(now)
            self._next_poll = now + cfg.auth_poll_interval

    def next_deadline(self) -> float | None:
        """The earliest time at which :meth:`tick` has something to do, or ``None``."""
        state = self._state
        cfg = self.config
        if state is CLOSED or state is CLOSING or self._started_at is None:
            return None
        candidates: list[float] = []
        if cfg.max_unauthenticated is not None and not self._ever_authenticated:
            candidates.append(self._started_at + cfg.max_unauthenticated)
        assert self._next_tickle is not None  # set by the first connecting()
        candidates.append(self._next_tickle)
        if state in OPEN_STATES:
            assert self._last_frame_at is not None
            candidates.append(self._last_frame_at + cfg.heartbeat_timeout)
            if self._unauth_since is not None:
                candidates.append(self._unauth_since + cfg.auth_lost_reconnect_after)
            if self._next_tic is not None:
                candidates.append(self._next_tic)
            if self._next_poll is not None:
                candidates.append(self._next_poll)
        return min(candidates) if candidates else None

    # --- internals ------------------------------------------------------------------------------

    def _reconnect(self, now: float, reason: str) -> None:
        self._actions.append(Reconnect(reason=reason))
        self._fire(_T.RECONNECT, now, reason)

    def _fire(self, trigger: SessionTrigger, now: float, reason: str) -> None:
        previous = self._state
        try:
            current = SESSION_TRANSITIONS[(previous, trigger)]
        except KeyError:
            raise InvalidState(
                f"session: {trigger.value} is not allowed in state {previous.name}"
            ) from None
        if current is previous:
            return
        self._state = current
        self.reason = reason
        self._enter(previous, current, now)
        self._events.append(SessionStateChanged(previous=previous, current=current, reason=reason))

    def _enter(self, previous: SessionState, current: SessionState, now: float) -> None:
        cfg = self.config
        if previous is AUTHENTICATED:
            self._next_tic = None
        if current is CONNECTED:
            self._last_frame_at = now
            self._unauth_since = now
            self._next_poll = now + cfg.auth_timeout
            self._session_sent = False
            if cfg.send_session_message:
                self._send_session()
        elif current is WAITING_FOR_SESSION:
            self._send_session()
            if previous is AUTHENTICATED:
                self._unauth_since = now
                self._next_poll = now + cfg.auth_poll_interval
        elif current is AUTHENTICATED:
            self._ever_authenticated = True
            self._unauth_since = None
            self._next_poll = None
            self._next_tic = now + cfg.tic_interval
        elif current is AUTH_LOST or current is COMPETING:
            if self._unauth_since is None:
                self._unauth_since = now
            self._next_poll = now + cfg.auth_poll_interval
            if current is COMPETING and cfg.reclaim_competing:
                self._reclaim(now)
        else:  # DISCONNECTED, CONNECTING, CLOSING, CLOSED: no socket deadlines
            self._unauth_since = None
            self._next_poll = None
            self._next_tic = None
            if current is CLOSED:
                self._next_tickle = None

    def _reclaim(self, now: float) -> None:
        if now >= self._next_reclaim:
            self._next_reclaim = now + RECLAIM_EVERY
            self._actions.append(Reauthenticate())

    def _send_session(self) -> None:
        if self._session_id is not None and not self._session_sent:
            self._session_sent = True
            self._outgoing.append(session_message(self._session_id))


def _auth_trigger(authenticated: bool | None, competing: bool | None) -> SessionTrigger | None:
    if competing:
        return _T.COMPETING
    if authenticated is True:
        return _T.AUTHENTICATED
    if authenticated is False:
        return _T.NOT_AUTHENTICATED
    if competing is False:
        return _T.COMPETING_CLEARED
    return None


def _describe(authenticated: bool | None, competing: bool | None) -> str:
    parts: list[str] = []
    if authenticated is not None:
        parts.append(f"authenticated={str(authenticated).lower()}")
    if competing is not None:
        parts.append(f"competing={str(competing).lower()}")
    return " ".join(parts)
