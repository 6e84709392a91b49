"""Library settings from the environment and an optional ``.env`` file.

Explicit arguments always win; then environment variables; then a ``.env`` file (the one named
by ``IBSTREAM_ENV_FILE``, else ``./.env`` when present); then the defaults. The same names serve
the library (:func:`ibstream.connect`, :class:`ibstream.Client`) and every CLI command.

=====================  ==========================================  =========================
ibstream               meaning                                     IBind's equivalent
=====================  ==========================================  =========================
``IBSTREAM_URL``       gateway base URL (``.../v1/api``)           ``IBIND_REST_URL``
``IBSTREAM_CACERT``    CA/certificate file to verify TLS against   ``IBIND_CACERT``
``IBSTREAM_VERIFY``    ``0``/``false``: do not verify TLS          ``IBIND_CACERT=False``
``IBSTREAM_INSECURE``  ``1``: same as ``IBSTREAM_VERIFY=0``        —
``IBSTREAM_ENV_FILE``  path of the ``.env`` file to read            —
=====================  ==========================================  =========================

OAuth settings (``IBSTREAM_OAUTH_*``) are read by :mod:`ibstream.auth` where it is installed;
``IBSTREAM_WS_BACKEND`` (``aiohttp``/``picows``: the client WebSocket library that
``ws_backend="auto"`` means) by :mod:`ibstream.aio.wsbackend`.
A ``.env`` line is ``NAME=value`` (``export`` prefix, quotes and ``#`` comments allowed); only
``IBSTREAM_*`` names are taken from it, and the process environment is never modified.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ibstream.exceptions import InvalidArgument

__all__ = [
    "DEFAULT_URL",
    "ENV_CACERT",
    "ENV_FILE",
    "ENV_INSECURE",
    "ENV_URL",
    "ENV_VERIFY",
    "GatewaySettings",
    "environment",
    "gateway_settings",
    "read_env_file",
]

DEFAULT_URL = "https://localhost:5000/v1/api"
ENV_URL = "IBSTREAM_URL"
ENV_CACERT = "IBSTREAM_CACERT"
ENV_VERIFY = "IBSTREAM_VERIFY"
ENV_INSECURE = "IBSTREAM_INSECURE"
ENV_FILE = "IBSTREAM_ENV_FILE"
_PREFIX = "IBSTREAM_"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """Where and how to reach the gateway, after arguments, environment and ``.env`` merged."""

    url: str
    cacert: str | None
    verify: bool

    @property
    def tls_verify(self) -> bool | str:
        """What the REST layer takes: a CA file path, ``True`` or ``False``."""
        return self.cacert if (self.verify and self.cacert) else self.verify


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``IBSTREAM_*`` assignments of a ``.env`` file (a missing file is an error)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidArgument(
            "env_file", f"cannot read {os.fspath(path)!r}: {exc.strerror}"
        ) from exc
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not name.replace("_", "").isalnum():
            raise InvalidArgument("env_file", f"{os.fspath(path)}:{number}: expected NAME=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        if name.startswith(_PREFIX):
            out[name] = value
    return out


def environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``IBSTREAM_*`` settings: the ``.env`` file's, overridden by the environment's."""
    env = os.environ if environ is None else environ
    merged: dict[str, str] = {}
    explicit = env.get(ENV_FILE)
    if explicit:
        merged.update(read_env_file(explicit))
    elif Path(".env").is_file():
        merged.update(read_env_file(".env"))
    merged.update({k: v for k, v in env.items() if k.startswith(_PREFIX)})
    return merged


def _flag(name: str, value: str) -> bool:
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise InvalidArgument(name, f"expected one of {'/'.join(_TRUE + _FALSE)}, got {value!r}")


def gateway_settings(
    url: str | None = None,
    *,
    cacert: str | None = None,
    verify: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> GatewaySettings:
    """Merge explicit arguments over ``IBSTREAM_URL``/``IBSTREAM_CACERT``/``IBSTREAM_VERIFY``.

    An explicit ``verify`` or ``cacert`` decides TLS alone (the environment's TLS settings are
    then ignored), so ``verify=False`` in code is never overridden by a ``.env`` file.
    """
    env = environment(environ)
    resolved_url = url or env.get(ENV_URL) or DEFAULT_URL
    if cacert is None and verify is None:
        cacert = env.get(ENV_CACERT) or None
        verify = True
        if ENV_VERIFY in env:
            verify = _flag(ENV_VERIFY, env[ENV_VERIFY])
        if ENV_INSECURE in env and _flag(ENV_INSECURE, env[ENV_INSECURE]):
            verify = False
        if not verify:
            cacert = None
    elif verify is None:
        verify = True
    if cacert is not None and not Path(cacert).is_file():
        raise InvalidArgument("cacert", f"no such certificate file {cacert!r}")
    return GatewaySettings(url=resolved_url, cacert=cacert, verify=bool(verify))
