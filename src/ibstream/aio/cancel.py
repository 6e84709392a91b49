"""Cancel tasks and wait until they are really gone.

``task.cancel(); await task`` is not enough on Python 3.11: ``asyncio.wait_for`` returns the
result of an inner future that completed in the same loop iteration as the cancellation and
drops the ``CancelledError`` (CPython gh-86296, fixed in 3.12). A task looping around such a
call (a bus reader, a publisher awaiting acks) then goes on as if nothing happened, and whoever
awaits it waits forever. :func:`cancel_and_wait` cancels again until every task is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], *, recancel: float = 1.0) -> None:
    """Cancel ``tasks`` and return once all are done, cancelling again every ``recancel``
    seconds any that swallowed its cancellation (long enough for a task's own clean-up after a
    cancellation to finish first). Their outcomes (results, errors) are consumed;
    the calling task itself, if listed, is skipped. A cancellation of the caller propagates."""
    current = asyncio.current_task()
    pending = {t for t in tasks if t is not current}
    done_all: list[asyncio.Task[Any]] = []
    while pending:
        for task in pending:
            task.cancel()
        done, pending = await asyncio.wait(pending, timeout=recancel)
        done_all.extend(done)
    for task in done_all:
        if not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" warning
