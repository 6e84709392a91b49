"""The server side of IBKR's first-party OAuth 1.0a, written independently of the client's
``ibstream.auth`` (never imported here, so a signing bug cannot hide on both sides).

What it models (docs/authentication.md cites the sources):

* ``POST /v1/api/oauth/live_session_token``: checks realm, consumer key, access token,
  ``RSA-SHA256``, timestamp window and nonce, verifies the PKCS#1 v1.5 signature over
  ``hex(access token secret) + base string`` with the registered public signature key, runs its
  half of the Diffie-Hellman exchange and returns ``diffie_hellman_response``,
  ``live_session_token_signature`` and ``live_session_token_expiration`` (ms);
* every other ``/v1/api`` request must carry an ``HMAC-SHA256`` ``Authorization`` header keyed
  with a live (unexpired) session token, a fresh timestamp and an unused nonce;
* the WebSocket handshake must carry ``?oauth_token=<access token>`` while a token is live;
* refusals are HTTP 401 ``{"error":"id: N, error: …","statusCode":401}`` as IBKR answers them.

Faults: token expiry mid-stream, one or more invalid-signature answers, clock skew, a revoked
access token. :meth:`OAuthCredentials.generate` writes test keys, a DH parameter file and a
client settings file into a directory (``ibstream sim --oauth``).
"""

from __future__ import annotations

import base64
import collections
import email.utils
import hashlib
import hmac
import json
import os
import secrets
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["RFC3526_PRIME_2048", "OAuthCredentials", "OAuthServer"]

