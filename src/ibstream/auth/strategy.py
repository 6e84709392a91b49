"""Authentication strategies of the driver: the gateway's own session, or OAuth 1.0a.

``GatewayRest`` (ibstream.aio.rest) asks its strategy to sign every request, to name the
WebSocket's query parameters and headers, and when to (re)obtain credentials; the rest of the
client never knows which strategy is in use. A strategy does no I/O of its own and reads no
clock: the driver passes ``now`` and a ``send`` coroutine for the one request a strategy makes
(the live session token).
"""

from __future__ import annotations

import email.utils
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ibstream.auth.config import OAuthConfig
from ibstream.exceptions import (
    HTTPStatusError,
    OAuthClockSkew,
    OAuthConfigError,
    OAuthError,
    OAuthSignatureRejected,
    OAuthTokenMismatch,
    OAuthTokenRevoked,
)
from ibstream.masking import mask

__all__ = ["Auth", "AuthDescription", "GatewaySession", "OAuth1a", "Response", "Sender"]


def _signing() -> Any:
    """:mod:`ibstream.auth.signing`, imported on first use: it needs ``cryptography`` (the
    ``oauth`` extra), which the gateway-session strategy never does."""
    try:
        from ibstream.auth import signing
    except ImportError as exc:
        from ibstream._deps import DependencyError

        raise DependencyError(
            "OAuth 1.0a needs cryptography: pip install 'ibstream[oauth]'"
        ) from exc
    return signing


LST_PATH = "/oauth/live_session_token"


@dataclass(frozen=True, slots=True)
class Response:
    """What ``send`` returns: status, body bytes, response headers."""

    status: int
    body: bytes
    headers: Mapping[str, str]


