"""One ``Trade`` per execution: the ``str`` re-sends become ``TradeUpdated`` (§4.5, §8.8).

The gateway sends every execution twice, the second copy adding ``commission``, and replays
the whole history (with its duplicates) each time the trades stream is opened.
:class:`ExecutionMemory` remembers every execution it has delivered (bounded, oldest forgotten
first) and turns each incoming :class:`~ibstream.protocol.events.Trade` into:

* the ``Trade`` itself, for an execution id not seen before;
* a :class:`~ibstream.protocol.events.TradeUpdated`, for a re-send that changes a field (values
  it lacks, ``None``, keep the known ones);
* nothing, for a re-send that changes nothing (counted in :attr:`ExecutionMemory.resends`).

Pure and clock-free: the sans-I/O core calls it for every ``Trade`` it decodes.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from typing import Any

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.events import Trade, TradeUpdated

__all__ = ["DEFAULT_MAX_EXECUTIONS", "ExecutionMemory"]

DEFAULT_MAX_EXECUTIONS = 100_000

# Fields compared between copies (``key`` and ``execution_id`` are equal by construction).
_FIELDS = tuple(
    f.name for f in dataclasses.fields(Trade) if f.name not in ("key", "execution_id", "raw")
)


class ExecutionMemory:
    """The executions delivered so far, by id (see the module docstring)."""

    def __init__(self, max_size: int = DEFAULT_MAX_EXECUTIONS) -> None:
        if type(max_size) is not int or max_size < 1:
            raise InvalidArgument("max_size", f"must be a positive int, got {max_size!r}")
        self.max_size = max_size
        self._known: OrderedDict[str, Trade] = OrderedDict()
        self.resends = 0
        """Re-sends that changed nothing (dropped)."""
        self.updates = 0
        """Re-sends delivered as ``TradeUpdated``."""

    def __len__(self) -> int:
        return len(self._known)

    def observe(self, trade: Trade) -> Trade | TradeUpdated | None:
        """What to deliver for ``trade``: itself, a ``TradeUpdated``, or ``None`` (a re-send)."""
        known = self._known
        old = known.get(trade.execution_id)
        if old is None:
            known[trade.execution_id] = trade
            if len(known) > self.max_size:
                known.popitem(last=False)
            return trade
        changed: dict[str, Any] = {}
        for name in _FIELDS:
            value = getattr(trade, name)
            if value is not None and value != getattr(old, name):
                changed[name] = value
        if not changed:
            self.resends += 1
            return None
        merged = dataclasses.replace(old, raw={**old.raw, **trade.raw}, **changed)
        known[trade.execution_id] = merged
        self.updates += 1
        return TradeUpdated(
            key=trade.key,
            execution_id=trade.execution_id,
            trade=merged,
            changed=changed,
            raw=trade.raw,
        )
