"""The bus wire format shared by ``ibstream bridge`` and ``ibstream.remote``. Pure: no I/O.

One message per event. Its body is the event's JSON (:func:`ibstream.serialize.event_to_json`,
encoded once); beside the body travel:

* a **dedupe id** (:func:`message_id`), so a message published twice (a retry; for a fill, also
  a new leader replaying what the old one already sent) is stored once: JetStream drops it
  through ``Nats-Msg-Id``, the bridge's Redis script through a ``SET NX`` marker;
* the **fencing token** of the bridge that published it (:class:`FenceGuard` rejects stale ones);
* the bridge's publish time (epoch ms), for latency figures.

Where events go (:class:`Layout`): one subject / Redis stream per topic and key, named after the
event's :class:`~ibstream.protocol.specs.StreamKey` (``md:265598`` -> ``ibs.md.265598`` /
``{ibs}:s:md:265598``); events without a key (session, auth, bulletins, errors...) go to
``ibs.ev.<Type>`` / ``{ibs}:s:ev``. Live state for late joiners is kept per stream key in a NATS
KV bucket / Redis hash, entity by entity, each entry with the stream position it reflects, plus
a watermark (:class:`StateEntry`, :func:`entity_of`).

Positions (:data:`Position`) are ``(a, b)`` pairs ordered like the bus orders messages: a
JetStream stream sequence is ``(seq, 0)``, a Redis entry id ``"ms-n"`` is ``(ms, n)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import orjson

from ibstream.exceptions import InvalidArgument
from ibstream.protocol import portfolio as _portfolio
from ibstream.protocol import specs as _specs
from ibstream.protocol.events import (
    AccountLedger,
    AccountSummary,
    MarketData,
    OrderUpdate,
    Pnl,
    Trade,
)
from ibstream.protocol.specs import Spec, StreamKey, Topic

__all__ = [
    "POSITIONS_KEY",
    "RELIABLE_TOPICS",
    "FenceGuard",
    "Layout",
    "Position",
    "PositionUpdate",
    "StateEntry",
    "entity_of",
    "format_position",
    "message_id",
    "parse_position",
    "spec_from_json",
    "spec_to_json",
]

Position: TypeAlias = tuple[int, int]
"""Where a message sits in its stream; compares like the bus orders messages."""

#: Topics published with acknowledgement and retried until stored (never conflated).
RELIABLE_TOPICS = frozenset(
    {Topic.ORDERS, Topic.TRADES, Topic.PNL, Topic.ACCOUNT_SUMMARY, Topic.ACCOUNT_LEDGER}
)

POSITIONS_KEY = StreamKey.of(Topic.PNL, "positions")
"""Where the bridge publishes positions. The gateway has no position stream (positions are read
over REST), so they travel beside P&L, on the portfolio topic under their own key: subject
``ibs.pl.positions`` / Redis stream ``{ibs}:s:pl:positions``, kept like account values."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionUpdate:
    """The position of ``account`` in ``conid`` is now ``position`` (``None``: closed).

    Published by the leader bridge for each change its client's ``positions`` sees (fills,
    reconnects); a consumer's ``remote.positions`` applies it to its book."""

    key: StreamKey = POSITIONS_KEY
    account: str
    conid: int
    position: _portfolio.Position | None


_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_=-]")


def _token(ident: str) -> str:
    """A key ident made safe for a NATS subject token / KV key (dots and spaces replaced)."""
    return _UNSAFE.sub("_", ident) or "_"


