"""The one rail that asks the gateway: which symbol a conid really is, for ``allowed_symbols``.

``Limits(allowed_symbols=...)`` restricts what may be traded by name, but an
:class:`~ibstream.orders.model.OrderRequest` carries its ``symbol`` as the caller wrote it: a
label, not a fact. With symbols restricted, each order's conid is looked up at
``/iserver/contract/{conid}/info`` (once per conid and client) and the gateway's symbol decides:
an order whose label names another symbol, or whose conid the gateway cannot name, is refused
before anything is sent; an order without a label takes the gateway's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from ibstream.exceptions import IBStreamError
from ibstream.orders.errors import LimitExceeded
from ibstream.orders.model import OrderRequest
from ibstream.protocol.contracts import ContractDetails

__all__ = ["SymbolCheck"]

_Request = Callable[..., Awaitable[tuple[int, Any]]]
_MAX_CACHED = 10_000  # conids come from callers: bounded


class SymbolCheck:
    """Gateway-verified symbols of conids, cached per client."""

    __slots__ = ("_request", "_symbols")

    def __init__(self, request: _Request) -> None:
        self._request = request
        self._symbols: dict[int, str] = {}

    async def symbol_of(self, conid: int, coids: tuple[str, ...] = ()) -> str:
        """The gateway's symbol of ``conid``; ``LimitExceeded`` when it cannot say."""
        known = self._symbols.get(conid)
        if known is not None:
            return known
        try:
            _, body = await self._request("GET", f"/iserver/contract/{conid}/info")
        except IBStreamError as exc:
            raise LimitExceeded(
                "allowed_symbols", f"cannot verify the symbol of conid {conid}: {exc}", coids
            ) from exc
        details = ContractDetails.from_json(body) if isinstance(body, dict) else None
        symbol = (details.symbol or "").strip().upper() if details is not None else ""
        if not symbol or (details is not None and details.conid != conid):
            raise LimitExceeded(
                "allowed_symbols", f"the gateway names no symbol for conid {conid}", coids
            )
        if len(self._symbols) >= _MAX_CACHED:
            self._symbols.clear()
        self._symbols[conid] = symbol
        return symbol

    async def verified(self, order: OrderRequest) -> OrderRequest:
        """``order`` labelled with the gateway's symbol of its conid; ``LimitExceeded`` if its
        own label names another symbol."""
        coids = (order.coid,) if order.coid else ()
        actual = await self.symbol_of(order.conid, coids)
        label = (order.symbol or "").strip().upper()
        if label and label != actual:
            raise LimitExceeded(
                "allowed_symbols", f"conid {order.conid} is {actual}, not {order.symbol}", coids
            )
        return order if label else dataclasses.replace(order, symbol=actual)
