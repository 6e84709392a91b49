"""Simulator configuration: one frozen dataclass of knobs, each citing protocol.md.

Every variant where the sources disagree (protocol.md §10) is a knob here; the default is the
2026 recorded behaviour (S9) unless noted otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ibstream.exceptions import InvalidArgument

__all__ = [
    "DEFAULT_INSTRUMENTS",
    "Instrument",
    "MarketState",
    "SimConfig",
]

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

    # --- WebSocket (§1.3-§1.5, §5, §7, §8) ---
    heartbeat_interval: float = 10.0
    tic_replies: int = 4
    sts_form: Literal["full", "legacy"] = "full"
    ntf_form: Literal["object", "list"] = "object"
    umh_reply: Literal["message", "none"] = "message"
    history_limit: int = 5
    history_limit_reply: Literal["error", "none"] = "error"
    """What the 6th concurrent ``smh`` gets (§4.2, §2.9): an error frame or nothing."""
    history_update_interval: float | None = None
    """``None``: ``smh`` answers once (§4.2 docs). A number: partial-bar updates at that cadence."""
    binary_frames: bool = False
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
    pnl_interval: float = 1.0
    summary_interval: float = 10.0
    ledger_interval: float = 10.0

    # --- orders / trades (§4.4, §4.5) ---
    historic_executions: int = 2
    """Executions already on the account at start, replayed by ``str`` (§8.8)."""
    commission: float = 1.0

    # --- replay (§ replay format in sim/replay.py) ---
    replay: str | None = None
    replay_speed: float | None = 1.0
    """``None`` = as fast as possible."""
    scenario: str | None = None

    admin: bool = True
    """Serve the admin API under ``/sim/admin``."""

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise InvalidArgument("time_scale", "must be > 0")
        if not self.accounts:
            raise InvalidArgument("accounts", "at least one account is required")
        if self.tic_replies < 0:
            raise InvalidArgument("tic_replies", "must be >= 0")
        if self.update_interval < 0:
            raise InvalidArgument("update_interval", "must be >= 0")
        if self.heartbeat_interval <= 0:
            raise InvalidArgument("heartbeat_interval", "must be > 0")
        if not 0.0 <= self.empty_smd_probability <= 1.0:
            raise InvalidArgument("empty_smd_probability", "must be within [0, 1]")
        if self.replay_speed is not None and self.replay_speed <= 0:
            raise InvalidArgument("replay_speed", "must be > 0 or None")

    @property
    def account(self) -> str:
        """The selected (first) account."""
        return self.accounts[0]