@dataclass(frozen=True, slots=True)
class Layout:
    """Names of everything on the bus for one deployment ``prefix`` (default ``ibs``)."""

    prefix: str = "ibs"

    def __post_init__(self) -> None:
        if not _NAME.match(self.prefix):
            raise InvalidArgument(
                "prefix", f"1-32 letters, digits, '_' or '-', got {self.prefix!r}"
            )

    # -- NATS ---------------------------------------------------------------------------
    def subject(self, key: StreamKey | None, event_type: str = "") -> str:
        """The subject of events of stream ``key`` (``None``: keyless events of ``event_type``)."""
        if key is None:
            return f"{self.prefix}.ev.{event_type or 'Event'}"
        return f"{self.prefix}.{key.topic.value}.{_token(key.ident)}"

    def stream(self, topic: Topic | None) -> str:
        """The JetStream stream holding ``topic`` (``None``: keyless events)."""
        group = _STREAM_GROUP.get(topic, "EVENTS") if topic is not None else "EVENTS"
        return f"{self.prefix.upper()}_{group}"

    def stream_subjects(self) -> dict[str, list[str]]:
        """Stream name -> the subjects it captures."""
        out: dict[str, list[str]] = {}
        for topic in Topic:
            out.setdefault(self.stream(topic), []).append(f"{self.prefix}.{topic.value}.>")
        out.setdefault(self.stream(None), []).append(f"{self.prefix}.ev.>")
        return out

    @property
    def state_bucket(self) -> str:
        return f"{self.prefix}_state"

    @property
    def leader_bucket(self) -> str:
        return f"{self.prefix}_leader"

    @property
    def demand_subject(self) -> str:
        """Core-NATS subject remote consumers send their demand leases to (not stored)."""
        return f"{self.prefix}.ctl.demand"

    def state_key(self, key: StreamKey, entity: str) -> str:
        """NATS KV key of one entity of stream ``key`` (``entity`` ``_w``: the watermark)."""
        return f"{key.topic.value}.{_token(key.ident)}.{_token(entity)}"

    # -- Redis (one hash tag: every key lands in one cluster slot) --------------------------
    def redis_stream(self, key: StreamKey | None) -> str:
        return f"{{{self.prefix}}}:s:{key if key is not None else 'ev'}"

    def redis_state(self, key: StreamKey) -> str:
        return f"{{{self.prefix}}}:state:{key}"

    @property
    def redis_streams(self) -> str:
        """A set of every stream the bridge wrote (how ``events()`` finds them)."""
        return f"{{{self.prefix}}}:streams"

    @property
    def redis_fence(self) -> str:
        """The highest fencing token that wrote; lower ones are refused by the publish script."""
        return f"{{{self.prefix}}}:fence"

    @property
    def redis_term(self) -> str:
        return f"{{{self.prefix}}}:term"

    @property
    def redis_leader(self) -> str:
        return f"{{{self.prefix}}}:leader"

    @property
    def redis_demand(self) -> str:
        return f"{{{self.prefix}}}:ctl:demand"

    def redis_dedupe(self, msg_id: str) -> str:
        return f"{{{self.prefix}}}:dd:{msg_id}"


_STREAM_GROUP: dict[Topic | None, str] = {
    Topic.MARKET_DATA: "MD",
    Topic.MARKET_HISTORY: "MD",
    Topic.PRICE_LADDER: "MD",
    Topic.ORDERS: "ORDERS",
    Topic.TRADES: "TRADES",
    Topic.PNL: "ACCOUNT",
    Topic.ACCOUNT_SUMMARY: "ACCOUNT",
    Topic.ACCOUNT_LEDGER: "ACCOUNT",
}


def message_id(event: Any, body: bytes, fence: int, serial: int) -> str:
    """The dedupe id of one message; made once per event, so a retry of it keeps its id.

    * A trade: its execution id and whether it carries the commission (IBKR sends each
      execution twice, the second adds it). The same fill is stored once whoever publishes it,
      a new leader's replay after a failover included.
    * Market data with the gateway's stamp (``_updated``): a digest of its key and body. The
      stamp makes the body unique, so only a true copy (the gateway's duplicated opening frame,
      protocol.md §8.3) shares an id.
    * Everything else (orders, P&L, account values, ledger, positions, history, lifecycle and
      session events): the fencing token and the publisher's serial number. These carry a
      state that can genuinely come back (an order back to a status it had, P&L back to a
      value): a content id would let the bus drop it as a duplicate for its whole dedupe window
      (10 minutes by default) and leave every consumer on the stale value. A new leader's
      replay is therefore stored again; consumers apply it as a no-op.
    """
    cls = event.__class__
    if cls is Trade:
        return f"tr:{event.execution_id}:{int(event.commission is not None)}"
    if cls is MarketData and event.updated_ms is not None:
        digest = hashlib.blake2b(body, digest_size=12).hexdigest()
        return f"md:{digest}"
    return f"f{fence}:{serial}"


