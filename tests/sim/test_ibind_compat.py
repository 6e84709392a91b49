"""Third-party client compatibility: IBind 0.2.2 (written for the real gateway) against the sim.

IBind is threaded and blocking, so the simulator runs on its own event loop in a background
thread and IBind is driven from the test thread.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ibstream.sim import Simulator
from ibstream.sim.testing import fast_config

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ibind") is None, reason="ibind (dev extra) not installed"
)


class _SimThread:
    """A Simulator running on a private event loop thread."""

    def __init__(self, **overrides: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.sim = Simulator(fast_config(**overrides))
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Simulator:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop).result(10)
        return self.sim

    def call(self, fn: Callable[[], Any]) -> Any:
        async def run() -> Any:
            result = fn()
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


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


def _wait(pred: Callable[[], bool], timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def sim_thread() -> Iterator[_SimThread]:
    st = _SimThread(heartbeat_interval=1.0, update_interval=0.1, history_update_interval=None)
    with st:
        yield st


@pytest.mark.timeout(60)
def test_ibind_client_against_simulator(sim_thread: _SimThread) -> None:
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

    sim = sim_thread.sim
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
        assert _wait(ws.is_authenticated, 10)
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
        sim_thread.call(lambda: sim.place_order(265598, "BUY", 5, "MKT"))
        for name in (
            "MarketData",
            "Orders",
            "Trades",
            "Pnl",
            "AccountSummary",
            "AccountLedger",
            "MarketHistory",
        ):
            assert _wait(lambda n=name: bool(sink.of(n)), 10), f"no {name} event"
        md = sink.of("MarketData")[0]
        assert str(md.conid) == "265598"
        assert _wait(
            lambda: any(
                a.get("status") == "Filled" for e in sink.of("Orders") for a in e.data["args"]
            ),
            10,
        )
        assert _wait(lambda: len(sink.of("Trades")) >= 4, 10)  # 2 historic + new, each twice
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
        assert _wait(lambda: all(v == [] for v in sim.active_subscriptions().values()), 10), (
            sim.active_subscriptions()
        )
        assert sim.received_count("usd+" + acct) == 1
        assert sim.received_matching("umh+")
    finally:
        ws.shutdown()
        client.close()
