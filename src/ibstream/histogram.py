"""A small fixed-bucket histogram: what the client observes lag and REST latency into.

Pure (no clock, no I/O, no dependency): the caller measures and calls :meth:`Histogram.observe`
with a value in seconds. :meth:`Histogram.snapshot` gives the Prometheus shape — cumulative
counts per upper bound (``le``), the count and the sum — as plain JSON-safe values, which
``StreamClient.metrics()`` returns and the service's ``/metrics`` exposes as a histogram.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left
from collections.abc import Sequence
from typing import TypedDict

from ibstream.exceptions import InvalidArgument

__all__ = ["LAG_BUCKETS", "LATENCY_BUCKETS", "Histogram", "HistogramSnapshot", "le_label"]

#: upper bounds (s) for market-data lag (local clock minus the gateway's ``_updated``)
LAG_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
#: upper bounds (s) for REST round trips to the gateway
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


class HistogramSnapshot(TypedDict):
    """``buckets`` maps each upper bound (``le_label``) to the cumulative count of observations
    at or below it, ``"+Inf"`` last (equal to ``count``); ``sum`` is in seconds."""

    buckets: dict[str, int]
    count: int
    sum: float


def le_label(bound: float) -> str:
    """The Prometheus text of an upper bound: ``0.005`` -> ``"0.005"``, ``1`` -> ``"1.0"``."""
    return "+Inf" if bound == math.inf else repr(float(bound))


class Histogram:
    """Counts of observations per bucket, their number and their sum.

    Values below zero (a market-data timestamp ahead of the local clock: clock skew) count as 0;
    NaN is ignored. ``observe`` is a bisect and three additions — cheap on a sampled hot path.
    """

    __slots__ = ("_counts", "bounds", "count", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        bounds = tuple(float(b) for b in bounds)
        if not bounds or any(not math.isfinite(b) or b <= 0 for b in bounds):
            raise InvalidArgument("bounds", f"must be finite and > 0, got {bounds!r}")
        if any(a >= b for a, b in itertools.pairwise(bounds)):
            raise InvalidArgument("bounds", f"must increase strictly, got {bounds!r}")
        self.bounds = bounds
        self._counts = [0] * (len(bounds) + 1)  # the last is the +Inf overflow
        self.count = 0
        self.sum = 0.0

    def __repr__(self) -> str:
        return f"<Histogram count={self.count} sum={self.sum:.6g} buckets={len(self.bounds)}>"

    def observe(self, value: float) -> None:
        """Count ``value`` (seconds) in the first bucket whose bound is ``>=`` it."""
        if value != value:  # NaN
            return
        if value < 0.0:
            value = 0.0
        self._counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value

    def snapshot(self) -> HistogramSnapshot:
        """Cumulative bucket counts, count and sum (JSON-safe; see :class:`HistogramSnapshot`)."""
        buckets: dict[str, int] = {}
        running = 0
        for bound, n in zip(self.bounds, self._counts, strict=False):
            running += n
            buckets[le_label(bound)] = running
        buckets["+Inf"] = self.count
        return {"buckets": buckets, "count": self.count, "sum": self.sum}