class FenceGuard:
    """Accepts messages of the newest fencing token seen; counts and rejects older ones.

    A bridge that lost its lease may still have messages in flight; every consumer drops them
    here, whatever the bus let through.
    """

    __slots__ = ("current", "rejected")

    def __init__(self, current: int = 0) -> None:
        self.current = current  # the highest token seen
        self.rejected = 0  # messages dropped for a stale token

    def admit(self, fence: int) -> bool:
        """Whether a message of token ``fence`` is accepted (raises the bar if newer)."""
        if fence < self.current:
            self.rejected += 1
            return False
        self.current = fence
        return True


def parse_position(text: str | bytes | int) -> Position:
    """A bus position from ``123`` (JetStream sequence) or ``"1700000000000-3"`` (Redis id)."""
    if isinstance(text, int):
        return (text, 0)
    s = text.decode() if isinstance(text, bytes) else text
    a, _, b = s.partition("-")
    try:
        return (int(a), int(b or 0))
    except ValueError:
        raise InvalidArgument("position", f"not a bus position: {s!r}") from None


def format_position(pos: Position) -> str:
    """The text form of ``pos`` (``"123"`` or ``"1700000000000-3"``)."""
    return f"{pos[0]}-{pos[1]}" if pos[1] else str(pos[0])


# -- live state ------------------------------------------------------------------------------


def entity_of(event: Any) -> str | None:
    """Which state entity of its stream ``event`` updates (``None``: not part of live state).

    Market data and account summaries: one entity per stream; orders: one per order id;
    P&L: one per row; ledger: one per currency; positions: one per account and conid.
    """
    cls = event.__class__
    if cls is MarketData or cls is AccountSummary:
        return "-"
    if cls is OrderUpdate:
        return str(event.order_id)
    if cls is Pnl:
        return str(event.row)
    if cls is AccountLedger:
        return str(event.currency)
    if cls is PositionUpdate:
        return f"{_token(event.account)}-{event.conid}"
    return None


@dataclass(frozen=True, slots=True)
class StateEntry:
    """One live-state entity: the merged event and the position of the last event it holds."""

    position: Position
    fence: int
    event: Mapping[str, Any]  # the merged event, as serialize.event_to_dict writes it

    def to_json(self) -> bytes:
        return orjson.dumps(
            {"pos": format_position(self.position), "fence": self.fence, "event": self.event}
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> StateEntry:
        """Parse one entry; raises ``InvalidArgument`` for anything else."""
        try:
            d = orjson.loads(data)
            return cls(parse_position(d["pos"]), int(d["fence"]), dict(d["event"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument("state", f"not a state entry: {exc}") from None


# -- demand: specs on the control channel --------------------------------------------------------

_SPEC_CLASSES = {cls.__name__: cls for cls in _specs._SPEC_TYPES}


def spec_to_json(spec: Spec) -> dict[str, Any]:
    """``{"type": "MarketDataSpec", "conid": 265598, ...}``: a spec as JSON-able data."""
    out: dict[str, Any] = {"type": type(spec).__name__}
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def spec_from_json(data: Mapping[str, Any]) -> Spec:
    """The spec ``spec_to_json`` wrote; raises ``InvalidArgument`` for anything else."""
    cls = _SPEC_CLASSES.get(str(data.get("type")))
    if cls is None:
        raise InvalidArgument("spec", f"unknown spec type {data.get('type')!r}")
    kwargs: dict[str, Any] = {
        f.name: tuple(data[f.name]) if isinstance(data.get(f.name), list) else data[f.name]
        for f in dataclasses.fields(cls)
        if f.name in data
    }
    try:
        spec: Spec = cls(**kwargs)
    except TypeError as exc:
        raise InvalidArgument("spec", str(exc)) from None
    return spec
