"""Raw frames to a JSON-lines file in the simulator's replay format (or Parquet).

Recording works on frames, not events (a replay needs the gateway's exact bytes). The sync
client taps its asyncio client with ``on_frame`` and hands each frame, as a :class:`RawFrame`,
through its dispatcher thread to a :class:`RecorderSink`, which writes it with
:class:`ibstream.aio.recorder.FrameRecorder` (so disk writes never run on the socket reader)::

    with ibstream.Client(url) as client:
        rec = client.record("session.jsonl")     # or .jsonl.gz, or .parquet
        ...
    # ibstream sim --replay session.jsonl

With the asyncio client, attach the recorder directly: ``client.on_frame(FrameRecorder(path))``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ibstream.aio.recorder import FrameRecorder, ParquetFrameRecorder

__all__ = ["RawFrame", "RecorderSink"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RawFrame:
    """One WebSocket frame as it crossed the socket: ``direction`` is ``"in"`` or ``"out"``."""

    direction: str
    data: bytes | str
    t: float
    binary: bool = False


class RecorderSink:
    """Writes every :class:`RawFrame` it is given to a JSON-lines file; ignores other events.

    The file is ``{"t":..., "dir": "in"|"out", "frame": "..."}`` per line (see
    :mod:`ibstream.aio.recorder`); a path ending in ``.gz`` is gzip-compressed, one ending in
    ``.parquet`` is Parquet (:class:`~ibstream.aio.recorder.ParquetFrameRecorder`, needs
    ``pyarrow``).
    """

    def __init__(self, path: str | Path, *, include_outgoing: bool = True) -> None:
        self._recorder: FrameRecorder | ParquetFrameRecorder
        if str(path).endswith(".parquet"):
            self._recorder = ParquetFrameRecorder(path, include_outgoing=include_outgoing)
        else:
            self._recorder = FrameRecorder(path, include_outgoing=include_outgoing)
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"<RecorderSink {self._recorder!r}>"

    @property
    def path(self) -> Path:
        return self._recorder.path

    @property
    def frames(self) -> int:
        """Frames written so far."""
        return self._recorder.frames

    @property
    def closed(self) -> bool:
        return self._closed

    def emit(self, event: Any) -> None:
        if event.__class__ is not RawFrame:
            return
        with self._lock:
            if not self.closed:
                self._recorder(event.direction, event.data, event.t, event.binary)

    def flush(self) -> None:
        with self._lock:
            if not self.closed:
                self._recorder.flush()

    def close(self) -> None:
        """Flush and close the file; later frames are ignored."""
        with self._lock:
            self._closed = True
            self._recorder.close()
