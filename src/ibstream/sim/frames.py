"""Builders for gateway JSON bodies and S→C frames (protocol.md §1.4, §2, §4, §5).

Pure functions of their arguments: they return dicts (or lists of dicts) that the I/O layer
encodes. Shapes follow the 2026 recordings (S9) where they exist, IBKR docs otherwise.
"""

from __future__ import annotations

import random
import re
import time
from typing import Any

from ibstream.sim.config import Instrument, SimConfig

__all__ = [
    "accounts_body",
    "auth_status_body",
    "history_frame",
    "ladder_rows",
    "ledger_entries",
    "sso_validate_body",
    "sts_frames",
    "summary_entries",
    "system_login",
    "tickle_body",
]

MAC = "06:59:AE:5B:4F:D1"
HARDWARE_INFO = "30df22d8|06:59:AE:5B:4F:D1"


def system_login(cfg: SimConfig) -> dict[str, Any]:
    """The first frame after authentication (§1.4, §5.1)."""
    return {"topic": "system", "success": cfg.username, "isFT": False, "isPaper": cfg.paper}


# Recorded ``GET /iserver/accounts`` (2026-04, Build 10.44.1h; tests/corpus/rest.json).
_ALLOW_FEATURES: dict[str, Any] = {
    "showGFIS": True,
    "showEUCostReport": False,
    "allowEventContract": True,
    "allowFXConv": True,
    "allowFinancialLens": False,
    "allowMTA": True,
    "allowTypeAhead": True,
    "allowEventTrading": True,
    "snapshotRefreshTimeout": 30,
    "liteUser": False,
    "showWebNews": True,
    "research": True,
    "debugPnl": True,
    "showTaxOpt": True,
    "showImpactDashboard": True,
    "allowDynAccount": False,
    "allowCrypto": False,
    "allowFA": False,
    "allowLiteUnderPro": False,
    "allowedAssetTypes": "STK,CFD,OPT,FOP,WAR,FUT,BAG,PDC,CASH,IND,BOND,BILL,FUND,SLB,News,"
    "CMDTY,IOPT,ICU,ICS,PHYSS,CRYPTO",
    "restrictTradeSubscription": False,
    "showUkUserLabels": False,
    "sideBySide": True,
}
_ALL = ("*",)
_OPTION_PERIODS = ("2h", "1d", "2d", "1w", "1m")
_CHART_PERIODS: dict[str, tuple[str, ...]] = {
    "STK": _ALL,
    "CFD": _ALL,
    "OPT": _OPTION_PERIODS,
    "FOP": _OPTION_PERIODS,
    "WAR": _ALL,
    "IOPT": _ALL,
    "FUT": _ALL,
    "CASH": _ALL,
    "IND": _ALL,
    "BOND": _ALL,
    "FUND": _ALL,
    "CMDTY": _ALL,
    "PHYSS": _ALL,
    "CRYPTO": _ALL,
}


def accounts_body(cfg: SimConfig, ws_session: str) -> dict[str, Any]:
    """``GET /iserver/accounts`` and WS ``act.args`` — the same object (§1.4, §2.6)."""
    props = {
        "hasChildAccounts": False,
        "supportsCashQty": True,
        "liteUnderPro": False,
        "noFXConv": False,
        "isProp": False,
        "supportsFractions": True,
        "allowCustomerTime": False,
        "autoFx": False,
    }
    return {
        "accounts": list(cfg.accounts),
        "acctProps": {a: dict(props) for a in cfg.accounts},
        "aliases": {a: a for a in cfg.accounts},
        "allowFeatures": dict(_ALLOW_FEATURES),
        "chartPeriods": {k: list(v) for k, v in _CHART_PERIODS.items()},
        "groups": [],
        "profiles": [],
        "selectedAccount": cfg.account,
        "serverInfo": {"serverName": cfg.server_name, "serverVersion": cfg.server_version},
        "sessionId": ws_session,
        "isFT": False,
        "isPaper": cfg.paper,
    }


