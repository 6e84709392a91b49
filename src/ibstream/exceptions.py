"""The one exception tree of ibstream.

Every error ibstream raises derives from :class:`IBStreamError`. Where a stdlib base makes an
error catchable the usual way, it is mixed in (``InvalidArgument`` is a ``ValueError``,
``InvalidState`` a ``RuntimeError``, ``StreamTimeout`` a ``TimeoutError``).

::

    IBStreamError
    ├── InvalidArgument (ValueError)        you passed a bad argument (spec, config, URL, ...)
    ├── InvalidState (RuntimeError)         an operation or transition not allowed in this state
    ├── ProtocolError                       the gateway broke the protocol in a way we must stop on
    ├── SubscriptionError                   a subscription could not be established or kept
    │   ├── SubscriptionConflict            same stream, different parameters, no replace asked
    │   ├── SubscriptionRejected            the gateway answered with an error
    │   └── SubscriptionTimeout             no confirmation after every retry
    ├── GatewayError                        talking to the gateway failed
    │   ├── GatewayUnreachable              DNS, refused, reset: nothing answered
    │   ├── TLSError                        certificate verification / handshake failed
    │   ├── HTTPStatusError                 a REST call answered with an error (IBKR's message)
    │   │   ├── NotFound (LookupError)      unknown symbol, conid or path
    │   │   └── RateLimited                 429 after every paced retry (the pacing limiter)
    │   └── ConnectionClosed                the WebSocket closed (carries code and reason)
    ├── AuthenticationError                 the brokerage session is not usable
    │   ├── NotAuthenticated                not logged in, or authentication lost for good
    │   ├── CompetingSession                another brokerage session took over
    │   └── OAuthError                      OAuth 1.0a failed in a way retrying cannot fix
    │       ├── OAuthConfigError (ValueError) missing/unreadable setting, bad key file or prime
    │       ├── OAuthSignatureRejected      the server rejected our RSA/HMAC signature
    │       ├── OAuthClockSkew              the server rejected our timestamp (clock off)
    │       ├── OAuthTokenRevoked           consumer/access token unknown, revoked or disabled
    │       └── OAuthTokenMismatch          the live session token does not validate
    ├── SlowConsumerError                   a never-drop buffer overflowed: the consumer is too slow
    ├── StreamTimeout (TimeoutError)        a wait (ready(), start(), ...) ran out of time
    └── ClientClosed                        the client was stopped while you were using it

Malformed input from the gateway is *not* an exception: the decoder turns it into a
``Malformed`` event (see :mod:`ibstream.protocol.events`). Exceptions are for the user's
misuse, for fatal conditions and for waits that cannot complete.
"""

from __future__ import annotations

import json

from ibstream.masking import mask_text

__all__ = [
    "AuthenticationError",
    "ClientClosed",
    "CompetingSession",
    "ConnectionClosed",
    "GatewayError",
    "GatewayUnreachable",
    "HTTPStatusError",
    "IBStreamError",
    "InvalidArgument",
    "InvalidState",
    "NotAuthenticated",
    "NotFound",
    "OAuthClockSkew",
    "OAuthConfigError",
    "OAuthError",
    "OAuthSignatureRejected",
    "OAuthTokenMismatch",
    "OAuthTokenRevoked",
    "ProtocolError",
    "RateLimited",
    "SlowConsumerError",
    "StreamTimeout",
    "SubscriptionConflict",
    "SubscriptionError",
    "SubscriptionRejected",
    "SubscriptionTimeout",
    "TLSError",
]


class IBStreamError(Exception):
    """Base class of every error raised by ibstream."""


class InvalidArgument(IBStreamError, ValueError):
    """An argument is not valid; the message names the argument and what is allowed."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(f"{argument}: {message}")
        self.argument = argument


class InvalidState(IBStreamError, RuntimeError):
    """An operation or state transition that is not allowed in the current state."""


class ProtocolError(IBStreamError):
    """The gateway broke the protocol in a way that cannot be represented as an event."""


class SubscriptionError(IBStreamError):
    """A subscription could not be established or kept."""


class SubscriptionConflict(SubscriptionError):
    """A live stream was requested again with different parameters and no replace was asked."""


class SubscriptionRejected(SubscriptionError):
    """The gateway answered a subscription with an error."""


class SubscriptionTimeout(SubscriptionError):
    """The gateway never confirmed a subscription after every retry."""


class GatewayError(IBStreamError):
    """Talking to the gateway failed."""


class GatewayUnreachable(GatewayError):
    """Nothing answered at the gateway's address (refused, reset, DNS failure)."""


