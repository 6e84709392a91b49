"""The consumer surface of :class:`~ibstream.aio.client.StreamClient`, typed per spec.

``subscribe`` returns a ``Subscription`` typed with the spec's own events (``MarketDataSpec`` ->
``Subscription[MarketData | StreamLifecycle]``), ``events()`` an ``EventStream[ClientEvent]``;
the work is the router's (:mod:`ibstream.aio.router`). Kept apart from the driver so the driver
module holds I/O only.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any, TypedDict, Unpack, overload

from ibstream.aio.router import Callback, Router
from ibstream.aio.subscription import ClientEvent, EventStream, StreamLifecycle, Subscription
from ibstream.protocol import events as ev
from ibstream.protocol import specs as sp
from ibstream.state import Ticker, Tickers

__all__ = ["ConsumerAPI", "FrameListener", "SubscribeOptions"]

log = logging.getLogger("ibstream.client")

#: ``listener(direction, data, now, binary)``: direction ``"in"`` (gateway -> us) or ``"out"``.
FrameListener = Callable[[str, bytes | str, float, bool], object]


class SubscribeOptions(TypedDict, total=False):
    """The keyword options of :meth:`ConsumerAPI.subscribe`."""

    replace: bool
    maxsize: int | None
    buffer: bool


class ConsumerAPI:
    """``subscribe``, ``events``, ``on``, ``on_frame``, ``ticker`` (mixed into the client)."""

    _router: Router
    _frame_listeners: list[FrameListener]
    tickers: Tickers

    @overload
    def subscribe(
        self, spec: sp.MarketDataSpec, **options: Unpack[SubscribeOptions]
    ) -> Subscription[ev.MarketData | StreamLifecycle]: ...
    @overload
    def subscribe(
        self, spec: sp.MarketHistorySpec, **options: Unpack[SubscribeOptions]
    ) -> Subscription[ev.MarketHistory | StreamLifecycle]: ...
    @overload
    def subscribe(
        self, spec: sp.PriceLadderSpec, **options: Unpack[SubscribeOptions]
    ) -> Subscription[ev.PriceLadder | StreamLifecycle]: ...
    @overload
    def subscribe(
        self, spec: sp.OrdersSpec, **options: Unpack[SubscribeOptions]
    ) -> Subscription[ev.OrderUpdate | StreamLifecycle]: ...
    @overload
    def subscribe(
        self, spec: sp.TradesSpec, **options: Unpack[SubscribeOptions]
    ) -> Subscription[ev.Trade | ev.TradeUpdated | ev.TradesOpened | StreamLifecycle]: ...
    @overload
    def subscribe(
        self, spec: sp.PnlSpec, **options: Unpack[SubscribeOptions]
    ) -> Subscription[ev.Pnl | StreamLifecycle]: ...
    @overload
    def subscribe(
        self, spec: sp.AccountSummarySpec, **options: Unpack[SubscribeOptions]
    ) -> Subscription[ev.AccountSummary | StreamLifecycle]: ...
    @overload
    def subscribe(
        self, spec: sp.AccountLedgerSpec, **options: Unpack[SubscribeOptions]
    ) -> Subscription[ev.AccountLedger | StreamLifecycle]: ...
    @overload
    def subscribe(
        self, spec: sp.Spec, **options: Unpack[SubscribeOptions]
    ) -> Subscription[ClientEvent]: ...
    def subscribe(
        self,
        spec: sp.Spec,
        *,
        replace: bool = False,
        maxsize: int | None = None,
        buffer: bool = True,
    ) -> Subscription[Any]:
        """Subscribe to a stream; returns a handle (typed async iterator + async context manager).

        With ``buffer=False`` the handle only holds the stream (``ready()``, ``state``,
        ``unsubscribe()``) and keeps no events: for consumers that read through ``on(...)``
        callbacks or ``events()``, so nothing fills a buffer nobody reads.

        Idempotent and shared: consumers of the same stream (same ``StreamKey``) share one
        upstream subscription. Market-data specs for a live conid with other fields are merged
        (the union of fields is requested, :func:`~ibstream.protocol.specs.effective_spec`);
        other parameter changes raise ``SubscriptionConflict`` unless ``replace=True``.
        """
        return self._router.subscribe(spec, replace=replace, maxsize=maxsize, buffer=buffer)

    def events(self, *, maxsize: int | None = None) -> EventStream[ClientEvent]:
        """Every event: data, lifecycle, auth, bulletins, notifications, errors."""
        return self._router.events(maxsize=maxsize)

    def on(self, event_type: type | None, callback: Callback) -> Callable[[], None]:
        """Call ``callback(event)`` for each event of ``event_type`` (``None``: every event).

        Callbacks run on the event loop, synchronously: keep them short. A callback that raises
        is logged and counted (``metrics()["callback_errors"]``); delivery goes on.
        Returns a function that removes the callback.
        """
        return self._router.on(event_type, callback)

    def on_frame(self, listener: FrameListener) -> Callable[[], None]:
        """Call ``listener(direction, data, now, binary)`` for every raw frame, both directions,
        before decoding (recorders use this; see ``ibstream.aio.recorder``). A listener that
        raises is logged and counted like a callback. Returns a function that removes it."""
        self._frame_listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._frame_listeners.remove(listener)

        return remove

    def _tap(self, direction: str, data: bytes | str, now: float, binary: bool) -> None:
        for fn in self._frame_listeners:
            try:
                fn(direction, data, now, binary)
            except Exception:
                self._router.counts["callback_errors"] += 1
                log.exception("frame listener %r failed", fn)

    def ticker(self, conid: int) -> Ticker:
        """The live ``Ticker`` of ``conid`` (updated in place as market data arrives)."""
        return self.tickers.get_or_create(conid)
