"""The pure histogram the client observes lag and REST latency into."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibstream.exceptions import InvalidArgument
from ibstream.histogram import LAG_BUCKETS, LATENCY_BUCKETS, Histogram, le_label


def test_buckets_are_cumulative_and_inclusive() -> None:
    h = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 1.0, 7.0):
        h.observe(value)
    snap = h.snapshot()
    # Prometheus buckets count observations <= le: 0.1 and 1.0 fall in their own bucket
    assert snap["buckets"] == {"0.1": 2, "1.0": 4, "+Inf": 5}
    assert snap["count"] == 5
    assert snap["sum"] == pytest.approx(8.65)


def test_negative_counts_as_zero_and_nan_is_ignored() -> None:
    h = Histogram((0.5,))
    h.observe(-3.0)  # a gateway clock ahead of ours
    h.observe(math.nan)
    assert h.snapshot() == {"buckets": {"0.5": 1, "+Inf": 1}, "count": 1, "sum": 0.0}


@pytest.mark.parametrize("bounds", [(), (0.0, 1.0), (1.0, 1.0), (2.0, 1.0), (1.0, math.inf)])
def test_bad_bounds_are_refused(bounds: tuple[float, ...]) -> None:
    with pytest.raises(InvalidArgument, match="bounds"):
        Histogram(bounds)


def test_le_labels_read_like_prometheus() -> None:
    assert [le_label(b) for b in (0.005, 1, 2.5, math.inf)] == ["0.005", "1.0", "2.5", "+Inf"]
    assert len(LAG_BUCKETS) == len(set(LAG_BUCKETS)) and list(LAG_BUCKETS) == sorted(LAG_BUCKETS)
    assert list(LATENCY_BUCKETS) == sorted(set(LATENCY_BUCKETS))


@given(st.lists(st.floats(min_value=-10, max_value=1e4, allow_nan=False), max_size=200))
def test_snapshot_agrees_with_a_direct_count(values: list[float]) -> None:
    h = Histogram(LAG_BUCKETS)
    for v in values:
        h.observe(v)
    snap = h.snapshot()
    clamped = [max(v, 0.0) for v in values]
    for bound in LAG_BUCKETS:
        assert snap["buckets"][le_label(bound)] == sum(1 for v in clamped if v <= bound)
    assert snap["buckets"]["+Inf"] == snap["count"] == len(values)
    assert snap["sum"] == pytest.approx(math.fsum(clamped))
    assert orjson.loads(orjson.dumps(snap)) == snap  # JSON-safe, as metrics() promises