#: The 2048-bit MODP group of RFC 3526 §3 (generator 2): a well-known safe prime, so the
#: simulator needs no slow ``openssl dhparam`` run.
RFC3526_PRIME_2048 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879"
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B"
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836"
    "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804"
    "F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6"
    "955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
    16,
)
PREFIX = "/v1/api"
LST_PATH = PREFIX + "/oauth/live_session_token"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der_int(n: int) -> bytes:
    raw = n.to_bytes(n.bit_length() // 8 + 1, "big")  # a leading 0 keeps it positive
    return b"\x02" + _der_length(len(raw)) + raw


def _dhparam_pem(prime: int, generator: int) -> bytes:
    """PKCS#3 ``DH PARAMETERS`` as ``openssl dhparam`` writes them (the file users upload)."""
    body = _der_int(prime) + _der_int(generator)
    der = b"\x30" + _der_length(len(body)) + body
    b64 = base64.encodebytes(der).decode("ascii").replace("\n", "")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    text = "-----BEGIN DH PARAMETERS-----\n" + "\n".join(lines) + "\n-----END DH PARAMETERS-----\n"
    return text.encode("ascii")


@dataclass(frozen=True, slots=True)
class OAuthCredentials:
    """What IBKR's self-service portal holds for one consumer (public keys, DH parameters, the
    plain access token secret) and what it hands the user (the encrypted secret)."""

    consumer_key: str
    access_token: str
    #: base64 of the secret encrypted with the public encryption key (what the user gets)
    access_token_secret: str
    secret: bytes
    signature_public_key: rsa.RSAPublicKey
    prime: int
    generator: int = 2
    #: Written by :meth:`generate`: the client settings file and the key files.
    config_file: str = ""
    signature_key_file: str = ""
    encryption_key_file: str = ""
    dh_param_file: str = ""

    def __repr__(self) -> str:
        key = self.consumer_key[:2] + "…" if self.consumer_key else ""
        return f"OAuthCredentials(consumer_key={key!r}, files={self.config_file!r})"

    @property
    def realm(self) -> str:
        return "test_realm" if self.consumer_key == "TESTCONS" else "limited_poa"

    @classmethod
    def generate(
        cls, directory: str, *, consumer_key: str | None = None, prime: int = RFC3526_PRIME_2048
    ) -> OAuthCredentials:
        """New keys and tokens; write ``signature_key.pem``, ``encryption_key.pem``,
        ``dhparam.pem`` and ``oauth.json`` (the client's settings file) into ``directory``."""
        os.makedirs(directory, exist_ok=True)
        sig_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        enc_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key = consumer_key or "".join(secrets.choice(string.ascii_uppercase) for _ in range(9))
        token = secrets.token_hex(10)
        secret = secrets.token_bytes(20)
        encrypted = enc_key.public_key().encrypt(secret, padding.PKCS1v15())
        files = {
            "signature_key_file": os.path.join(directory, "signature_key.pem"),
            "encryption_key_file": os.path.join(directory, "encryption_key.pem"),
            "dh_param_file": os.path.join(directory, "dhparam.pem"),
        }
        dh_pem = _dhparam_pem(prime, 2)
        for name, data in (
            ("signature_key_file", _pem(sig_key)),
            ("encryption_key_file", _pem(enc_key)),
            ("dh_param_file", dh_pem),
        ):
            fd = os.open(files[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        creds = cls(
            consumer_key=key,
            access_token=token,
            access_token_secret=base64.b64encode(encrypted).decode("ascii"),
            secret=secret,
            signature_public_key=sig_key.public_key(),
            prime=prime,
            config_file=os.path.join(directory, "oauth.json"),
            signature_key_file=files["signature_key_file"],
            encryption_key_file=files["encryption_key_file"],
            dh_param_file=files["dh_param_file"],
        )
        fd = os.open(creds.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(creds.client_settings(), fh, indent=2)
        return creds

    def client_settings(self) -> dict[str, str]:
        """The settings a client needs (as in ``oauth.json``)."""
        return {
            "consumer_key": self.consumer_key,
            "access_token": self.access_token,
            "access_token_secret": self.access_token_secret,
            "signature_key_file": self.signature_key_file,
            "encryption_key_file": self.encryption_key_file,
            "dh_param_file": self.dh_param_file,
            "realm": self.realm,
        }

    def env(self) -> dict[str, str]:
        """The same as ``IBSTREAM_OAUTH_*`` environment variables."""
        return {f"IBSTREAM_OAUTH_{k.upper()}": v for k, v in self.client_settings().items()}


# -- the server's own OAuth arithmetic (independent of ibstream.auth) -------------------------


def _java_bytes(n: int) -> bytes:
    # BigInteger.toByteArray(): minimal two's complement, so a set top bit gets a 0x00 prefix
    raw = n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
    return b"\x00" + raw if raw[0] & 0x80 else raw


def _parse_header(value: str) -> tuple[str | None, dict[str, str]]:
    if not value.startswith("OAuth "):
        return None, {}
    realm = None
    params: dict[str, str] = {}
    for item in value[6:].split(","):
        name, eq, raw = item.strip().partition("=")
        if not eq:
            continue
        raw = raw.strip().strip('"')
        if name == "realm":
            realm = raw
        else:
            params[name] = unquote_plus(raw) if name == "oauth_signature" else raw
    return realm, params


def _signature_base(request: web.Request, params: dict[str, str]) -> str:
    pairs = {k: v for k, v in params.items() if k != "oauth_signature"}
    for k, v in request.query.items():
        pairs.setdefault(k, v)
    url = f"{request.scheme}://{request.host}{request.rel_url.path}"
    normalized = "&".join(f"{k}={pairs[k]}" for k in sorted(pairs))
    return "&".join((request.method.upper(), quote_plus(url), quote_plus(normalized)))


class _Refused(Exception):
    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class OAuthServer:
    """The OAuth half of the simulated ``api.ibkr.com`` for one consumer."""

    def __init__(
        self,
        credentials: OAuthCredentials,
        *,
        lst_lifetime: float = 86400.0,
        timestamp_window: float = 300.0,
    ) -> None:
        self.credentials = credentials
        self.lst_lifetime = lst_lifetime
        self.timestamp_window = timestamp_window
        #: live session tokens (raw HMAC keys) -> expiry (server clock, seconds)
        self.tokens: dict[bytes, float] = {}
        self._nonces: dict[str, float] = {}
        self._ids = 39000
        # faults
        self.clock_skew = 0.0
        self.revoked = False
        self.invalid_signatures = 0
        # counters, for tests and the admin state
        self.lst_issued = 0
        self.signed_ok = 0
        self.rejected: collections.Counter[str] = collections.Counter()
        #: called when tokens are expired or revoked (the simulator drops brokerage auth)
        self.on_session_lost: Callable[[str], None] | None = None

    def now(self) -> float:
        return time.time() + self.clock_skew

    # -- faults -------------------------------------------------------------------------------

    def expire_tokens(self) -> int:
        """Every live session token expires now (mid-stream expiry); returns how many."""
        count = len(self.tokens)
        self.tokens.clear()
        if self.on_session_lost is not None:
            self.on_session_lost("live session token expired")
        return count

    def inject_invalid_signature(self, count: int = 1) -> None:
        """Answer the next ``count`` signed requests with ``invalid signature``."""
        self.invalid_signatures += count

    def set_clock_skew(self, seconds: float) -> None:
        """The server's clock runs ``seconds`` ahead (negative: behind) of this machine's."""
        self.clock_skew = seconds

    def revoke(self) -> None:
        """The access token is revoked: tokens die, new ones are refused."""
        self.revoked = True
        self.tokens.clear()
        if self.on_session_lost is not None:
            self.on_session_lost("access token revoked")

    def state(self) -> dict[str, Any]:
        return {
            "consumer_key": self.credentials.consumer_key,
            "live_tokens": sum(1 for t in self.tokens.values() if t > self.now()),
            "lst_issued": self.lst_issued,
            "signed_ok": self.signed_ok,
            "rejected": dict(self.rejected),
            "clock_skew": self.clock_skew,
            "revoked": self.revoked,
        }

    # -- checks -------------------------------------------------------------------------------

    def _common(self, realm: str | None, params: dict[str, str], method: str) -> None:
        creds = self.credentials
        if realm != creds.realm:
            raise _Refused("invalid realm")
        if params.get("oauth_consumer_key") != creds.consumer_key:
            raise _Refused("invalid consumer")
        if self.revoked:
            raise _Refused(
                f"LST failed, error: No access secret key found for {creds.consumer_key}"
            )
        if params.get("oauth_token") != creds.access_token:
            raise _Refused("invalid token")
        if params.get("oauth_signature_method") != method:
            raise _Refused("invalid signature method")
        try:
            stamp = int(params.get("oauth_timestamp", ""))
        except ValueError:
            raise _Refused("invalid timestamp") from None
        now = self.now()
        if abs(now - stamp) > self.timestamp_window:
            raise _Refused("invalid timestamp")
        nonce = params.get("oauth_nonce", "")
        if not nonce:
            raise _Refused("missing nonce")
        for old, seen in list(self._nonces.items()):
            if now - seen > 2 * self.timestamp_window:
                del self._nonces[old]
        if nonce in self._nonces:
            raise _Refused("nonce already used")
        self._nonces[nonce] = now
        if self.invalid_signatures > 0:
            self.invalid_signatures -= 1
            raise _Refused("invalid signature")

    def issue(self, request: web.Request, challenge_hex: str) -> dict[str, Any]:
        """Verify the RSA-signed live session token request and answer it."""
        creds = self.credentials
        realm, params = _parse_header(request.headers.get("Authorization", ""))
        self._common(realm, params, "RSA-SHA256")
        base = creds.secret.hex() + _signature_base(request, params)
        try:
            creds.signature_public_key.verify(
                base64.b64decode(params.get("oauth_signature", "")),
                base.encode("utf-8"),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            raise _Refused("invalid signature") from None
        try:
            a_pub = int(challenge_hex, 16)
        except ValueError:
            raise _Refused("invalid diffie_hellman_challenge", 400) from None
        p = creds.prime
        if not 1 < a_pub < p - 1:
            raise _Refused("invalid diffie_hellman_challenge", 400)
        b = secrets.randbits(256)
        shared = pow(a_pub, b, p)
        token = hmac.new(_java_bytes(shared), creds.secret, hashlib.sha1).digest()
        expires = self.now() + self.lst_lifetime
        self.tokens = {t: e for t, e in self.tokens.items() if e > self.now()}
        self.tokens[token] = expires
        self.lst_issued += 1
        return {
            "diffie_hellman_response": format(pow(creds.generator, b, p), "x"),
            "live_session_token_signature": hmac.new(
                token, creds.consumer_key.encode("utf-8"), hashlib.sha1
            ).hexdigest(),
            "live_session_token_expiration": int(expires * 1000),
        }

    def verify(self, request: web.Request) -> None:
        """Verify one HMAC-SHA256 signed request (raises ``_Refused``)."""
        realm, params = _parse_header(request.headers.get("Authorization", ""))
        if not params:
            raise _Refused("missing OAuth authorization header")
        self._common(realm, params, "HMAC-SHA256")
        base = _signature_base(request, params).encode("utf-8")
        given = params.get("oauth_signature", "")
        now = self.now()
        for token, expires in self.tokens.items():
            if expires <= now:
                continue
            digest = base64.b64encode(hmac.new(token, base, hashlib.sha256).digest()).decode()
            if hmac.compare_digest(digest, given):
                self.signed_ok += 1
                return
        if any(e > now for e in self.tokens.values()):
            raise _Refused("invalid signature")
        raise _Refused("live session token expired or unknown")

    # -- HTTP ---------------------------------------------------------------------------------

    def _refusal(self, exc: _Refused) -> web.Response:
        self.rejected[exc.reason.split(",")[0]] += 1
        self._ids += 1
        body = {"error": f"id: {self._ids}, error: {exc.reason}", "statusCode": exc.status}
        resp = web.json_response(body, status=exc.status)
        resp.headers["Date"] = email.utils.formatdate(self.now(), usegmt=True)
        return resp

    def middleware(self) -> Any:
        """aiohttp middleware guarding every ``/v1/api`` path (admin routes stay open)."""

        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            path = request.path
            if not path.startswith(PREFIX):
                return await handler(request)
            if path == LST_PATH:
                if request.method != "POST":
                    return web.json_response({"error": "method not allowed"}, status=405)
                _, params = _parse_header(request.headers.get("Authorization", ""))
                try:
                    body = self.issue(request, params.get("diffie_hellman_challenge", ""))
                except _Refused as exc:
                    return self._refusal(exc)
                return web.json_response(body)
            if path == PREFIX + "/ws":
                token = request.query.get("oauth_token")
                live = any(e > self.now() for e in self.tokens.values())
                if token != self.credentials.access_token or not live or self.revoked:
                    return self._refusal(_Refused("invalid oauth_token for websocket"))
                return await handler(request)
            try:
                self.verify(request)
            except _Refused as exc:
                return self._refusal(exc)
            return await handler(request)

        return guard
