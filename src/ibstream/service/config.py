"""Service settings: one frozen dataclass, merged from defaults < JSON file < environment < flags.

Settings are parsed here only (never as library defaults). Environment variables are the upper-case
option names with an ``IBSTREAM_`` prefix (``IBSTREAM_URL``, ``IBSTREAM_TOKEN``,
``IBSTREAM_TOKEN_FILE``, ``IBSTREAM_HOST``, ``IBSTREAM_PORT``, ``IBSTREAM_CACERT``,
``IBSTREAM_INSECURE``, ``IBSTREAM_SIM``, ``IBSTREAM_GRACE``...). A config file is a JSON object
with the same names in snake case (``{"url": ..., "port": 8800, "grace": 5}``).

Binding to anything but a loopback address requires a bearer token (:meth:`ServiceConfig.check`).
Every request's ``Host`` must be a loopback name, an IP address, the bind address or one of
``allowed_hosts`` (DNS rebinding: see :func:`host_allowed`).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import orjson

from ibstream.exceptions import InvalidArgument
from ibstream.hosts import host_name
from ibstream.service.fanout import FLUSH_BUDGET, FLUSH_INTERVAL, MAX_FLUSH_INTERVAL

__all__ = ["DEFAULT_GATEWAY_URL", "ServiceConfig", "host_allowed", "is_loopback", "load_config"]

DEFAULT_GATEWAY_URL = "https://localhost:5000/v1/api"
ENV_PREFIX = "IBSTREAM_"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceConfig:
    """Everything ``ibstream serve`` can be told."""

    # Upstream gateway
    url: str = DEFAULT_GATEWAY_URL
    cacert: str | None = None
    insecure: bool = False
    #: Run the embedded gateway simulator in this process and connect to it (plain HTTP).
    sim: bool = False
    #: Simulator ``smd`` cadence per conid (``0`` = saturation); only with ``sim``.
    sim_update_interval: float = 0.25
    #: Serve the embedded simulator's admin API (fault injection, on its own loopback port;
    #: it then requires the service token when one is set). Off unless asked for.
    sim_admin: bool = False
    #: OAuth 1.0a instead of the gateway's session: settings from IBSTREAM_OAUTH_* variables,
    #: or from the JSON file ``oauth_config`` (env ``IBSTREAM_OAUTH_CONFIG``). With ``sim``, the
    #: simulator requires OAuth and generates the credentials.
    oauth: bool = False
    oauth_config: str | None = None

    # Listener
    host: str = "127.0.0.1"
    port: int = 8800
    token: str | None = field(default=None, repr=False)
    token_file: str | None = None
    #: Order entry (GraphQL mutations) for callers presenting the trading token; off by default.
    trading: bool = False
    trading_token: str | None = field(default=None, repr=False)
    trading_token_file: str | None = None
    #: Browser origins allowed to open WebSockets/SSE (besides the service's own origin).
    allowed_origins: tuple[str, ...] = ()
    #: Host names requests may be addressed to besides loopback names, IP addresses and the
    #: bind address (``"example.com"``, ``".example.com"`` for its subdomains, ``"*"`` for any).
    allowed_hosts: tuple[str, ...] = ()

    # Sharing and delivery
    #: Seconds an upstream stream outlives its last consumer (a quick re-subscribe reuses it).
    grace: float = 5.0
    #: Per-consumer queue size (events); market data conflates beyond it, other events overflow.
    buffer_size: int = 10_000
    #: A consumer that overflowed gets this long to read its notice before it is cut off.
    slow_consumer_timeout: float = 5.0
    #: Kernel send buffer of each streaming socket (bytes; ``None``: the OS default, which can
    #: grow to megabytes). Smaller values detect a slow consumer sooner and bound its memory.
    send_buffer: int | None = None
    #: Minimum seconds between two fan-out rounds (service/fanout.py): a quiet service sends
    #: each event at once, a busy one sends each consumer a batch per round (one write each).
    flush_interval: float = FLUSH_INTERVAL
    #: Longest the rounds' interval grows to under load (seconds; bounds the added latency).
    max_flush_interval: float = MAX_FLUSH_INTERVAL
    #: Share of the event loop the fan-out may take before rounds grow longer than
    #: ``flush_interval``: the interval is the last round's cost (hand-out and socket writes)
    #: divided by this.
    flush_budget: float = FLUSH_BUDGET
    #: Largest WebSocket message of the plain stream (several events per message, one per line).
    max_batch_bytes: int = 65_536

    # Limits on what consumers may ask upstream (service/limits.py; 0 = no limit)
    #: Upstream streams of any topic one consumer may hold.
    max_streams_per_consumer: int = 200
    #: Upstream market-data streams one consumer may hold.
    max_market_data_per_consumer: int = 100
    #: Upstream market-data streams in total (IBKR serves ~100 concurrent lines per account).
    max_market_data: int = 100
    #: Specs in one subscribe request.
    max_specs_per_request: int = 100
    #: Characters in one text argument (account id, exchange, key or field name).
    max_argument_length: int = 64
    #: Items in one list argument (keys, fields, filter lists).
    max_list_items: int = 256
    #: Largest upstream WebSocket frame accepted (bytes); a bigger one closes the socket (1009)
    #: and the client reconnects.
    max_frame_bytes: int = 4 * 1024 * 1024
    #: Decoder value caches: entries per value parser, and the longest wire string cached
    #: (bounds their memory: entries x characters; process-wide).
    max_cache_entries: int = 8_192
    max_cache_value_chars: int = 64

    # GraphQL limits
    max_query_depth: int = 8
    max_aliases: int = 30
    max_tokens: int = 2_000

    # Start-up
    #: ``service: <URL>`` is printed once upstream is authenticated or after this many seconds.
    ready_wait: float = 10.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise InvalidArgument("port", f"must be 0..65535, got {self.port!r}")
        if self.grace < 0:
            raise InvalidArgument("grace", f"must be >= 0 seconds, got {self.grace!r}")
        if self.buffer_size < 1:
            raise InvalidArgument("buffer_size", f"must be >= 1, got {self.buffer_size!r}")
        if not 0 <= self.flush_interval <= self.max_flush_interval:
            raise InvalidArgument(
                "flush_interval", "must be >= 0 and <= max_flush_interval (seconds)"
            )
        if not 0 < self.flush_budget <= 1:
            raise InvalidArgument("flush_budget", f"must be in (0, 1], got {self.flush_budget!r}")
        if self.max_query_depth < 1:
            raise InvalidArgument("max_query_depth", "must be >= 1")
        for name in (
            "max_streams_per_consumer",
            "max_market_data_per_consumer",
            "max_market_data",
            "max_specs_per_request",
            "max_argument_length",
            "max_list_items",
        ):
            if getattr(self, name) < 0:
                raise InvalidArgument(name, "must be >= 0 (0: no limit)")
        if self.max_cache_entries < 0 or self.max_cache_value_chars < 0:
            raise InvalidArgument("max_cache_entries", "cache bounds must be >= 0")
        if self.max_frame_bytes < 1024:
            raise InvalidArgument("max_frame_bytes", "must be at least 1024 bytes")

    def resolved_token(self) -> str | None:
        """The bearer token: ``token`` or the first line of ``token_file`` (stripped)."""
        if self.token:
            return self.token
        if self.token_file:
            try:
                text = Path(self.token_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise InvalidArgument(
                    "token_file", f"cannot read {self.token_file}: {exc}"
                ) from exc
            if not text:
                raise InvalidArgument("token_file", f"{self.token_file} is empty")
            return text.splitlines()[0].strip()
        return None

    def resolved_trading_token(self) -> str | None:
        """The trading token (``trading_token`` or the first line of ``trading_token_file``)
        when trading is on, else ``None``."""
        if not self.trading:
            return None
        if self.trading_token:
            return self.trading_token
        if self.trading_token_file:
            try:
                text = Path(self.trading_token_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise InvalidArgument(
                    "trading_token_file", f"cannot read {self.trading_token_file}: {exc}"
                ) from exc
            return text.splitlines()[0].strip() if text else None
        return None

    def check(self) -> str | None:
        """Validate the combination; returns the token. Raises ``InvalidArgument`` with a clear
        message, e.g. when binding a non-loopback address without a token."""
        token = self.resolved_token()
        if token is None and not is_loopback(self.host):
            raise InvalidArgument(
                "host",
                f"refusing to listen on {self.host!r} without a bearer token: consumers on "
                "other machines could read your orders and account data. Pass --token-file FILE "
                "(or --token / IBSTREAM_TOKEN), or bind 127.0.0.1",
            )
        if token is not None and len(token) < 8:
            raise InvalidArgument("token", "must be at least 8 characters")
        if self.trading:
            trading_token = self.resolved_trading_token()
            if trading_token is None or len(trading_token) < 16:
                raise InvalidArgument(
                    "trading_token",
                    "trading needs its own token of at least 16 characters "
                    "(--trading-token-file FILE): the read token can never trade",
                )
            if token is not None and hmac.compare_digest(token, trading_token):
                raise InvalidArgument("trading_token", "must differ from the read token")
        if self.cacert and self.insecure:
            raise InvalidArgument("insecure", "--cacert and --insecure exclude each other")
        if self.oauth_config and not Path(self.oauth_config).is_file():
            raise InvalidArgument("oauth_config", f"no such file {self.oauth_config!r}")
        return token

    @property
    def uses_oauth(self) -> bool:
        return self.oauth or bool(self.oauth_config)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def host_allowed(host: str | None, bind_host: str, allowed_hosts: tuple[str, ...] = ()) -> bool:
    """Whether a request's ``Host`` header (``name[:port]``) may reach the service.

    DNS rebinding makes a browser send a page's requests to 127.0.0.1 under the attacker's own
    name, with a matching ``Origin``: only the ``Host`` header tells. Allowed: no header (not a
    browser), IP addresses (a rebinding page always uses a name), ``localhost`` and
    ``*.localhost``, the bind address, and ``allowed_hosts`` (exact names, ``.suffix`` for
    subdomains, ``*`` for anything).
    """
    if host is None:
        return True
    name = host_name(host)
    if not name:
        return False
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    if name == bind_host.strip("[]").lower():
        return True
    for allowed in allowed_hosts:
        pattern = allowed.strip().lower().rstrip(".")
        if pattern == "*" or pattern == name:
            return True
        if pattern.startswith(".") and (name.endswith(pattern) or name == pattern[1:]):
            return True
    return False


_BOOL_TRUE = {"1", "true", "yes", "on"}
_BOOL_FALSE = {"0", "false", "no", "off", ""}


def _coerce(name: str, kind: str, value: Any) -> Any:
    """``value`` (from a file, the environment or a flag) as the field's type."""
    if value is None:
        return None
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _BOOL_TRUE:
                return True
            if text in _BOOL_FALSE:
                return False
            raise ValueError(f"not a boolean: {value!r}")
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind.startswith("tuple"):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(v).strip() for v in items if str(v).strip())
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(name, f"bad value {value!r}: {exc}") from exc
    return str(value)


