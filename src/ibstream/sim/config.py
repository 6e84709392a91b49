"""Simulator configuration: one frozen dataclass of knobs, each citing protocol.md.

Every variant where the sources disagree (protocol.md §10) is a knob here; the default is the
2026 recorded behaviour (S9) unless noted otherwise.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from ibstream.exceptions import InvalidArgument

__all__ = [
    "DEFAULT_INSTRUMENTS",
    "Instrument",
    "MarketState",
    "SimConfig",
    "is_loopback",
]


def is_loopback(host: str) -> bool:
    """``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


MarketState = Literal["open", "closed", "halted"]


@dataclass(frozen=True, slots=True)
class Instrument:
    """A synthetic contract served by the simulator (protocol.md §6, secdef/search shape)."""

    conid: int
    symbol: str
    company: str
    price: float
    sec_type: str = "STK"
    exchange: str = "NASDAQ"
    listing_exchange: str = "NASDAQ.NMS"
    currency: str = "USD"
    description: str = ""
    multiplier: float = 1.0


DEFAULT_INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument(265598, "AAPL", "APPLE INC", 271.60),
    Instrument(272093, "MSFT", "MICROSOFT CORP", 412.30),
    Instrument(76792991, "TSLA", "TESLA INC", 251.10),
    Instrument(4815747, "NVDA", "NVIDIA CORP", 118.40),
    Instrument(
        756733, "SPY", "SPDR S&P 500 ETF TRUST", 560.25, exchange="ARCA", listing_exchange="ARCA"
    ),
    Instrument(3691937, "AMZN", "AMAZON.COM INC", 186.90),
    Instrument(208813720, "GOOG", "ALPHABET INC-CL C", 171.20),
    Instrument(107113386, "META", "META PLATFORMS INC-CLASS A", 505.70),
    Instrument(
        495512552,
        "ES",
        "E-mini S&P 500",
        5620.25,
        sec_type="FUT",
        exchange="CME",
        listing_exchange="CME",
        description="ES SEP26",
        multiplier=50.0,
    ),
    Instrument(
        12087792,
        "EUR",
        "European Monetary Union Euro",
        1.0852,
        sec_type="CASH",
        exchange="IDEALPRO",
        listing_exchange="IDEALPRO",
        description="EUR.USD",
    ),
)


