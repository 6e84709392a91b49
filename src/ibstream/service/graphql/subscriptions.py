"""The ``Subscription`` type, built from one table: a row per data stream, plus ``lifecycle``.

Each row (:class:`StreamField`) names the field, its topic, the GraphQL type of its data and the
function that builds that type from an event. The field's arguments are the parameters of the
row's ``arguments`` function; by default they are passed to
:func:`ibstream.protocol.registry.spec_from_args` (those that are members of the topic's spec), and
an ``account`` argument that is not a spec member filters events by account. The generated
resolver opens one hub consumer, attaches the specs and yields the union
``<data> | StreamGap | StreamState`` until the client completes.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Union

import strawberry

from ibstream.exceptions import IBStreamError
from ibstream.protocol.events import MarketData, TradeUpdated
from ibstream.protocol.registry import TOPICS, spec_from_args
from ibstream.protocol.specs import Spec, Topic
from ibstream.service import limits
from ibstream.service.graphql.context import conid_list, field_ids, hub_of
from ibstream.service.graphql.types import (
    AccountSummaryValues,
    Execution,
    LedgerBalance,
    MarketHistoryUpdate,
    Notice,
    OrderChange,
    PnlRow,
    PriceLadderUpdate,
    SessionChange,
    StreamGap,
    StreamState,
    Ticker,
    to_execution,
    to_history,
    to_ladder,
    to_ledger,
    to_notice,
    to_order_change,
    to_pnl_row,
    to_stream_event,
    to_summary,
    to_ticker,
)
from ibstream.service.hub import Hub
from ibstream.service.queue import QueueClosed, QueueOverflow

__all__ = ["STREAMS", "StreamField", "Subscription", "data_subscription"]

Convert = Callable[[Any], Any]
"""An event -> the GraphQL object to send, or ``None`` to skip it."""


_ALSO_DELIVERED: dict[Topic, tuple[type, ...]] = {Topic.TRADES: (TradeUpdated,)}
"""Event types a topic's subscription delivers besides its registry event (a re-sent execution
that changed comes as ``TradeUpdated``; its ``Execution`` has ``updated: true``)."""


@dataclass(frozen=True, slots=True)
class StreamField:
    """One data subscription field of the schema."""

    name: str
    """The Python name (GraphQL camel-cases it: ``market_data`` -> ``marketData``)."""
    topic: Topic
    payload: type
    """The strawberry type of the data (the first member of the union)."""
    union: str
    """The GraphQL name of ``payload | StreamGap | StreamState``."""
    description: str
    arguments: Callable[..., None]
    """A typed function whose parameters are the field's arguments (its body is unused)."""
    convert: Callable[[Hub, Any], Any]
    """A data event of the topic -> ``payload``."""
    open: Callable[[Hub, Mapping[str, Any]], tuple[list[Spec], Convert]] | None = None
    """Override: the specs and the converter for the given arguments."""

    def plan(self, hub: Hub, args: Mapping[str, Any]) -> tuple[list[Spec], Convert]:
        """The specs to attach and the event converter for one subscription."""
        if self.open is not None:
            return self.open(hub, args)
        entry = TOPICS[self.topic]
        spec = spec_from_args(self.topic, {k: v for k, v in args.items() if k in entry.members})
        event_type = (entry.event, *_ALSO_DELIVERED.get(self.topic, ()))
        convert = self.convert
        account = args.get("account") if "account" not in entry.members else None

        def converted(ev: Any) -> Any:
            if not isinstance(ev, event_type):
                return None
            if account and getattr(ev, "account", None) != account:
                return None
            return convert(hub, ev)

        return [spec], converted


async def _stream(
    hub: Hub,
    specs: list[Spec],
    convert: Convert,
    *,
    session_events: bool = False,
    all_lifecycle: bool = False,
) -> AsyncGenerator[Any, None]:
    """One hub consumer for the life of the GraphQL subscription."""
    consumer = hub.open_consumer(
        "graphql",
        wants_bytes=False,
        session_events=session_events,
        all_lifecycle=all_lifecycle,
    )
    try:
        limits.check_request(hub, len(specs))  # consumer limits (service/limits.py)
        for spec in specs:
            hub.attach(consumer, limits.check_attach(hub, consumer, spec))
        while True:
            try:
                ev = await consumer.queue.get()
            except QueueClosed:
                return
            except QueueOverflow as exc:
                raise IBStreamError(f"{exc}; subscription ended") from None
            out = to_stream_event(ev)
            if out is None:
                out = convert(ev)
            if out is not None:
                yield out
    finally:
        hub.close_consumer(consumer, "subscription ended")


