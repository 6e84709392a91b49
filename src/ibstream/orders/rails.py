"""Safety rails of order entry (pure): trading off unless enabled, read-only mode, limits.

Every check runs before anything is sent. ``TradingConfig()`` - the default of every client -
refuses every order action; ``TradingConfig(enabled=True)`` allows them, within the optional
:class:`Limits`; ``read_only=True`` refuses them whatever ``enabled`` says (dashboards, the
service without trading).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from ibstream.exceptions import InvalidArgument
from ibstream.orders.errors import LimitExceeded, TradingDisabled
from ibstream.orders.model import OrderRequest
from ibstream.orders.prompts import PromptPolicy

__all__ = ["Limits", "TradingConfig", "check_allowed", "check_limits", "check_values"]


def _opt_positive(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(name, f"must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise InvalidArgument(name, f"must be > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class Limits:
    """Optional limits, each checked per order before sending (``None``: no limit).

    ``max_notional`` needs a price: the order's limit/stop price, else the reference price the
    caller passes (the last traded price); an order whose notional cannot be priced is refused.
    ``allowed_symbols`` is checked against the symbol the gateway gives the order's conid
    (:mod:`ibstream.orders.verify`; a ``symbol`` label naming another is refused, a missing one
    filled in); the pure :func:`check_limits` checks the label it is given. ``allowed_conids``
    checks the conid.
    """

    max_quantity: float | None = None
    max_notional: float | None = None
    allowed_conids: frozenset[int] | None = None
    allowed_symbols: frozenset[str] | None = None

    def __init__(
        self,
        max_quantity: float | None = None,
        max_notional: float | None = None,
        allowed_conids: Iterable[int] | None = None,
        allowed_symbols: Iterable[str] | None = None,
    ) -> None:
        s = object.__setattr__
        s(self, "max_quantity", _opt_positive(max_quantity, "max_quantity"))
        s(self, "max_notional", _opt_positive(max_notional, "max_notional"))
        s(self, "allowed_conids", None if allowed_conids is None else frozenset(allowed_conids))
        if isinstance(allowed_symbols, str):
            raise InvalidArgument("allowed_symbols", "a list of symbols, not one string")
        s(
            self,
            "allowed_symbols",
            None
            if allowed_symbols is None
            else frozenset(str(x).strip().upper() for x in allowed_symbols),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TradingConfig:
    """Order entry settings of a client (``ClientConfig(trading=...)``).

    ``enabled``: trading is off unless this is ``True``. ``read_only``: refuse every order
    action even when enabled. ``limits``: checked before sending. ``prompts``: the default reply
    prompt policy (default: decline everything, raising ``PromptsDeclined``). ``account``: the
    account orders go to when the request names none (default: the session's selected account).
    ``max_posts``/``settle_lookups``/``max_lookups``/``lookup_delay``: reconciliation of lost
    responses (see :mod:`ibstream.orders.reconcile`); ``max_posts=1`` never posts a placement
    twice (a lost answer whose order the lookups do not find then ends ``OrderStateUnknown``).
    ``coid_prefix`` starts generated cOIDs.
    """

    enabled: bool = False
    read_only: bool = False
    limits: Limits = field(default_factory=Limits)
    prompts: PromptPolicy = field(default_factory=PromptPolicy)
    account: str | None = None
    max_posts: int = 2
    settle_lookups: int = 4
    max_lookups: int = 12
    lookup_delay: float = 0.5
    coid_prefix: str = "ibs"

    def __post_init__(self) -> None:
        for name in ("enabled", "read_only"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidArgument(name, "must be a bool")
        for name in ("max_posts", "settle_lookups", "max_lookups"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidArgument(name, f"must be an int >= 1, got {v!r}")
        if self.max_lookups < self.settle_lookups:
            raise InvalidArgument("max_lookups", "must be >= settle_lookups")
        if not isinstance(self.lookup_delay, int | float) or not 0 <= self.lookup_delay <= 60:
            raise InvalidArgument("lookup_delay", "seconds from 0 to 60")
        if not self.coid_prefix.isalnum() or len(self.coid_prefix) > 16:
            raise InvalidArgument("coid_prefix", "1-16 letters or digits")


def check_allowed(config: TradingConfig, action: str) -> None:
    """Raise ``TradingDisabled`` unless ``action`` (place, modify, cancel ...) may be sent."""
    if config.read_only:
        raise TradingDisabled(f"{action} refused: this client is read-only")
    if not config.enabled:
        raise TradingDisabled(
            f"{action} refused: trading is off; enable it explicitly with "
            "ClientConfig(trading=TradingConfig(enabled=True))"
        )


def check_limits(limits: Limits, order: OrderRequest, reference_price: float | None = None) -> None:
    """Raise ``LimitExceeded`` if ``order`` breaks a limit (``reference_price``: last price)."""
    check_values(
        limits,
        conid=order.conid,
        symbol=order.symbol,
        quantity=order.quantity,
        cash_qty=order.cash_qty,
        price=order.reference_price or reference_price,
        coids=(order.coid,) if order.coid else (),
    )


def check_values(
    limits: Limits,
    *,
    conid: int,
    symbol: str | None,
    quantity: float | None,
    cash_qty: float | None = None,
    price: float | None = None,
    coids: tuple[str, ...] = (),
) -> None:
    """The limit checks on plain values (placements and modifications)."""
    if limits.allowed_conids is not None and conid not in limits.allowed_conids:
        raise LimitExceeded("allowed_conids", f"conid {conid} is not allowed", coids)
    if limits.allowed_symbols is not None:
        upper = (symbol or "").upper()
        if not upper:
            raise LimitExceeded(
                "allowed_symbols", "symbols are restricted: the order must name its symbol", coids
            )
        if upper not in limits.allowed_symbols:
            raise LimitExceeded("allowed_symbols", f"{upper} is not allowed", coids)
    if quantity is None and cash_qty is not None and price is not None:
        quantity = cash_qty / price  # a cash quantity in units at the best known price
    if limits.max_quantity is not None:
        if quantity is None:
            raise LimitExceeded("max_quantity", "no price to size the cash quantity", coids)
        if quantity > limits.max_quantity:
            raise LimitExceeded("max_quantity", f"{quantity:g} > {limits.max_quantity:g}", coids)
    if limits.max_notional is not None:
        if cash_qty is not None:
            notional = cash_qty
        elif price is None or quantity is None:
            raise LimitExceeded(
                "max_notional", "no price to value the order (no limit/stop/last price)", coids
            )
        else:
            notional = price * quantity
        if notional > limits.max_notional:
            raise LimitExceeded(
                "max_notional", f"{notional:,.2f} > {limits.max_notional:,.2f}", coids
            )
