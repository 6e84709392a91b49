"""The pure half of IBKR's OAuth 1.0a (first party): base strings, signatures, Diffie-Hellman,
the live session token. No I/O, no clock, no randomness: timestamps, nonces and the DH random
are passed in, so every function has a known answer (tests/auth/test_signing.py checks them
against vectors computed with the ``openssl`` command line).

The flow, as IBKR documents it (docs/authentication.md has the sources):

1. ``prepend`` = hex of the access token secret decrypted (RSA PKCS#1 v1.5) with the private
   encryption key;
2. ``diffie_hellman_challenge`` = hex(g^a mod p) for a random 256-bit ``a``;
3. ``POST /oauth/live_session_token`` signed RSA-SHA256 (PKCS#1 v1.5) with the private signature
   key over ``prepend + base string``;
4. ``K = B^a mod p`` (``B`` = ``diffie_hellman_response``); the live session token is
   ``base64(HMAC-SHA1(K as a signed big-endian byte string, bytes.fromhex(prepend)))`` and must
   satisfy ``hex(HMAC-SHA1(LST, consumer_key)) == live_session_token_signature``;
5. every later request is signed HMAC-SHA256 keyed with the base64-decoded token.

The base string is ``METHOD&enc(URL)&enc(k1=v1&k2=v2...)``: the OAuth parameters, the
``diffie_hellman_challenge`` and the query parameters sorted by name, joined, then the whole list
percent-encoded once (``enc`` = ``application/x-www-form-urlencoded`` quoting, as IBKR's examples
and IBind do).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote_plus, unquote_plus, urlsplit, urlunsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.dh import DHParameters

from ibstream.exceptions import OAuthConfigError

__all__ = [
    "HMAC_SHA256",
    "RSA_SHA256",
    "authorization_header",
    "base_string",
    "decrypt_access_token_secret",
    "dh_challenge",
    "hmac_sha256_signature",
    "live_session_token",
    "load_private_key",
    "lst_signature",
    "parse_authorization_header",
    "parse_dh_prime",
    "rsa_sha256_signature",
    "signed_bytes",
    "validate_live_session_token",
]

RSA_SHA256 = "RSA-SHA256"
HMAC_SHA256 = "HMAC-SHA256"

#: Smallest DH prime accepted (IBKR registers 2048-bit parameters; 1024 is a floor, not advice).
MIN_PRIME_BITS = 1024
# Deterministic Miller-Rabin witnesses: a typo'd prime is caught before any request is made.
_WITNESSES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)


def _enc(text: str) -> str:
    return quote_plus(text, safe="")


def base_string(method: str, url: str, params: Mapping[str, str], *, prepend: str = "") -> str:
    """``prepend + METHOD&enc(url)&enc(sorted k=v joined by '&')``.

    ``url`` is the request URL without its query string (a query in ``url`` is moved into the
    parameters); ``params`` holds the ``oauth_*`` parameters (not ``oauth_signature``), any
    extra signed parameter such as ``diffie_hellman_challenge``, and the query parameters.
    """
    parts = urlsplit(url)
    merged = dict(params)
    if parts.query:
        for pair in parts.query.split("&"):
            if pair:
                key, _, value = pair.partition("=")
                merged.setdefault(unquote_plus(key), unquote_plus(value))
    bare = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    joined = "&".join(f"{k}={v}" for k, v in sorted(merged.items()))
    return f"{prepend}{method.upper()}&{_enc(bare)}&{_enc(joined)}"


def rsa_sha256_signature(base: str, key: rsa.RSAPrivateKey) -> str:
    """Base64 of the RSA-SHA256 (PKCS#1 v1.5) signature of ``base`` (UTF-8)."""
    sig = key.sign(base.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(sig).decode("ascii")


def hmac_sha256_signature(base: str, live_session_token: str) -> str:
    """Base64 of HMAC-SHA256 of ``base`` keyed with the base64-decoded live session token."""
    key = base64.b64decode(live_session_token)
    return base64.b64encode(hmac.new(key, base.encode("utf-8"), hashlib.sha256).digest()).decode(
        "ascii"
    )


def authorization_header(realm: str, params: Mapping[str, str]) -> str:
    """``OAuth realm="…", k1="v1", …`` with the keys sorted; ``oauth_signature`` (base64) is
    URL-encoded, the other values are sent as they are."""
    items = []
    for key, value in sorted(params.items()):
        shown = _enc(value) if key == "oauth_signature" else value
        items.append(f'{key}="{shown}"')
    return ", ".join([f'OAuth realm="{realm}"', *items])


def parse_authorization_header(header: str) -> dict[str, str]:
    """The ``key="value"`` pairs of an ``OAuth …`` header (``oauth_signature`` URL-decoded)."""
    text = header.strip()
    if not text.startswith("OAuth "):
        return {}
    out: dict[str, str] = {}
    for part in text[len("OAuth ") :].split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        out[key.strip()] = unquote_plus(value) if key.strip() == "oauth_signature" else value
    return out


# -- Diffie-Hellman and the live session token ---------------------------------------------


def signed_bytes(value: int) -> bytes:
    """Big-endian two's-complement bytes of a non-negative int, as Java's
    ``BigInteger.toByteArray()`` gives them: a leading zero byte when the top bit is set.
    IBKR keys the token HMAC with these bytes of ``K``."""
    if value < 0:
        raise ValueError("value must be >= 0")
    return value.to_bytes(value.bit_length() // 8 + 1, "big")


def dh_challenge(prime: int, random: int, generator: int = 2) -> str:
    """``hex(g^a mod p)`` without ``0x`` (the ``diffie_hellman_challenge`` parameter)."""
    return format(pow(generator, random, prime), "x")


def live_session_token(prime: int, random: int, dh_response: str, prepend: str) -> str:
    """``base64(HMAC-SHA1(signed_bytes(B^a mod p), bytes.fromhex(prepend)))``."""
    shared = pow(int(dh_response, 16), random, prime)
    digest = hmac.new(signed_bytes(shared), bytes.fromhex(prepend), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def lst_signature(live_session_token: str, consumer_key: str) -> str:
    """``hex(HMAC-SHA1(base64-decoded LST, consumer_key))``: what the server returns as
    ``live_session_token_signature``."""
    key = base64.b64decode(live_session_token)
    return hmac.new(key, consumer_key.encode("utf-8"), hashlib.sha1).hexdigest()


def validate_live_session_token(live_session_token: str, signature: str, consumer_key: str) -> bool:
    """Whether the computed token matches the server's ``live_session_token_signature``."""
    expected = lst_signature(live_session_token, consumer_key)
    return hmac.compare_digest(expected, signature.strip().lower())


# -- keys, secret, prime ---------------------------------------------------------------------


def load_private_key(pem: bytes, setting: str) -> rsa.RSAPrivateKey:
    """An unencrypted RSA private key from PEM (PKCS#1 or PKCS#8); ``OAuthConfigError`` naming
    ``setting`` otherwise (the key material never appears in the message)."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError as exc:
        raise OAuthConfigError(setting, "the key is password-protected; decrypt it first") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise OAuthConfigError(setting, "not a PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise OAuthConfigError(setting, "not an RSA private key")
    if key.key_size < 1024:
        raise OAuthConfigError(setting, f"RSA key of {key.key_size} bits is too small")
    return key


def decrypt_access_token_secret(secret: str, key: rsa.RSAPrivateKey) -> str:
    """The ``prepend``: hex of the base64 access token secret decrypted (PKCS#1 v1.5)."""
    try:
        raw = base64.b64decode(secret.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise OAuthConfigError("access token secret", "not base64") from exc
    try:
        plain = key.decrypt(raw, padding.PKCS1v15())
    except ValueError as exc:
        raise OAuthConfigError(
            "encryption key",
            "cannot decrypt the access token secret: the private encryption key does not match "
            "the public one registered with IBKR (or the secret was copied incompletely)",
        ) from exc
    return plain.hex()


def _probably_prime(n: int) -> bool:
    if n < 2 or n % 2 == 0:
        return n == 2
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for a in _WITNESSES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def parse_dh_prime(text: str | bytes) -> int:
    """The DH prime from hex (``0x`` prefix, whitespace and ``:`` as ``openssl dhparam -text``
    prints them allowed) or from a PEM ``DH PARAMETERS`` block. ``OAuthConfigError`` when it is
    not a prime of at least 1024 bits."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    stripped = text.strip()
    if stripped.startswith("-----BEGIN"):
        try:
            params = serialization.load_pem_parameters(stripped.encode("ascii"))
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise OAuthConfigError("DH prime", "not a PEM DH PARAMETERS block") from exc
        if not isinstance(params, DHParameters):
            raise OAuthConfigError("DH prime", "the PEM block holds no DH parameters")
        prime = params.parameter_numbers().p
    else:
        digits = "".join(stripped.split()).replace(":", "")
        if digits[:2].lower() == "0x":
            digits = digits[2:]
        try:
            prime = int(digits, 16)
        except ValueError as exc:
            raise OAuthConfigError("DH prime", "not a hexadecimal number") from exc
    if prime.bit_length() < MIN_PRIME_BITS:
        raise OAuthConfigError(
            "DH prime", f"{prime.bit_length()} bits; expected the 2048-bit prime of dhparam.pem"
        )
    if not _probably_prime(prime):
        raise OAuthConfigError("DH prime", "not a prime: check that it was copied completely")
    return prime
