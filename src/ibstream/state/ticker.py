"""Live level-1 market data: a :class:`Ticker` per conid, merged from ``smd`` frames.

Theory of operation (protocol.md §4.1, §6, §8.3):

* The first ``smd`` frame of a stream is complete; it is delivered **twice** back to back
  (different key order). Merging the copy changes nothing, so :meth:`Ticker.apply` returns
  ``False`` for it.
* Later frames are deltas: a field absent from a frame keeps its value. A field present with an
  empty / ``N/A`` / ``-`` value was parsed to ``None`` by the decoder and sets ``None``.
* Frames carrying only ``topic`` exist ("an empty update"); they change nothing.
* ``_updated`` (epoch ms) becomes :attr:`Ticker.updated_ms`. The gateway gives no ordering
  guarantee (S9 shows a frame whose ``_updated`` is older than its predecessor's), so a frame with
  an older ``_updated`` is still merged (it is the newest *delivered* value of its fields) but
  ``updated_ms`` never moves backwards; such frames are counted in :attr:`Ticker.stale_updates`.
* The ``C`` (prior close, no trade yet) and ``H`` (halted) prefixes of field 31 become
  :attr:`Ticker.closed` / :attr:`Ticker.halted`; they change only with a frame carrying field 31.

Everything here is pure: no clock, no I/O, no locks. Hand data to other threads with
:meth:`Ticker.snapshot`, an immutable :class:`TickerSnapshot`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.combo import Combo, ComboId, is_combo_text
from ibstream.protocol.events import MarketData
from ibstream.protocol.fields import Availability, FieldValue, field_name, resolve_field

__all__ = ["Ticker", "TickerSnapshot", "Tickers", "field_id"]

# Field ids used by the typed accessors (protocol.md §6.2).
LAST: Final = 31
SYMBOL: Final = 55
HIGH: Final = 70
LOW: Final = 71
CHANGE: Final = 82
CHANGE_PERCENT: Final = 83
BID: Final = 84
ASK_SIZE: Final = 85
ASK: Final = 86
VOLUME: Final = 87
BID_SIZE: Final = 88
AVAILABILITY: Final = 6509
LAST_SIZE: Final = 7059
OPEN: Final = 7295
CLOSE: Final = 7296
PRIOR_CLOSE: Final = 7741


# Accessor names accepted by ``get()`` besides catalogue names and ids.
def field_id(field_id_or_name: int | str) -> int:
    """Resolve ``31``, ``"31"``, ``"last"`` or an alias (``"last_price"``) to an id.

    Raises :class:`~ibstream.exceptions.InvalidArgument` for an unknown name.
    """
    try:
        return resolve_field(field_id_or_name)
    except ValueError as exc:
        raise InvalidArgument("field", str(exc)) from None


class _Quote:
    """Typed accessors shared by :class:`Ticker` and :class:`TickerSnapshot`."""

    __slots__ = ()

    def _value(self, fid: int) -> FieldValue:
        raise NotImplementedError

    def _number(self, fid: int) -> float | None:
        value = self._value(fid)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return None

    def get(self, field_id_or_name: int | str, default: FieldValue = None) -> FieldValue:
        """The parsed value of a field by id (``31``, ``"31"``) or name (``"last"``)."""
        value = self._value(field_id(field_id_or_name))
        return default if value is None else value

    @property
    def last(self) -> float | None:
        """Last price (31); see :attr:`closed` / :attr:`halted` for its prefix."""
        return self._number(LAST)

    @property
    def bid(self) -> float | None:
        """Best bid (84)."""
        return self._number(BID)

    @property
    def ask(self) -> float | None:
        """Best ask (86)."""
        return self._number(ASK)

    @property
    def bid_size(self) -> float | None:
        """Bid size (88); US stocks in lots of 100 as IBKR sends it."""
        return self._number(BID_SIZE)

    @property
    def ask_size(self) -> float | None:
        """Ask size (85); US stocks in lots of 100 as IBKR sends it."""
        return self._number(ASK_SIZE)

    @property
    def last_size(self) -> float | None:
        """Last trade size (7059)."""
        return self._number(LAST_SIZE)

    @property
    def volume(self) -> float | None:
        """Day volume (87), ``K``/``M`` suffixes expanded."""
        return self._number(VOLUME)

    @property
    def change(self) -> float | None:
        """Last minus previous close (82)."""
        return self._number(CHANGE)

    @property
    def change_percent(self) -> float | None:
        """Change vs previous close in percent (83)."""
        return self._number(CHANGE_PERCENT)

    @property
    def high(self) -> float | None:
        """Day high (70)."""
        return self._number(HIGH)

    @property
    def low(self) -> float | None:
        """Day low (71)."""
        return self._number(LOW)

    @property
    def open(self) -> float | None:
        """Today's open (7295)."""
        return self._number(OPEN)

    @property
    def close(self) -> float | None:
        """Previous close: field 7741 (prior close) when known, else 7296 (close)."""
        prior = self._number(PRIOR_CLOSE)
        return prior if prior is not None else self._number(CLOSE)

    @property
    def symbol(self) -> str | None:
        """Symbol (55); ``None`` for an unknown contract (IBKR sends ``"-"``)."""
        value = self._value(SYMBOL)
        return value if isinstance(value, str) else None

    @property
    def availability(self) -> Availability | None:
        """Market-data availability (6509), e.g. delayed or real-time."""
        value = self._value(AVAILABILITY)
        return value if isinstance(value, Availability) else None

    @property
    def mid(self) -> float | None:
        """Mid-point of bid and ask, when both are known."""
        bid, ask = self.bid, self.ask
        return None if bid is None or ask is None else (bid + ask) / 2

    @property
    def spread(self) -> float | None:
        """Ask minus bid, when both are known."""
        bid, ask = self.bid, self.ask
        return None if bid is None or ask is None else ask - bid

    def market_price(self) -> float | None:
        """The price to value a position at: the last trade when it lies inside the spread
        (or no quote is known), else the mid-point; the prior close when nothing traded yet."""
        last, bid, ask = self.last, self.bid, self.ask
        if bid is not None and ask is not None and bid <= ask:
            if last is not None and bid <= last <= ask:
                return last
            return (bid + ask) / 2
        if last is not None:
            return last
        return self._number(PRIOR_CLOSE)

    def by_name(self) -> dict[str, FieldValue]:
        """Every known value keyed by its canonical field name (``"last"``, ``"bid"``...);
        ids outside the catalogue keep their id as text."""
        return {field_name(fid): value for fid, value in self._all_values().items()}

    def _all_values(self) -> Mapping[int, FieldValue]:
        raise NotImplementedError