def auth_status_body(
    cfg: SimConfig, *, logged_in: bool, authenticated: bool, competing: bool
) -> dict[str, Any]:
    """``/iserver/auth/status`` per state (§2.2, §3.3)."""
    if not logged_in:
        return {
            "authenticated": False,
            "established": False,
            "competing": False,
            "connected": False,
            "MAC": None,
        }
    return {
        "authenticated": authenticated,
        "established": authenticated,
        "competing": competing,
        "connected": True,
        "message": "",
        "MAC": MAC,
        "serverInfo": {"serverName": cfg.server_name, "serverVersion": cfg.server_version},
        "hardware_info": HARDWARE_INFO,
        "fail": "",
    }


def tickle_body(
    cfg: SimConfig, session: str, sso_expires_ms: int, status: dict[str, Any]
) -> dict[str, Any]:
    """``/tickle`` 200 body (§2.1); ``status`` is the auth-status object minus ``fail``."""
    auth = {k: v for k, v in status.items() if k != "fail"}
    return {
        "session": session,
        "ssoExpires": sso_expires_ms,
        "collission": False,
        "userId": 181382082,
        "hmds": {"error": "no bridge"},
        "iserver": {"authStatus": auth},
    }


def sso_validate_body(cfg: SimConfig, expires_ms: int) -> dict[str, Any]:
    """``/sso/validate`` fields (§2.7)."""
    now = int(time.time() * 1000)
    return {
        "SFT": False,
        "IS_PENDING_APPLICANT": False,
        "SF_ENABLED": False,
        "HARDWARE_INFO": HARDWARE_INFO,
        "UNIQUE_LOGIN_ID": "sim-login-1",
        "AUTH_TIME": now,
        "SF_CONFIG": "0",
        "USER_NAME": cfg.username,
        "CREDENTIAL_TYPE": 0,
        "IS_FREE_TRIAL": False,
        "LOGIN_TYPE": 2 if cfg.paper else 1,
        "LANDING_APP": "PORTAL",
        "CREDENTIAL": cfg.username,
        "ANOMALOUS_LOGIN": False,
        "RESULT": True,
        "IP": "127.0.0.1",
        "USER_ID": 181382082,
        "EXPIRES": expires_ms,
        "TOKEN": "sim",
        "took": 2,
        "IS_MASTER": False,
        "lastAccessed": now,
        "features": {
            "env": "PROD",
            "wlms": True,
            "realtime": True,
            "bond": True,
            "optionChains": True,
            "calendar": True,
            "newMf": True,
        },
        "region": "NJ",
    }


def sts_frames(
    cfg: SimConfig, *, authenticated: bool, competing: bool, form: str | None = None
) -> list[dict[str, Any]]:
    """``sts`` frames (§1.4 full 2026 object; §5.3 legacy one-key-per-frame form)."""
    args: dict[str, Any] = {
        "connected": True,
        "authenticated": authenticated,
        "established": authenticated,
        "competing": competing,
        "message": "",
        "fail": "",
        "serverName": cfg.server_name,
        "serverVersion": cfg.server_version,
        "username": cfg.username,
    }
    if (form or cfg.sts_form) == "legacy":
        keys = (
            "authenticated",
            "competing",
            "message",
            "fail",
            "serverName",
            "serverVersion",
            "username",
        )
        return [{"topic": "sts", "args": {k: args[k]}} for k in keys]
    return [{"topic": "sts", "args": args}]


# --- account summary / ledger (§4.7) -------------------------------------------------------


def summary_entries(
    account: str, values: dict[str, float], keys: list[str], ts: int
) -> list[dict[str, Any]]:
    """``ssd`` result list; always leads with ``AccountCode`` (§4.7 INFERRED)."""
    out: list[dict[str, Any]] = [{"key": "AccountCode", "value": account, "timestamp": ts}]
    out.append({"key": "AccountType", "value": "INDIVIDUAL", "timestamp": ts})
    for key, val in values.items():
        if keys and key not in keys:
            continue
        out.append(
            {"key": key, "currency": "USD", "monetaryValue": val, "severity": 0, "timestamp": ts}
        )
    return out


def ledger_entries(
    account: str, values: dict[str, float], changed: bool, ts: int, currencies: list[str]
) -> list[dict[str, Any]]:
    """``sld`` result list: BASE carries fields only when changed, others blank (§4.7)."""
    out: list[dict[str, Any]] = []
    for ccy in currencies:
        key = f"LedgerList{ccy}"
        if changed and ccy in ("BASE", "USD"):
            entry: dict[str, Any] = {
                "acctCode": account,
                "key": key,
                "secondKey": ccy,
                "severity": 0,
                "timestamp": ts,
            }
            entry.update(values)
            out.append(entry)
        else:
            out.append({"key": key, "timestamp": ts})
    return out


