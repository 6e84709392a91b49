"""A placement whose response is lost never yields two orders: 1,000 placements with random
faults at random steps, against the simulator's order entry model in process (fast, bounded).

Set ``IBSTREAM_DUPLICATE_RUNS`` to change the number of runs (default 1,000).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter

from ibstream.aio.client import ClientConfig, StreamClient
from ibstream.orders import OrderRequest, OrderStateUnknown, PromptPolicy, TradingConfig
from ibstream.sim import SimConfig, Simulator
from ibstream.sim.entry import FAULT_KINDS, Reply

from .inprocess import InProcessRest

AAPL = 265598
RUNS = int(os.environ.get("IBSTREAM_DUPLICATE_RUNS", "1000"))
STEPS = ("place", "reply", "orders")
KINDS = tuple(k for k in FAULT_KINDS if k != "disconnect")


def _in_process(seed: int) -> tuple[Simulator, InProcessRest, StreamClient]:
    """A simulator's order entry called in process, and a client with trading on over it."""
    sim = Simulator(SimConfig(port=0, tls=False, seed=seed, rate_limit=None))
    rest = InProcessRest(sim.entry)
    config = TradingConfig(enabled=True, account="DU1234567", lookup_delay=0.0)
    return sim, rest, StreamClient(rest=rest, config=ClientConfig(trading=config))


async def test_lost_responses_never_yield_two_orders() -> None:
    """Random fault points (lost response, dropped request, 500 before/after, timeout) at the
    placement, the confirmations and the lookups: every cOID exists at most once; a placement
    that returned has exactly one order with that id."""
    sim = Simulator(SimConfig(port=0, tls=False, seed=11, rate_limit=None))
    entry = sim.entry
    entry.force_blank = True  # the documented quirk: a force=true lookup may come back empty
    rest = InProcessRest(entry)
    config = ClientConfig(
        trading=TradingConfig(
            enabled=True, account="DU1234567", lookup_delay=0.0, settle_lookups=2, max_posts=3
        )
    )
    client = StreamClient(rest=rest, config=config)
    rng = random.Random(20261129)
    outcomes: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    placed_ok: dict[str, int] = {}
    book: dict[str, int] = {}
    started = time.perf_counter()
    for run in range(RUNS):
        entry.clear_faults()
        entry.extra_prompts = [(f"p{i}", f"Question {i}?") for i in range(rng.randint(0, 2))]
        for _ in range(rng.randint(1, 3)):
            step, kind = rng.choice(STEPS), rng.choice(KINDS)
            entry.add_fault(step, kind, count=1, seconds=5.0)
            faults[f"{step}:{kind}"] += 1
        last = sim.last_price(AAPL)
        order = OrderRequest.limit(AAPL, "BUY", 1, round(last * 0.99, 2), coid=f"dup-{run}")
        try:
            handle = await client.trading.place(order, prompts=PromptPolicy(accept=["p0", "p1"]))
        except OrderStateUnknown:
            outcomes["unknown"] += 1
        else:
            outcomes["placed"] += 1
            placed_ok[handle.coid] = handle.order_id
            handle.close()
        # Count this run's orders, then retire them so the live-order list stays short (the
        # lookups would otherwise make the run quadratic); cOIDs stay registered at the model.
        mine = [o for o in sim.gateway.book.orders.values() if o.coid == order.coid]
        book[order.coid] = len(mine)
        for o in mine:
            o.status = "Cancelled"
            del sim.gateway.book.orders[o.order_id]
    elapsed = time.perf_counter() - started
    per_coid = entry.counters.per_coid
    duplicates = sum(1 for n in per_coid.values() if n > 1)
    print(
        f"\nduplicate check: {RUNS} placements with {sum(faults.values())} faults in "
        f"{elapsed:.1f}s: placed={outcomes['placed']} unknown={outcomes['unknown']} "
        f"orders={sum(book.values())} duplicates={duplicates}"
    )
    assert duplicates == 0
    assert all(n <= 1 for n in book.values())
    assert all(book[coid] == 1 for coid in placed_ok)
    for coid, order_id in placed_ok.items():
        assert entry.coids[("DU1234567", coid)] == order_id
    assert outcomes["placed"] + outcomes["unknown"] == RUNS
    # Every fault kind hit every step at least once, and most placements still succeeded.
    assert len(faults) == len(STEPS) * len(KINDS)
    assert outcomes["placed"] > RUNS * 0.9
    await sim.gateway.stop()


async def test_session_lost_while_reconciling_is_unknown_never_reposted() -> None:
    """The answer is lost and then the session goes: the lookups cannot see the order, so the
    placement ends OrderStateUnknown (carrying the cOID) - never a second post."""
    sim, rest, client = _in_process(seed=12)
    sim.entry.add_fault("place", "lose_response")
    real_handle = sim.entry.handle

    def handle(method: str, path: str, query: dict[str, str], body: object) -> object:
        reply = real_handle(method, path, query, body)
        sim.gateway.logged_in = False  # logged out right after the placement
        return reply

    sim.entry.handle = handle  # type: ignore[method-assign,assignment]
    order = OrderRequest.limit(AAPL, "BUY", 1, round(sim.last_price(AAPL) * 0.99, 2), coid="gone-1")
    try:
        await client.trading.place(order)
    except OrderStateUnknown as exc:
        assert exc.coids == ("gone-1",)
    else:  # pragma: no cover
        raise AssertionError("expected OrderStateUnknown")
    assert sim.entry.counters.per_coid == {"gone-1": 1}
    assert [c for c in rest.calls if c[0] == "POST"] == [
        ("POST", "/iserver/account/DU1234567/orders")
    ]
    await sim.gateway.stop()


async def test_unreadable_success_is_looked_up_not_taken_for_a_refusal() -> None:
    """An HTTP 200 answer the client cannot read (here an entry without ``order_id``) after the
    gateway placed the order is an unknown outcome, not a rejection: the cOID is looked up
    and the placement returns the order - a caller told "rejected" would place it again."""
    sim, _, client = _in_process(seed=13)
    real_handle = sim.entry.handle

    def handle(method: str, path: str, query: dict[str, str], body: object) -> Reply:
        reply = real_handle(method, path, query, body)
        if method == "POST" and path.endswith("/orders"):  # placed, then an odd answer
            return Reply(200, [{"order_status": "PreSubmitted", "local_order_id": "odd-1"}])
        return reply

    sim.entry.handle = handle  # type: ignore[method-assign]
    order = OrderRequest.limit(AAPL, "BUY", 1, round(sim.last_price(AAPL) * 0.99, 2), coid="odd-1")
    placed = await client.trading.place(order)
    assert placed.order_id == sim.entry.coids[("DU1234567", "odd-1")]
    assert sim.entry.counters.per_coid == {"odd-1": 1}
    placed.close()
    await sim.gateway.stop()
