"""Trading through the service: token scopes and the GraphQL order mutations.

The service trades only when both hold:

* it was started with trading on (``ServiceConfig(trading=True)``, ``ibstream serve --trading``),
  which needs a separate **trading token** (``trading_token``/``trading_token_file``, at least 16
  characters, different from the read token); without it the upstream client is read-only;
* the request presents that trading token (``Authorization: Bearer``): its scope is
  ``{"read", "trade"}``. The read token (or no token on loopback) has scope ``{"read"}``: it can
  query and subscribe, not trade.

Mutations: ``placeOrder(order: PlaceOrderInput!)``, ``modifyOrder(orderId, price, auxPrice,
quantity, account)``, ``cancelOrder(orderId, account)``; ``exerciseOption`` is
:mod:`ibstream.service.exercise`, behind the same gate. Reply prompts are declined unless the
input lists their message ids in ``acceptPrompts`` (nothing is confirmed silently). Every action
is logged by the order layer with its cOID (accounts masked).
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import strawberry
from aiohttp import web

from ibstream.exceptions import IBStreamError
from ibstream.orders import OrderRequest, PromptPolicy

__all__ = [
    "SCOPES",
    "PlaceOrderInput",
    "PlacedOrder",
    "TradingMutation",
    "request_scopes",
    "token_scopes",
    "trading_of",
]

log = logging.getLogger("ibstream.service")

#: Request key of the caller's scopes (set by the auth middleware); a typed key where aiohttp
#: has them (3.13+), a string before.
SCOPES: Any = (
    web.RequestKey("ibstream.scopes", frozenset)
    if hasattr(web, "RequestKey")
    else "ibstream.scopes"
)

READ = frozenset({"read"})
TRADE = frozenset({"read", "trade"})


def token_scopes(
    presented: str | None, read_token: str | None, trading_token: str | None
) -> frozenset[str] | None:
    """The scopes of a presented bearer token; ``None``: refuse the request.

    Constant-time comparisons. With no read token (loopback), a request without a token reads.
    """
    if (
        presented
        and trading_token
        and hmac.compare_digest(presented.encode(), trading_token.encode())
    ):
        return TRADE
    if read_token is None:
        return READ if not presented else (READ if trading_token is None else None)
    if presented and hmac.compare_digest(presented.encode(), read_token.encode()):
        return READ
    return None


def request_scopes(request: web.Request) -> frozenset[str]:
    scopes = request.get(SCOPES)
    return scopes if isinstance(scopes, frozenset) else READ


@strawberry.input(description="An order to place (see ibstream.orders.OrderRequest).")
class PlaceOrderInput:
    conid: int
    side: str
    order_type: str
    quantity: float | None = None
    cash_qty: float | None = None
    price: float | None = None
    aux_price: float | None = None
    trailing_amount: float | None = None
    trailing_type: str | None = None
    tif: str = "DAY"
    outside_rth: bool = False
    account: str | None = None
    symbol: str | None = None
    coid: str | None = None
    accept_prompts: list[str] = strawberry.field(default_factory=list)


@strawberry.type(description="A placed order: the gateway's order id and the customer order id.")
class PlacedOrder:
    order_id: int
    coid: str
    account: str
    status: str | None


@strawberry.type(description="The state of an order after a modification or cancel request.")
class OrderAction:
    order_id: int
    status: str | None


def trading_of(info: strawberry.Info) -> Any:
    """The client's trading, when this service trades and the request may (else
    ``PermissionError``)."""
    request = info.context.get("request")
    hub = info.context["hub"]
    trading = hub.client.trading
    if not trading.enabled:
        raise PermissionError("trading is off in this service (start it with --trading)")
    if request is None or "trade" not in request_scopes(request):
        raise PermissionError(
            "this token cannot trade: present the trading token (Authorization: Bearer)"
        )
    return trading


async def _place(info: strawberry.Info, order: PlaceOrderInput) -> PlacedOrder:
    trading = trading_of(info)
    request = OrderRequest(
        conid=order.conid,
        side=order.side,  # type: ignore[arg-type]  # validated and converted by OrderRequest
        order_type=order.order_type,  # type: ignore[arg-type]
        quantity=order.quantity,
        cash_qty=order.cash_qty,
        price=order.price,
        aux_price=order.aux_price,
        trailing_amount=order.trailing_amount,
        trailing_type=order.trailing_type,  # type: ignore[arg-type]
        tif=order.tif,  # type: ignore[arg-type]
        outside_rth=order.outside_rth,
        account=order.account,
        symbol=order.symbol,
        coid=order.coid,
    )
    try:
        handle = await trading.place(request, prompts=PromptPolicy(accept=order.accept_prompts))
    except IBStreamError as exc:
        raise ValueError(str(exc)) from exc
    handle.close()  # consumers follow orders through the orders subscription
    status = handle.status
    return PlacedOrder(
        order_id=handle.order_id,
        coid=handle.coid,
        account=handle.account,
        status=status.value if status is not None else None,
    )


async def _modify(
    info: strawberry.Info,
    order_id: int,
    price: float | None = None,
    aux_price: float | None = None,
    quantity: float | None = None,
    account: str | None = None,
    accept_prompts: list[str] | None = None,
) -> OrderAction:
    trading = trading_of(info)
    try:
        result = await trading.modify(
            order_id,
            account=account,
            prompts=PromptPolicy(accept=accept_prompts or ()),
            price=price,
            aux_price=aux_price,
            quantity=quantity,
        )
    except IBStreamError as exc:
        raise ValueError(str(exc)) from exc
    return OrderAction(order_id=order_id, status=result.status)


async def _cancel(info: strawberry.Info, order_id: int, account: str | None = None) -> OrderAction:
    trading = trading_of(info)
    try:
        await trading.cancel(order_id, account=account)
        status = (await trading.status(order_id)).status
    except IBStreamError as exc:
        raise ValueError(str(exc)) from exc
    return OrderAction(order_id=order_id, status=status)


@strawberry.type
class TradingMutation:
    place_order: PlacedOrder = strawberry.mutation(
        resolver=_place,
        description="Place an order (trading service and trading token only).",
    )
    modify_order: OrderAction = strawberry.mutation(
        resolver=_modify,
        description="Modify a working order (trading service and trading token only).",
    )
    cancel_order: OrderAction = strawberry.mutation(
        resolver=_cancel,
        description="Cancel a working order (trading service and trading token only).",
    )