@dataclass(frozen=True, slots=True)
class SimConfig:
    """All simulator knobs. Durations are *simulated* seconds (divided by ``time_scale``).

    Attributes cite the protocol.md section they model.
    """

    # --- server (§1.1, §1.2) ---
    host: str = "127.0.0.1"
    port: int = 5000
    tls: bool = True
    cert_out: str | None = None
    seed: int = 0
    time_scale: float = 1.0

    # --- account / identity (§1.4, §2.6) ---
    accounts: tuple[str, ...] = ("DU1234567",)
    username: str = "simuser1"
    paper: bool = True
    server_name: str = "JifSim001"
    server_version: str = "Build 10.45.1a, Apr 22, 2026 1:39:05 PM"

    # --- session (§2, §3) ---
    idle_timeout: float = 300.0
    """Brokerage session idle timeout (§3.2: 5 minutes); ``0`` disables it."""
    sso_lifetime: float = 600.0
    """``ssoExpires``/``EXPIRES`` countdown restarted by every request (§2.1, §2.7)."""
    rate_limit: float | None = 10.0
    """Requests/s on ``/iserver/*`` paths before HTTP 429 (§2.9). Other paths (``/tickle``,
    ``/sso/validate``...) are never limited so normal keep-alive traffic cannot trip it.
    ``None`` disables the limit."""
    endpoint_limits: bool = True
    """Per-endpoint limits of IBKR's pacing table (snapshot 10/s, ``/iserver/account/orders``
    and ``/portfolio/accounts`` 1 per 5 s, ...) answered with 429 (see ``sim/pacing.py``)."""
    snapshot_preflight: bool = True
    """First ``/iserver/marketdata/snapshot`` per conid returns only conid/conidEx (§2.8)."""
    positions_page_size: int = 100
    """Positions per ``/portfolio/{acct}/positions/{page}`` page: 100 in IBKR's current docs,
    30 ("page's default size is 30 positions") in its older swagger."""

    # --- WebSocket (§1.3-§1.5, §5, §7, §8) ---
    mode: Literal["gateway", "direct"] = "gateway"
    """``gateway`` (default): the local Client Portal Gateway, which holds the brokerage session
    and authenticates every socket itself (no cookie needed) and sends binary frames, as IBKR's
    own sample scripts observe. ``direct``: access without the local gateway — the socket needs
    the ``api`` cookie or a ``{"session":…}`` message, frames are text (§1.3, §1.5;
    docs/gateway-fidelity.md)."""
    heartbeat_interval: float = 10.0
    tic_replies: int = 4
    sts_form: Literal["full", "legacy"] = "full"
    ntf_form: Literal["object", "list"] = "list"
    """``ntf`` ``args``: a list of entries as recorded (default) or the documented object."""
    blt_form: Literal["object", "list"] = "list"
    """``blt`` ``args``: a list of entries as recorded (default) or the documented object."""
    umh_reply: Literal["message", "none"] = "message"
    history_limit: int = 5
    history_limit_reply: Literal["error", "none"] = "error"
    """What the 6th concurrent ``smh`` gets (§4.2, §2.9): an error frame or nothing."""
    history_update_interval: float | None = 1.0
    """Seconds between repeated partial-bar ``smh`` updates (the live gateway keeps sending the
    forming bar); ``None``: ``smh`` answers once (§4.2 docs)."""
    binary_frames: bool | None = None
    """Binary (opcode 2) frames; ``None`` = by ``mode`` (binary for ``gateway``, text for
    ``direct``)."""
    drop_early_subscribers: bool = True
    """§8.1 / §1.6: a socket that subscribes before the opening burst is closed ~0.5 s later."""
    open_burst_delay: float = 0.05
    """Real seconds between authentication and the ``system``/``act``/``sts`` burst (§1.4)."""
    echo_reply: bool = True
    """Answer ``ech+hb`` (§7, legacy)."""

    # --- market (§4.1, §6) ---
    instruments: tuple[Instrument, ...] = DEFAULT_INSTRUMENTS
    universe: bool = True
    """Add the generated universe (stocks, indices, futures months, option chains, FX pairs, a
    CFD; ``sim/universe.py``) to ``instruments``."""
    update_interval: float = 1.0
    """Default seconds between ``smd`` updates per conid; ``0`` = saturation."""
    md_expiry: float | None = 600.0
    """Silent ``smd`` expiry (§4.1: 10 min per changelog, 15 min per docs); ``None`` = never."""
    empty_smd_probability: float = 0.0
    """Probability that an ``smd`` update is an empty ``{"topic":"smd+X"}`` frame (§8.3)."""
    market_state: MarketState = "open"
    delayed: bool = False
    """6509 ``DPB`` (delayed) instead of ``RpB`` (§6.3)."""
    ladder_interval: float = 1.0
    ladder_form: Literal["plain", "size_at_price"] = "plain"
    """``sbd`` rows: ``price`` plus plain sizes, or sizes as ``"size @ price"`` strings."""
    pnl_interval: float = 1.0
    summary_interval: float = 10.0
    ledger_interval: float = 10.0

    # --- orders / trades (§4.4, §4.5) ---
    historic_executions: int = 2
    """Executions already on the account at start, replayed by ``str`` (§8.8)."""
    commission: float = 1.0
    modify_replaces: bool = False
    """Model a modify as a full replace (a FIX cancel/replace): ``outsideRTH`` missing from the
    body falls back to ``false`` instead of keeping the order's flag. IBKR does not document
    which it does; clients must restate the flag to be right under both."""
    orders_snapshot: bool = False
    """``snapshot`` of ``GET /iserver/account/orders``: ``false`` as the issue's recordings show
    (a 2026-09 third-party recording shows ``true``; docs/gateway-fidelity.md)."""

    # --- replay (file format: sim/replay.py) ---
    replay: str | None = None
    replay_speed: float | None = 1.0
    """``None`` = as fast as possible."""
    scenario: str | None = None

    admin: bool = True
    """Serve the admin API under ``/sim/admin`` (see :mod:`ibstream.sim.faults` for its guards)."""
    admin_token: str | None = None
    """Bearer token the admin API requires (``Authorization: Bearer ...``). Required when the
    admin API is served on an address other than loopback."""

    oauth: bool = False
    """Act as ``api.ibkr.com`` with OAuth 1.0a (sim/oauth.py): every request must be signed."""
    oauth_dir: str | None = None
    """Where generated OAuth test credentials go (``None``: a new temporary directory)."""
    oauth_lst_lifetime: float = 86400.0
    """Live session token lifetime, seconds (IBKR: 24 h)."""

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise InvalidArgument("time_scale", "must be > 0")
        if not self.accounts:
            raise InvalidArgument("accounts", "at least one account is required")
        if self.tic_replies < 0:
            raise InvalidArgument("tic_replies", "must be >= 0")
        if self.update_interval < 0:
            raise InvalidArgument("update_interval", "must be >= 0")
        if self.positions_page_size < 1:
            raise InvalidArgument("positions_page_size", "must be >= 1")
        if self.heartbeat_interval <= 0:
            raise InvalidArgument("heartbeat_interval", "must be > 0")
        if not 0.0 <= self.empty_smd_probability <= 1.0:
            raise InvalidArgument("empty_smd_probability", "must be within [0, 1]")
        if self.mode not in ("gateway", "direct"):
            raise InvalidArgument("mode", f"must be 'gateway' or 'direct', got {self.mode!r}")
        if self.history_update_interval is not None and self.history_update_interval <= 0:
            raise InvalidArgument("history_update_interval", "must be > 0 or None")
        if self.oauth_lst_lifetime <= 0:
            raise InvalidArgument("oauth_lst_lifetime", "must be > 0 seconds")
        if self.replay_speed is not None and self.replay_speed <= 0:
            raise InvalidArgument("replay_speed", "must be > 0 or None")
        if self.admin_token is not None and len(self.admin_token) < 8:
            raise InvalidArgument("admin_token", "must be at least 8 characters")
        if self.admin and self.admin_token is None and not is_loopback(self.host):
            raise InvalidArgument(
                "admin_token",
                f"the admin API on {self.host!r} (not loopback) needs a token: pass "
                "admin_token / --admin-token, disable it (admin=False / --no-admin) or bind "
                "127.0.0.1",
            )

    @property
    def binary(self) -> bool:
        """Whether frames are sent binary (``binary_frames``, else by ``mode``)."""
        if self.binary_frames is not None:
            return self.binary_frames
        return self.mode == "gateway"

    @property
    def account(self) -> str:
        """The selected (first) account."""
        return self.accounts[0]
