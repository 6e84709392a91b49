"""Bars built from ticks, live from a client or offline from a recording.

Live::

    async with client.subscribe(MarketDataSpec(265598, fields=("last", "last_size", "volume"))):
        async with LiveBars(client, 265598, "1min") as bars:
            async for bar in bars:                 # each closed bar, gaps marked
                print(bar.start_ms, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.gap)
                print("forming:", bars.forming)

Offline: :func:`bars_from_recording` (JSON lines or Parquet). The bar rules (what a trade tick is,
how volume is counted, which bars a ``Gap`` marks) are in :mod:`ibstream.state.bars`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ibstream.aio.recorder import read_recording
from ibstream.exceptions import InvalidState
from ibstream.protocol.decoding import decode
from ibstream.protocol.events import MarketData
from ibstream.protocol.lifecycle import Gap
from ibstream.protocol.once import CountOnce
from ibstream.protocol.specs import MarketDataSpec
from ibstream.state.bars import OHLCV, BarBuilder, BarSize

if TYPE_CHECKING:
    from ibstream.aio.client import StreamClient

__all__ = ["OHLCV", "BarSize", "LiveBars", "bars_from_recording"]

#: fields a bar needs: last price, last size, day volume
BAR_FIELDS = ("31", "7059", "87")


class LiveBars:
    """Closed bars of one contract as an async iterator; :attr:`forming` is the bar in progress.

    Holds a market-data subscription for the contract (with the fields bars need) while open.
    Ticks are timed by the gateway (``_updated``); time bars close when the gateway's time, as
    estimated from the local ``clock`` (epoch seconds, injectable) plus the last observed
    offset, passes their end — even without a further trade. Closed bars wait in a bounded queue
    (``maxsize``): a consumer that falls further behind than that loses the oldest bars, counted
    in :attr:`dropped` — bars are small, a reader would have to stall for ``maxsize`` bars.
    """

    def __init__(
        self,
        client: StreamClient,
        conid: int,
        size: BarSize | str,
        *,
        maxsize: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.builder = BarBuilder(conid, size)
        self.conid = conid
        self.dropped = 0
        self._client = client
        self._clock = clock
        self._queue: deque[OHLCV] = deque(maxlen=maxsize)
        self._wake = asyncio.Event()
        self._removers: list[Callable[[], None]] = []
        self._timer: asyncio.Task[None] | None = None
        self._closed = False
        self._handle: object | None = None
        self._skew_ms = 0  # gateway time minus local time, from the last timed frame

    @property
    def forming(self) -> OHLCV | None:
        return self.builder.forming

    async def __aenter__(self) -> LiveBars:
        self._handle = self._client.subscribe(
            MarketDataSpec(self.conid, fields=BAR_FIELDS), buffer=False
        )
        self._removers.append(self._client.on(MarketData, self._on_event))
        self._removers.append(self._client.on(Gap, self._on_event))
        if self.builder.size.kind == "time":
            self._timer = asyncio.get_running_loop().create_task(self._tick())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: release the subscription and callbacks; the iterator ends after queued bars."""
        if self._closed:
            return
        self._closed = True
        for remove in self._removers:
            remove()
        self._removers.clear()
        if self._timer is not None:
            self._timer.cancel()
        unsubscribe = getattr(self._handle, "unsubscribe", None)
        if unsubscribe is not None:
            result = unsubscribe()
            if asyncio.iscoroutine(result):
                await result
        self._wake.set()

    def _push(self, bars: Iterable[OHLCV]) -> None:
        for bar in bars:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1
            self._queue.append(bar)
            self._wake.set()

    def _on_event(self, event: object) -> None:
        if isinstance(event, Gap):
            if event.key.topic.value == "md" and event.key.ident == str(self.conid):
                self.builder.on_event(event)
            return
        now_ms = round(self._clock() * 1000)
        if (
            isinstance(event, MarketData)
            and event.conid == self.conid
            and event.updated_ms is not None
        ):
            self._skew_ms = event.updated_ms - now_ms
        self._push(self.builder.on_event(event, now_ms))

    async def _tick(self) -> None:
        step = self.builder.size.size
        while not self._closed:
            now = self._clock() + self._skew_ms / 1000
            # sleep to the next bucket boundary (gateway time), then close what ended
            await asyncio.sleep(max(step - (now % step), 0.001))
            self._push(self.builder.advance(round(self._clock() * 1000) + self._skew_ms))

    def __aiter__(self) -> LiveBars:
        return self

    async def __anext__(self) -> OHLCV:
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            if self._handle is None:
                raise InvalidState("use 'async with LiveBars(...)' before iterating")
            self._wake.clear()
            await self._wake.wait()
        return self._queue.popleft()


def bars_from_recording(
    path: str | Path,
    conid: int,
    size: BarSize | str,
    *,
    gaps: Iterable[tuple[float, float]] = (),
    keep_partial: bool = True,
) -> list[OHLCV]:
    """Bars of one contract built offline from a frame recording (JSON lines or Parquet).

    A frame recording holds what the gateway sent, not the client's ``Gap`` events: pass the
    interruptions you know of as ``gaps`` (``(start, end)`` epoch seconds, e.g. from the
    ``Gap`` events a ``RecorderSink`` kept) and the bars they span say so. ``keep_partial``
    adds the bar still forming at the end (``complete=False``). Frames without ``_updated``
    take their receive time. The protocol's count-once rules apply as live (a stream's
    duplicated opening snapshot is one trade).
    """
    builder = BarBuilder(conid, size)
    pending = sorted(gaps)
    bars: list[OHLCV] = []
    once = CountOnce()  # as live: the duplicated opening snapshot is one trade, not two
    for frame in read_recording(path):
        if frame.direction != "in":
            once.sent(frame.text)
            continue
        while pending and pending[0][0] <= frame.t:
            start, end = pending.pop(0)
            # a time bar that ended before the gap began is whole: close it first
            bars += builder.advance(round(start * 1000))
            builder.gap(round(start * 1000), round(end * 1000))
        for ev in once.received(decode(frame.data)):
            bars += builder.on_event(ev, round(frame.t * 1000))
    for start, end in pending:
        bars += builder.advance(round(start * 1000))
        builder.gap(round(start * 1000), round(end * 1000))
    if keep_partial:
        bars += builder.close()
    return bars
