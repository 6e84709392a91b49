"""The bridge's decisions, without I/O: demand leases, the leader lease, live state to publish.

Time is passed in (``now``, seconds on a monotonic clock); nothing here awaits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ibstream.protocol.events import AccountSummary, MarketData, OrderUpdate
from ibstream.protocol.specs import Spec, StreamKey, Topic
from ibstream.remote.wire import Position, PositionUpdate, StateEntry, entity_of
from ibstream.serialize import event_to_dict

__all__ = ["DemandTable", "LeaderLease", "StateMirror", "merge_event"]

_MD_TOPICS = frozenset({Topic.MARKET_DATA, Topic.MARKET_HISTORY, Topic.PRICE_LADDER})


class DemandTable:
    """Who wants which stream, until when: ``renew`` on every lease message, ``expire`` on a timer.

    A stream is wanted while at least one consumer's lease is alive; ``wanted()`` is what the
    bridge holds upstream. Two consumers asking for the same key with other parameters (market
    data fields) are merged by the client's own rules when the bridge subscribes.
    """

    def __init__(self) -> None:
        self._leases: dict[StreamKey, dict[str, tuple[Spec, float]]] = {}
        self.renewals = 0

    def renew(self, consumer: str, spec: Spec, ttl: float, now: float) -> None:
        """``consumer`` wants ``spec`` for ``ttl`` more seconds (``ttl <= 0`` releases it)."""
        leases = self._leases.setdefault(spec.key, {})
        if ttl <= 0:
            leases.pop(consumer, None)
            if not leases:
                del self._leases[spec.key]
            return
        leases[consumer] = (spec, now + ttl)
        self.renewals += 1

    def expire(self, now: float) -> list[StreamKey]:
        """Drop dead leases; return the keys nobody wants any more."""
        gone = []
        for key, leases in list(self._leases.items()):
            for consumer, (_, until) in list(leases.items()):
                if until <= now:
                    del leases[consumer]
            if not leases:
                del self._leases[key]
                gone.append(key)
        return gone

    def wanted(self) -> dict[StreamKey, Spec]:
        """Key -> the spec of the newest lease of each wanted stream."""
        out: dict[StreamKey, Spec] = {}
        for key, leases in self._leases.items():
            out[key] = max(leases.values(), key=lambda v: v[1])[0]
        return out

    def consumers(self, key: StreamKey) -> int:
        return len(self._leases.get(key, ()))

    def next_expiry(self) -> float | None:
        times = [until for leases in self._leases.values() for _, until in leases.values()]
        return min(times, default=None)


@dataclass(slots=True)
class LeaderLease:
    """Our view of the leader lease: we act as leader only until ``valid_until``.

    The lease is counted from the moment the acquire/renew request was *sent* (the server's
    expiry can only be later), minus ``margin``: a leader that cannot renew stops publishing and
    closes its gateway session before any standby can take the lease.
    """

    ttl: float
    margin: float
    token: int | None = None
    valid_until: float = 0.0

    def granted(self, token: int, sent_at: float) -> None:
        self.token = token
        self.valid_until = sent_at + self.ttl - self.margin

    def renewed(self, sent_at: float) -> None:
        self.valid_until = max(self.valid_until, sent_at + self.ttl - self.margin)

    def lost(self) -> None:
        self.token = None
        self.valid_until = 0.0

    def valid(self, now: float) -> bool:
        return self.token is not None and now < self.valid_until


def _merge_fields(old: Any, new: Any) -> Any:
    """``new`` with its ``None`` fields taken from ``old`` (for P&L rows and ledger entries)."""
    changes = {
        f.name: getattr(old, f.name)
        for f in dataclasses.fields(new)
        if getattr(new, f.name) is None and getattr(old, f.name) is not None
    }
    if isinstance(getattr(new, "values", None), Mapping) and not isinstance(new, MarketData):
        changes["values"] = {**old.values, **new.values}
    return dataclasses.replace(new, **changes) if changes else new


def merge_event(old: Any, new: Any) -> Any:
    """One event holding the state of ``old`` then ``new`` (same stream and entity)."""
    if old is None or new.__class__ is PositionUpdate:  # a position update is the whole entity
        return new
    if isinstance(new, MarketData):
        values = {**old.values, **new.values}
        raw = {**old.raw, **new.raw}
        return new._replace(
            values=values,
            raw=raw,
            server_id=new.server_id or old.server_id,
            updated_ms=max(old.updated_ms or 0, new.updated_ms or 0) or None,
        )
    if isinstance(new, OrderUpdate):
        return dataclasses.replace(
            new,
            account=new.account or old.account,
            conid=new.conid if new.conid is not None else old.conid,
            status=new.status or old.status,
            changes={**old.changes, **new.changes},
        )
    if isinstance(new, AccountSummary):
        return dataclasses.replace(new, values={**old.values, **new.values})
    return _merge_fields(old, new)


@dataclass(slots=True)
class _KeyState:
    # per bus: entity -> merged event, the entities changed since the last take (with the
    # position of the last event merged into each), and the key's watermark
    entities: dict[int, dict[str, Any]] = field(default_factory=dict)
    dirty: dict[int, dict[str, Position]] = field(default_factory=dict)
    watermark: dict[int, Position] = field(default_factory=dict)


class StateMirror:
    """The live state the bridge publishes, per bus, each entity with the position it reflects.

    Only events a bus has *stored* are merged (``applied(event, bus, position)``, in the order
    the bus stored them), so the state never holds an event the stream does not; ``take(bus)``
    hands out what changed since the last call (entries, then the watermark to write).
    """

    def __init__(self) -> None:
        self._keys: dict[StreamKey, _KeyState] = {}

    def applied(self, event: Any, bus: int, position: Position) -> None:
        """Bus number ``bus`` stored ``event`` at ``position``."""
        key = getattr(event, "key", None)
        if key is None:
            return
        st = self._keys.setdefault(key, _KeyState())
        entity = entity_of(event)
        if entity is not None:
            entities = st.entities.setdefault(bus, {})
            entities[entity] = merge_event(entities.get(entity), event)
            st.dirty.setdefault(bus, {})[entity] = position
        st.watermark[bus] = max(st.watermark.get(bus, position), position)

    def entity(self, bus: int, key: StreamKey, entity: str) -> Any:
        st = self._keys.get(key)
        return None if st is None else st.entities.get(bus, {}).get(entity)

    def entities(self, bus: int, key: StreamKey) -> dict[str, Any]:
        """Entity -> merged event of stream ``key`` on bus ``bus`` (a copy)."""
        st = self._keys.get(key)
        return {} if st is None else dict(st.entities.get(bus, {}))

    def seed(self, bus: int, key: StreamKey, entity: str, event: Any) -> None:
        """Start from state read back from bus ``bus`` (a new leader continuing the old one's)."""
        st = self._keys.setdefault(key, _KeyState())
        st.entities.setdefault(bus, {}).setdefault(entity, event)

    def dirty(self) -> int:
        """Entities changed but not yet handed out by ``take`` (over every bus)."""
        return sum(len(d) for st in self._keys.values() for d in st.dirty.values())

    def take(
        self, bus: int, fence: int, *, market_data: bool = True
    ) -> list[tuple[StreamKey, dict[str, bytes], Position]]:
        """``(key, entries, watermark)`` to write to bus ``bus``; clears what it returns.

        ``market_data=False`` leaves market-data streams for a later call (their state is
        written less often: a late joiner replays the rest from the stream)."""
        out = []
        for key, st in self._keys.items():
            if not market_data and key.topic in _MD_TOPICS:
                continue
            dirty = st.dirty.pop(bus, None)
            wm = st.watermark.get(bus)
            if not dirty or wm is None:
                continue
            entities = st.entities[bus]
            entries = {
                entity: StateEntry(pos, fence, event_to_dict(entities[entity])).to_json()
                for entity, pos in dirty.items()
            }
            out.append((key, entries, wm))
        return out