def _describe(
    name: str, conid: int, quote: _Quote, updated_ms: int | None, closed: bool, halted: bool
) -> str:
    parts = [f"<{name} {conid}"]
    if quote.symbol:
        parts.append(quote.symbol)
    for label, value in (("last", quote.last), ("bid", quote.bid), ("ask", quote.ask)):
        if value is not None:
            parts.append(f"{label}={value:g}")
    if closed:
        parts.append("closed")
    if halted:
        parts.append("halted")
    parts.append(f"updated={updated_ms}")
    return " ".join(parts) + ">"


@dataclass(frozen=True, slots=True, kw_only=True)
class TickerSnapshot(_Quote):
    """An immutable copy of a :class:`Ticker` at one moment, safe to hand to another thread."""

    conid: int
    server_id: str | None
    updated_ms: int | None
    update_count: int
    closed: bool
    halted: bool
    values: Mapping[int, FieldValue] = field(repr=False)
    raw: Mapping[int, Any] = field(repr=False)

    def _value(self, fid: int) -> FieldValue:
        return self.values.get(fid)

    def _all_values(self) -> Mapping[int, FieldValue]:
        return self.values

    def __repr__(self) -> str:
        return _describe(
            "TickerSnapshot", self.conid, self, self.updated_ms, self.closed, self.halted
        )


class _RawView(Mapping[int, Any]):
    """Live read-only view, by field id, of the last wire value of each field."""

    __slots__ = ("_wire",)

    def __init__(self, wire: dict[str, Any]) -> None:
        self._wire = wire

    def __getitem__(self, fid: int) -> Any:
        return self._wire[str(fid)]

    def __iter__(self) -> Iterator[int]:
        return (int(k) for k in self._wire if _is_field_key(k))

    def __len__(self) -> int:
        return sum(1 for k in self._wire if _is_field_key(k))


def _is_field_key(key: str) -> bool:
    """A wire key that is a field id (digits, and short: ``int()`` refuses 4,300+ digits)."""
    return key.isascii() and key.isdigit() and len(key) <= 9


