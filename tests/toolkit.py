"""The client side of the test toolkit: one fast client config and the leak checks.

The simulator side (``fast_config``, ``SimThread``, ``Simulators``, ``wait_for``, ``wait_until``)
is :mod:`ibstream.sim.testing`; the fixtures are in ``tests/conftest.py``. This module is on
``sys.path`` because ``tests/`` holds the root ``conftest.py`` (pytest's rootdir import mode), so
every test imports it as ``toolkit``.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from ibstream.aio.client import ClientConfig
from ibstream.backoff import ReconnectPolicy
from ibstream.protocol.config import ProtocolConfig
from ibstream.sim import Simulator
from ibstream.sim.testing import SimThread, wait_for, wait_until

__all__ = [
    "AAPL",
    "ACCOUNT",
    "FAST",
    "MSFT",
    "assert_no_growth",
    "assert_no_leaks",
    "assert_nothing_left",
    "fast_client_config",
    "ibstream_threads",
    "next_of",
    "next_of_blocking",
    "object_counts",
    "waiting",
]

AAPL = 265598
MSFT = 272093
ACCOUNT = "DU1234567"
"""The simulator's default contracts and account."""

FAST = ProtocolConfig(
    heartbeat_timeout=1.5,
    tic_interval=1.0,
    tickle_interval=2.0,
    auth_poll_interval=0.1,
    auth_timeout=3.0,
    auth_lost_reconnect_after=30.0,
    subscribe_timeout=0.5,
    subscribe_attempts=4,
    md_renew_after=60.0,
)
"""The one fast protocol config of the client tests (deadlines in tenths of seconds)."""


def fast_client_config(*, protocol: ProtocolConfig = FAST, **overrides: Any) -> ClientConfig:
    """``ClientConfig`` with :data:`FAST`, a quick reconnect policy and a 10 s start timeout."""
    settings: dict[str, Any] = {
        "protocol": protocol,
        "reconnect": lambda: ReconnectPolicy(initial=0.05, max_delay=0.3, min_delay=0.01),
        "start_timeout": 10.0,
    }
    settings.update(overrides)
    return ClientConfig(**settings)


def ibstream_threads() -> list[str]:
    """Names of the live threads the library started."""
    return [t.name for t in threading.enumerate() if t.name.startswith("ibstream-")]


def waiting(thread: threading.Thread | int | None) -> bool:
    """True while ``thread`` (or thread id) is blocked in a lock, condition or queue wait: its
    innermost frame is ``wait``/``get`` of ``threading.py``/``queue.py``. Wait for this instead of
    sleeping before interrupting a blocked call (``Thread.start()`` waits too: call it first)."""
    ident = thread.ident if isinstance(thread, threading.Thread) else thread
    frame = sys._current_frames().get(ident) if ident is not None else None
    if frame is None:
        return False
    code = frame.f_code
    return code.co_name in ("wait", "get") and code.co_filename.endswith(
        ("threading.py", "queue.py")
    )


def assert_nothing_left(gateway: SimThread) -> None:
    """Blocking code: no ibstream thread is alive and the gateway sees no open socket."""
    wait_until(
        lambda: not ibstream_threads() and gateway.connections == 0,
        what=lambda: f"threads {ibstream_threads()}, sockets {gateway.connections}",
    )


def _ibstream_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("ibstream-") and not t.done()]


async def assert_no_leaks(sim: Simulator) -> None:
    """Async code: no ibstream task is alive and the gateway sees no open socket."""
    await wait_for(
        lambda: not _ibstream_tasks() and sim.connections == 0,
        timeout=1.0,
        what=lambda: f"tasks {_ibstream_tasks()}, sockets {sim.connections}",
    )


def object_counts(
    prefixes: tuple[str, ...] = ("ibstream.", "aiohttp."),
    exclude: tuple[str, ...] = ("ibstream.sim.", "aiohttp.web"),
) -> Counter[str]:
    """Live objects per type (``module.Name``) of the client's modules (``prefixes``; the
    simulator and aiohttp's server side, which may share the process, ``exclude``d), after a
    full collection: compare two counts taken some cycles apart with :func:`assert_no_growth`.
    asyncio's own objects are left out: a cancelled timer stays in the loop's heap until its
    deadline, so their number follows the timeouts in flight, not a leak."""
    gc.collect()
    counts: Counter[str] = Counter()
    for obj in gc.get_objects():
        cls = type(obj)
        module = cls.__dict__.get("__module__")  # a class's own, not a metaclass descriptor
        if (
            isinstance(module, str)
            and module.startswith(prefixes)
            and not module.startswith(exclude)
        ):
            counts[f"{module}.{cls.__qualname__}"] += 1
    return counts


def assert_no_growth(before: Counter[str], after: Counter[str], cycles: int) -> None:
    """No type grew by ``cycles`` objects or more: a per-cycle leak (one object kept per
    reconnect, per auth loss...) grows by at least one per cycle, whatever the type."""
    grown = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0) > 0}
    leaking = {k: n for k, n in grown.items() if n >= cycles}
    assert not leaking, f"grew by >= {cycles} over {cycles} cycles: {leaking} (all growth {grown})"


async def next_of(
    stream: Any,
    kind: type | tuple[type, ...],
    timeout: float = 5.0,
    where: Callable[[Any], bool] = lambda e: True,
) -> Any:
    """The next event of ``kind`` (and ``where``) from an async ``stream``; others are skipped.
    ``TimeoutError`` after ``timeout``, ``AssertionError`` when the stream ends first."""
    async with asyncio.timeout(timeout):
        async for ev in stream:
            if isinstance(ev, kind) and where(ev):
                return ev
    raise AssertionError("stream ended")


def next_of_blocking(
    handle: Any,
    kind: type | tuple[type, ...],
    timeout: float = 5.0,
    where: Callable[[Any], bool] = lambda e: True,
) -> Any:
    """:func:`next_of` for blocking handles (``handle.get(timeout)``, e.g. ``ibstream.sync``):
    ``StreamTimeout`` once ``timeout`` has passed."""
    deadline = time.monotonic() + timeout
    while True:
        ev = handle.get(max(0.0, deadline - time.monotonic()))
        if isinstance(ev, kind) and where(ev):
            return ev
