"""Contract and market-data REST endpoints of the simulated gateway.

``/iserver/secdef/search`` (underlyings with ``sections`` per security type), ``/trsrv/stocks``,
``/trsrv/futures``, ``/iserver/secdef/strikes``, ``/iserver/secdef/info``,
``/iserver/contract/{conid}/info``, the contract rules
(``/iserver/contract/{conid}/info-and-rules``, ``POST /iserver/contract/rules``;
:mod:`ibstream.sim.rules`) and ``/iserver/marketdata/history`` (at most 5 at once, the 6th
gets 429 like the gateway). Shapes follow IBKR's documentation and IBind's samples; answers to
bad input (unknown conid -> HTTP 400 ``{"error": ...}``, unknown symbol -> ``[]``) are
INFERRED where no recording shows them. ``/iserver/*`` needs the brokerage session (401
otherwise); ``/trsrv/*`` only the SSO login.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiohttp import web

from ibstream.sim import frames
from ibstream.sim.gateway import Gateway
from ibstream.sim.rules import contract_rules
from ibstream.sim.universe import COMBO_SPREAD_CONID, Spec, Universe

__all__ = ["add_contract_routes"]

PREFIX = "/v1/api"
HISTORY_CONCURRENCY = 5
HISTORY_DELAY = 0.05
"""Real seconds a history request takes (so the 5-concurrent limit can be exceeded)."""

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", charset="utf-8"
    )


def _error(message: str, status: int = 400) -> web.Response:
    return _json({"error": message}, status)


def _need_brokerage(gw: Gateway) -> web.Response | None:
    if not gw.logged_in or not gw.authenticated:
        return _error("not authenticated", 401)
    return None


def _need_login(gw: Gateway) -> web.Response | None:
    return None if gw.logged_in else _error("not authenticated", 401)


def _symbols(request: web.Request) -> list[str]:
    """The ``symbols`` query parameter of ``/trsrv/stocks`` and ``/trsrv/futures``: upper case,
    empty entries skipped."""
    names = (s.strip().upper() for s in request.query.get("symbols", "").split(","))
    return [name for name in names if name]


def _months(specs: list[Spec]) -> str:
    return ";".join(dict.fromkeys(s.month for s in specs if s.month))


def _search_entry(uni: Universe, spec: Spec) -> dict[str, Any]:
    inst = uni.instruments[spec.conid]
    exch = inst.exchange
    sections: list[dict[str, Any]] = []
    if spec.sec_type == "CASH":
        sections.append({"secType": "CASH", "exchange": "IDEALPRO;"})
    else:
        sections.append(
            {"secType": spec.sec_type}
            if spec.sec_type == "STK"
            else {"secType": spec.sec_type, "exchange": f"{exch};"}
        )
    futs = uni.derivatives(spec.conid, "FUT")
    if futs:
        sections.append({"secType": "FUT", "months": _months(futs), "exchange": f"{exch};"})
    opts = uni.derivatives(spec.conid, "OPT")
    if opts:
        sections.append(
            {"secType": "OPT", "months": _months(opts), "exchange": ";".join(opts[0].exchanges)}
        )
    fops = uni.derivatives(spec.conid, "FOP")
    if fops:
        sections.append({"secType": "FOP", "months": _months(fops), "exchange": f"{exch};"})
    for cfd in uni.derivatives(spec.conid, "CFD"):
        sections.append({"secType": "CFD", "exchange": "SMART", "conid": str(cfd.conid)})
    if spec.sec_type == "STK" and spec.is_us:
        sections.append({"secType": "BAG"})
    return {
        "conid": str(spec.conid),
        "companyHeader": f"{inst.company} - {exch}",
        "companyName": inst.company,
        "symbol": spec.local_symbol if spec.sec_type == "CASH" else spec.symbol,
        "description": spec.local_symbol if spec.sec_type in ("CASH", "BOND") else exch,
        "restricted": None,
        "fop": ";".join(dict.fromkeys(s.expiry or "" for s in fops)) or None,
        "opt": ";".join(dict.fromkeys(s.expiry or "" for s in opts)) or None,
        "war": None,
        "sections": sections,
    }


def search(uni: Universe, symbol: str, sec_type: str, by_name: bool) -> list[dict[str, Any]]:
    """The ``/iserver/secdef/search`` answer."""
    text = symbol.strip().upper()
    if not text:
        return []
    roots = [s for s in uni.specs.values() if s.sec_type in ("STK", "IND", "CASH", "BOND")]
    if by_name:
        found = [s for s in roots if text in uni.instruments[s.conid].company.upper()]
    elif "." in text and sec_type in ("", "CASH"):
        found = [s for s in roots if s.sec_type == "CASH" and s.local_symbol == text]
    else:
        found = [s for s in roots if s.symbol == text]
    if sec_type == "FUT":
        found = [s for s in found if uni.derivatives(s.conid, "FUT")]
    elif sec_type:
        found = [s for s in found if s.sec_type == sec_type]
    else:
        found = [s for s in found if s.sec_type != "BOND"]  # bonds only with secType=BOND
    found.sort(key=lambda s: (not s.is_us, s.sec_type != "STK", s.conid))
    return [_search_entry(uni, s) for s in found[:50]]


def _month_name(expiry: str) -> str:
    return f"{_MONTHS[int(expiry[4:6]) - 1]}{expiry[2:4]}"


def _secdef_info(uni: Universe, spec: Spec) -> dict[str, Any]:
    inst = uni.instruments[spec.conid]
    desc2 = ""
    if spec.expiry:
        exp = spec.expiry
        desc2 = f"{_MONTHS[int(exp[4:6]) - 1]} {exp[6:8]} '{exp[2:4]}"
        if spec.strike is not None:
            desc2 += f" {spec.strike:g} {'Call' if spec.right == 'C' else 'Put'}"
    return {
        "conid": spec.conid,
        "symbol": spec.symbol,
        "secType": spec.sec_type,
        "exchange": spec.exchanges[0] if spec.exchanges else inst.exchange,
        "listingExchange": None,
        "right": spec.right,
        "strike": spec.strike,
        "currency": inst.currency,
        "cusip": None,
        "coupon": "No Coupon",
        "desc1": spec.symbol,
        "desc2": desc2,
        "maturityDate": spec.expiry,
        "multiplier": f"{inst.multiplier:g}" if inst.multiplier != 1 else "",
        "tradingClass": spec.trading_class or spec.symbol,
        "validExchanges": ",".join(spec.exchanges),
    }


def contract_info(uni: Universe, spec: Spec) -> dict[str, Any]:
    """The ``/iserver/contract/{conid}/info`` answer."""
    inst = uni.instruments[spec.conid]
    return {
        "cfi_code": "",
        "symbol": spec.symbol,
        "cusip": None,
        "expiry_full": spec.expiry,
        "con_id": spec.conid,
        "maturity_date": spec.expiry,
        "industry": "Synthetic",
        "instrument_type": spec.sec_type,
        "trading_class": spec.trading_class or spec.symbol,
        "valid_exchanges": ",".join(spec.exchanges),
        "allow_sell_long": False,
        "is_zero_commission_security": False,
        "local_symbol": spec.local_symbol or spec.symbol,
        "contract_clarification_type": None,
        "classifier": None,
        "currency": inst.currency,
        "text": inst.description or None,
        "underlying_con_id": spec.underlying or 0,
        "r_t_h": True,
        "multiplier": f"{inst.multiplier:g}" if inst.multiplier != 1 else None,
        "underlying_issuer": None,
        "contract_month": spec.expiry[:6] if spec.expiry else None,
        "company_name": inst.company,
        "size_increment": "0.0001" if spec.sec_type == "STK" else "1",
        "smart_available": "SMART" in spec.exchanges,
        "exchange": spec.exchanges[0] if spec.exchanges else inst.exchange,
        "category": "Synthetic",
        "strike": spec.strike,
        "right": spec.right,
    }


def _conid_param(request: web.Request, name: str = "conid") -> int | None:
    raw = request.query.get(name, "") or request.match_info.get(name, "")
    return int(raw) if raw.strip().isdigit() else None


def add_contract_routes(app: web.Application, gw: Gateway, uni: Universe) -> None:
    """Register the contract and market-data endpoints."""
    r = app.router
    p = PREFIX

    async def secdef_search(request: web.Request) -> web.Response:
        if (refused := _need_brokerage(gw)) is not None:
            return refused
        q: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            try:
                body = await request.json(loads=orjson.loads)
                if isinstance(body, dict):
                    q.update(body)
            except ValueError:
                return _error("Bad Request: body is not JSON")
        name = str(q.get("name", "")).lower() == "true" or q.get("name") is True
        sec_type = str(q.get("secType") or "").upper()
        return _json(search(uni, str(q.get("symbol") or ""), sec_type, name))

    async def trsrv_stocks(request: web.Request) -> web.Response:
        if (refused := _need_login(gw)) is not None:
            return refused
        out: dict[str, Any] = {}
        for sym in _symbols(request):
            specs = uni.of_symbol(sym, "STK")
            if not specs:
                out[sym] = []
                continue
            inst = uni.instruments[specs[0].conid]
            out[sym] = [
                {
                    "name": inst.company,
                    "chineseName": None,
                    "assetClass": "STK",
                    "contracts": [
                        {
                            "conid": s.conid,
                            "exchange": uni.instruments[s.conid].exchange,
                            "isUS": s.is_us,
                        }
                        for s in sorted(specs, key=lambda s: (not s.is_us, s.conid))
                    ],
                }
            ]
        return _json(out)

    async def trsrv_futures(request: web.Request) -> web.Response:
        if (refused := _need_login(gw)) is not None:
            return refused
        out: dict[str, Any] = {}
        for sym in _symbols(request):
            futs = uni.of_symbol(sym, "FUT")
            out[sym] = [
                {
                    "symbol": f.symbol,
                    "conid": f.conid,
                    "underlyingConid": f.underlying,
                    "expirationDate": int(f.expiry or 0),
                    "ltd": int(f.expiry or 0) - 1,
                    "shortFuturesCutOff": int(f.expiry or 0) - 1,
                    "longFuturesCutOff": int(f.expiry or 0) - 1,
                }
                for f in futs
            ]
        return _json(out)

    async def strikes(request: web.Request) -> web.Response:
        if (refused := _need_brokerage(gw)) is not None:
            return refused
        conid = _conid_param(request)
        sec_type = request.query.get("sectype", request.query.get("secType", "")).upper()
        month = request.query.get("month", "").upper()
        if conid is None or not sec_type or not month:
            return _error("Bad Request: conid, sectype and month are required")
        if conid not in uni.specs:
            return _error(f"Bad Request: invalid conid {conid}")
        opts = [s for s in uni.derivatives(conid, sec_type) if s.month == month]
        return _json(
            {
                "call": sorted({s.strike for s in opts if s.right == "C" and s.strike}),
                "put": sorted({s.strike for s in opts if s.right == "P" and s.strike}),
            }
        )

    async def secdef_info(request: web.Request) -> web.Response:
        if (refused := _need_brokerage(gw)) is not None:
            return refused
        conid = _conid_param(request)
        sec_type = request.query.get("sectype", request.query.get("secType", "")).upper()
        if conid is None or not sec_type:
            return _error("Bad Request: conid and sectype are required")
        spec = uni.spec(conid)
        if spec is None:
            return _error(f"Bad Request: invalid conid {conid}")
        if sec_type in ("STK", "IND", "CASH", "CFD") or sec_type == spec.sec_type:
            return _json([_secdef_info(uni, spec)])
        month = request.query.get("month", "").upper()
        if not month:
            return _error(f"Bad Request: month is required for {sec_type}")
        found = [s for s in uni.derivatives(conid, sec_type) if s.month == month]
        if sec_type in ("OPT", "FOP", "WAR"):
            right = request.query.get("right", "").upper()[:1]
            strike_text = request.query.get("strike", "")
            try:
                strike = float(strike_text)
            except ValueError:
                return _error("Bad Request: strike and right are required for options")
            if right not in ("C", "P"):
                return _error("Bad Request: strike and right are required for options")
            found = [s for s in found if s.right == right and s.strike == strike]
        if not found:
            return _error(f"No contracts found for {spec.symbol} {sec_type} {month}")
        return _json([_secdef_info(uni, s) for s in found])

    async def info(request: web.Request) -> web.Response:
        if (refused := _need_brokerage(gw)) is not None:
            return refused
        conid = _conid_param(request)
        if conid == COMBO_SPREAD_CONID:
            return _json(
                {
                    "con_id": conid,
                    "symbol": "USD",
                    "instrument_type": "BAG",
                    "currency": "USD",
                    "exchange": "SMART",
                    "valid_exchanges": "SMART",
                    "company_name": "COMBO",
                    "local_symbol": "USD",
                    "underlying_con_id": 0,
                    "r_t_h": True,
                }
            )
        spec = uni.spec(conid) if conid is not None else None
        if spec is None:
            return _error(f"Bad Request: invalid conid {conid if conid is not None else ''}")
        return _json(contract_info(uni, spec))

    async def info_and_rules(request: web.Request) -> web.Response:
        if (refused := _need_brokerage(gw)) is not None:
            return refused
        conid = _conid_param(request)
        spec = uni.spec(conid) if conid is not None else None
        if spec is None:
            return _error(f"Bad Request: invalid conid {conid if conid is not None else ''}")
        is_buy = request.query.get("isBuy", "true").lower() != "false"
        return _json({**contract_info(uni, spec), "rules": contract_rules(gw, spec, is_buy)})

    async def rules(request: web.Request) -> web.Response:
        if (refused := _need_brokerage(gw)) is not None:
            return refused
        try:
            body = await request.json(loads=orjson.loads)
        except ValueError:
            return _error("Bad Request: body is not JSON")
        raw = body.get("conid") if isinstance(body, dict) else None
        conid = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
        spec = uni.spec(conid) if conid is not None else None
        if spec is None or not isinstance(body, dict):
            return _error(f"Bad Request: invalid conid {raw!r}")
        return _json(contract_rules(gw, spec, body.get("isBuy") is not False))

    async def history(request: web.Request) -> web.Response:
        if (refused := _need_brokerage(gw)) is not None:
            return refused
        if not gw.limits.enter("history", HISTORY_CONCURRENCY):
            return _error("Too many requests", 429)
        try:
            await asyncio.sleep(HISTORY_DELAY)
        finally:
            gw.limits.leave("history")
        if (refused := _need_brokerage(gw)) is not None:  # logged out meanwhile
            return refused
        conid = _conid_param(request)
        if conid is None or not gw.market.known(conid):
            return _error(f"Bad Request: invalid conid {conid if conid is not None else ''}")
        args: dict[str, Any] = dict(request.query)
        args.setdefault("period", "1w")
        args.setdefault("bar", "1d" if args["period"].endswith(("w", "m", "y")) else "5min")
        if str(args.get("outsideRth", "")).lower() in ("true", "1"):
            args["outsideRth"] = True
        else:
            args.pop("outsideRth", None)
        inst = gw.market.instruments[conid]
        body = frames.history_frame(
            inst,
            gw.hist_server_id(),
            args,
            gw.cfg.seed,
            gw.market.quote(conid).last,
            int(time.time() * 1000),
        )
        body.pop("topic", None)
        body["mktDataDelay"] = 0
        body["travelTime"] = 12
        return _json(body)

    for method in ("GET", "POST"):
        r.add_route(method, f"{p}/iserver/secdef/search", secdef_search)
    r.add_get(f"{p}/trsrv/stocks", trsrv_stocks)
    r.add_get(f"{p}/trsrv/futures", trsrv_futures)
    r.add_get(f"{p}/iserver/secdef/strikes", strikes)
    r.add_get(f"{p}/iserver/secdef/info", secdef_info)
    r.add_get(f"{p}/iserver/contract/{{conid}}/info", info)
    r.add_get(f"{p}/iserver/contract/{{conid}}/info-and-rules", info_and_rules)
    r.add_post(f"{p}/iserver/contract/rules", rules)
    r.add_get(f"{p}/iserver/marketdata/history", history)
