"""Third-party client compatibility: IBind 0.2.2 (written for the real gateway) against the sim.

IBind is threaded and blocking, so the simulator runs on its own event loop in a background
thread and IBind is driven from the test thread.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ibstream.sim.testing import SimThread, wait_until

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ibind") is None, reason="ibind (dev extra) not installed"
)


class _ListSink:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self._lock = threading.Lock()

    def emit(self, event: Any) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, name: str) -> list[Any]:
        with self._lock:
            return [e for e in self.events if type(e).__name__ == name]


@pytest.fixture
def gateway() -> Iterator[SimThread]:
    with SimThread(heartbeat_interval=1.0, update_interval=0.1, history_update_interval=None) as g:
        yield g


@pytest.mark.timeout(60)
def test_ibind_client_against_simulator(gateway: SimThread) -> None:
    from ibind import IbkrClient, IbkrWsClient
    from ibind.subscriptions import (
        AccountLedgerSubscription,
        AccountSummarySubscription,
        MarketDataSubscription,
        MarketHistorySubscription,
        OrdersSubscription,
        PnlSubscription,
        TradesSubscription,
    )

    sim = gateway.sim
    acct = sim.config.account
    client = IbkrClient(
        url=sim.base_url + "/", cacert=False, account_id=acct, use_oauth=False, timeout=5
    )
    # REST side through IBind
    assert client.tickle().data["session"] == sim.session_id
    assert client.check_health() is True
    assert client.authentication_status().data["authenticated"] is True
    assert client.receive_brokerage_accounts().data["accounts"] == [acct]

    sink = _ListSink()
    ws = IbkrWsClient(
        url=sim.ws_url,
        ibkr_client=client,
        account_id=acct,
        cacert=False,
        sink=sink,
        use_oauth=False,
    )
    try:
        assert ws.start()
        wait_until(ws.is_authenticated, 10)
        subs = {
            "md": MarketDataSubscription(conid="265598", fields=["31", "84", "86"]),
            "or": OrdersSubscription(),
            "tr": TradesSubscription(),
            "pl": PnlSubscription(),
            "sd": AccountSummarySubscription(account_id=acct),
            "ld": AccountLedgerSubscription(account_id=acct),
            "mh": MarketHistorySubscription(conid="265598", period="1h", bar="1min"),
        }
        handles = {k: ws.subscribe(s) for k, s in subs.items()}
        for k, h in handles.items():
            assert h.wait(10), f"{k} not confirmed: {h.status}"
        gateway.call(lambda: sim.place_order(265598, "BUY", 5, "MKT"))
        for name in (
            "MarketData",
            "Orders",
            "Trades",
            "Pnl",
            "AccountSummary",
            "AccountLedger",
            "MarketHistory",
        ):
            wait_until(lambda n=name: bool(sink.of(n)), 10, what=f"no {name} event")
        md = sink.of("MarketData")[0]
        assert str(md.conid) == "265598"
        wait_until(
            lambda: any(
                a.get("status") == "Filled" for e in sink.of("Orders") for a in e.data["args"]
            ),
            10,
        )
        wait_until(lambda: len(sink.of("Trades")) >= 4, 10)  # 2 historic + new, each twice
        assert sink.of("Trades")[0].data == {"topic": "str", "args": []}
        execs = {a["execution_id"] for e in sink.of("Trades") for a in e.data["args"]}
        assert len(execs) >= 3
        assert "DU1234567.Core" in sink.of("Pnl")[0].data["args"]
        assert sink.of("AccountLedger")[0].data["key"] == "LedgerListBASE"
        assert "NetLiquidation" in sink.of("AccountSummary")[0].data
        assert sink.of("MarketHistory")[0].data["serverId"].isdigit()
        assert sink.of("AuthenticationStatus")
        assert not sink.of("IbkrError")
        for k, s in subs.items():
            h = ws.unsubscribe(s)
            assert h.wait(10), f"{k} unsubscribe not confirmed: {h.status}"
        wait_until(
            lambda: all(v == [] for v in gateway.call(sim.active_subscriptions).values()),
            10,
            what=lambda: str(gateway.call(sim.active_subscriptions)),
        )
        assert sim.received_count("usd+" + acct) == 1
        assert sim.received_matching("umh+")
    finally:
        ws.shutdown()
        client.close()
