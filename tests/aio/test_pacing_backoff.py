"""The limiter's backoff after 429s (time passed in, no event loop): it doubles per round of
refusals, not per refused response of one concurrent burst."""

from __future__ import annotations

from ibstream.aio.pacing import RateLimiter

SNAPSHOT = ("GET", "/iserver/marketdata/snapshot")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_of_429s_blocks_for_one_backoff_not_the_maximum() -> None:
    # ten requests in flight are refused together (say another process shares the session's
    # 10 req/s): that is one refusal round, worth the first backoff (1 s), not 2**9 s capped
    # at a minute
    clock = Clock()
    limiter = RateLimiter(clock=clock, backoff=1.0, max_backoff=60.0)
    delays = [limiter.throttled(*SNAPSHOT, None) for _ in range(10)]
    assert delays == [1.0] * 10
    assert limiter.metrics()["limits"]["snapshot"]["blocked_s"] == 1.0
    assert limiter.metrics()["limits"]["snapshot"]["throttled"] == 10
    # the block is over, the retries go out and are refused again: the next round doubles
    clock.now += 1.0
    assert [limiter.throttled(*SNAPSHOT, None) for _ in range(3)] == [2.0, 2.0, 2.0]
    clock.now += 2.0
    assert limiter.throttled(*SNAPSHOT, None) == 4.0
    # an answer that is not a 429 starts over
    limiter.succeeded(*SNAPSHOT)
    clock.now += 4.0
    assert limiter.throttled(*SNAPSHOT, None) == 1.0


def test_a_retry_after_is_kept_even_inside_a_block() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock, backoff=1.0)
    assert limiter.throttled(*SNAPSHOT, None) == 1.0
    assert limiter.throttled(*SNAPSHOT, 7.0) == 7.0
    assert limiter.metrics()["limits"]["snapshot"]["blocked_s"] == 7.0


async def test_a_caller_in_line_is_not_overtaken_by_a_polling_loop() -> None:
    # one history slot; a loop re-enters right after each release: a caller already waiting
    # must get the slot next, not after the loop has finished
    import asyncio

    from ibstream.protocol.pacing import Limit

    limiter = RateLimiter((Limit("h", r"GET /h$", concurrent=1),), global_limit=None)
    order: list[str] = []
    first_in = asyncio.Event()

    async def poller() -> None:
        for _ in range(50):
            async with limiter.slot("GET", "/h"):
                order.append("loop")
                first_in.set()
                await asyncio.sleep(0)

    async def caller() -> None:
        await first_in.wait()
        async with limiter.slot("GET", "/h"):
            order.append("caller")

    await asyncio.wait_for(asyncio.gather(poller(), caller()), 10)
    assert order.index("caller") <= 2, order
