"""Portfolio REST endpoints of the simulated gateway (read-only session: SSO login suffices).

``/portfolio/accounts``, ``/portfolio/subaccounts``, ``/portfolio/{acct}/positions/{page}``
(``SimConfig.positions_page_size`` per page, 100 by default, sorted by name, ``[]`` after the
last page), ``/portfolio/{acct}/position/{conid}``,
``/portfolio2/{acct}/positions``, ``/portfolio/{acct}/positions/invalidate``,
``/portfolio/{acct}/summary`` and ``/portfolio/{acct}/ledger``. Positions are the order book's:
they move when simulated orders fill. Field names follow IBKR's documentation and IBind's samples.
As IBKR documents, ``/portfolio/accounts`` (or ``subaccounts``) must be read in a session before
the per-account endpoints: until then they answer HTTP 400 (the body is INFERRED).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from ibstream.sim.gateway import Gateway
from ibstream.sim.orders import Position
from ibstream.sim.universe import Universe

__all__ = ["PAGE_SIZE", "add_portfolio_routes", "set_position"]

PREFIX = "/v1/api"
PAGE_SIZE = 100


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", charset="utf-8"
    )


def set_position(gw: Gateway, conid: int, quantity: float, avg_cost: float) -> None:
    """Put a position on the simulated account directly (tests, scenarios)."""
    if not gw.market.known(conid):
        raise ValueError(f"unknown conid {conid}")
    gw.book.positions[conid] = Position(quantity=float(quantity), avg_cost=float(avg_cost))


def _account_entry(acct: str, currency: str = "USD") -> dict[str, Any]:
    return {
        "id": acct,
        "PrepaidCrypto-Z": False,
        "PrepaidCrypto-P": False,
        "brokerageAccess": True,
        "accountId": acct,
        "accountVan": acct,
        "accountTitle": "Simulated Account",
        "displayName": acct,
        "accountAlias": None,
        "accountStatus": 1_644_814_800_000,
        "currency": currency,
        "type": "DEMO",
        "tradingType": "PMRGN",
        "businessType": "IB_PROSERVE",
        "ibEntity": "IBLLC-US",
        "faclient": False,
        "clearingStatus": "O",
        "covestor": False,
        "noClientTrading": False,
        "trackVirtualFXPortfolio": True,
        "parent": {
            "mmc": [],
            "accountId": "",
            "isMParent": False,
            "isMChild": False,
            "isMultiplex": False,
        },
        "desc": acct,
    }


def position_entry(gw: Gateway, uni: Universe, acct: str, conid: int) -> dict[str, Any]:
    """One position row in ``/portfolio/{acct}/positions`` shape."""
    pos = gw.book.positions[conid]
    inst = gw.market.instruments[conid]
    spec = uni.spec(conid)
    last = gw.market.quote(conid).last
    mult = inst.multiplier
    value = last * pos.quantity * mult
    unrealized = (last - pos.avg_cost) * pos.quantity * mult
    return {
        "acctId": acct,
        "conid": conid,
        "contractDesc": inst.description or inst.symbol,
        "position": pos.quantity,
        "mktPrice": round(last, 6),
        "mktValue": round(value, 2),
        "currency": inst.currency,
        "avgCost": round(pos.avg_cost * mult, 6),
        "avgPrice": round(pos.avg_cost, 6),
        "realizedPnl": 0.0,
        "unrealizedPnl": round(unrealized, 2),
        "exchs": None,
        "expiry": spec.expiry if spec else None,
        "putOrCall": spec.right if spec else None,
        "multiplier": mult if mult != 1 else None,
        "strike": spec.strike if spec and spec.strike else 0.0,
        "exerciseStyle": None,
        "conExchMap": [],
        "assetClass": inst.sec_type,
        "undConid": spec.underlying if spec and spec.underlying else 0,
        "model": "",
        "ticker": inst.symbol,
        "name": inst.company,
        "listingExchange": inst.listing_exchange,
        "countryCode": "US" if inst.currency == "USD" else "",
        "fullName": inst.description or inst.symbol,
        "isUS": inst.currency == "USD",
        "baseMktValue": round(value, 2),
        "baseMktPrice": round(last, 6),
        "baseAvgCost": round(pos.avg_cost * mult, 6),
        "baseAvgPrice": round(pos.avg_cost, 6),
        "baseRealizedPnl": 0.0,
        "baseUnrealizedPnl": round(unrealized, 2),
        "pageSize": gw.cfg.positions_page_size,
    }


def _held(gw: Gateway) -> list[int]:
    insts = gw.market.instruments
    held = [c for c, p in gw.book.positions.items() if p.quantity and c in insts]
    return sorted(held, key=lambda c: (insts[c].description or insts[c].symbol, c))


def _totals(gw: Gateway) -> dict[str, float]:
    upl, mv = gw.book.unrealized(gw.prices())
    cash = gw.book.cash
    return {
        "cash": cash,
        "market_value": mv,
        "unrealized": upl,
        "realized": gw.book.realized,
        "net_liquidation": cash + mv,
    }


def _summary(acct: str, gw: Gateway) -> dict[str, Any]:
    t = _totals(gw)
    ts = int(time.time() * 1000)

    def money(amount: float) -> dict[str, Any]:
        return {
            "amount": round(amount, 2),
            "currency": "USD",
            "isNull": False,
            "timestamp": ts,
            "value": None,
            "severity": 0,
        }

    def text(value: str) -> dict[str, Any]:
        return {
            "amount": 0.0,
            "currency": None,
            "isNull": False,
            "timestamp": ts,
            "value": value,
            "severity": 0,
        }

    nlv = t["net_liquidation"]
    return {
        "accountcode": text(acct),
        "accountready": text("true"),
        "accounttype": text("INDIVIDUAL"),
        "netliquidation": money(nlv),
        "totalcashvalue": money(t["cash"]),
        "settledcash": money(t["cash"]),
        "grosspositionvalue": money(abs(t["market_value"])),
        "equitywithloanvalue": money(nlv),
        "availablefunds": money(nlv - abs(t["market_value"]) * 0.25),
        "buyingpower": money((nlv - abs(t["market_value"]) * 0.25) * 4),
        "excessliquidity": money(nlv - abs(t["market_value"]) * 0.25),
        "initmarginreq": money(abs(t["market_value"]) * 0.25),
        "maintmarginreq": money(abs(t["market_value"]) * 0.25),
        "unrealizedpnl": money(t["unrealized"]),
        "realizedpnl": money(t["realized"]),
    }


def _ledger(acct: str, gw: Gateway) -> dict[str, Any]:
    t = _totals(gw)
    ts = int(time.time())

    def entry(ccy: str) -> dict[str, Any]:
        return {
            "commoditymarketvalue": 0.0,
            "futuremarketvalue": 0.0,
            "settledcash": round(t["cash"], 2),
            "exchangerate": 1,
            "sessionid": 1,
            "cashbalance": round(t["cash"], 2),
            "corporatebondsmarketvalue": 0.0,
            "warrantsmarketvalue": 0.0,
            "netliquidationvalue": round(t["net_liquidation"], 2),
            "interest": 0.0,
            "unrealizedpnl": round(t["unrealized"], 2),
            "stockmarketvalue": round(t["market_value"], 2),
            "moneyfunds": 0.0,
            "currency": ccy,
            "realizedpnl": round(t["realized"], 2),
            "funds": 0.0,
            "acctcode": acct,
            "issueroptionsmarketvalue": 0.0,
            "key": "LedgerList",
            "timestamp": ts,
            "severity": 0,
            "stockoptionmarketvalue": 0.0,
            "futuresonlypnl": 0.0,
            "tbondsmarketvalue": 0.0,
            "futureoptionmarketvalue": 0.0,
            "cashbalancefxsegment": 0.0,
            "secondkey": ccy,
            "tbillsmarketvalue": 0.0,
            "endofbundle": 1,
            "dividends": 0.0,
            "cryptocurrencyvalue": 0.0,
        }

    return {"USD": entry("USD"), "BASE": entry("BASE")}


def add_portfolio_routes(app: web.Application, gw: Gateway, uni: Universe) -> None:
    """Register the portfolio endpoints."""
    r = app.router
    p = PREFIX
    primed: set[str] = set()  # sessions that read /portfolio/accounts

    def refuse(acct: str | None = None) -> web.Response | None:
        if not gw.logged_in:
            return _json({"error": "not authenticated"}, 401)
        if acct is not None and acct not in gw.cfg.accounts:
            return _json({"error": f"Account {acct} is not accessible"}, 400)
        if acct is not None and gw.session_id not in primed:
            return _json(
                {"error": "Please query /portfolio/accounts or /portfolio/subaccounts first"}, 400
            )
        return None

    async def accounts(request: web.Request) -> web.Response:
        if (refused := refuse()) is not None:
            return refused
        primed.add(gw.session_id)
        return _json([_account_entry(a) for a in gw.cfg.accounts])

    async def positions(request: web.Request) -> web.Response:
        acct = request.match_info["acct"]
        if (refused := refuse(acct)) is not None:
            return refused
        raw_page = request.match_info.get("page", "0")
        if not raw_page.isdigit():
            return _json({"error": f"Bad Request: invalid page {raw_page}"}, 400)
        page = int(raw_page)
        held = _held(gw) if acct == gw.cfg.account else []
        size = gw.cfg.positions_page_size
        chunk = held[page * size : (page + 1) * size]
        return _json([position_entry(gw, uni, acct, c) for c in chunk])

    async def positions2(request: web.Request) -> web.Response:
        acct = request.match_info["acct"]
        if (refused := refuse(acct)) is not None:
            return refused
        held = _held(gw) if acct == gw.cfg.account else []
        return _json([position_entry(gw, uni, acct, c) for c in held])

    async def position_by_conid(request: web.Request) -> web.Response:
        acct = request.match_info["acct"]
        if (refused := refuse(acct)) is not None:
            return refused
        raw = request.match_info["conid"]
        conid = int(raw) if raw.isdigit() else -1
        held = _held(gw) if acct == gw.cfg.account else []
        return _json([position_entry(gw, uni, acct, conid)] if conid in held else [])

    async def invalidate(request: web.Request) -> web.Response:
        acct = request.match_info["acct"]
        return refuse(acct) or _json({"message": "success"})

    async def summary(request: web.Request) -> web.Response:
        acct = request.match_info["acct"]
        return refuse(acct) or _json(_summary(acct, gw))

    async def ledger(request: web.Request) -> web.Response:
        acct = request.match_info["acct"]
        return refuse(acct) or _json(_ledger(acct, gw))

    r.add_get(f"{p}/portfolio/accounts", accounts)
    r.add_get(f"{p}/portfolio/subaccounts", accounts)
    r.add_get(f"{p}/portfolio/{{acct}}/positions/{{page}}", positions)
    r.add_post(f"{p}/portfolio/{{acct}}/positions/invalidate", invalidate)
    r.add_get(f"{p}/portfolio/{{acct}}/position/{{conid}}", position_by_conid)
    r.add_get(f"{p}/portfolio2/{{acct}}/positions", positions2)
    r.add_get(f"{p}/portfolio/{{acct}}/summary", summary)
    r.add_get(f"{p}/portfolio/{{acct}}/ledger", ledger)
