"""The account's live orders, merged by order id from ``sor`` updates and the REST order list.

Theory of operation (protocol.md §4.4, §8.7):

* ``sor`` sends **no initial snapshot**. Seed the book with :meth:`OrderBook.load_rest` from
  ``GET /iserver/account/orders`` (``{"orders": [...], "snapshot": true}``), then feed every
  :class:`~ibstream.protocol.events.OrderUpdate`.
* A ``sor`` frame mixes full records and tiny deltas ("only the change to the order is relayed
  back along with the orderId"), sometimes a marker with only ``conid/conidex/orderId`` and several
  entries for one order in one frame. Entries are merged in arrival order; a later value for a
  key overrides an earlier one; keys an entry does not carry keep their value.
* ``bgColor`` / ``fgColor`` are UI colour hints and never reach the merged record.
* The status is normalised to :class:`OrderStatus`. ``Filled`` and ``Cancelled`` are terminal.
  ``Inactive`` is ambiguous: the recorded life cycle *opens* with ``Inactive`` (with
  ``order_ccp_status`` "Pending Submit") while the order is still being submitted, whereas an order
  rejected by IBKR also ends ``Inactive``. ``Inactive`` therefore counts as terminal only after the
  order was working (any of PendingSubmit..PendingCancel) or when ``order_ccp_status`` says it is
  not pending submission.

Memory is bounded for processes that run for weeks: working orders are always kept, and past
``max_terminal`` orders in a terminal status the ones that became terminal longest ago are
forgotten (:attr:`OrderBook.evicted`). The ids of forgotten orders are remembered (a bounded
memory): a late entry for one of them (a commission or fill field after ``Filled``, a REST
re-seed listing the day's orders) is ignored and counted (:attr:`OrderBook.late_updates`) instead
of coming back as an open order with partial fields; only a ``sor`` entry that says the order is
working again brings it back (a REST list may be older than the stream, so it never does).

The book is pure: no clock, no I/O. It hands out immutable :class:`Order` snapshots; a snapshot
shares the record's field dict, which is replaced (copied on the next change), never mutated,
once a snapshot holds it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.decoding import order_changes
from ibstream.protocol.events import OrderUpdate
from ibstream.protocol.fields import CONID_MAX, to_float, to_int

__all__ = [
    "DEFAULT_MAX_TERMINAL_ORDERS",
    "Order",
    "OrderBook",
    "OrderStatus",
    "normalize_order_status",
]

#: Terminal orders an :class:`OrderBook` keeps by default. An order with its merged fields takes
#: about 4 KB (``bench/books.py``), so 10,000 stay around 40 MB, while they cover about two weeks
#: of an account placing 1,000 orders a day (IBKR's own order list shows the current day only);
#: working orders come on top and are never evicted.
DEFAULT_MAX_TERMINAL_ORDERS = 10_000


class OrderStatus(StrEnum):
    """Order status as IBKR spells it in ``sor`` frames, normalised."""

    API_PENDING = "ApiPending"
    PENDING_SUBMIT = "PendingSubmit"
    PRE_SUBMITTED = "PreSubmitted"
    SUBMITTED = "Submitted"
    PENDING_CANCEL = "PendingCancel"
    API_CANCELLED = "ApiCancelled"
    CANCELLED = "Cancelled"
    FILLED = "Filled"
    INACTIVE = "Inactive"
    UNKNOWN = "Unknown"


_STATUS_BY_FOLDED: dict[str, OrderStatus] = {
    s.value.lower(): s for s in OrderStatus if s is not OrderStatus.UNKNOWN
}
_STATUS_BY_FOLDED.update(
    {
        "canceled": OrderStatus.CANCELLED,  # American spelling seen in other IBKR APIs
        "apicanceled": OrderStatus.API_CANCELLED,
        "rejected": OrderStatus.INACTIVE,
    }
)

# Statuses in which the order is (being) worked at IBKR.
_WORKING = frozenset(
    {
        OrderStatus.API_PENDING,
        OrderStatus.PENDING_SUBMIT,
        OrderStatus.PRE_SUBMITTED,
        OrderStatus.SUBMITTED,
        OrderStatus.PENDING_CANCEL,
    }
)
_ALWAYS_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.API_CANCELLED})

# Keys of a "marker" entry that carries nothing but identity (protocol.md §4.4 second frame).
_IDENTITY_KEYS = frozenset({"acct", "account", "conid", "conidex", "conidEx", "orderId"})
_MARKER_KEYS = _IDENTITY_KEYS | {"isEventTrading"}
_NOISE_KEYS = frozenset({"bgColor", "fgColor"})


def normalize_order_status(value: object) -> OrderStatus | None:
    """Map an IBKR status spelling (``"PreSubmitted"``, ``"Pending Submit"``, ``"filled"``...).

    Returns ``None`` for ``None``/empty and :attr:`OrderStatus.UNKNOWN` for anything else unknown.
    """
    if value is None:
        return None
    if isinstance(value, OrderStatus):
        return value
    folded = str(value).replace(" ", "").replace("_", "").lower()
    if not folded:
        return None
    return _STATUS_BY_FOLDED.get(folded, OrderStatus.UNKNOWN)


def _rest_changes(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A REST order record normalised exactly like ``OrderUpdate.changes``."""
    return order_changes(entry)


