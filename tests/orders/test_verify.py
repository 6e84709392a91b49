"""The ``allowed_symbols`` rail asks the gateway which symbol a conid is (orders/verify.py)."""

from __future__ import annotations

from typing import Any

import pytest

from ibstream.exceptions import GatewayUnreachable, NotFound
from ibstream.orders import LimitExceeded, OrderRequest
from ibstream.orders.verify import SymbolCheck

INFO = {265598: {"con_id": 265598, "symbol": "AAPL"}, 272093: {"con_id": 272093, "symbol": "msft"}}


class Gateway:
    """``/iserver/contract/{conid}/info`` answers, and the paths asked."""

    def __init__(self, answers: dict[int, Any] | None = None, error: Exception | None = None):
        self.answers = INFO if answers is None else answers
        self.error = error
        self.asked: list[str] = []

    async def request(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        self.asked.append(f"{method} {path}")
        if self.error is not None:
            raise self.error
        conid = int(path.split("/")[3])
        if conid not in self.answers:
            raise NotFound(method, path, 404)
        return 200, self.answers[conid]


async def test_a_label_is_checked_against_the_gateway_and_a_missing_one_filled_in() -> None:
    gw = Gateway()
    check = SymbolCheck(gw.request)
    order = OrderRequest.limit(265598, "BUY", 1, 100.0, symbol="aapl", coid="c-1")
    assert await check.verified(order) is order
    unnamed = await check.verified(OrderRequest.limit(272093, "BUY", 1, 100.0))
    assert unnamed.symbol == "MSFT"
    with pytest.raises(LimitExceeded, match="conid 265598 is AAPL, not MSFT") as caught:
        await check.verified(OrderRequest.limit(265598, "BUY", 1, 100.0, symbol="MSFT", coid="c-2"))
    assert caught.value.coids == ("c-2",)
    assert gw.asked == [  # once per conid
        "GET /iserver/contract/265598/info",
        "GET /iserver/contract/272093/info",
    ]


@pytest.mark.parametrize(
    ("gateway", "reason"),
    [
        (Gateway(), "cannot verify the symbol of conid 1"),  # 404
        (Gateway(error=GatewayUnreachable("down")), "cannot verify the symbol of conid 1: down"),
        (Gateway({1: {"con_id": 1, "symbol": ""}}), "names no symbol for conid 1"),
        (Gateway({1: {"con_id": 2, "symbol": "AAPL"}}), "names no symbol for conid 1"),
        (Gateway({1: ["not", "an", "object"]}), "names no symbol for conid 1"),
        (Gateway({1: {"symbol": "AAPL"}}), "names no symbol for conid 1"),
    ],
)
async def test_a_conid_the_gateway_cannot_name_is_refused(gateway: Gateway, reason: str) -> None:
    with pytest.raises(LimitExceeded, match=reason):
        await SymbolCheck(gateway.request).verified(
            OrderRequest.limit(1, "BUY", 1, 1.0, symbol="AAPL")
        )
