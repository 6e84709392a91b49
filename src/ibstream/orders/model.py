"""Typed, validated order requests and their wire form (pure: no I/O, no clock).

An :class:`OrderRequest` is frozen and validated when built: every combination the gateway would
refuse (a limit order without a price, a stop price on a market order, both a quantity and a cash
quantity, a market-on-close order that is not a day order ...) raises
:class:`~ibstream.exceptions.InvalidArgument` here, before anything is sent.

Wire form (``POST /iserver/account/{acct}/orders`` body ``{"orders": [...]}``, IBKR Web API
"Place Order"): ``acctId, conid, cOID, orderType, side, tif, outsideRTH, quantity | cashQty,
price, auxPrice, trailingAmt, trailingType, parentId, isSingleGroup, ticker, listingExchange``.
Brackets link the children to the parent by the parent's ``cOID`` in ``parentId``; an OCA group
is one request whose orders all carry ``isSingleGroup: true``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from ibstream.exceptions import InvalidArgument

__all__ = [
    "Bracket",
    "Modification",
    "OcaGroup",
    "OrderRequest",
    "OrderType",
    "Side",
    "TimeInForce",
    "TrailingType",
    "check_coid",
]


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    """IBKR's ``orderType`` values."""

    MARKET = "MKT"
    LIMIT = "LMT"
    STOP = "STP"
    STOP_LIMIT = "STOP_LIMIT"
    TRAILING = "TRAIL"
    MARKET_ON_CLOSE = "MOC"
    LIMIT_ON_CLOSE = "LOC"


class TimeInForce(StrEnum):
    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"
    OPG = "OPG"


class TrailingType(StrEnum):
    AMOUNT = "amt"
    PERCENT = "%"


_COID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_NEEDS_PRICE = {OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.LIMIT_ON_CLOSE}
_NEEDS_AUX = {OrderType.STOP, OrderType.STOP_LIMIT}
_CASH_OK = {OrderType.MARKET, OrderType.LIMIT}
_CLOSE = {OrderType.MARKET_ON_CLOSE, OrderType.LIMIT_ON_CLOSE}
_MODIFIABLE = ("quantity", "price", "aux_price", "trailing_amount", "tif", "outside_rth")


def check_coid(coid: object) -> str:
    """A customer order id: 1-64 characters of letters, digits and ``. _ : -``."""
    if not isinstance(coid, str) or not _COID_RE.match(coid):
        raise InvalidArgument("coid", f"1-64 characters [A-Za-z0-9._:-], got {coid!r}")
    return coid