class TLSError(GatewayError):
    """The TLS handshake or certificate verification failed (or the server does not speak TLS).

    ``verified`` tells whether certificate verification was on (``None`` when unknown), so
    advice to turn it off is only given where it can help.
    """

    def __init__(self, message: str, *, verified: bool | None = None) -> None:
        super().__init__(message)
        self.verified = verified


class HTTPStatusError(GatewayError):
    """A REST call answered with an unexpected HTTP status.

    ``endpoint`` is ``"GET /iserver/..."``; ``error`` is IBKR's own message when the body carried
    one (``{"error": "..."}``), else ``""``.
    """

    def __init__(
        self, method: str, path: str, status: int, body: str = "", *, message: str | None = None
    ) -> None:
        snippet = body if len(body) <= 200 else body[:200] + "..."
        text = message or f"{method} {path} -> HTTP {status}" + (f": {snippet}" if snippet else "")
        super().__init__(mask_text(text))  # account ids in paths never in clear
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        self.error = _ibkr_message(body)

    @property
    def endpoint(self) -> str:
        """``"METHOD /path"`` of the failed call."""
        return f"{self.method} {self.path}"


def _ibkr_message(body: str) -> str:
    """IBKR's message from an error body such as ``{"error": "No bridge"}`` (or ``""``)."""
    try:
        data = json.loads(body) if body[:1] in ("{", "[") else None
    except ValueError:
        return ""
    if isinstance(data, dict):
        for key in ("error", "message", "msg"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value
    return ""


class NotFound(HTTPStatusError, LookupError):
    """The gateway knows no such symbol, conid, account or path."""


class RateLimited(HTTPStatusError):
    """The gateway kept answering 429 (too many requests) after the limiter's paced retries.

    ``retry_after`` is the wait (seconds) the limiter would apply next.
    """

    def __init__(
        self, method: str, path: str, body: str = "", *, retry_after: float | None = None
    ) -> None:
        super().__init__(method, path, 429, body)
        self.retry_after = retry_after


class ConnectionClosed(GatewayError):
    """The WebSocket connection closed."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"connection closed (code={code}, reason={reason!r})")
        self.code = code
        self.reason = reason


class AuthenticationError(IBStreamError):
    """The brokerage session is not usable."""


class NotAuthenticated(AuthenticationError):
    """The gateway is not logged in, or authentication was lost and did not come back.

    ``endpoint`` names the REST call that was refused (``None`` for session-level errors).
    """

    def __init__(self, message: str = "not authenticated", *, endpoint: str | None = None) -> None:
        super().__init__(mask_text(message))  # account ids in paths never in clear
        self.endpoint = endpoint


class CompetingSession(AuthenticationError):
    """Another brokerage session for the same user took over."""


class OAuthError(AuthenticationError):
    """OAuth 1.0a authentication failed in a way that retrying cannot fix.

    Messages never contain a secret (keys, tokens, the access token secret, the live session
    token): at most a masked prefix of the consumer key.
    """


class OAuthConfigError(OAuthError, ValueError):
    """An OAuth setting is missing or unusable: a key file that is not an RSA private key, a
    DH prime that is not a prime-sized odd hex number, an access token secret the encryption key
    cannot decrypt. ``setting`` names the setting."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"OAuth {setting}: {message}")
        self.setting = setting


class OAuthSignatureRejected(OAuthError):
    """The server rejected the request signature (RSA-SHA256 for the live session token: the
    private signature key does not match the public one registered with IBKR, or the encryption
    key decrypted the access token secret to a wrong value)."""


class OAuthClockSkew(OAuthError):
    """The server rejected ``oauth_timestamp``: this machine's clock is off. ``skew`` is the
    estimated offset in seconds (local minus server) when the server sent a ``Date``."""

    def __init__(self, message: str, skew: float | None = None) -> None:
        super().__init__(message)
        self.skew = skew


class OAuthTokenRevoked(OAuthError):
    """The server does not accept the consumer key or access token (revoked, regenerated,
    not yet activated, or OAuth disabled for the account)."""


class OAuthTokenMismatch(OAuthError):
    """The computed live session token does not match the server's signature of it: the DH
    prime differs from the one registered with IBKR."""


class SlowConsumerError(IBStreamError):
    """A buffer that must never drop (orders, trades, P&L, account) overflowed."""

    def __init__(self, what: str, capacity: int) -> None:
        super().__init__(
            f"{what}: consumer too slow, buffer of {capacity} events is full; "
            "events of this stream are never dropped silently"
        )
        self.what = what
        self.capacity = capacity


class StreamTimeout(IBStreamError, TimeoutError):
    """A wait ran out of time."""


class ClientClosed(IBStreamError):
    """The client was stopped."""
