"""The sans-I/O pacer: windows, concurrency, penalties, with time passed in."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.pacing import DEFAULT_LIMITS, GLOBAL, Grant, Limit, Pacer

SNAP = "/iserver/marketdata/snapshot"


def test_endpoint_limits_are_matched_by_method_and_path() -> None:
    p = Pacer()
    assert p.limit_for("GET", SNAP) == "snapshot"
    assert p.limit_for("get", SNAP + "?conids=1") == "snapshot"
    assert p.limit_for("GET", "/iserver/marketdata/history") == "history"
    assert p.limit_for("GET", "/iserver/account/orders") == "orders"
    assert p.limit_for("POST", "/iserver/account/DU1/orders") is None  # placing is not paced
    assert p.limit_for("GET", "/portfolio/accounts") == "portfolio_accounts"
    assert p.limit_for("POST", "/tickle") == "tickle"
    assert p.limit_for("GET", "/iserver/contract/1/info") is None


def test_sliding_window_never_allows_more_than_count_per_window() -> None:
    p = Pacer((), global_limit=Limit("g", ".*", count=10, per=1.0), margin=0.05)
    now = 0.0
    starts: list[float] = []
    while len(starts) < 50:
        r = p.try_acquire("GET", "/x", now)
        if isinstance(r, Grant):
            starts.append(now)
            p.release(r, now)
        else:
            assert r is not None and r > 0
            now += r
    for i in range(len(starts) - 10):
        assert starts[i + 10] - starts[i] >= 1.0  # any 11 starts span more than the window
    assert starts[-1] == pytest.approx((50 / 10 - 1) * 1.05, abs=1e-9)


def test_one_per_five_seconds() -> None:
    p = Pacer()
    g = p.try_acquire("GET", "/iserver/account/orders", 100.0)
    assert isinstance(g, Grant)
    p.release(g, 100.0)
    wait = p.try_acquire("GET", "/iserver/account/orders", 101.0)
    assert wait == pytest.approx(4.05)
    assert isinstance(p.try_acquire("GET", "/iserver/account/orders", 105.06), Grant)


def test_concurrency_waits_for_a_release() -> None:
    p = Pacer(DEFAULT_LIMITS, global_limit=None)
    grants = [p.try_acquire("GET", "/iserver/marketdata/history", 0.0) for _ in range(5)]
    assert all(isinstance(g, Grant) for g in grants)
    assert p.try_acquire("GET", "/iserver/marketdata/history", 0.0) is None
    first = grants[0]
    assert isinstance(first, Grant)
    p.release(first, 0.0)
    assert isinstance(p.try_acquire("GET", "/iserver/marketdata/history", 0.0), Grant)
    assert p.metrics(0.0)["history"]["in_flight"] == 5


def test_penalty_blocks_the_endpoint_then_lifts() -> None:
    p = Pacer()
    p.penalize("GET", SNAP, 10.0, 2.0)
    assert p.try_acquire("GET", SNAP, 11.0) == pytest.approx(1.0)
    assert isinstance(p.try_acquire("GET", "/iserver/contract/1/info", 11.0), Grant)
    assert isinstance(p.try_acquire("GET", SNAP, 12.0), Grant)
    m = p.metrics(12.0)
    assert m["snapshot"]["throttled"] == 1 and m["global"]["granted"] == 2


def test_global_limit_applies_across_endpoints() -> None:
    p = Pacer((), global_limit=GLOBAL)
    grants = [p.try_acquire("GET", f"/a/{i}", 0.0) for i in range(10)]
    assert p.try_acquire("GET", "/b", 0.5) is None  # all ten still in flight: wait for one
    for g in grants:
        assert isinstance(g, Grant)
        p.release(g, 0.2)
    wait = p.try_acquire("GET", "/b", 0.5)
    assert isinstance(wait, float) and wait == pytest.approx(0.75)  # 0.2 + 1.0 + 0.05 - 0.5


def test_window_counts_from_the_response_so_arrival_jitter_cannot_overrun() -> None:
    p = Pacer((), global_limit=Limit("g", ".*", count=1, per=1.0), margin=0.0)
    g = p.try_acquire("GET", "/x", 0.0)
    assert isinstance(g, Grant)
    p.release(g, 0.4)  # a slow answer: the gateway may have counted it as late as 0.4
    assert p.try_acquire("GET", "/x", 1.0) == pytest.approx(0.4)
    assert isinstance(p.try_acquire("GET", "/x", 1.4), Grant)


def test_bad_limits_are_refused() -> None:
    with pytest.raises(InvalidArgument):
        Limit("x", ".*", count=0)
    with pytest.raises(InvalidArgument):
        Limit("x", ".*", per=0)
    with pytest.raises(InvalidArgument):
        Limit("x", "(", count=1)
    with pytest.raises(InvalidArgument):
        Pacer(margin=-1)


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(1, 20),
    per=st.floats(0.1, 10.0),
    gaps=st.lists(st.floats(0.0, 0.5), min_size=1, max_size=200),
)
def test_property_no_window_ever_exceeds_its_count(
    count: int, per: float, gaps: list[float]
) -> None:
    p = Pacer((), global_limit=Limit("g", ".*", count=count, per=per), margin=0.0)
    now = 0.0
    starts: list[float] = []
    for gap in gaps:
        now += gap
        r = p.try_acquire("GET", "/x", now)
        while not isinstance(r, Grant):
            assert r is not None and r > 0
            now += r
            r = p.try_acquire("GET", "/x", now)
        starts.append(now)
        p.release(r, now)
    for i in range(len(starts) - count):
        assert starts[i + count] - starts[i] >= per - 1e-9
