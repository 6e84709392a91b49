"""OrderBook retention: the bound on terminal orders, late entries of forgotten orders, copy()
and the snapshot sharing its record's fields."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from state_builders import sor

from ibstream.exceptions import InvalidArgument
from ibstream.state import DEFAULT_MAX_TERMINAL_ORDERS, Order, OrderBook, OrderStatus

ACCT = "DU1234"


def entry(order_id: int, status: str | None = None, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"acct": ACCT, "orderId": order_id, **fields}
    if status is not None:
        out["status"] = status
    return out


def placed(order_id: int) -> dict[str, Any]:
    return entry(order_id, "Submitted", conid=265598, side="BUY", totalSize=1.0, price=1.0)


def feed(book: OrderBook, *entries: dict[str, Any]) -> None:
    for e in entries:
        book.apply(sor(e))


def test_default_bound_and_argument_checks() -> None:
    assert OrderBook().max_terminal == DEFAULT_MAX_TERMINAL_ORDERS
    assert OrderBook(max_terminal=None).max_terminal is None
    for bad in (0, -1, True, 1.5, "10"):
        with pytest.raises(InvalidArgument, match="max_terminal"):
            OrderBook(max_terminal=bad)  # type: ignore[arg-type]


def test_oldest_terminal_evicted_first_working_kept() -> None:
    """The order that became terminal longest ago goes, not the one that appeared first."""
    book = OrderBook(max_terminal=2)
    feed(book, placed(1), placed(2), placed(3), placed(4))
    feed(book, entry(2, "Filled"), entry(1, "Cancelled"), entry(3, "Filled"))
    assert list(book) == [1, 3, 4] and book.evicted == 1 and book.forgotten(2)
    assert not book.forgotten(1) and not book.forgotten(404)
    assert [o.order_id for o in book.open_orders()] == [4]
    assert [o.order_id for o in book.terminal_orders()] == [1, 3]
    assert repr(book) == (
        f"<OrderBook orders=3 open=1 max_terminal=2 applied={book.updates_applied} "
        "ignored=0 evicted=1 late=0>"
    )


def test_many_working_orders_never_evicted() -> None:
    book = OrderBook(max_terminal=1)
    feed(book, *(placed(i) for i in range(50)))
    feed(book, *(entry(i, "Filled") for i in range(50, 60)))  # unknown ids: new terminal ones
    assert len(book.open_orders()) == 50 and len(book.terminal_orders()) == 1
    assert book.evicted == 9 and list(book)[:50] == list(range(50))


def test_late_fields_kept_within_bound_without_refreshing_age() -> None:
    """Commission/fill fields after Filled are merged while the order is kept, and do not make
    it younger: it is still the first to go."""
    book = OrderBook(max_terminal=2)
    feed(book, placed(1), placed(2), entry(1, "Filled"), entry(2, "Filled"))
    order = book.apply(sor(entry(1, avgPrice=1.5, commission="0.35")))
    assert order is not None and order.terminal and order.fields["commission"] == "0.35"
    feed(book, placed(3), entry(3, "Cancelled"))
    assert list(book) == [2, 3] and book.evicted == 1


def test_reversed_terminal_status_is_working_until_it_ends_again() -> None:
    """An entry that says Submitted after Filled (out of order) makes the order working: it is
    not evicted, and when it ends again it is the youngest terminal order."""
    book = OrderBook(max_terminal=1)
    feed(book, placed(1), entry(1, "Filled"), entry(1, "Submitted"))
    assert book[1].is_open
    feed(book, placed(2), entry(2, "Filled"), placed(3), entry(3, "Cancelled"))
    assert list(book) == [1, 3] and book[1].is_open and book.evicted == 1
    feed(book, entry(1, "Cancelled"))
    assert list(book) == [1] and book.forgotten(3) and book.evicted == 2


def test_inactive_while_pending_submit_is_working_then_rejection_terminal() -> None:
    book = OrderBook(max_terminal=1)
    feed(book, entry(1, "Inactive", order_ccp_status="Pending Submit", conid=1))
    feed(book, entry(2, "Inactive", order_ccp_status="Pending Submit", conid=1))
    assert len(book.open_orders()) == 2 and book.evicted == 0
    feed(book, entry(1, "Submitted"), entry(1, "Inactive"), entry(2, "Cancelled"))
    assert list(book) == [2] and book.forgotten(1)


def test_late_entries_of_an_evicted_order_are_ignored_and_counted() -> None:
    book = OrderBook(max_terminal=1)
    feed(book, placed(1), entry(1, "Filled"), placed(2), entry(2, "Filled"))
    assert list(book) == [2]
    # a commission delta, a marker, a repeated terminal status: none comes back as an order
    assert book.apply(sor(entry(1, commission="0.35"))) is None
    assert book.apply(sor(entry(1, conid=265598))) is None
    assert book.apply(sor(entry(1, "Filled", filledQuantity=1.0))) is None
    assert book.load_rest({"orders": [placed(1) | {"status": "Filled"}], "snapshot": True}) == []
    assert list(book) == [2] and book.late_updates == 4 and book.updates_ignored == 4
    assert repr(book).endswith("ignored=4 evicted=1 late=4>")
    # an entry that says it works again brings it back, as a new record
    order = book.apply(sor(entry(1, "PreSubmitted")))
    assert order is not None and order.is_open and order.update_count == 1
    assert order.fields == {"acct": ACCT, "orderId": 1, "status": "PreSubmitted"}
    assert not book.forgotten(1) and list(book) == [2, 1]


def test_a_stale_rest_list_never_brings_back_an_evicted_order() -> None:
    """The gateway's order list is cached and may still say ``Submitted`` for an order the
    stream saw filled and the book since evicted: only the stream brings an order back."""
    book = OrderBook(max_terminal=1)
    feed(book, placed(1), entry(1, "Filled"), placed(2), entry(2, "Filled"))
    stale = {"orders": [placed(1) | {"status": "Submitted"}], "snapshot": True}
    assert book.load_rest(stale) == []
    assert list(book) == [2] and book.forgotten(1) and book.late_updates == 1


def test_pruned_ids_remembered_removed_ids_not() -> None:
    book = OrderBook(max_terminal=None)
    feed(book, placed(1), entry(1, "Filled"), placed(2), entry(2, "Cancelled"), placed(3))
    assert book.prune_terminal() == 2 and list(book) == [3] and book.evicted == 0
    assert book.forgotten(1) and book.apply(sor(entry(1, commission="1"))) is None
    feed(book, entry(3, "Filled"))
    assert book.remove(3) is not None and not book.forgotten(3)
    assert book.apply(sor(entry(3, commission="1"))) is not None  # merged like a new order
    book.clear()
    assert len(book) == 0 and book.forgotten(2)  # clear() keeps the memory of forgotten ids


def test_memory_of_forgotten_ids_is_bounded() -> None:
    book = OrderBook(max_terminal=1)
    total = DEFAULT_MAX_TERMINAL_ORDERS + 3
    feed(book, *(entry(i, "Filled") for i in range(total)))
    assert book.evicted == total - 1 and len(book) == 1
    assert len(book._retired) == DEFAULT_MAX_TERMINAL_ORDERS
    assert not book.forgotten(0) and not book.forgotten(1) and book.forgotten(2)


def test_batches_return_orders_evicted_within_the_batch() -> None:
    book = OrderBook(max_terminal=1)
    changed = book.apply_all([sor(entry(1, "Filled")), sor(entry(2, "Filled"))])
    assert [o.order_id for o in changed] == [1, 2] and list(book) == [2]
    seeded = book.load_rest([entry(3, "Cancelled"), entry(4, "Submitted"), entry(5, "Filled")])
    assert [o.order_id for o in seeded] == [3, 4, 5] and list(book) == [4, 5]


def test_copy_is_exact_and_independent() -> None:
    book = OrderBook(ACCT, max_terminal=2)
    feed(book, placed(1), placed(2), placed(3), entry(1, "Filled"), entry(2, "Filled"))
    feed(book, entry(3, "Filled"), entry(1, commission="1"), entry(9, other="x"))
    other = book.copy()
    assert other == book and repr(other) == repr(book) and other.max_terminal == 2
    assert (other.account, other.evicted, other.late_updates) == (ACCT, 1, 1)
    assert [other[i] for i in other] == [book[i] for i in book]
    # both evolve alike from here, and neither sees the other's changes
    for b in (book, other):
        feed(b, placed(4), entry(4, "Cancelled"), entry(2, avgPrice=2.0))
    assert other == book and repr(other) == repr(book) and list(book) == [3, 9, 4]
    feed(other, entry(3, avgPrice=3.0), entry(5, "Filled"))
    assert "avgPrice" not in book[3].fields and list(book) == [3, 9, 4]
    assert list(other) == [9, 4, 5] and other.evicted == 3 and book.evicted == 2


def test_snapshot_shares_the_fields_and_stays_immutable() -> None:
    """One dict per order: the snapshot's proxy is over the record's dict, which the next
    change replaces instead of mutating."""
    book = OrderBook()
    first = book.apply(sor(placed(1)))
    assert first is not None
    shared = book._records[1].fields
    assert gc.get_referents(first.fields) == [shared]
    copy = book.copy()
    assert book.apply(sor(entry(1, "Filled", filledQuantity=1.0))) is not None
    assert first.status is OrderStatus.SUBMITTED and "filledQuantity" not in first.fields
    assert dict(first.fields) == placed(1) and copy[1] == first
    assert book._records[1].fields is not shared and book[1].fields["status"] == "Filled"
    copy.apply(sor(entry(1, avgPrice=1.0)))
    assert "avgPrice" not in first.fields and "avgPrice" not in book[1].fields
    assert dict(first.fields) == placed(1)


# -- property: random streams against a reference model --------------------------------------

_STATUSES = [None, "Submitted", "PreSubmitted", "PendingCancel", "Filled", "Cancelled", "Inactive"]
_WORKING = {"Submitted", "PreSubmitted", "PendingCancel"}


class Model:
    """The book's rules written plainly: full scans, lists, no shortcuts."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.fields: dict[int, dict[str, Any]] = {}  # insertion order = first appearance
        self.was_working: set[int] = set()
        self.terminal_since: dict[int, int] = {}
        self.forgotten: list[int] = []
        self.evicted = 0
        self.late = 0
        self.clock = 0

    def terminal(self, oid: int) -> bool:
        f = self.fields[oid]
        status = f.get("status")
        if status in ("Filled", "Cancelled"):
            return True
        if status != "Inactive":
            return False
        return oid in self.was_working or f.get("order_ccp_status") not in (None, "Pending Submit")

    def apply(self, e: dict[str, Any]) -> None:
        oid = e["orderId"]
        if oid not in self.fields:
            if oid in self.forgotten:
                if e.get("status") not in _WORKING:
                    self.late += 1
                    return
                self.forgotten.remove(oid)
            if set(e) <= {"acct", "orderId", "conid"}:
                return
            self.fields[oid] = {}
        self.fields[oid].update(sor(e).changes)  # numbers parsed as the decoder does
        if e.get("status") in _WORKING:
            self.was_working.add(oid)
        self.clock += 1
        if not self.terminal(oid):
            self.terminal_since.pop(oid, None)
        elif oid not in self.terminal_since:
            self.terminal_since[oid] = self.clock
        while len(self.terminal_since) > self.bound:
            oldest = min(self.terminal_since, key=self.terminal_since.__getitem__)
            del self.terminal_since[oldest], self.fields[oldest]
            self.forgotten = [*self.forgotten, oldest][-DEFAULT_MAX_TERMINAL_ORDERS:]
            self.evicted += 1


