"""The protocol's "count things once" rules for decoded frames without a subscription book.

:class:`~ibstream.protocol.connection.StreamProtocol` applies them live (protocol.md §4.5, §8.3):
each market-data stream's duplicated opening snapshot is delivered once, and each execution is
one ``Trade`` (a re-send that changes it is a ``TradeUpdated``, one that changes nothing is
dropped). :class:`CountOnce` applies the same rules to a recording replayed offline, where the
stream openings are known from the outgoing subscribe frames (``smd+CONID+{...}``) or, for a
recording without them, from the first frame of each stream.
"""

from __future__ import annotations

from collections.abc import Iterable

from ibstream.protocol.events import Event, MarketData, Trade
from ibstream.protocol.executions import ExecutionMemory
from ibstream.protocol.specs import StreamKey, Topic

__all__ = ["CountOnce"]

_ARMED = object()  # the next frame of the stream opens it


class CountOnce:
    """Filters decoded events of one connection's frames, in order (see the module docstring)."""

    def __init__(self) -> None:
        self._opening: dict[StreamKey, object] = {}
        self._executions = ExecutionMemory()
        self.opening_snapshots = 0
        """Duplicated opening snapshots dropped."""

    @property
    def suppressed(self) -> dict[str, int]:
        """The counters of :attr:`StreamProtocol.suppressed`."""
        return {
            "opening_snapshots": self.opening_snapshots,
            "trade_resends": self._executions.resends,
            "trade_updates": self._executions.updates,
        }

    def sent(self, text: str) -> None:
        """An outgoing frame: a market-data subscribe (re)opens its stream."""
        if text.startswith("smd+"):
            target = text[4:].partition("+")[0].partition("@")[0]
            self._opening[StreamKey.of(Topic.MARKET_DATA, target)] = _ARMED

    def received(self, events: Iterable[Event]) -> list[Event]:
        """The events of one received frame, as the live protocol would deliver them."""
        out: list[Event] = []
        for event in events:
            if type(event) is MarketData:
                if not self._duplicate_opening(event):
                    out.append(event)
            elif type(event) is Trade:
                delivered = self._executions.observe(event)
                if delivered is not None:
                    out.append(delivered)
            else:
                out.append(event)
        return out

    def _duplicate_opening(self, event: MarketData) -> bool:
        opening = self._opening.get(event.key, _ARMED)
        if opening is None:
            return False
        if opening is _ARMED:
            self._opening[event.key] = event.values
            return False
        self._opening[event.key] = None
        if event.values == opening:
            self.opening_snapshots += 1
            return True
        return False
