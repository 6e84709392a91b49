"""One-off queries get the current value, not only what some subscriber happened to bring in.

A ``tickers(conids: [...])`` or ``pnl`` query for a stream nobody holds opens a short-lived hub
consumer on it (sharing the upstream stream like any consumer), waits until the live state has
what the query asks for (at most :data:`QUERY_WAIT` seconds), and lets it go: the hub's grace
period then keeps the stream a few seconds, so a query repeated soon is answered at once.
``orders`` nobody streams are read from the gateway's order list (REST, a snapshot) into the
order book. When the value cannot be had in time, the query fails with a GraphQL error that
says what is missing and why; it never answers ``[]`` for "unknown".
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterable

from ibstream.exceptions import IBStreamError
from ibstream.protocol.lifecycle import SubscriptionState
from ibstream.protocol.specs import MarketDataSpec, OrdersSpec, Spec
from ibstream.service import limits
from ibstream.service.hub import Hub
from ibstream.service.queue import QueueClosed, QueueOverflow

__all__ = [
    "MAX_QUERY_WAIT",
    "ORDERS_FRESH",
    "QUERY_WAIT",
    "QueryUnavailable",
    "ensure_orders",
    "ensure_streams",
    "market_data_specs",
]

QUERY_WAIT = 5.0
"""Seconds a one-off query waits for a stream nobody holds to bring its first value."""

ORDERS_FRESH = 2.0
"""Seconds one read of the gateway's order list answers ``orders`` queries for."""

# Per hub: when the last order-list read started, and the read (shared by concurrent queries).
_ORDER_READS: weakref.WeakKeyDictionary[Hub, tuple[float, asyncio.Task[None]]] = (
    weakref.WeakKeyDictionary()
)

MAX_QUERY_WAIT = 30.0
"""The longest ``wait`` a query may ask for."""

_FAILED = (SubscriptionState.REJECTED, SubscriptionState.FAILED)


class QueryUnavailable(IBStreamError):
    """A one-off query could not get the current value (shown as a GraphQL error)."""


async def ensure_streams(
    hub: Hub,
    specs: Iterable[Spec],
    ready: Callable[[], bool],
    what: str,
    *,
    wait: float = QUERY_WAIT,
) -> None:
    """Return once ``ready()`` holds, holding ``specs``' streams meanwhile if nobody does.

    Raises:
        QueryUnavailable: not ready after ``wait`` seconds, or a stream was refused upstream.
    """
    if not (isinstance(wait, int | float) and 0 <= wait <= MAX_QUERY_WAIT):
        raise QueryUnavailable(f"wait: must be 0..{MAX_QUERY_WAIT:g} seconds, got {wait!r}")
    if ready():
        return
    if not hub.authenticated:
        raise QueryUnavailable(f"{what}: the gateway session is not authenticated")
    specs = list(specs)
    limits.check_request(hub, len(specs))  # the service's limits apply to queries too
    consumer = hub.open_consumer("query", wants_bytes=False, session_events=False, maxsize=64)
    try:
        keys = [
            hub.attach(consumer, limits.check_attach(hub, consumer, spec), snapshot=False).key
            for spec in specs
        ]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while not ready():  # checked after each event the stream brings (state applied first)
            refused = [k for k in keys if hub.subscription_state(k) in _FAILED]
            if refused:
                names = ", ".join(str(k) for k in refused)
                raise QueryUnavailable(f"{what}: the gateway refused {names}")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise QueryUnavailable(f"{what}: no value from the gateway within {wait:g} s")
            try:
                await asyncio.wait_for(consumer.queue.get(), remaining)
            except TimeoutError:
                continue
            except (QueueClosed, QueueOverflow) as exc:
                raise QueryUnavailable(f"{what}: the service stopped the query ({exc!r})") from None
    finally:
        hub.close_consumer(consumer, "one-off query answered")


async def ensure_orders(hub: Hub) -> None:
    """Make the order book current: nothing to do while the orders stream is live (the client
    seeded it from REST and ``sor`` keeps it current); otherwise read the gateway's order list.

    One read serves every query within :data:`ORDERS_FRESH` seconds, and concurrent queries
    share the read in flight: queries never push the session into the gateway's rate limit."""
    if hub.is_live(OrdersSpec().key):
        return
    if not hub.authenticated:
        raise QueryUnavailable("orders: the gateway session is not authenticated")
    loop = asyncio.get_running_loop()
    held = _ORDER_READS.get(hub)
    if held is None or (held[1].done() and loop.time() - held[0] >= ORDERS_FRESH):
        held = (loop.time(), loop.create_task(_read_orders(hub)))
        _ORDER_READS[hub] = held
    await asyncio.shield(held[1])


async def _read_orders(hub: Hub) -> None:
    client = hub.client
    try:
        orders = await client.rest.orders(force=True)
    except IBStreamError as exc:
        raise QueryUnavailable(f"orders: the gateway's order list failed: {exc}") from None
    client.orders.load_rest(orders)


def market_data_specs(conids: Iterable[int]) -> list[Spec]:
    """The market-data specs a ``tickers`` query holds for ``conids``."""
    return [MarketDataSpec(c) for c in conids]