def data_subscription(row: StreamField) -> Any:
    """The strawberry subscription field of ``row`` (resolver signature from its arguments)."""

    async def resolve(info: strawberry.Info, **args: Any) -> AsyncGenerator[Any, None]:
        hub = hub_of(info)
        specs, convert = row.plan(hub, args)
        async for out in _stream(hub, specs, convert):
            yield out

    union: Any = Annotated[
        Union[row.payload, StreamGap, StreamState],  # noqa: UP007 - built at run time
        strawberry.union(row.union),
    ]
    params = list(inspect.signature(row.arguments, eval_str=True).parameters.values())
    info = inspect.Parameter(
        "info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=strawberry.Info
    )
    returns = AsyncGenerator[union, None]
    resolve.__signature__ = inspect.Signature([info, *params], return_annotation=returns)  # type: ignore[attr-defined]
    resolve.__name__ = row.name
    resolve.__annotations__ = {
        "info": strawberry.Info,
        **{p.name: p.annotation for p in params},
        "return": returns,
    }
    return strawberry.subscription(resolver=resolve, description=row.description)


# -- the table ---------------------------------------------------------------------------------
# The ``_args_*`` functions only declare arguments: names, types and defaults as clients see them.


def _args_market_data(conids: list[int], fields: list[str] | None = None) -> None: ...


def _open_market_data(hub: Hub, args: Mapping[str, Any]) -> tuple[list[Spec], Convert]:
    ids = field_ids(args.get("fields"))
    wire = tuple(str(i) for i in ids) if ids else None
    specs = [
        spec_from_args(Topic.MARKET_DATA, {"conid": c, "fields": wire})
        for c in conid_list(args["conids"])
    ]

    def convert(ev: Any) -> Ticker | None:
        return to_ticker(hub, ev.conid, ids, ev.values) if isinstance(ev, MarketData) else None

    return specs, convert


def _args_market_history(
    conid: int,
    period: str = "1d",
    bar: str = "5min",
    source: str = "trades",
    outside_rth: bool = False,
) -> None: ...


def _args_price_ladder(account: str, conid: int) -> None: ...


def _args_any_account(account: str | None = None) -> None: ...


def _args_account(account: str) -> None: ...


STREAMS: tuple[StreamField, ...] = (
    StreamField(
        "market_data",
        Topic.MARKET_DATA,
        Ticker,
        "MarketDataEvent",
        "Market data of one or many conids; `fields` (ids or names) chooses the fields requested "
        "upstream and returned.",
        _args_market_data,
        lambda hub, ev: None,  # see _open_market_data
        _open_market_data,
    ),
    StreamField(
        "market_history",
        Topic.MARKET_HISTORY,
        MarketHistoryUpdate,
        "HistoryEvent",
        "Historical bars of one conid (smh).",
        _args_market_history,
        lambda hub, ev: to_history(ev),
    ),
    StreamField(
        "price_ladder",
        Topic.PRICE_LADDER,
        PriceLadderUpdate,
        "LadderEvent",
        "BookTrader price ladder of one conid (sbd).",
        _args_price_ladder,
        lambda hub, ev: to_ladder(ev),
    ),
    StreamField(
        "orders",
        Topic.ORDERS,
        OrderChange,
        "OrderEvent",
        "Order updates (every account, or one).",
        _args_any_account,
        to_order_change,
    ),
    StreamField(
        "trades",
        Topic.TRADES,
        Execution,
        "TradeEvent",
        "Executions (every account, or one).",
        _args_any_account,
        lambda hub, ev: to_execution(ev),
    ),
    StreamField(
        "pnl",
        Topic.PNL,
        PnlRow,
        "PnlEvent",
        "P&L rows (every account, or one).",
        _args_any_account,
        lambda hub, ev: to_pnl_row(ev),
    ),
    StreamField(
        "account_summary",
        Topic.ACCOUNT_SUMMARY,
        AccountSummaryValues,
        "SummaryEvent",
        "Account summary updates of one account.",
        _args_account,
        lambda hub, ev: to_summary(ev.account, ev.values, ev.timestamp),
    ),
    StreamField(
        "account_ledger",
        Topic.ACCOUNT_LEDGER,
        LedgerBalance,
        "LedgerEvent",
        "Ledger updates (per currency) of one account.",
        _args_account,
        lambda hub, ev: to_ledger(ev.account, ev.currency, ev.timestamp, ev.values),
    ),
)
"""Every data subscription, in schema order."""


LifecycleEvent = Annotated[
    SessionChange | StreamState | StreamGap | Notice, strawberry.union("LifecycleEvent")
]


async def _s_lifecycle(info: strawberry.Info) -> AsyncGenerator[LifecycleEvent, None]:
    hub = hub_of(info)
    state = hub.client.state.name
    yield SessionChange(previous=state, state=state, reason="current state")
    async for out in _stream(hub, [], to_notice, session_events=True, all_lifecycle=True):
        yield out


def _subscription_type() -> type:
    fields: dict[str, Any] = {row.name: data_subscription(row) for row in STREAMS}
    fields["lifecycle"] = strawberry.subscription(
        resolver=_s_lifecycle,
        description="Session state changes, every stream's state changes and gaps, bulletins, "
        "notifications and gateway errors (first: the current session state).",
    )
    cls: type = strawberry.type(type("Subscription", (), fields))
    return cls


Subscription = _subscription_type()
"""The schema's ``Subscription`` type (the rows of :data:`STREAMS` and ``lifecycle``)."""