def _positive(value: object, name: str, *, optional: bool = True) -> float | None:
    if value is None:
        if optional:
            return None
        raise InvalidArgument(name, "is required")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(name, f"must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise InvalidArgument(name, f"must be a finite number > 0, got {value!r}")
    return number


def _enum(enum: type[Any], value: object, name: str) -> Any:
    try:
        return enum(value.upper() if isinstance(value, str) and enum is not TrailingType else value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in enum)
        raise InvalidArgument(name, f"one of {allowed}, got {value!r}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRequest:
    """One order to place. Build it with the class methods (``OrderRequest.limit(...)``).

    ``quantity`` (units) or ``cash_qty`` (an amount of the contract's currency, market and limit
    orders only) - exactly one. ``price`` is the limit price, ``aux_price`` the stop price.
    ``account`` defaults to the session's selected account; ``coid`` (customer order id) is
    generated at placement when not given. ``symbol`` is informative (logs, allowed-symbol limit).
    """

    conid: int
    side: Side
    order_type: OrderType
    quantity: float | None = None
    cash_qty: float | None = None
    price: float | None = None
    aux_price: float | None = None
    trailing_amount: float | None = None
    trailing_type: TrailingType | None = None
    tif: TimeInForce = TimeInForce.DAY
    outside_rth: bool = False
    account: str | None = None
    symbol: str | None = None
    exchange: str | None = None
    coid: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.conid, bool) or not isinstance(self.conid, int) or self.conid <= 0:
            raise InvalidArgument("conid", f"must be a positive int, got {self.conid!r}")
        s = object.__setattr__
        s(self, "side", _enum(Side, self.side, "side"))
        otype = _enum(OrderType, self.order_type, "order_type")
        s(self, "order_type", otype)
        s(self, "tif", _enum(TimeInForce, self.tif, "tif"))
        for name in ("quantity", "cash_qty", "price", "aux_price", "trailing_amount"):
            s(self, name, _positive(getattr(self, name), name))
        if (self.quantity is None) == (self.cash_qty is None):
            raise InvalidArgument("quantity", "give exactly one of quantity and cash_qty")
        if self.cash_qty is not None and otype not in _CASH_OK:
            raise InvalidArgument("cash_qty", "only market and limit orders take a cash quantity")
        if (self.price is not None) != (otype in _NEEDS_PRICE):
            need = "needs" if otype in _NEEDS_PRICE else "takes no"
            raise InvalidArgument("price", f"a {otype.value} order {need} a limit price")
        if (self.aux_price is not None) != (otype in _NEEDS_AUX):
            need = "needs" if otype in _NEEDS_AUX else "takes no"
            raise InvalidArgument("aux_price", f"a {otype.value} order {need} a stop price")
        trailing = otype is OrderType.TRAILING
        if trailing:
            if self.trailing_amount is None:
                raise InvalidArgument("trailing_amount", "a trailing order needs an amount")
            s(self, "trailing_type", _enum(TrailingType, self.trailing_type or "amt", "trailing"))
            if self.trailing_type is TrailingType.PERCENT and self.trailing_amount >= 100:
                raise InvalidArgument("trailing_amount", "a percentage must be below 100")
        elif self.trailing_amount is not None or self.trailing_type is not None:
            raise InvalidArgument("trailing_amount", "only trailing orders take a trailing amount")
        if otype in _CLOSE and self.tif is not TimeInForce.DAY:
            raise InvalidArgument("tif", f"a {otype.value} order is a DAY order")
        if otype in _CLOSE and self.outside_rth:
            raise InvalidArgument("outside_rth", "close auctions are inside regular hours")
        if not isinstance(self.outside_rth, bool):
            raise InvalidArgument("outside_rth", "must be a bool")
        for name in ("account", "symbol", "exchange"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise InvalidArgument(name, f"must be a non-empty string, got {value!r}")
        if self.coid is not None:
            check_coid(self.coid)

    # -- builders ---------------------------------------------------------------------------

    @classmethod
    def market(
        cls, conid: int, side: Side | str, quantity: float | None = None, **kw: Any
    ) -> OrderRequest:
        """A market order (``cash_qty=`` instead of ``quantity`` for a cash amount)."""
        return cls(
            conid=conid,
            side=_enum(Side, side, "side"),
            order_type=OrderType.MARKET,
            quantity=quantity,
            **kw,
        )

    @classmethod
    def limit(
        cls, conid: int, side: Side | str, quantity: float | None, price: float, **kw: Any
    ) -> OrderRequest:
        """A limit order at ``price``."""
        return cls(
            conid=conid,
            side=_enum(Side, side, "side"),
            order_type=OrderType.LIMIT,
            quantity=quantity,
            price=price,
            **kw,
        )

    @classmethod
    def stop(
        cls, conid: int, side: Side | str, quantity: float, stop: float, **kw: Any
    ) -> OrderRequest:
        """A stop (market) order triggered at ``stop``."""
        return cls(
            conid=conid,
            side=_enum(Side, side, "side"),
            order_type=OrderType.STOP,
            quantity=quantity,
            aux_price=stop,
            **kw,
        )

    @classmethod
    def stop_limit(
        cls, conid: int, side: Side | str, quantity: float, stop: float, price: float, **kw: Any
    ) -> OrderRequest:
        """A stop order that becomes a limit order at ``price`` once ``stop`` trades."""
        return cls(
            conid=conid,
            side=_enum(Side, side, "side"),
            order_type=OrderType.STOP_LIMIT,
            quantity=quantity,
            price=price,
            aux_price=stop,
            **kw,
        )

    @classmethod
    def trailing(
        cls,
        conid: int,
        side: Side | str,
        quantity: float,
        amount: float,
        trailing_type: TrailingType | str = TrailingType.AMOUNT,
        **kw: Any,
    ) -> OrderRequest:
        """A trailing stop: the stop follows the best price at ``amount`` (or ``amount`` %)."""
        return cls(
            conid=conid,
            side=_enum(Side, side, "side"),
            order_type=OrderType.TRAILING,
            quantity=quantity,
            trailing_amount=amount,
            trailing_type=_enum(TrailingType, trailing_type, "trailing_type"),
            **kw,
        )

    @classmethod
    def market_on_close(
        cls, conid: int, side: Side | str, quantity: float, **kw: Any
    ) -> OrderRequest:
        """A market-on-close order (fills in the closing auction)."""
        return cls(
            conid=conid,
            side=_enum(Side, side, "side"),
            order_type=OrderType.MARKET_ON_CLOSE,
            quantity=quantity,
            **kw,
        )

    @classmethod
    def limit_on_close(
        cls, conid: int, side: Side | str, quantity: float, price: float, **kw: Any
    ) -> OrderRequest:
        """A limit-on-close order (fills in the closing auction if the close is at or better)."""
        return cls(
            conid=conid,
            side=_enum(Side, side, "side"),
            order_type=OrderType.LIMIT_ON_CLOSE,
            quantity=quantity,
            price=price,
            **kw,
        )

    def with_coid(self, coid: str) -> OrderRequest:
        return replace(self, coid=check_coid(coid))

    @property
    def reference_price(self) -> float | None:
        """The price the order names (limit, else stop), for notional checks."""
        return self.price if self.price is not None else self.aux_price

    def describe(self) -> str:
        """``BUY 10 conid=265598 LMT 100.0 DAY`` (for logs and confirmations; no account)."""
        size = f"{self.quantity:g}" if self.quantity is not None else f"cash {self.cash_qty:g}"
        what = self.symbol or f"conid={self.conid}"
        parts = [self.side.value, size, what, self.order_type.value]
        if self.price is not None:
            parts.append(f"limit {self.price:g}")
        if self.aux_price is not None:
            parts.append(f"stop {self.aux_price:g}")
        if self.trailing_amount is not None and self.trailing_type is not None:
            parts.append(f"trail {self.trailing_amount:g}{self.trailing_type.value}")
        parts.append(self.tif.value + (" outside RTH" if self.outside_rth else ""))
        return " ".join(parts)

    def to_wire(
        self, account: str, coid: str, *, parent_coid: str | None = None, oca: bool = False
    ) -> dict[str, Any]:
        """The order object of the placement body."""
        body: dict[str, Any] = {
            "acctId": account,
            "conid": self.conid,
            "cOID": coid,
            "orderType": self.order_type.value,
            "side": self.side.value,
            "tif": self.tif.value,
            "outsideRTH": self.outside_rth,
        }
        if self.quantity is not None:
            body["quantity"] = self.quantity
        if self.cash_qty is not None:
            body["cashQty"] = self.cash_qty
        if self.price is not None:
            body["price"] = self.price
        if self.aux_price is not None:
            body["auxPrice"] = self.aux_price
        if self.trailing_amount is not None and self.trailing_type is not None:
            body["trailingAmt"] = self.trailing_amount
            body["trailingType"] = self.trailing_type.value
        if parent_coid is not None:
            body["parentId"] = parent_coid
        if oca:
            body["isSingleGroup"] = True
        if self.symbol:
            body["ticker"] = self.symbol
        if self.exchange:
            body["listingExchange"] = self.exchange
        return body


@dataclass(frozen=True, slots=True, kw_only=True)
class Bracket:
    """A parent order with a take-profit limit and/or a stop-loss stop on the opposite side.

    The children are sent with the parent in one request, linked by ``parentId`` (the parent's
    cOID); they work only once the parent fills, and one filling cancels the other.
    """

    entry: OrderRequest
    take_profit: float | None = None
    stop_loss: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.entry, OrderRequest):
            raise InvalidArgument("entry", "must be an OrderRequest")
        if self.entry.quantity is None:
            raise InvalidArgument("entry", "a bracket's entry needs a quantity (not cash_qty)")
        tp = _positive(self.take_profit, "take_profit")
        sl = _positive(self.stop_loss, "stop_loss")
        if tp is None and sl is None:
            raise InvalidArgument("take_profit", "a bracket needs a take-profit and/or stop-loss")
        buy = self.entry.side is Side.BUY
        if tp is not None and sl is not None and (tp <= sl if buy else tp >= sl):
            side = "above" if buy else "below"
            raise InvalidArgument(
                "take_profit", f"must be {side} the stop-loss for a {self.entry.side}"
            )
        ref = self.entry.reference_price
        if ref is not None:
            if tp is not None and (tp <= ref if buy else tp >= ref):
                raise InvalidArgument("take_profit", f"must be beyond the entry price {ref:g}")
            if sl is not None and (sl >= ref if buy else sl <= ref):
                raise InvalidArgument("stop_loss", f"must be beyond the entry price {ref:g}")

    def orders(self) -> list[OrderRequest]:
        """Parent first, then take-profit, then stop-loss (same account, tif and quantity)."""
        e = self.entry
        common: dict[str, Any] = {
            "conid": e.conid,
            "side": e.side.opposite,
            "quantity": e.quantity,
            "tif": e.tif,
            "outside_rth": e.outside_rth,
            "account": e.account,
            "symbol": e.symbol,
            "exchange": e.exchange,
        }
        out = [e]
        if self.take_profit is not None:
            out.append(OrderRequest(order_type=OrderType.LIMIT, price=self.take_profit, **common))
        if self.stop_loss is not None:
            out.append(OrderRequest(order_type=OrderType.STOP, aux_price=self.stop_loss, **common))
        return out


@dataclass(frozen=True, slots=True)
class OcaGroup:
    """Orders of which the first to fill cancels the others (one-cancels-all)."""

    orders: tuple[OrderRequest, ...] = field(default=())

    def __post_init__(self) -> None:
        orders = tuple(self.orders)
        object.__setattr__(self, "orders", orders)
        if len(orders) < 2 or not all(isinstance(o, OrderRequest) for o in orders):
            raise InvalidArgument("orders", "an OCA group needs at least two OrderRequests")
        if len({o.account for o in orders}) > 1:
            raise InvalidArgument("orders", "the orders of an OCA group share one account")


@dataclass(frozen=True, slots=True, kw_only=True)
class Modification:
    """New values for a working order; ``None`` keeps the current value."""

    quantity: float | None = None
    price: float | None = None
    aux_price: float | None = None
    trailing_amount: float | None = None
    tif: TimeInForce | None = None
    outside_rth: bool | None = None

    def __post_init__(self) -> None:
        for name in ("quantity", "price", "aux_price", "trailing_amount"):
            object.__setattr__(self, name, _positive(getattr(self, name), name))
        if self.tif is not None:
            object.__setattr__(self, "tif", _enum(TimeInForce, self.tif, "tif"))
        if self.outside_rth is not None and not isinstance(self.outside_rth, bool):
            raise InvalidArgument("outside_rth", "must be a bool")
        if all(getattr(self, n) is None for n in _MODIFIABLE):
            raise InvalidArgument("modification", "nothing to change")

    def apply(self, current: dict[str, Any]) -> dict[str, Any]:
        """The modify body: ``current`` (the order's wire fields) with these values applied."""
        body = dict(current)
        pairs = (
            ("quantity", self.quantity),
            ("price", self.price),
            ("auxPrice", self.aux_price),
            ("trailingAmt", self.trailing_amount),
            ("tif", self.tif.value if self.tif is not None else None),
            ("outsideRTH", self.outside_rth),
        )
        for key, value in pairs:
            if value is not None:
                body[key] = value
        return body