_entries = st.builds(
    lambda oid, status, extra: entry(oid, status, **extra),
    st.integers(0, 11),
    st.sampled_from(_STATUSES),
    st.dictionaries(
        st.sampled_from(["filledQuantity", "order_ccp_status", "conid", "commission"]),
        st.sampled_from([0.0, 1.0, "Submitted", "Pending Submit", "1.5"]),
        max_size=2,
    ),
)


@settings(max_examples=300, deadline=None)
@given(bound=st.integers(1, 4), stream=st.lists(_entries, max_size=80), copy_at=st.integers(0, 80))
def test_random_streams_match_the_model(
    bound: int, stream: list[dict[str, Any]], copy_at: int
) -> None:
    book = OrderBook(max_terminal=bound)
    model = Model(bound)
    taken: list[tuple[Order, dict[str, Any]]] = []  # snapshots handed out, and their fields then
    for step, e in enumerate(stream):
        if step == copy_at:
            book = book.copy()  # the copy carries on exactly
        working_before = {oid for oid in model.fields if not model.terminal(oid)}
        order = book.apply(sor(e))
        if order is not None:
            taken.append((order, dict(order.fields)))
        model.apply(e)
        assert working_before <= set(book), "a working order disappeared"
        assert len(book.terminal_orders()) <= bound
        assert list(book) == list(model.fields)
        for oid, fields in model.fields.items():
            assert dict(book[oid].fields) == fields
            assert book[oid].terminal is model.terminal(oid)
        assert (book.evicted, book.late_updates) == (model.evicted, model.late)
        assert [oid for oid in range(12) if book.forgotten(oid)] == sorted(model.forgotten)
    assert all(dict(order.fields) == fields for order, fields in taken), "a snapshot changed"