#: ``send(method, url, headers)``: one unsigned-by-the-driver HTTP request.
Sender = Callable[[str, str, Mapping[str, str]], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class AuthDescription:
    """What ``ibstream status`` and ``metrics`` show: no secret, expiry as a Unix time."""

    kind: str
    detail: str
    expires_at: float | None


class Auth(Protocol):
    """The strategy interface ``GatewayRest`` drives."""

    #: ``"gateway"`` or ``"oauth1a"``.
    kind: str
    #: A 401 may be repaired by :meth:`invalidate` then :meth:`start` (and one retry).
    recoverable: bool

    def needs_start(self, now: float) -> bool:
        """Credentials must be obtained (none yet, invalidated, or about to expire)."""
        ...

    def refresh_at(self) -> float | None:
        """When to refresh the credentials ahead of expiry (``None``: never)."""
        ...

    async def start(self, send: Sender, base_url: str, now: float) -> None:
        """Obtain (or refresh) the credentials."""
        ...

    def invalidate(self) -> None:
        """Forget the credentials (the server refused them)."""
        ...

    def prepare_request(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        headers: dict[str, str],
        now: float,
    ) -> None:
        """Add what authenticates one REST request to ``headers``."""
        ...

    def ws_params(self) -> dict[str, str]:
        """Query parameters of the WebSocket URL."""
        ...

    def ws_headers(self, session_id: str) -> dict[str, str]:
        """Headers of the WebSocket handshake (the ``api`` session cookie)."""
        ...

    def describe(self) -> AuthDescription: ...


class GatewaySession:
    """The Client Portal Gateway holds the brokerage session (a browser login): requests go
    unsigned, the socket carries ``Cookie: api={"session":"…"}`` (protocol.md §1.3)."""

    kind = "gateway"
    recoverable = False

    def __repr__(self) -> str:
        return "GatewaySession()"

    def needs_start(self, now: float) -> bool:
        return False

    def refresh_at(self) -> float | None:
        return None

    async def start(self, send: Sender, base_url: str, now: float) -> None:
        return None

    def invalidate(self) -> None:
        return None

    def prepare_request(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        headers: dict[str, str],
        now: float,
    ) -> None:
        return None

    def ws_params(self) -> dict[str, str]:
        return {}

    def ws_headers(self, session_id: str) -> dict[str, str]:
        return {"Cookie": 'api={"session":"' + session_id + '"}'}

    def describe(self) -> AuthDescription:
        return AuthDescription("gateway", "gateway session (browser login)", None)


def _nonce() -> str:
    # 16 random alphanumerics (here hex: 64 bits), unique per request as OAuth 1.0a requires
    return secrets.token_hex(8)


def _server_error(body: bytes) -> str:
    """The ``error`` text of IBKR's ``{"error":"id: 39687, error: invalid consumer",...}``."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")[:200]
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return ""


def _skew(headers: Mapping[str, str], now: float) -> float | None:
    date = headers.get("Date") or headers.get("date")
    if not date:
        return None
    try:
        return now - email.utils.parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return None


class OAuth1a:
    """IBKR's first-party OAuth 1.0a: a live session token obtained by a Diffie-Hellman
    exchange, then every request signed HMAC-SHA256 with it.

    The keys, the prime and the access token secret are read and checked when the object is
    built, so a bad key, an undecryptable secret or a malformed prime fail at once with
    ``OAuthConfigError``. ``random`` and ``nonce`` may be replaced (tests); both default to the
    ``secrets`` module.
    """

    kind = "oauth1a"
    recoverable = True

    def __init__(
        self,
        config: OAuthConfig | None = None,
        *,
        random: Callable[[], int] | None = None,
        nonce: Callable[[], str] | None = None,
        **settings: Any,
    ) -> None:
        if config is None:
            config = OAuthConfig.from_mapping(settings, "arguments")
        elif settings:
            config = config.merged(OAuthConfig.from_mapping(settings, "arguments"))
        self.config = config.check()
        self._signature_key = _signing().load_private_key(
            _read(config.signature_key_file, "signature key file"), "signature key file"
        )
        encryption_key = _signing().load_private_key(
            _read(config.encryption_key_file, "encryption key file"), "encryption key file"
        )
        prime_text: str | bytes = config.dh_prime
        if not config.dh_prime:
            prime_text = _read(config.dh_param_file, "DH param file")
        self._prime = _signing().parse_dh_prime(prime_text)
        self._prepend = _signing().decrypt_access_token_secret(
            config.access_token_secret, encryption_key
        )
        self._random = random or (lambda: secrets.randbits(256))
        self._nonce = nonce or _nonce
        self._lst: str | None = None
        self._expires_at: float | None = None
        self._obtained_at: float | None = None
        #: How many live session tokens were obtained (status, tests).
        self.tokens_obtained = 0

    def __repr__(self) -> str:
        state = "token" if self._lst else "no token"
        return (
            f"OAuth1a(consumer_key={mask(self.config.consumer_key, 2)}, "
            f"realm={self.config.effective_realm!r}, {state})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OAuth1a:
        """From ``IBSTREAM_OAUTH_CONFIG`` (a JSON file) and ``IBSTREAM_OAUTH_*`` variables."""
        return cls(OAuthConfig.load(env=env))

    @classmethod
    def from_file(cls, path: str, env: Mapping[str, str] | None = None) -> OAuth1a:
        """From a JSON settings file (environment variables override it)."""
        return cls(OAuthConfig.load(path, env=env))

    # -- token lifecycle --------------------------------------------------------------------

    @property
    def expires_at(self) -> float | None:
        """Unix time the live session token expires (``None`` without a token)."""
        return self._expires_at if self._lst else None

    def needs_start(self, now: float) -> bool:
        if self._lst is None or self._expires_at is None:
            return True
        at = self.refresh_at()
        return at is not None and now >= at

    def refresh_at(self) -> float | None:
        if self._lst is None or self._expires_at is None or self._obtained_at is None:
            return None
        lifetime = self._expires_at - self._obtained_at
        margin = min(self.config.refresh_margin, max(0.0, lifetime) / 2)
        return self._expires_at - margin

    def invalidate(self) -> None:
        self._lst = None

    def lst_request(self, base_url: str, now: float) -> tuple[str, dict[str, str], int]:
        """The URL, headers and DH random of a ``POST /oauth/live_session_token`` (pure)."""
        url = base_url + LST_PATH
        random = self._random()
        params = {
            "diffie_hellman_challenge": _signing().dh_challenge(
                self._prime, random, self.config.dh_generator
            ),
            "oauth_consumer_key": self.config.consumer_key,
            "oauth_nonce": self._nonce(),
            "oauth_signature_method": _signing().RSA_SHA256,
            "oauth_timestamp": str(int(now)),
            "oauth_token": self.config.access_token,
        }
        base = _signing().base_string("POST", url, params, prepend=self._prepend)
        params["oauth_signature"] = _signing().rsa_sha256_signature(base, self._signature_key)
        header = _signing().authorization_header(self.config.effective_realm, params)
        return url, {"Authorization": header, "User-Agent": "ibstream"}, random

    def accept_lst_response(self, body: bytes, random: int, now: float) -> None:
        """Compute and validate the token from a 200 answer (pure)."""
        try:
            data = orjson.loads(body)
            dh_response = str(data["diffie_hellman_response"])
            signature = str(data["live_session_token_signature"])
            expiration_ms = int(data["live_session_token_expiration"])
            token = _signing().live_session_token(self._prime, random, dh_response, self._prepend)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise OAuthError(
                "live session token: unexpected answer from the server "
                "(expected diffie_hellman_response, live_session_token_signature, "
                "live_session_token_expiration)"
            ) from exc
        if not _signing().validate_live_session_token(token, signature, self.config.consumer_key):
            raise OAuthTokenMismatch(
                "live session token does not validate against the server's signature: the DH "
                "prime (or generator) differs from the dhparam.pem registered with IBKR"
            )
        self._lst = token
        self._obtained_at = now
        self._expires_at = expiration_ms / 1000.0
        self.tokens_obtained += 1

    async def start(self, send: Sender, base_url: str, now: float) -> None:
        url, headers, random = self.lst_request(base_url, now)
        resp = await send("POST", url, headers)
        if resp.status == 200:
            self.accept_lst_response(resp.body, random, now)
            return
        raise self.lst_error(resp, now)

    def lst_error(self, resp: Response, now: float) -> Exception:
        """The typed error for a refused ``live_session_token`` request."""
        text = _server_error(resp.body)
        low = text.lower()
        who = f"consumer {mask(self.config.consumer_key, 2)}"
        if resp.status in (400, 401, 403):
            if "timestamp" in low or "expired request" in low:
                skew = _skew(resp.headers, now)
                where = f" by about {skew:+.0f} s" if skew is not None else ""
                return OAuthClockSkew(
                    f"live session token refused: oauth_timestamp out of range; this machine's "
                    f"clock differs from the server's{where}: synchronise it (NTP)",
                    skew,
                )
            if "signature" in low:
                return OAuthSignatureRejected(
                    f"live session token refused for {who}: invalid signature; the private "
                    "signature key does not match the public signature key registered with IBKR, "
                    "or the encryption key decrypts the access token secret to a wrong value"
                )
            if "nonce" in low:
                return OAuthError(f"live session token refused: {text}")
            if resp.status in (401, 403):
                return OAuthTokenRevoked(
                    f"live session token refused for {who} ({text or resp.status}): the "
                    "consumer key or access token is unknown, revoked or not yet active; "
                    "generate a new access token in IBKR's self-service portal"
                )
        return HTTPStatusError("POST", LST_PATH, resp.status, text)

    # -- signing ----------------------------------------------------------------------------

    def prepare_request(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        headers: dict[str, str],
        now: float,
    ) -> None:
        if self._lst is None:
            raise OAuthError("no live session token: the driver must call start() first")
        oauth = {
            "oauth_consumer_key": self.config.consumer_key,
            "oauth_nonce": self._nonce(),
            "oauth_signature_method": _signing().HMAC_SHA256,
            "oauth_timestamp": str(int(now)),
            "oauth_token": self.config.access_token,
        }
        signed = dict(oauth)
        for key, value in (params or {}).items():
            signed.setdefault(key, value)
        base = _signing().base_string(method, url, signed)
        oauth["oauth_signature"] = _signing().hmac_sha256_signature(base, self._lst)
        headers["Authorization"] = _signing().authorization_header(
            self.config.effective_realm, oauth
        )

    def ws_params(self) -> dict[str, str]:
        return {"oauth_token": self.config.access_token}

    def ws_headers(self, session_id: str) -> dict[str, str]:
        # protocol.md §1.3 form 3: the bare session as the api cookie, IBKR's user agent
        return {"Cookie": f"api={session_id}", "User-Agent": "ClientPortalGW/1"}

    def describe(self) -> AuthDescription:
        detail = (
            f"OAuth 1.0a (consumer {mask(self.config.consumer_key, 2)}, "
            f"realm {self.config.effective_realm})"
        )
        return AuthDescription("oauth1a", detail, self.expires_at)


def _read(path: str, setting: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise OAuthConfigError(setting, f"cannot read {path}: {exc.strerror or exc}") from exc
