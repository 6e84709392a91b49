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

The book is pure: no clock, no I/O. It hands out immutable :class:`Order` snapshots.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from ibstream.protocol.decoding import order_changes
from ibstream.protocol.events import OrderUpdate
from ibstream.protocol.fields import CONID_MAX, to_float, to_int

__all__ = ["Order", "OrderBook", "OrderStatus", "normalize_order_status"]


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
    """Mutable merge state of one order (private; the public face is :class:`Order`)."""

    __slots__ = ("fields", "order_id", "snapshot", "update_count", "was_working")

    def __init__(self, order_id: int) -> None:
        self.order_id = order_id
        self.fields: dict[str, Any] = {}  # merged IBKR keys, arrival order
        self.update_count = 0  # entries merged into this record
        self.was_working = False  # seen in a working status: a later Inactive is a rejection
        self.snapshot: Order | None = None  # cached immutable view, cleared on change

    def merge(self, changes: Mapping[str, Any]) -> bool:
        changed = False
        for key, value in changes.items():
            if key in _NOISE_KEYS:
                continue
            if key not in self.fields or self.fields[key] != value:
                self.fields[key] = value
                changed = True
        self.update_count += 1
        if normalize_order_status(self.fields.get("status")) in _WORKING:
            self.was_working = True
        if changed:
            self.snapshot = None
        return changed

    @property
    def final(self) -> bool:
        """Filled or cancelled: nothing about the order changes any more."""
        return normalize_order_status(self.fields.get("status")) in _ALWAYS_TERMINAL

    def copy(self) -> _OrderRecord:
        other = _OrderRecord(self.order_id)
        other.fields = dict(self.fields)
        other.update_count = self.update_count
        other.was_working = self.was_working
        other.snapshot = self.snapshot
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
            terminal=self.terminal(status),
            update_count=self.update_count,
            fields=MappingProxyType(dict(f)),
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
    """

    def __init__(self, account: str | None = None) -> None:
        # Filter: only this account's orders are kept (None keeps every account).
        self.account = account
        # Orders by id, in order of first appearance.
        self._records: dict[int, _OrderRecord] = {}
        # Counters (for monitoring and __repr__).
        self.updates_applied = 0
        self.updates_ignored = 0

    # -- feeding ---------------------------------------------------------------------------

    def apply(self, event: OrderUpdate) -> Order | None:
        """Merge one ``sor`` entry; return the order's new snapshot, or ``None`` if ignored.

        Ignored: entries of another account (when filtered), entries without an order id,
        marker entries for an unknown order (nothing to merge yet) and entries that changed
        nothing (a repeated marker, a colour-only delta).
        """
        return self._merge(event.order_id, event.account, event.changes)

    def apply_all(self, events: Iterable[object]) -> list[Order]:
        """Apply a batch in order (other event types are skipped); return each changed order
        once, in order of first change."""
        changed: dict[int, Order] = {}
        for event in events:
            if not isinstance(event, OrderUpdate):
                continue
            order = self.apply(event)
            if order is not None:
                changed[order.order_id] = order
        return [self._records[order_id].build() for order_id in changed]

    def load_rest(self, payload: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[Order]:
        """Seed or refresh from ``GET /iserver/account/orders``.

        ``payload`` is the decoded JSON (``{"orders": [...], "snapshot": true}``) or its
        ``orders`` list. Each record is merged like a full ``sor`` record (same keys); orders
        missing from the list are kept (the list may be filtered). The list is cached by the
        gateway and may be older than the stream: into an order already filled or cancelled it
        only adds keys the book lacks, never bringing the order back. Returns the changed orders.
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
        return [self._records[order_id].build() for order_id in changed]

    def remove(self, order_id: int) -> Order | None:
        """Forget one order; return its last snapshot, or ``None`` if unknown."""
        record = self._records.pop(order_id, None)
        return None if record is None else record.build()

    def prune_terminal(self) -> int:
        """Forget every order in a terminal status; return how many were removed."""
        done = [oid for oid, rec in self._records.items() if rec.build().terminal]
        for order_id in done:
            del self._records[order_id]
        return len(done)

    def copy(self) -> OrderBook:
        """An independent copy (what the threaded client hands to other threads)."""
        other = OrderBook(self.account)
        other._records = {oid: rec.copy() for oid, rec in self._records.items()}
        other.updates_applied = self.updates_applied
        other.updates_ignored = self.updates_ignored
        return other

    def clear(self) -> None:
        """Forget every order (for example after a REST resync with ``force=true``)."""
        self._records.clear()

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
            if _MARKER_KEYS.issuperset(k for k in changes if k not in _NOISE_KEYS):
                self.updates_ignored += 1
                return None
            record = self._records[order_id] = _OrderRecord(order_id)
        elif snapshot and record.final:  # a cached REST list may predate the fill or cancel
            changes = {k: v for k, v in changes.items() if k not in record.fields}
        self.updates_applied += 1
        return record.build() if record.merge(changes) else None

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
        open_count = len(self.open_orders())
        account = f" {self.account}" if self.account else ""
        return (
            f"<OrderBook{account} orders={len(self)} open={open_count} "
            f"applied={self.updates_applied} ignored={self.updates_ignored}>"
        )