# --- market history (§4.2) ------------------------------------------------------------------

_BAR_SECONDS = {"min": 60, "h": 3600, "d": 86400, "w": 604800, "m": 2592000, "y": 31536000}
_SPEC = re.compile(r"^(\d+)\s*(min|h|d|w|m|y)$")


def _seconds(spec: str, default: int) -> int:
    m = _SPEC.match(spec.strip().lower()) if spec else None
    if not m:
        return default
    return int(m.group(1)) * _BAR_SECONDS[m.group(2)]


def history_frame(
    inst: Instrument,
    server_id: str,
    args: dict[str, Any],
    seed: int,
    last: float,
    now_ms: int,
) -> dict[str, Any]:
    """The first ``smh+CONID`` frame: bars ending at ``last`` (§4.2 S4 example)."""
    period = _seconds(str(args.get("period", "1d")), 86400)
    bar = _seconds(str(args.get("bar", "5min")), 300)
    bar = max(60, min(bar, period))
    points = max(1, min(period // bar, 1000))
    rng = random.Random(f"{seed}:{inst.conid}:hist:{period}:{bar}")
    closes = [last]
    for _ in range(points - 1):
        closes.append(max(0.01, closes[-1] * (1 - rng.gauss(0.0, 0.002))))
    closes.reverse()
    start_ms = (now_ms // (bar * 1000)) * bar * 1000 - (points - 1) * bar * 1000
    data = []
    prev = closes[0]
    for i, c in enumerate(closes):
        o = prev
        h = max(o, c) * (1 + abs(rng.gauss(0, 0.0008)))
        low = min(o, c) * (1 - abs(rng.gauss(0, 0.0008)))
        v = float(rng.randint(100, 50_000))
        data.append(
            {
                "o": round(o, 2),
                "c": round(c, 2),
                "h": round(h, 2),
                "l": round(low, 2),
                "v": v,
                "t": start_ms + i * bar * 1000,
            }
        )
        prev = c
    hi = max(data, key=lambda d: d["h"])
    lo = min(data, key=lambda d: d["l"])
    outside = bool(args.get("outsideRth", args.get("outsideRTH", args.get("outside_rth", False))))
    return {
        "serverId": server_id,
        "symbol": inst.symbol,
        "text": inst.company,
        "priceFactor": 100,
        "startTime": time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(start_ms / 1000)),
        "high": f"{round(hi['h'] * 100)}/{int(hi['v'] // 100)}/{data.index(hi) * bar // 60}",
        "low": f"{round(lo['l'] * 100)}/{int(lo['v'] // 100)}/{data.index(lo) * bar // 60}",
        "timePeriod": f"{period}s",
        "barLength": bar,
        "mdAvailability": "S",
        "mktDataDelay": 0,
        "outsideRth": outside,
        "volumeFactor": 1,
        "priceDisplayRule": 1,
        "priceDisplayValue": "2",
        "negativeCapable": False,
        "messageVersion": 2,
        "data": data,
        "points": len(data),
        "topic": f"smh+{inst.conid}",
    }


def ladder_rows(
    last: float, tick: float, rng: random.Random, rows: int = 10, size_at_price: bool = False
) -> list[dict[str, Any]]:
    """``sbd`` ladder rows around ``last`` (§4.3): asks above, bids below, focus on last.

    ``size_at_price``: sizes written ``"size @ price"`` and no ``price`` key (the row form
    reported in issue 16; docs/gateway-fidelity.md).
    """
    out: list[dict[str, Any]] = []
    half = rows // 2
    for i in range(rows):
        price = f"{last + (half - i) * tick:.2f}"
        row: dict[str, Any] = {"row": i, "focus": 1 if i == half else 0}
        if not size_at_price:
            row["price"] = price
        for side, present in (("ask", i <= half), ("bid", i >= half)):
            if present:
                size = str(rng.randint(1, 40) * 100)
                row[side] = f"{size} @ {price}" if size_at_price else size
        out.append(row)
    return out
