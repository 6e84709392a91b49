"""Reconnect policy: a backoff-delay generator and a retryable-or-fatal classifier.

Pure (no clock, no I/O): the asyncio runtime asks ``ReconnectPolicy.next_delay(rng)`` for the
next wait and ``ReconnectPolicy.is_fatal(exc)`` whether to stop. Both can be replaced by
passing another policy object to the client (style.md principle 6).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ibstream.exceptions import (
    AuthenticationError,
    CompetingSession,
    GatewayUnreachable,
    HTTPStatusError,
    InvalidArgument,
    InvalidState,
    NotAuthenticated,
    OAuthError,
    TLSError,
)

__all__ = ["PROGRAMMING_ERRORS", "ReconnectPolicy", "classify"]

#: HTTP statuses worth retrying: the gateway is up but busy, restarting or rate limiting.
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})

#: Bugs, not weather: retrying repeats them. ``TypeError`` covers a missing or unexpected keyword
#: of a dependency (an older aiohttp), ``InvalidState`` a call the lifecycle does not allow.
PROGRAMMING_ERRORS: tuple[type[BaseException], ...] = (
    TypeError,
    AttributeError,
    NameError,
    ImportError,
    AssertionError,
    NotImplementedError,
    InvalidState,
)


def classify(exc: BaseException) -> bool:
    """Return True when ``exc`` is fatal (retrying cannot help), False when it is retryable.

    Fatal: a programming error (:data:`PROGRAMMING_ERRORS`: the client stops at once and
    ``start()`` raises the exception itself, original traceback included), a bad argument (URL,
    option), a TLS verification failure (the user must pass ``cacert`` or turn verification off:
    retrying only repeats the failure), an OAuth failure (bad keys, wrong prime, clock skew,
    revoked token), an HTTP status that says the URL is wrong (404, 405, 400).
    Retryable: unreachable gateway, closed sockets, timeouts, 5xx and 429, lost authentication
    (the session machine keeps a separate deadline that turns endless authentication failure
    into a fatal error), and other run-time errors (logged with their traceback).
    """
    if isinstance(exc, PROGRAMMING_ERRORS):
        return True
    if isinstance(exc, InvalidArgument | TLSError | OAuthError):
        return True  # OAuthError: bad keys or prime, clock skew, revoked token (ibstream.auth)
    if isinstance(exc, HTTPStatusError):
        if exc.status == 401:
            return False
        return exc.status not in _RETRYABLE_STATUS
    if isinstance(exc, NotAuthenticated | CompetingSession | AuthenticationError):
        return False
    if isinstance(exc, GatewayUnreachable | OSError | TimeoutError | ConnectionError):
        return False
    # Other run-time surprises (a ValueError from odd input, a RuntimeError from a closing
    # library) are retried: the reconnect loop must not die on weather.
    return False


@dataclass(slots=True)
class ReconnectPolicy:
    """Exponential backoff with full jitter, reset by a healthy connection.

    ``delay = uniform(0, min(max_delay, initial * factor**attempt))``, but never below
    ``min_delay``. The attempt counter starts again from zero after a connection that
    authenticated and delivered data (:meth:`connection_succeeded`), or that stayed up for
    ``reset_after`` seconds.
    """

    initial: float = 0.5
    factor: float = 2.0
    max_delay: float = 30.0
    min_delay: float = 0.05
    reset_after: float = 60.0
    attempt: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.initial <= 0:
            raise InvalidArgument("initial", "must be > 0 seconds")
        if self.factor < 1:
            raise InvalidArgument("factor", "must be >= 1")
        if self.max_delay < self.initial:
            raise InvalidArgument("max_delay", "must be >= initial")
        if self.min_delay < 0 or self.min_delay > self.max_delay:
            raise InvalidArgument("min_delay", "must be in [0, max_delay]")
        if self.reset_after < 0:
            raise InvalidArgument("reset_after", "must be >= 0 seconds")

    def next_delay(self, rng: random.Random) -> float:
        """The wait before the next attempt; advances the attempt counter."""
        ceiling = min(self.max_delay, self.initial * self.factor**self.attempt)
        self.attempt = min(self.attempt + 1, 64)
        return max(self.min_delay, rng.uniform(0.0, ceiling))

    def connection_healthy_for(self, seconds: float) -> None:
        """Tell the policy how long the last connection stayed healthy."""
        if seconds >= self.reset_after:
            self.attempt = 0

    def connection_succeeded(self) -> None:
        """The last connection authenticated and delivered data: the gateway is healthy, so the
        next reconnect starts from the first (shortest) delay again, however soon it closed."""
        self.attempt = 0

    def is_fatal(self, exc: BaseException) -> bool:
        """Whether ``exc`` ends the reconnect loop (see :func:`classify`)."""
        return classify(exc)
