"""Time-scaled clock: all simulator durations are simulated seconds (protocol.md §3.2, §4.1).

``time_scale = 60`` makes one real second count as one simulated minute, so the 5-minute idle
timeout or the 10-minute ``smd`` expiry pass in seconds. Wall-clock *timestamps* written into
frames (``hb``, ``_updated``, ``lastAccessed``) stay real epoch values; only durations scale.
"""

from __future__ import annotations

import asyncio
import time

from ibstream.exceptions import InvalidArgument

__all__ = ["Clock", "wall_ms"]


def wall_ms() -> int:
    """Current epoch time in integer milliseconds (the 13-digit stamps of §1.4 and §4.1)."""
    return int(time.time() * 1000)


class Clock:
    """Monotonic simulated time that can be re-scaled while running."""

    __slots__ = ("_base_real", "_base_sim", "_scale")

    def __init__(self, scale: float = 1.0) -> None:
        if scale <= 0:
            raise InvalidArgument("time_scale", "must be > 0")
        self._scale = scale
        self._base_real = time.monotonic()
        self._base_sim = 0.0

    @property
    def scale(self) -> float:
        """Simulated seconds per real second."""
        return self._scale

    def now(self) -> float:
        """Simulated seconds since the clock was created."""
        return self._base_sim + (time.monotonic() - self._base_real) * self._scale

    def set_scale(self, scale: float) -> None:
        """Change the scale from now on; simulated time stays continuous."""
        if scale <= 0:
            raise InvalidArgument("time_scale", "must be > 0")
        self._base_sim = self.now()
        self._base_real = time.monotonic()
        self._scale = scale

    def real(self, sim_seconds: float) -> float:
        """Real seconds that ``sim_seconds`` of simulated time take at the current scale."""
        return sim_seconds / self._scale

    async def sleep(self, sim_seconds: float) -> None:
        """Sleep for ``sim_seconds`` of simulated time."""
        await asyncio.sleep(max(0.0, sim_seconds / self._scale))