def _int(value: object) -> int | None:
    """An integer within 64 bits (``"inf"``, ``"nan"``, ``1e308`` and the like give ``None``)."""
    number = to_int(value)
    if number is None:
        as_float = to_float(value)  # "1234.0" and similar still count
        if as_float is not None and as_float.is_integer():
            number = to_int(as_float)
    return number


def _conid(value: object) -> int | None:
    number = _int(value)
    return number if number is not None and 0 < number <= CONID_MAX else None


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """An immutable snapshot of one order, merged from every update seen so far.

    Typed attributes are read from :attr:`fields`, the full merged mapping (IBKR's keys, colour
    noise removed). Absent information is ``None``.
    """

    order_id: int
    account: str | None
    conid: int | None
    symbol: str | None
    side: str | None
    order_type: str | None
    price: float | None
    total_size: float | None
    filled: float | None
    remaining: float | None
    avg_price: float | None
    status: OrderStatus | None
    time_in_force: str | None
    last_execution_ms: int | None
    description: str | None
    terminal: bool
    update_count: int
    fields: Mapping[str, Any] = field(repr=False)

    @property
    def is_open(self) -> bool:
        """``True`` while the order can still trade (not in a terminal status)."""
        return not self.terminal


class _OrderRecord:
    """Mutable merge state of one order (private; the public face is :class:`Order`).

    While :attr:`snapshot` is set, its ``fields`` proxy is a view of :attr:`fields` itself (one
    dict per order, not two): the next change replaces :attr:`fields` with a copy before writing,
    so a dict a snapshot holds is never mutated.
    """

    __slots__ = ("fields", "is_terminal", "order_id", "snapshot", "update_count", "was_working")

    def __init__(self, order_id: int) -> None:
        self.order_id = order_id
        self.fields: dict[str, Any] = {}  # merged IBKR keys, arrival order
        self.update_count = 0  # entries merged into this record
        self.was_working = False  # seen in a working status: a later Inactive is a rejection
        self.is_terminal = False  # terminal(status) after the last change
        self.snapshot: Order | None = None  # cached immutable view, cleared on change

    def merge(self, changes: Mapping[str, Any]) -> bool:
        fields = self.fields
        changed = False
        for key, value in changes.items():
            if key in _NOISE_KEYS:
                continue
            if key not in fields or fields[key] != value:
                if not changed:
                    changed = True
                    if self.snapshot is not None:  # the snapshot shares the dict: copy on write
                        fields = self.fields = dict(fields)
                        self.snapshot = None
                fields[key] = value
        self.update_count += 1
        if changed:
            status = normalize_order_status(fields.get("status"))
            if status in _WORKING:
                self.was_working = True
            self.is_terminal = self.terminal(status)
        return changed

    @property
    def final(self) -> bool:
        """Filled or cancelled: nothing about the order changes any more."""
        return normalize_order_status(self.fields.get("status")) in _ALWAYS_TERMINAL

    def copy(self) -> _OrderRecord:
        other = _OrderRecord(self.order_id)
        # share the dict through the snapshot: both records copy it before their next change
        other.snapshot = self.build()
        other.fields = self.fields
        other.update_count = self.update_count
        other.was_working = self.was_working
        other.is_terminal = self.is_terminal
        return other

    def terminal(self, status: OrderStatus | None) -> bool:
        if status in _ALWAYS_TERMINAL:
            return True
        if status is not OrderStatus.INACTIVE:
            return False
        if self.was_working:
            return True
        ccp = normalize_order_status(self.fields.get("order_ccp_status"))
        return ccp is not None and ccp is not OrderStatus.PENDING_SUBMIT

    def build(self) -> Order:
        if self.snapshot is not None:
            return self.snapshot
        f = self.fields
        status = normalize_order_status(f.get("status"))
        self.snapshot = Order(
            order_id=self.order_id,
            account=_text(f.get("acct", f.get("account"))),
            conid=_conid(f.get("conid")),
            symbol=_text(f.get("ticker", f.get("symbol", f.get("description1")))),
            side=_text(f.get("side")),
            order_type=_text(f.get("orderType", f.get("origOrderType"))),
            price=to_float(f.get("price")),
            total_size=to_float(f.get("totalSize")),
            filled=to_float(f.get("filledQuantity")),
            remaining=to_float(f.get("remainingQuantity")),
            avg_price=to_float(f.get("avgPrice")),
            status=status,
            time_in_force=_time_in_force(f),
            last_execution_ms=_int(f.get("lastExecutionTime_r")),
            description=_text(f.get("orderDesc")),
            terminal=self.is_terminal,
            update_count=self.update_count,
            fields=MappingProxyType(f),
        )
        return self.snapshot


