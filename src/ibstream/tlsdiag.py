"""What went wrong in a TLS handshake, in words a user can act on.

aiohttp's SSL errors print the connection key, which holds a repr of the SSL context
(``ssl:<ssl.SSLContext object at 0x...>``), and a handshake with a server that answers in plain
HTTP reads as a certificate problem. :func:`diagnose` walks the exception chain to the
``ssl.SSLError`` underneath and names the real cause; the REST layer and the CLI both use it, each
with its own advice wording (keyword arguments in code, flags on the command line).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

__all__ = ["TlsDiagnosis", "diagnose"]

#: OpenSSL reasons seen when the peer is not speaking TLS at all (plain HTTP on the port)
_NOT_TLS = (
    "WRONG_VERSION_NUMBER",
    "HTTP_REQUEST",
    "PACKET_LENGTH_TOO_LONG",
    "RECORD_LAYER_FAILURE",
    "UNKNOWN_PROTOCOL",
)


@dataclass(frozen=True, slots=True)
class TlsDiagnosis:
    """``kind``: ``"not-tls"``, ``"verify"`` (certificate not trusted) or ``"handshake"``."""

    kind: str
    reason: str

    def message(self, url: str, *, verified: bool, advice_verify: str) -> str:
        """One line for ``url``; ``verified`` tells whether certificate checks were on, so
        advice to turn them off is given only where it can help."""
        if self.kind == "not-tls":
            plain = "http://" + url.split("://", 1)[1] if url.startswith("https://") else url
            return (
                f"{url}: the server does not speak TLS ({self.reason}); "
                f"it probably serves plain HTTP: use {plain}"
            )
        if self.kind == "verify":
            text = f"TLS certificate verification failed for {url} ({self.reason})"
            return f"{text}: {advice_verify}" if verified else text
        return f"TLS handshake with {url} failed ({self.reason})"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        cur = todo.pop(0)
        if cur is None or any(cur is s for s in seen) or len(seen) > 16:
            continue
        seen.append(cur)
        extra = [getattr(cur, name, None) for name in ("os_error", "certificate_error")]
        todo.extend(
            [cur.__cause__, cur.__context__, *(e for e in extra if isinstance(e, BaseException))]
        )
    return seen


def diagnose(exc: BaseException) -> TlsDiagnosis:
    """The cause of a failed TLS handshake, read from ``exc`` and the exceptions it wraps."""
    # aiohttp's SSL errors subclass ssl.SSLError without OpenSSL's fields: read the innermost
    for cur in reversed(_chain(exc)):
        if isinstance(cur, ssl.SSLCertVerificationError):
            reason = getattr(cur, "verify_message", None) or getattr(cur, "reason", None)
            return TlsDiagnosis("verify", str(reason or "certificate not trusted"))
        if isinstance(cur, ssl.SSLError) and hasattr(cur, "reason"):
            reason = str(cur.reason or "")
            if reason.upper() in _NOT_TLS or "WRONG_VERSION_NUMBER" in str(cur):
                return TlsDiagnosis("not-tls", reason.lower().replace("_", " ") or "no TLS")
            if reason == "CERTIFICATE_VERIFY_FAILED":
                return TlsDiagnosis("verify", "certificate not trusted")
            text = reason.lower().replace("_", " ") if reason else (cur.strerror or "TLS error")
            return TlsDiagnosis("handshake", str(text))
    text = str(exc)
    if "certificate verify failed" in text:
        detail = text.split("certificate verify failed:", 1)[-1].split("(")[0].strip(" ]")
        return TlsDiagnosis("verify", detail or "certificate not trusted")
    return TlsDiagnosis("handshake", type(exc).__name__)
