"""``cancel_and_wait``: tasks that swallow a cancellation are cancelled again."""

from __future__ import annotations

import asyncio

import pytest

from ibstream.aio.cancel import cancel_and_wait


async def _stubborn(swallowed: list[int], times: int) -> None:
    """Loops forever, dropping the first ``times`` cancellations (as a ``wait_for`` that lost a
    race with its inner future does on Python 3.11)."""
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if len(swallowed) >= times:
                raise
            swallowed.append(1)


async def test_a_swallowed_cancellation_is_repeated() -> None:
    swallowed: list[int] = []
    task = asyncio.create_task(_stubborn(swallowed, 2))
    await asyncio.sleep(0)
    async with asyncio.timeout(10):
        await cancel_and_wait([task], recancel=0.01)
    assert task.cancelled() and len(swallowed) == 2


async def test_one_cancel_alone_would_not_end_it() -> None:
    """What the helper is for: after one ``cancel()`` the task is still running."""
    swallowed: list[int] = []
    task = asyncio.create_task(_stubborn(swallowed, 1))
    await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=0.05)
    assert not done and swallowed == [1]
    await cancel_and_wait([task], recancel=0.01)
    assert task.cancelled()


async def test_outcomes_are_consumed_and_the_caller_is_skipped() -> None:
    async def fail() -> None:
        raise ValueError("boom")

    async def finish() -> int:
        return 1

    tasks = [asyncio.create_task(fail()), asyncio.create_task(finish())]
    await asyncio.sleep(0)
    current = asyncio.current_task()
    assert current is not None
    await cancel_and_wait([*tasks, current])  # itself listed: not awaited (no deadlock)
    assert all(t.done() for t in tasks)
    with pytest.raises(ValueError):
        tasks[0].result()
