"""Self-signed certificate for the HTTPS/WSS listener (protocol.md §1.2).

The real gateway serves TLS with a self-signed certificate; we generate one at start (CN
``localhost``, SAN ``localhost`` + ``127.0.0.1``) so clients either disable verification or
trust the written-out PEM (``cacert``). Needs ``cryptography`` (``pip install 'ibstream[sim]'``);
the simulator imports this module only when it starts TLS, so plain-HTTP simulation does not.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import ssl
import tempfile

from ibstream._deps import MINIMUMS, DependencyError, require

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
except ImportError as exc:
    raise DependencyError(
        f"ibstream needs cryptography>={MINIMUMS['cryptography']} for the simulator's TLS, "
        "which is not installed: pip install 'ibstream[sim]'"
    ) from exc
require("cryptography", extra="sim")

__all__ = ["SelfSigned", "make_self_signed"]


class SelfSigned:
    """A generated certificate and key, PEM-encoded."""

    __slots__ = ("cert_pem", "key_pem")

    def __init__(self, cert_pem: bytes, key_pem: bytes) -> None:
        self.cert_pem = cert_pem
        self.key_pem = key_pem

    def write_cert(self, path: str) -> None:
        """Write the certificate (only) so clients can pass it as their CA file."""
        with open(path, "wb") as fh:
            fh.write(self.cert_pem)

    def server_context(self) -> ssl.SSLContext:
        """An SSL server context loaded with this certificate."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        fd, path = tempfile.mkstemp(suffix=".pem")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.cert_pem + self.key_pem)
            ctx.load_cert_chain(path)
        finally:
            os.unlink(path)
        return ctx


def make_self_signed(days: int = 30) -> SelfSigned:
    """Generate an EC P-256 self-signed certificate for ``localhost``/``127.0.0.1``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = _dt.datetime.now(_dt.UTC)
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=days))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return SelfSigned(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
