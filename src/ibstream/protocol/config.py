"""Every knob of the sans-I/O session machinery, in one validated, frozen dataclass.

The session machine (:mod:`ibstream.protocol.session`), the subscription book
(:mod:`ibstream.protocol.subscriptions`) and :class:`~ibstream.protocol.connection.StreamProtocol`
all read this one object; each uses its own part (comments below). Times are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from ibstream.exceptions import InvalidArgument

__all__ = ["ProtocolConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolConfig:
    """Every knob of the session machinery (seconds). Validated at construction."""

    # Session machine (protocol/session.py)
    heartbeat_timeout: float = 25.0
    """No frame at all for this long -> ``Reconnect`` (the gateway heartbeats every 10 s)."""
    tic_interval: float = 30.0
    """Send ``tic`` this often while authenticated (at most 60 s)."""
    tickle_interval: float = 60.0
    """Request a ``Tickle`` (REST ``/tickle``) this often."""
    auth_poll_interval: float = 2.0
    """Request ``PollAuthStatus`` this often while not authenticated on an open socket.

    The gateway never announces that authentication came back (protocol.md §8.10), so this
    bounds recovery: a positive poll at most this long after the gateway is healthy, then the
    ``/tickle`` session check and the resubscription (docs/benchmarks.md has the budget). 2 s
    keeps recovery within 5 s and costs 0.5 req/s only while recovering (the gateway allows 10)."""
    auth_timeout: float = 15.0
    """Wait this long after ``connection_made`` for ``sts authenticated:true`` before polling."""
    auth_lost_reconnect_after: float = 60.0
    """``Reconnect`` when a socket stays unauthenticated this long."""
    max_unauthenticated: float | None = 300.0
    """``Fatal(NotAuthenticated)`` if never authenticated this long after the first connect."""
    reclaim_competing: bool = False
    """Request ``Reauthenticate`` when another session competes (takes the session back; again
    at the polls while it lasts, at most every 5 s)."""
    send_session_message: bool = False
    """Send ``{"session":...}`` right after ``connection_made`` if a session id is known."""
    session_id: str | None = None
    """The ``/tickle`` session id, if known up front."""
    # Subscription book (protocol/subscriptions.py)
    subscribe_timeout: float = 5.0
    """Longest wait for a confirmation before an unconfirmed subscription is re-sent."""
    subscribe_first_timeout: float = 2.0
    """First re-send of an unconfirmed subscription after this long (capped at
    ``subscribe_timeout``); each later re-send waits twice as long, up to ``subscribe_timeout``.
    The gateway confirms in about 0.5 s (§1.7) but sometimes ignores a first ``smd`` (§8.14).
    Market history always waits ``subscribe_timeout``: a re-sent ``smh`` may open a second
    server-side stream in one of the 5 slots (§4.2)."""
    subscribe_attempts: int = 6
    """Give up (``FAILED``, ``SubscriptionTimeout``) after this many sends."""
    md_renew_after: float = 540.0
    """Re-send market data this long after confirmation (IBKR expires it after 10-15 min)."""
    md_stall_after: float | None = 10.0
    """Re-send a confirmed market-data stream that stayed silent this long (the gateway may end
    a stream silently, §8.4); ``None`` turns the check off. A contract can be quiet for real
    (illiquid, market closed), so while re-sends bring nothing but their own opening snapshot
    the wait doubles each time (10, 20, 40 s ... up to ``md_renew_after``); data that flows on
    its own makes it short again."""

    def __post_init__(self) -> None:
        self._check_session()
        self._check_book()

    def _check_session(self) -> None:
        for name in (
            "heartbeat_timeout",
            "tic_interval",
            "tickle_interval",
            "auth_poll_interval",
            "auth_timeout",
            "auth_lost_reconnect_after",
            "max_unauthenticated",
        ):
            value = getattr(self, name)
            if value is None and name == "max_unauthenticated":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise InvalidArgument(name, f"must be a positive number of seconds, got {value!r}")
        if self.tic_interval > 60:
            raise InvalidArgument(
                "tic_interval", f"must be at most 60 s (IBKR §7), got {self.tic_interval!r}"
            )
        if self.session_id is not None and (
            not isinstance(self.session_id, str) or not self.session_id
        ):
            raise InvalidArgument("session_id", "must be None or a non-empty string")

    def _check_book(self) -> None:
        for name in (
            "subscribe_timeout",
            "subscribe_first_timeout",
            "md_renew_after",
            "md_stall_after",
        ):
            value = getattr(self, name)
            if value is None and name == "md_stall_after":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise InvalidArgument(name, f"must be a positive number of seconds, got {value!r}")
        attempts = self.subscribe_attempts
        if type(attempts) is not int or attempts < 1:
            raise InvalidArgument("subscribe_attempts", f"must be an int >= 1, got {attempts!r}")
