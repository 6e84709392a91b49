"""The OAuth1a strategy without a network: token lifetime arithmetic, the typed errors of a
refused token request, the WebSocket parameters, and the gateway strategy (time passed in)."""

from __future__ import annotations

import email.utils
from pathlib import Path

import orjson
import pytest

from ibstream.auth import GatewaySession, OAuth1a, OAuthConfig, signing
from ibstream.auth.strategy import Response
from ibstream.exceptions import (
    HTTPStatusError,
    OAuthClockSkew,
    OAuthError,
    OAuthSignatureRejected,
    OAuthTokenMismatch,
    OAuthTokenRevoked,
)

from .test_signing import (
    A_RANDOM,
    CONSUMER_KEY,
    ENCRYPTED_SECRET,
    FIXED_PRIME_HEX,
    LST,
    LST_SIGNATURE,
    RESPONSE,
    RSA_SIGNATURE,
    TOKEN,
)

FIXTURES = Path(__file__).parent / "fixtures"
NOW = 1_700_000_000.0


def make() -> OAuth1a:
    config = OAuthConfig(
        consumer_key=CONSUMER_KEY,
        access_token=TOKEN,
        access_token_secret=ENCRYPTED_SECRET,
        signature_key_file=str(FIXTURES / "signature_key.pem"),
        encryption_key_file=str(FIXTURES / "encryption_key.pem"),
        dh_prime=FIXED_PRIME_HEX,
    )
    return OAuth1a(config, random=lambda: A_RANDOM, nonce=lambda: "abcdefghIJKLMNOP")


def answer(expires: float, signature: str = LST_SIGNATURE) -> bytes:
    return orjson.dumps(
        {
            "diffie_hellman_response": RESPONSE,
            "live_session_token_signature": signature,
            "live_session_token_expiration": int(expires * 1000),
        }
    )


def test_token_request_is_the_known_answer() -> None:
    """With the random and nonce fixed, the header carries the openssl-computed signature."""
    auth = make()
    url, headers, random = auth.lst_request("https://api.ibkr.com/v1/api", NOW)
    assert url == "https://api.ibkr.com/v1/api/oauth/live_session_token"
    assert random == A_RANDOM
    params = signing.parse_authorization_header(headers["Authorization"])
    assert params["realm"] == "limited_poa"
    assert params["oauth_signature"] == RSA_SIGNATURE
    assert params["oauth_timestamp"] == "1700000000"


def test_lifetime_and_refresh() -> None:
    """No token: start needed; a 24 h token refreshes 10 min early; a short one at half life."""
    auth = make()
    assert auth.needs_start(NOW) and auth.refresh_at() is None and auth.expires_at is None
    auth.accept_lst_response(answer(NOW + 86400), A_RANDOM, NOW)
    assert auth._lst == LST
    assert auth.expires_at == NOW + 86400
    assert auth.refresh_at() == NOW + 86400 - 600
    assert not auth.needs_start(NOW + 86400 - 601)
    assert auth.needs_start(NOW + 86400 - 600)
    auth.accept_lst_response(answer(NOW + 10), A_RANDOM, NOW)
    assert auth.refresh_at() == NOW + 5
    auth.invalidate()
    assert auth.needs_start(NOW) and auth.expires_at is None


def test_mismatched_token() -> None:
    """A signature the computed token does not match: ``OAuthTokenMismatch``."""
    with pytest.raises(OAuthTokenMismatch, match="DH prime"):
        make().accept_lst_response(answer(NOW + 60, "00" * 20), A_RANDOM, NOW)
    with pytest.raises(OAuthError, match="unexpected answer"):
        make().accept_lst_response(b'{"nope": 1}', A_RANDOM, NOW)


def refused(status: int, error: str, date: float | None = None) -> Response:
    headers = {"Date": email.utils.formatdate(date, usegmt=True)} if date else {}
    body = orjson.dumps({"error": f"id: 1, error: {error}", "statusCode": status})
    return Response(status, body, headers)


def test_refusals_are_typed() -> None:
    """IBKR's error texts map to one exception each; none repeats a secret."""
    auth = make()
    skew = auth.lst_error(refused(401, "invalid timestamp", NOW - 120), NOW)
    assert isinstance(skew, OAuthClockSkew) and skew.skew == pytest.approx(120, abs=1)
    assert isinstance(
        auth.lst_error(refused(401, "invalid signature"), NOW), OAuthSignatureRejected
    )
    revoked = auth.lst_error(refused(401, "invalid consumer"), NOW)
    assert isinstance(revoked, OAuthTokenRevoked)
    assert CONSUMER_KEY not in str(revoked) and "AB…(9)" in str(revoked)
    assert isinstance(auth.lst_error(refused(500, "oops"), NOW), HTTPStatusError)


def test_signing_needs_a_token() -> None:
    with pytest.raises(OAuthError, match="start"):
        make().prepare_request("GET", "https://x/v1/api/tickle", None, {}, NOW)


def test_websocket_parameters() -> None:
    auth = make()
    assert auth.ws_params() == {"oauth_token": TOKEN}
    assert auth.ws_headers("abc") == {"Cookie": "api=abc", "User-Agent": "ClientPortalGW/1"}
    gateway = GatewaySession()
    assert gateway.ws_params() == {}
    assert gateway.ws_headers("abc") == {"Cookie": 'api={"session":"abc"}'}
    assert not gateway.needs_start(NOW) and not gateway.recoverable
    headers: dict[str, str] = {}
    gateway.prepare_request("GET", "https://x/v1/api/tickle", None, headers, NOW)
    assert headers == {}
