"""Failover: two bridge processes, ``kill -9`` the leader while orders fill.

Prints the takeover time (goal: under 5 s at default settings), the orders and fills lost
(must be 0) and duplicated after dedupe (must be 0), checks at the simulator that the two
bridges never held gateway sessions at the same time, and that the consumer's position ends
equal to the account's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter

import pytest

import ibstream.remote
from ibstream import OrdersSpec, OrderStatus, Trade, TradesSpec
from ibstream.sim import Simulator

from .helpers import AAPL, WAIT, upstream_holds, wait_for

pytestmark = pytest.mark.e2e


async def _bridge(
    sim: Simulator, bus_url: str, prefix: str, node: str
) -> asyncio.subprocess.Process:
    flag = "--nats" if bus_url.startswith("nats") else "--redis"
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ibstream",
        "bridge",
        "--url",
        sim.base_url,
        flag,
        bus_url,
        "--prefix",
        prefix,
        "--node",
        node,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ},
    )


async def _leader_line(proc: asyncio.subprocess.Process, timeout: float = 20) -> str:
    assert proc.stdout is not None
    async with asyncio.timeout(timeout):
        while True:
            line = (await proc.stdout.readline()).decode()
            if not line:
                raise AssertionError("bridge exited")
            if line.startswith("bridge: leader"):
                return line


async def test_kill_leader_while_orders_fill(sim: Simulator, bus_url: str, prefix: str) -> None:
    a = await _bridge(sim, bus_url, prefix, "a")
    b: asyncio.subprocess.Process | None = None
    try:
        await _leader_line(a)
        b = await _bridge(sim, bus_url, prefix, "b")
        async with ibstream.remote.connect(bus_url, prefix=prefix) as remote:
            orders = remote.subscribe(OrdersSpec())
            trades = remote.subscribe(TradesSpec())
            await asyncio.gather(orders.ready(5), trades.ready(5))
            await remote.positions.start(timeout=WAIT)
            await wait_for(lambda: sim.connections == 1, timeout=WAIT, what="leader session")
            await upstream_holds(sim, "or", "tr")  # an order placed now reaches the leader
            placed: list[int] = []
            first_fence = remote.fence.current

            async def place(n: int) -> None:
                for _ in range(n):
                    placed.append(int((await sim.place_order(AAPL, "BUY", 3, "MKT")).order_id))
                    await asyncio.sleep(0.1)

            await place(5)
            killed = time.monotonic()
            a.send_signal(signal.SIGKILL)
            await a.wait()
            await place(10)  # fills while nobody leads, then under the new leader
            await _leader_line(b)
            await wait_for(
                lambda: remote.fence.current > first_fence,
                timeout=15,
                what="messages of the new leader",
            )
            takeover = time.monotonic() - killed
            await place(5)

            def settled() -> bool:
                return all(
                    (o := remote.orders.get(oid)) is not None and o.status is OrderStatus.FILLED
                    for oid in placed
                )

            def unsettled() -> str:
                missing = {
                    oid: getattr(remote.orders.get(oid), "status", None)
                    for oid in placed
                    if (o := remote.orders.get(oid)) is None or o.status is not OrderStatus.FILLED
                }
                return f"every order filled at the consumer; missing {missing}"

            # generous: a loaded CI machine is slow; a lost order never arrives however long
            await wait_for(settled, timeout=30, what=unsettled)
            execs = {e.execution_id for e in sim.gateway.book.executions if e.order_id in placed}
            await wait_for(lambda: execs <= set(remote.trades), timeout=30, what="every fill")
            held = sim.gateway.book.positions[AAPL].quantity  # what the account holds now
            await wait_for(
                lambda: remote.positions.quantity(AAPL) == held,
                timeout=30,
                what=lambda: f"position {held}, consumer has {remote.positions.quantity(AAPL)}",
            )
            copies: Counter[tuple[str, bool]] = Counter()
            while (ev := trades.get_nowait()) is not None:
                if isinstance(ev, Trade):
                    copies[(ev.execution_id, ev.commission is not None)] += 1
            got = {x for x, _ in copies}
            fills_lost = len(execs - got)
            ours = {t.execution_id for oid in placed for t in remote.trades.for_order(oid)}
            orders_lost = sum(1 for oid in placed if not remote.trades.for_order(oid))
            duplicated = sum(n - 1 for n in copies.values() if n > 1)
            print(
                f"\nfailover ({bus_url.split(':')[0]}): takeover {takeover:.2f} s, "
                f"orders {len(placed)}, fills {len(ours)}, orders lost {orders_lost}, "
                f"fills lost {fills_lost}, duplicated after dedupe {duplicated}, "
                f"peak gateway sessions {sim.gateway.peak_connections}, "
                f"stale rejected {remote.metrics()['stale_rejected']}, "
                f"position {remote.positions.quantity(AAPL):g} (account {held:g})"
            )
            assert orders_lost == 0 and fills_lost == 0 and duplicated == 0
            assert sim.gateway.peak_connections == 1  # never two sessions at once
            assert remote.metrics()["gaps_failover"] >= 1  # the new leader shows as a Gap
            assert takeover < 5.0
    finally:
        for proc in (a, b):
            if proc is not None and proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    async with asyncio.timeout(10):
                        await proc.wait()
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