def _time_in_force(f: Mapping[str, Any]) -> str | None:
    """``timeInForce``, with the gateway's ``"CLOSE"`` for a DAY order read as ``"DAY"``.

    The gateway reports ``timeInForce: "CLOSE"`` for a DAY order placed outside regular hours
    until a fill update says ``"DAY"`` (protocol.md §4.4); its own description still reads
    ``"..., Day"``, which decides. The raw value stays in ``Order.fields``.
    """
    tif = _text(f.get("timeInForce", f.get("tif")))
    if tif is not None and tif.upper() == "CLOSE":
        desc = _text(f.get("orderDesc")) or ""
        if desc.rstrip().lower().endswith("day"):
            return "DAY"
    return tif


class OrderBook(Mapping[int, Order]):
    """The account's orders by order id; a read-only mapping of :class:`Order` snapshots.

    Feed it with :meth:`apply` (one ``OrderUpdate`` per ``sor`` entry, in arrival order) after
    seeding it with :meth:`load_rest`. Pass ``account`` to ignore updates of other accounts.

    ``max_terminal`` bounds the orders kept in a terminal status (``None``: unbounded; default
    :data:`DEFAULT_MAX_TERMINAL_ORDERS`). Past it, the order that became terminal longest ago is
    forgotten and counted in :attr:`evicted`; a working order is never evicted, and an order
    whose terminal status a later entry reverses is working again until it ends anew. A
    terminal order keeps receiving its late fields (commission, fill details) while it is kept.
    The ids of evicted (and pruned) orders are remembered, the most recent
    ``max(max_terminal, DEFAULT_MAX_TERMINAL_ORDERS)`` of them: an entry for one of them is
    ignored and counted in :attr:`late_updates` (a late delta would otherwise come back as an
    open order with partial fields), unless it is a ``sor`` entry with a working status, which
    brings the order back as a new record (a REST list may be older than the stream: never).
    Every entry costs O(1) amortised, eviction included.
    """

    def __init__(
        self, account: str | None = None, max_terminal: int | None = DEFAULT_MAX_TERMINAL_ORDERS
    ) -> None:
        if max_terminal is not None and (type(max_terminal) is not int or max_terminal < 1):
            raise InvalidArgument(
                "max_terminal", f"must be a positive int or None, got {max_terminal!r}"
            )
        # Filter: only this account's orders are kept (None keeps every account).
        self.account = account
        self._max_terminal = max_terminal
        # Orders by id, in order of first appearance.
        self._records: dict[int, _OrderRecord] = {}
        # Ids of the kept orders in a terminal status, the longest terminal first.
        self._terminal: OrderedDict[int, None] = OrderedDict()
        # Ids of evicted or pruned orders, oldest first, at most _retired_max of them.
        self._retired: OrderedDict[int, None] = OrderedDict()
        self._retired_max = max(max_terminal or 0, DEFAULT_MAX_TERMINAL_ORDERS)
        # Counters (for monitoring and __repr__).
        self.updates_applied = 0
        self.updates_ignored = 0  # late_updates included
        #: terminal orders forgotten because of ``max_terminal``
        self.evicted = 0
        #: entries ignored because their order was evicted or pruned before
        self.late_updates = 0

    @property
    def max_terminal(self) -> int | None:
        """The bound on kept terminal orders (``None``: unbounded)."""
        return self._max_terminal

    @property
    def terminal_count(self) -> int:
        """How many kept orders are in a terminal status (at most :attr:`max_terminal`)."""
        return len(self._terminal)

    # -- feeding ---------------------------------------------------------------------------

    def apply(self, event: OrderUpdate) -> Order | None:
        """Merge one ``sor`` entry; return the order's new snapshot, or ``None`` if ignored.

        Ignored: entries of another account (when filtered), entries without an order id,
        marker entries for an unknown order (nothing to merge yet), entries that changed
        nothing (a repeated marker, a colour-only delta) and late entries of a forgotten order.
        """
        return self._merge(event.order_id, event.account, event.changes)

    def apply_all(self, events: Iterable[object]) -> list[Order]:
        """Apply a batch in order (other event types are skipped); return each changed order
        once, as last changed, in order of first change (an order evicted later in the batch
        included)."""
        changed: dict[int, Order] = {}
        for event in events:
            if not isinstance(event, OrderUpdate):
                continue
            order = self.apply(event)
            if order is not None:
                changed[order.order_id] = order
        return list(changed.values())

    def load_rest(self, payload: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[Order]:
        """Seed or refresh from ``GET /iserver/account/orders``.

        ``payload`` is the decoded JSON (``{"orders": [...], "snapshot": true}``) or its
        ``orders`` list. Each record is merged like a full ``sor`` record (same keys); orders
        missing from the list are kept (the list may be filtered), forgotten orders stay
        forgotten. The list is cached by the gateway and may be older than the stream: into an
        order already filled or cancelled it only adds keys the book lacks, never bringing the
        order back. Returns the changed orders, as :meth:`apply_all` does.
        """
        entries = (payload.get("orders") or []) if isinstance(payload, Mapping) else payload
        changed: dict[int, Order] = {}
        for entry in entries:
            if not isinstance(entry, Mapping):
                self.updates_ignored += 1
                continue
            account = _text(entry.get("acct", entry.get("account")))
            order = self._merge(
                _int(entry.get("orderId")), account, _rest_changes(entry), snapshot=True
            )
            if order is not None:
                changed[order.order_id] = order
        return list(changed.values())

    def remove(self, order_id: int) -> Order | None:
        """Forget one order; return its last snapshot, or ``None`` if unknown.

        Unlike eviction and :meth:`prune_terminal`, the id is not remembered: a later entry for
        it is merged like one of a new order.
        """
        record = self._records.pop(order_id, None)
        if record is None:
            return None
        self._terminal.pop(order_id, None)
        return record.build()

    def prune_terminal(self) -> int:
        """Forget every order in a terminal status now; return how many were removed.

        Optional since the book is bounded (``max_terminal``); pruned ids are remembered like
        evicted ones (their late entries are ignored), but not counted in :attr:`evicted`.
        """
        done = list(self._terminal)
        self._terminal.clear()
        for order_id in done:
            del self._records[order_id]
            self._retire(order_id)
        return len(done)

    def forgotten(self, order_id: int) -> bool:
        """``True`` if the order was evicted or pruned (and is still remembered as such)."""
        return order_id in self._retired

    def copy(self) -> OrderBook:
        """An independent copy (what the threaded client hands to other threads)."""
        other = OrderBook(self.account, self._max_terminal)
        other._records = {oid: rec.copy() for oid, rec in self._records.items()}
        other._terminal = self._terminal.copy()
        other._retired = self._retired.copy()
        other.updates_applied = self.updates_applied
        other.updates_ignored = self.updates_ignored
        other.evicted = self.evicted
        other.late_updates = self.late_updates
        return other

    def clear(self) -> None:
        """Forget every order (for example after a REST resync with ``force=true``).

        Counters and the memory of forgotten ids are kept."""
        self._records.clear()
        self._terminal.clear()

    def _merge(
        self,
        order_id: int | None,
        account: str | None,
        changes: Mapping[str, Any],
        *,
        snapshot: bool = False,
    ) -> Order | None:
        if order_id is None or (self.account is not None and account not in (None, self.account)):
            self.updates_ignored += 1
            return None
        record = self._records.get(order_id)
        if record is None:
            if order_id in self._retired:
                # a REST list may be older than the stream: only ``sor`` brings one back
                if snapshot or normalize_order_status(changes.get("status")) not in _WORKING:
                    self.late_updates += 1
                    self.updates_ignored += 1
                    return None
                del self._retired[order_id]  # working again: back as a new record
            if _MARKER_KEYS.issuperset(k for k in changes if k not in _NOISE_KEYS):
                self.updates_ignored += 1
                return None
            record = self._records[order_id] = _OrderRecord(order_id)
        elif snapshot and record.final:  # a cached REST list may predate the fill or cancel
            changes = {k: v for k, v in changes.items() if k not in record.fields}
        self.updates_applied += 1
        was_terminal = record.is_terminal
        if not record.merge(changes):
            return None
        if record.is_terminal is not was_terminal:
            if was_terminal:
                del self._terminal[order_id]  # reversed by a later entry: working again
            else:
                self._terminal[order_id] = None
                self._evict()
        return record.build()

    def _evict(self) -> None:
        limit = self._max_terminal
        terminal = self._terminal
        while limit is not None and len(terminal) > limit:
            order_id, _ = terminal.popitem(last=False)
            del self._records[order_id]
            self._retire(order_id)
            self.evicted += 1

    def _retire(self, order_id: int) -> None:
        retired = self._retired
        retired[order_id] = None
        if len(retired) > self._retired_max:
            retired.popitem(last=False)

    # -- reading ---------------------------------------------------------------------------

    def __getitem__(self, order_id: int) -> Order:
        return self._records[order_id].build()

    def __iter__(self) -> Iterator[int]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def orders(self) -> list[Order]:
        """Every known order, in order of first appearance."""
        return [record.build() for record in self._records.values()]

    def open_orders(self) -> list[Order]:
        """Orders not in a terminal status, in order of first appearance."""
        return [order for order in self.orders() if not order.terminal]

    def terminal_orders(self) -> list[Order]:
        """Filled, cancelled and rejected orders, in order of first appearance."""
        return [order for order in self.orders() if order.terminal]

    def for_conid(self, conid: int) -> list[Order]:
        """Orders on one contract."""
        return [order for order in self.orders() if order.conid == conid]

    def __repr__(self) -> str:
        open_count = len(self._records) - self.terminal_count
        account = f" {self.account}" if self.account else ""
        bound = "unbounded" if self._max_terminal is None else f"max_terminal={self._max_terminal}"
        return (
            f"<OrderBook{account} orders={len(self)} open={open_count} {bound} "
            f"applied={self.updates_applied} ignored={self.updates_ignored} "
            f"evicted={self.evicted} late={self.late_updates}>"
        )
