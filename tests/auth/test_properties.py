"""Properties of the OAuth arithmetic, checked against the simulator's independent server half:
both sides derive the same live session token for any DH exponents, and the encodings round-trip
for any parameter values."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import unquote_plus

from hypothesis import given, settings
from hypothesis import strategies as st

from ibstream.auth import signing
from ibstream.sim import oauth as server
from ibstream.sim.oauth import RFC3526_PRIME_2048

exponents = st.integers(min_value=2, max_value=2**256 - 1)
secrets = st.binary(min_size=1, max_size=64)


@settings(max_examples=40, deadline=None)
@given(a=exponents, b=exponents, secret=secrets, consumer=st.text(min_size=1, max_size=12))
def test_client_and_server_derive_the_same_token(
    a: int, b: int, secret: bytes, consumer: str
) -> None:
    """Client: K = B^a, token from signed_bytes(K); server: K = A^b, its own byte encoding."""
    p = RFC3526_PRIME_2048
    challenge = signing.dh_challenge(p, a)
    response = format(pow(2, b, p), "x")
    client_token = signing.live_session_token(p, a, response, secret.hex())
    shared = pow(int(challenge, 16), b, p)
    server_token = base64.b64encode(
        hmac.new(server._java_bytes(shared), secret, hashlib.sha1).digest()
    ).decode()
    assert client_token == server_token
    server_signature = hmac.new(
        base64.b64decode(server_token), consumer.encode(), hashlib.sha1
    ).hexdigest()
    assert signing.validate_live_session_token(client_token, server_signature, consumer)


@given(st.integers(min_value=0, max_value=2**2100))
def test_signed_bytes_is_twos_complement(value: int) -> None:
    """Minimal big-endian two's complement, as Java's BigInteger.toByteArray()."""
    raw = signing.signed_bytes(value)
    assert int.from_bytes(raw, "big", signed=True) == value
    assert raw == server._java_bytes(value)
    assert len(raw) == 1 or not (raw[0] == 0 and raw[1] < 0x80)  # minimal


values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters='"'), max_size=20
)


@given(st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), values, max_size=6))
def test_authorization_header_round_trips(params: dict[str, str]) -> None:
    """What the header builder writes, the parser (and the simulator's) reads back."""
    params = {k: v for k, v in params.items() if k != "realm" and "," not in v}
    params["oauth_signature"] = base64.b64encode(b"\xfb\xff+/=" * 3).decode()
    header = signing.authorization_header("limited_poa", params)
    parsed = signing.parse_authorization_header(header)
    assert parsed.pop("realm") == "limited_poa"
    assert parsed == params
    realm, sim_parsed = server._parse_header(header)
    assert realm == "limited_poa"
    assert sim_parsed == params


@given(st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), values, max_size=5))
def test_base_string_decodes_to_the_sorted_parameters(params: dict[str, str]) -> None:
    """The third part of the base string, decoded once, is ``k=v`` sorted and joined by '&'."""
    base = signing.base_string("GET", "https://api.ibkr.com/v1/api/x", params)
    method, url, encoded = base.split("&")
    assert method == "GET"
    assert unquote_plus(url) == "https://api.ibkr.com/v1/api/x"
    assert unquote_plus(encoded) == "&".join(f"{k}={params[k]}" for k in sorted(params))
