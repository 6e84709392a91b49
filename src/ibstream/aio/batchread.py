"""The driver's read loop over a :class:`~ibstream.aio.wsbackend.BatchSocket` (picows).

Mixed into :class:`~ibstream.aio.client.StreamClient`, whose ``_read_loop`` hands a socket that
reads in batches here. One ``receive_batch`` call takes every frame already received (up to
``limit``): the batch is fed to the core in one call (``StreamProtocol.receive_frames``), then
routed once (``_pump``), writes are
flushed, and the loop yields to the other tasks before the next batch when more frames are
waiting, as the per-message loop does. No future, message object or clock call per frame.
"""

from __future__ import annotations

import asyncio

from ibstream.aio.consumers import FrameListener
from ibstream.aio.transport import Clock
from ibstream.aio.wsbackend import BatchSocket
from ibstream.protocol.connection import StreamProtocol

__all__ = ["BatchReader"]


class BatchReader:
    """The batch half of the driver's read loop (see the module docstring)."""

    _proto: StreamProtocol
    _clock: Clock
    _frames: int
    _bytes: int
    _frame_listeners: list[FrameListener]
    _outbox: list[str]

    def _pump(self) -> None:
        raise NotImplementedError

    async def _flush(self) -> None:
        raise NotImplementedError

    def _tap(self, direction: str, data: bytes | str, now: float, binary: bool) -> None:
        raise NotImplementedError

    def _frame_failed(self, exc: Exception) -> None:
        raise NotImplementedError

    async def _read_batches(self, ws: BatchSocket, limit: int) -> tuple[int | None, str]:
        """Read until the socket ends; return its close code and reason."""
        receive_frames = self._proto.receive_frames
        receive_batch = ws.receive_batch
        clock = self._clock.time
        pump = self._pump
        while True:
            frames = await receive_batch(limit)
            if not frames:
                code = getattr(ws, "close_code", None)
                return code if isinstance(code, int) else None, ws.close_reason
            now = clock()
            self._frames += len(frames)
            self._bytes += sum(map(len, frames))
            tap = bool(self._frame_listeners)
            try:
                if tap:
                    for data, binary in zip(frames, ws.taken_kinds, strict=True):
                        self._tap("in", data, now, binary)
                # a core bug in one frame must cost neither the connection nor the batch
                for _, exc in receive_frames(frames, now):
                    self._frame_failed(exc)
            finally:  # never leave decoded events unrouted (cancellation, errors)
                pump()
            if self._outbox:
                await self._flush()
            elif ws.pending:  # a full batch and still more: let the other tasks run
                await asyncio.sleep(0)
