"""OrderBook: merging sor entries (protocol.md §4.4) and the REST seed."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from state_builders import sor

from ibstream.state import Order, OrderBook, OrderStatus, normalize_order_status

# protocol.md §4.4: an order placed and cancelled via REST (S9 sor.jsonl).
FULL: dict[str, Any] = {
    "acct": "U25235077",
    "conidex": "265598",
    "conid": 265598,
    "account": "U25235077",
    "orderId": 912091175,
    "cashCcy": "USD",
    "sizeAndFills": "0/1",
    "orderDesc": "Buy 1 AAPL Limit 1.00, Day",
    "description1": "AAPL",
    "ticker": "AAPL",
    "secType": "STK",
    "listingExchange": "NASDAQ.NMS",
    "remainingQuantity": 1.0,
    "filledQuantity": 0.0,
    "totalSize": 1.0,
    "companyName": "APPLE INC",
    "status": "Inactive",
    "order_ccp_status": "Pending Submit",
    "outsideRTH": False,
    "origOrderType": "LIMIT",
    "supportsTaxOpt": "1",
    "lastExecutionTime": "260430123533",
    "orderType": "Limit",
    "bgColor": "#000000",
    "fgColor": "#AFAFAF",
    "isEventTrading": "0",
    "price": "1.00",
    "timeInForce": "CLOSE",
    "lastExecutionTime_r": 1777552533000,
    "side": "BUY",
}
LIFE_CYCLE: list[dict[str, Any]] = [
    FULL,
    {
        "acct": "U25235077",
        "conidex": "265598",
        "conid": 265598,
        "orderId": 912091175,
        "isEventTrading": "0",
    },
    {"acct": "U25235077", "orderId": 912091175, "status": "PendingSubmit", "fgColor": "#3399CC"},
    {
        "acct": "U25235077",
        "orderId": 912091175,
        "status": "PreSubmitted",
        "bgColor": "#FFFFFF",
        "fgColor": "#997EE5",
    },
    {
        "acct": "U25235077",
        "orderId": 912091175,
        "status": "Submitted",
        "order_ccp_status": "Submitted",
        "bgColor": "#000000",
        "fgColor": "#00F000",
    },
    {**FULL, "status": "PendingCancel", "order_ccp_status": "Submitted", "fgColor": "#FF64FF"},
    {
        "acct": "U25235077",
        "orderId": 912091175,
        "status": "Cancelled",
        "order_ccp_status": "Cancelled",
        "bgColor": "#FFFFFF",
        "fgColor": "#AA0000",
    },
]
# protocol.md §4.4: partial fills, three entries for one order in one frame (S3/S4).
PARTIAL_FILLS: list[dict[str, Any]] = [
    {
        "acct": "DU1234",
        "orderId": 352055828,
        "sizeAndFills": "100/622",
        "remainingQuantity": 622.0,
        "filledQuantity": 100.0,
        "avgPrice": "382.45",
    },
    {
        "acct": "DU1234",
        "orderId": 352055828,
        "sizeAndFills": "700/22",
        "remainingQuantity": 22.0,
        "filledQuantity": 700.0,
    },
    {
        "acct": "DU1234",
        "orderId": 352055828,
        "sizeAndFills": "722",
        "orderDesc": "Sold 722 Limit 382.40 GTC",
        "remainingQuantity": 0.0,
        "filledQuantity": 722.0,
        "status": "Filled",
        "timeInForce": "GTC",
        "price": 382.4,
        "bgColor": "#FFFFFF",
        "fgColor": "#000000",
    },
]


def test_recorded_life_cycle_placed_and_cancelled() -> None:
    """The S9 life cycle ends in one cancelled order, colour noise absent."""
    book = OrderBook()
    statuses = []
    for entry in LIFE_CYCLE:
        book.apply(sor(entry))
        statuses.append(book[912091175].status)
    assert statuses == [
        OrderStatus.INACTIVE,
        OrderStatus.INACTIVE,
        OrderStatus.PENDING_SUBMIT,
        OrderStatus.PRE_SUBMITTED,
        OrderStatus.SUBMITTED,
        OrderStatus.PENDING_CANCEL,
        OrderStatus.CANCELLED,
    ]
    order = book.get(912091175)
    assert order is not None
    assert order == dataclasses.replace(order)  # plain frozen dataclass
    assert (order.account, order.conid, order.symbol, order.side) == (
        "U25235077",
        265598,
        "AAPL",
        "BUY",
    )
    assert (order.order_type, order.price, order.total_size) == ("Limit", 1.0, 1.0)
    assert (order.filled, order.remaining, order.avg_price) == (0.0, 1.0, None)
    assert order.time_in_force == "DAY"  # reported as CLOSE, described as "..., Day"
    assert order.last_execution_ms == 1777552533000
    assert order.description == "Buy 1 AAPL Limit 1.00, Day"
    assert order.terminal and not order.is_open
    assert order.fields["order_ccp_status"] == "Cancelled"
    assert "bgColor" not in order.fields and "fgColor" not in order.fields
    assert order.update_count == len(LIFE_CYCLE)
    assert book.open_orders() == [] and book.terminal_orders() == [order]
    assert repr(book) == (
        "<OrderBook orders=1 open=0 max_terminal=10000 applied=7 ignored=0 evicted=0 late=0>"
    )


def test_first_inactive_is_not_terminal() -> None:
    """The life cycle opens with Inactive/Pending Submit: still being submitted, so open."""
    book = OrderBook()
    order = book.apply(sor(FULL))
    assert order is not None and order.status is OrderStatus.INACTIVE and order.is_open
    assert book.open_orders() == [order]
    # The marker entry changes nothing.
    assert book.apply(sor(LIFE_CYCLE[1])) is None
    assert book.apply(sor({"acct": "U25235077", "orderId": 912091175, "fgColor": "#1"})) is None


def test_inactive_after_working_is_a_rejection() -> None:
    book = OrderBook()
    book.apply(sor({**FULL, "status": "Submitted"}))
    order = book.apply(sor({"acct": "U25235077", "orderId": 912091175, "status": "Inactive"}))
    assert order is not None and order.terminal


def test_inactive_with_final_ccp_status_is_terminal() -> None:
    """A REST-loaded Inactive order whose ccp status is not pending is a rejection."""
    book = OrderBook()
    order = book.apply(sor({**FULL, "order_ccp_status": "Rejected"}))
    assert order is not None and order.terminal
    order = book.apply(sor({**FULL, "orderId": 1, "order_ccp_status": None}))
    assert order is not None and not order.terminal


def test_partial_fills_in_one_frame() -> None:
    """Entries apply in arrival order; later values override, absent ones are kept."""
    book = OrderBook()
    changed = book.apply_all(sor(entry) for entry in PARTIAL_FILLS)
    assert len(changed) == 1
    order = changed[0]
    assert order is book[352055828]
    assert order.status is OrderStatus.FILLED and order.terminal
    assert (order.filled, order.remaining) == (722.0, 0.0)
    assert order.avg_price == 382.45  # from the first entry, kept
    assert order.price == 382.4
    assert order.time_in_force == "GTC"
    assert order.fields["sizeAndFills"] == "722"
    assert order.account == "DU1234"
    assert order.conid is None and order.side is None
    assert "bgColor" not in order.fields


def test_load_rest_seeds_the_book() -> None:
    """GET /iserver/account/orders seeds the book; sor deltas then merge into it."""
    book = OrderBook()
    payload = {
        "orders": [
            FULL,
            {**PARTIAL_FILLS[0], "status": "Submitted"},
            "junk",
            {"status": "Submitted"},
        ],
        "snapshot": True,
    }
    seeded = book.load_rest(payload)
    assert [o.order_id for o in seeded] == [912091175, 352055828]
    assert book.updates_ignored == 2
    assert "bgColor" not in book[912091175].fields
    assert book[912091175].fields["price"] == 1.0  # normalised like OrderUpdate.changes
    assert book[912091175].fields["sizeAndFills"] == "0/1"
    assert book.load_rest([FULL]) == []  # same content: nothing changed
    assert book.load_rest({"orders": None}) == []
    book.apply(sor(PARTIAL_FILLS[2]))
    assert book[352055828].status is OrderStatus.FILLED
    assert [o.order_id for o in book.open_orders()] == [912091175]


def test_a_stale_rest_reload_never_revives_a_finished_order() -> None:
    """The REST order list is cached and can be older than the stream (the reload after a
    reconnect races the sor frames): an order the stream saw filled or cancelled stays so, and
    only keys the stream never carried are learnt from it."""
    book = OrderBook()
    book.apply_all(sor(entry) for entry in PARTIAL_FILLS)
    stale = {**PARTIAL_FILLS[0], "status": "Submitted", "order_ref": "c-1"}
    book.load_rest({"orders": [stale]})
    order = book[352055828]
    assert order.status is OrderStatus.FILLED and order.terminal
    assert (order.filled, order.remaining) == (722.0, 0.0)
    assert order.fields["order_ref"] == "c-1"
    for entry in LIFE_CYCLE:
        book.apply(sor(entry))
    assert book[912091175].status is OrderStatus.CANCELLED
    book.load_rest([FULL])  # the list as it was before the order was even submitted
    assert book[912091175].status is OrderStatus.CANCELLED and book[912091175].terminal
    assert book.open_orders() == []


def test_marker_for_unknown_order_is_ignored() -> None:
    book = OrderBook()
    assert book.apply(sor(LIFE_CYCLE[1])) is None
    assert len(book) == 0 and book.updates_ignored == 1


def test_account_filter() -> None:
    book = OrderBook(account="DU1234")
    assert book.apply(sor(FULL)) is None
    assert book.apply(sor(PARTIAL_FILLS[0])) is not None
    assert list(book) == [352055828]
    assert repr(book).startswith("<OrderBook DU1234 orders=1 open=1")


def test_lookups_and_pruning() -> None:
    book = OrderBook()
    for entry in LIFE_CYCLE + PARTIAL_FILLS:
        book.apply(sor(entry))
    book.apply(sor({**FULL, "orderId": 7, "status": "Submitted"}))
    assert [o.order_id for o in book.for_conid(265598)] == [912091175, 7]
    assert [o.order_id for o in book.orders()] == [912091175, 352055828, 7]
    assert book.get(404) is None
    assert book.prune_terminal() == 2
    assert list(book) == [7]
    removed = book.remove(7)
    assert isinstance(removed, Order) and book.remove(7) is None
    book.apply(sor(FULL))
    book.clear()
    assert len(book) == 0


def test_snapshot_is_cached_until_change() -> None:
    book = OrderBook()
    book.apply(sor(FULL))
    first = book[912091175]
    assert book[912091175] is first
    book.apply(sor({"acct": "U25235077", "orderId": 912091175, "status": "Submitted"}))
    assert book[912091175] is not first and first.status is OrderStatus.INACTIVE
    with pytest.raises(TypeError):
        first.fields["status"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("PreSubmitted", OrderStatus.PRE_SUBMITTED),
        ("Pending Submit", OrderStatus.PENDING_SUBMIT),
        ("pending_cancel", OrderStatus.PENDING_CANCEL),
        ("filled", OrderStatus.FILLED),
        ("Canceled", OrderStatus.CANCELLED),
        ("ApiCancelled", OrderStatus.API_CANCELLED),
        ("inactive", OrderStatus.INACTIVE),
        ("WarnState", OrderStatus.UNKNOWN),
        (OrderStatus.FILLED, OrderStatus.FILLED),
        ("", None),
        (None, None),
    ],
)
def test_normalize_order_status(raw: object, expected: OrderStatus | None) -> None:
    assert normalize_order_status(raw) is expected


def test_odd_value_types_become_none() -> None:
    """Typed fields tolerate wrong types instead of raising."""
    book = OrderBook()
    order = book.apply(
        sor(
            {
                "orderId": 5,
                "price": "n/a",
                "totalSize": True,
                "filledQuantity": [1],
                "lastExecutionTime_r": "1777552533000",
                "side": "",
                "status": "Submitted",
            }
        )
    )
    assert order is not None
    assert (order.price, order.total_size, order.filled) == (None, None, None)
    assert order.last_execution_ms == 1777552533000
    assert order.side is None


def test_colour_noise_never_merged_and_batch_skips_ignored() -> None:
    """Even an OrderUpdate built by hand with colours keeps them out of the record."""
    book = OrderBook()
    event = sor(FULL)
    noisy = dataclasses.replace(event, changes={**event.changes, "bgColor": "#000000"})
    changed = book.apply_all([noisy, "not an order", sor(LIFE_CYCLE[1])])
    assert len(changed) == 1 and "bgColor" not in changed[0].fields


def test_day_order_reported_as_close_reads_day() -> None:
    """The gateway says ``timeInForce: "CLOSE"`` for a DAY order outside regular hours until a
    fill update says ``DAY``: the order's description ("..., Day") decides."""
    book = OrderBook()
    order = book.apply(
        sor(
            {
                "acct": "DU1",
                "orderId": 5,
                "orderDesc": "Buy 1 AAPL Limit 1.00, Day",
                "timeInForce": "CLOSE",
                "status": "Submitted",
            }
        )
    )
    assert order is not None and order.time_in_force == "DAY"
    assert order.fields["timeInForce"] == "CLOSE"  # the raw value is kept
    moc = book.apply(
        sor({"acct": "DU1", "orderId": 6, "orderDesc": "Sell 1 AAPL MOC", "timeInForce": "CLOSE"})
    )
    assert moc is not None and moc.time_in_force == "CLOSE"
