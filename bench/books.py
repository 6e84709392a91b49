"""Memory of the order book: bytes per kept order, and a bounded book staying flat.

Usage: ``python bench/books.py [--orders N] [--bound K]``

Each order goes through a short life cycle like the recorded ones (protocol.md §4.4): a full
``sor`` record (Submitted), a partial-fill delta, then the fill to ``Filled`` with new
``avgPrice``/``orderDesc``. Entries are decoded from JSON text one by one, as off the wire, so the
book owns its values, and every change builds the order's snapshot, as the client's router does.
Measured with tracemalloc (Python heap only, no interpreter overhead):

* an unbounded book (``max_terminal=None``) after N orders: bytes per order, book and snapshots;
* a book bounded to K terminal orders fed R rounds of K orders: the heap after each round. It
  grows with the kept orders up to K, then a little more while the book fills its memory of
  evicted ids (``max(K, DEFAULT_MAX_TERMINAL_ORDERS)`` of them), then stays flat; the last line
  is ``bounded_growth_after_bound: <ratio>``, the heap after the last round over the heap after
  the round that filled both (1.00 is flat).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ibstream.protocol.decoding import order_changes
from ibstream.protocol.events import OrderUpdate
from ibstream.protocol.specs import StreamKey, Topic
from ibstream.state import DEFAULT_MAX_TERMINAL_ORDERS, OrderBook

ACCT = "U1234567"
KEY = StreamKey(Topic.ORDERS, "")
FULL: dict[str, Any] = {
    "acct": ACCT,
    "conidex": "265598",
    "conid": 265598,
    "account": ACCT,
    "cashCcy": "USD",
    "sizeAndFills": "0/100",
    "orderDesc": "Buy 100 AAPL Limit 190.00, Day",
    "description1": "AAPL",
    "ticker": "AAPL",
    "secType": "STK",
    "listingExchange": "NASDAQ.NMS",
    "remainingQuantity": 100.0,
    "filledQuantity": 0.0,
    "totalSize": 100.0,
    "companyName": "APPLE INC",
    "status": "Submitted",
    "order_ccp_status": "Submitted",
    "outsideRTH": False,
    "origOrderType": "LIMIT",
    "supportsTaxOpt": "1",
    "lastExecutionTime": "260430123533",
    "orderType": "Limit",
    "bgColor": "#000000",
    "fgColor": "#00F000",
    "isEventTrading": "0",
    "price": "190.00",
    "timeInForce": "DAY",
    "lastExecutionTime_r": 1777552533000,
    "side": "BUY",
}


def life_cycle(order_id: int) -> list[dict[str, Any]]:
    t = 1777552534000 + order_id
    return [
        {**FULL, "orderId": order_id},
        {
            "acct": ACCT,
            "orderId": order_id,
            "sizeAndFills": "40/60",
            "remainingQuantity": 60.0,
            "filledQuantity": 40.0,
            "avgPrice": "189.99",
            "lastExecutionTime_r": t,
        },
        {
            "acct": ACCT,
            "orderId": order_id,
            "sizeAndFills": "100",
            "remainingQuantity": 0.0,
            "filledQuantity": 100.0,
            "status": "Filled",
            "avgPrice": "189.995",
            "orderDesc": "Bought 100 AAPL Limit 190.00, Day",
            "lastExecutionTime_r": t + 1000,
        },
    ]


def updates(first: int, count: int) -> Iterator[OrderUpdate]:
    """The entries of ``count`` orders, each decoded from its own JSON text."""
    for order_id in range(first, first + count):
        for text in map(json.dumps, life_cycle(order_id)):
            entry = json.loads(text)
            yield OrderUpdate(
                key=KEY,
                account=entry.get("acct"),
                order_id=entry["orderId"],
                conid=entry.get("conid"),
                status=entry.get("status"),
                changes=order_changes(entry),
                raw={},
            )


def heap() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000, help="orders in the unbounded book")
    parser.add_argument("--bound", type=int, default=2_000, help="max_terminal of the bounded one")
    parser.add_argument("--rounds", type=int, default=8, help="rounds of --bound orders")
    args = parser.parse_args()
    if args.orders < 1 or args.bound < 1 or args.rounds < 1:
        parser.error("--orders, --bound and --rounds must be positive")
    tracemalloc.start()

    base = heap()
    book = OrderBook(max_terminal=None)
    for update in updates(1_000_000, args.orders):
        book.apply(update)
    per_order = (heap() - base) / len(book)
    print(f"unbounded: {len(book):,} orders, {per_order:,.0f} bytes per order")
    del book

    base = heap()
    bounded = OrderBook(max_terminal=args.bound)
    full_at: int | None = None  # the heap once the bound and the memory of evicted ids are full
    for step in range(args.rounds):
        for update in updates(2_000_000 + step * args.bound, args.bound):
            bounded.apply(update)
        size = heap() - base
        if full_at is None and bounded.evicted >= max(args.bound, DEFAULT_MAX_TERMINAL_ORDERS):
            full_at = size
        print(
            f"bounded to {args.bound:,}: after {(step + 1) * args.bound:,} orders "
            f"{size / 1e6:.2f} MB, {len(bounded):,} kept, {bounded.evicted:,} evicted"
        )
    if full_at is not None:
        print(f"bounded_growth_after_bound: {size / full_at:.2f}")
    else:
        print("bounded_growth_after_bound: n/a (more --rounds: the id memory is not full yet)")


if __name__ == "__main__":
    main()