def _kinds() -> dict[str, str]:
    out = {}
    for f in fields(ServiceConfig):
        t = str(f.type)
        if t.startswith("bool"):
            out[f.name] = "bool"
        elif t.startswith("int"):
            out[f.name] = "int"
        elif t.startswith("float"):
            out[f.name] = "float"
        elif t.startswith("tuple"):
            out[f.name] = "tuple"
        else:
            out[f.name] = "str"
    return out


def load_config(
    file: str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ServiceConfig:
    """Defaults, then the JSON ``file``, then ``env`` (default ``os.environ``), then
    ``overrides`` (command-line flags; ``None`` values are ignored)."""
    kinds = _kinds()
    values: dict[str, Any] = {}
    if file:
        try:
            data = orjson.loads(Path(file).read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise InvalidArgument("config", f"cannot read {file}: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidArgument("config", f"{file} must hold a JSON object")
        for key, value in data.items():
            name = key.replace("-", "_")
            if name not in kinds:
                raise InvalidArgument("config", f"unknown setting {key!r} in {file}")
            values[name] = _coerce(name, kinds[name], value)
    environ = os.environ if env is None else env
    for name, kind in kinds.items():
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce(name, kind, raw)
    for name, value in (overrides or {}).items():
        if value is not None:
            if name not in kinds:
                raise InvalidArgument(name, "unknown setting")
            values[name] = _coerce(name, kinds[name], value)
    return replace(ServiceConfig(), **values)
