"""The contract rules of the simulated gateway: price increments and order defaults.

``GET /iserver/contract/{conid}/info-and-rules?isBuy=true`` answers the contract info with a
``rules`` object; ``POST /iserver/contract/rules`` (``{"conid": ..., "isBuy": true}``) the rules
alone. The keys are those of IBKR's documented rules object; the simulator fills the ones a
client reads: ``increment`` (the instrument's minimum tick, the same one its prices move by:
0.00005 under 10, else 0.01), ``incrementDigits``, ``incrementRules`` (one row from 0),
``defaultSize``, ``sizeIncrement``, order and TIF types. Values are the simulator's own.

Independent of the client: nothing here imports ``ibstream.protocol``.
"""

from __future__ import annotations

from typing import Any

from ibstream.sim.gateway import Gateway
from ibstream.sim.universe import Spec

__all__ = ["contract_rules", "tick_of"]

_ORDER_TYPES = ["limit", "midprice", "market", "stop", "stop_limit", "trailing_stop", "moc", "loc"]


def tick_of(gw: Gateway, conid: int) -> float:
    """The minimum price increment of ``conid`` (the one its simulated prices move by)."""
    if gw.market.known(conid):
        return gw.market.quote(conid).tick
    return 0.01


def _digits(tick: float) -> int:
    text = f"{tick:.10f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def contract_rules(gw: Gateway, spec: Spec, is_buy: bool) -> dict[str, Any]:
    """The ``rules`` object of one contract."""
    tick = tick_of(gw, spec.conid)
    last = gw.market.quote(spec.conid).last if gw.market.known(spec.conid) else None
    lot = 1 if spec.sec_type in ("OPT", "FUT", "FOP", "WAR") else 100
    if spec.sec_type == "CASH":
        lot = 25_000
    return {
        "algoEligible": True,
        "overnightEligible": False,
        "costReport": False,
        "canTradeAcctIds": [gw.cfg.account],
        "error": None,
        "orderTypes": list(_ORDER_TYPES),
        "orderTypesOutside": ["limit", "stop_limit"],
        "defaultSize": lot,
        "cashSize": 0.0,
        "sizeIncrement": 1 if lot != 25_000 else 1000,
        "tifTypes": ["IOC/LMT,MKT", "GTC/o,a", "OPG/LMT,MKT", "DAY/o,a"],
        "tifDefaults": {"TIF": "DAY", "SIZE": f"{lot}.00"},
        "limitPrice": last,
        "stopprice": last,
        "preview": True,
        "displaySize": None,
        "increment": tick,
        "incrementDigits": _digits(tick),
        "incrementRules": [{"lowerEdge": 0.0, "increment": tick}],
        "incrementType": 1,
        "hasSecondary": True,
        "negativeCapable": False,
        "isBuy": is_buy,
    }