class Ticker(_Quote):
    """Live level-1 data of one contract, updated in place by :meth:`apply`.

    Not thread-safe by design (pure state, one owner); see :meth:`snapshot`.
    """

    __slots__ = (
        "_values",
        "_wire",
        "conid",
        "server_id",
        "stale_updates",
        "update_count",
        "updated_ms",
    )

    def __init__(self, conid: int) -> None:
        # Identity.
        self.conid = conid
        self.server_id: str | None = None  # IBKR's per-request id ("q1"); changes on resubscribe
        # Merged fields: parsed value by field id, and the last wire value by wire key (the
        # frame's own keys: merging whole frames is one C-level dict update per frame).
        self._values: dict[int, FieldValue] = {}
        self._wire: dict[str, Any] = {}
        # Time and counters.
        self.updated_ms: int | None = None  # newest ``_updated`` seen; never moves backwards
        self.update_count = 0  # frames merged (duplicates and empty frames included)
        self.stale_updates = 0  # frames whose ``_updated`` was older than ``updated_ms``

    def _value(self, fid: int) -> FieldValue:
        return self._values.get(fid)

    def _all_values(self) -> Mapping[int, FieldValue]:
        return self._values

    @property
    def closed(self) -> bool:
        """The last price (31) carried the ``C`` prefix: prior close, no trade yet."""
        last = self._wire.get("31")
        return last.__class__ is str and last[:1] == "C"

    @property
    def halted(self) -> bool:
        """The last price (31) carried the ``H`` prefix: trading halted."""
        last = self._wire.get("31")
        return last.__class__ is str and last[:1] == "H"

    @property
    def values(self) -> Mapping[int, FieldValue]:
        """Read-only live view of the parsed values by field id."""
        return MappingProxyType(self._values)

    @property
    def raw(self) -> Mapping[int, Any]:
        """Read-only live view of the last raw wire value of each field (``"C271.20"``...)."""
        return _RawView(self._wire)

    def merge(self, event: MarketData) -> None:
        """Merge one ``smd`` frame (like :meth:`apply`, without working out what changed).

        The client's hot path; the caller guarantees the conid matches.
        """
        self.update_count += 1
        self._values.update(event.values)
        self._wire.update(event.raw)
        server_id = event.server_id
        if server_id is not None:
            self.server_id = server_id
        updated = event.updated_ms
        if updated is not None:
            current = self.updated_ms
            if current is None or updated >= current:
                self.updated_ms = updated
            else:
                self.stale_updates += 1

    def apply(self, event: MarketData) -> bool:
        """Merge one ``smd`` frame; return whether any field value or flag changed.

        Raises :class:`~ibstream.exceptions.InvalidArgument` for another conid's event.
        Dict operations done in C, no per-field Python loop.
        """
        if event.conid != self.conid:
            raise InvalidArgument(
                "event", f"MarketData for conid {event.conid} applied to Ticker {self.conid}"
            )
        incoming = event.values
        changed = not (incoming.items() <= self._values.items()) or (
            LAST in incoming and self._wire.get("31") != event.raw.get("31")  # C/H flag changed
        )
        self.merge(event)
        return changed

    def snapshot(self) -> TickerSnapshot:
        """An immutable copy of the current state."""
        return TickerSnapshot(
            conid=self.conid,
            server_id=self.server_id,
            updated_ms=self.updated_ms,
            update_count=self.update_count,
            closed=self.closed,
            halted=self.halted,
            values=MappingProxyType(dict(self._values)),
            raw=MappingProxyType(dict(self.raw)),
        )

    def __repr__(self) -> str:
        return _describe("Ticker", self.conid, self, self.updated_ms, self.closed, self.halted)


class Tickers(Mapping[int, Ticker]):
    """Registry of live :class:`Ticker` objects by conid, created on first data.

    Notifications are left to the caller: :meth:`apply_all` returns each changed ticker once per
    batch of events (style.md principle 12: coalesced per received batch).
    """

    def __init__(self) -> None:
        self._tickers: dict[int, Ticker] = {}

    def apply(self, event: object) -> Ticker | None:
        """Merge a :class:`MarketData` event into its ticker; ``None`` for any other event."""
        if not isinstance(event, MarketData):
            return None
        ticker = self.get_or_create(event.conid)
        ticker.apply(event)
        return ticker

    def apply_all(self, events: Iterable[object]) -> list[Ticker]:
        """Merge a batch; return the tickers that changed, once each, in order of first change."""
        changed: dict[int, Ticker] = {}
        for event in events:
            if isinstance(event, MarketData):
                ticker = self.get_or_create(event.conid)
                if ticker.apply(event):
                    changed.setdefault(ticker.conid, ticker)
        return list(changed.values())

    def copy(self) -> Tickers:
        """A new registry of the same live tickers (what the threaded client hands out: the
        tickers go on updating, the registry itself does not change under the reader)."""
        other = Tickers()
        other._tickers = dict(self._tickers)
        return other

    def get_or_create(self, conid: int | Combo) -> Ticker:
        """The ticker of ``conid``, created empty if absent (e.g. right after subscribing).

        A :class:`~ibstream.protocol.combo.Combo` names a spread's ticker (its market data
        events carry a :class:`~ibstream.protocol.combo.ComboId`, the key used here).
        """
        if isinstance(conid, Combo):
            conid = ComboId(conid)
        ticker = self._tickers.get(conid)
        if ticker is None:
            ticker = self._tickers[conid] = Ticker(conid)
        return ticker

    def for_ident(self, ident: str) -> Ticker | None:
        """The ticker of a market-data stream key's ident (a conid, or a combo string)."""
        try:
            conid: int = ComboId(Combo.parse(ident)) if is_combo_text(ident) else int(ident)
        except ValueError:  # InvalidArgument is a ValueError
            return None
        return self._tickers.get(conid)

    def remove(self, conid: int | Combo) -> Ticker | None:
        """Forget a ticker (after unsubscribing); return it, or ``None`` if unknown."""
        if isinstance(conid, Combo):
            conid = ComboId(conid)
        return self._tickers.pop(conid, None)

    def clear(self) -> None:
        """Forget every ticker."""
        self._tickers.clear()

    def snapshot(self) -> dict[int, TickerSnapshot]:
        """Immutable copies of every ticker."""
        return {conid: ticker.snapshot() for conid, ticker in self._tickers.items()}

    def __getitem__(self, conid: int) -> Ticker:
        return self._tickers[conid]

    def __iter__(self) -> Iterator[int]:
        return iter(self._tickers)

    def __len__(self) -> int:
        return len(self._tickers)

    def __repr__(self) -> str:
        return f"<Tickers {len(self)} conids>"
