"""Replay a recorded stream to every socket that authenticates.

Recording format (JSON lines, one object per line; the client's recorder writes the same)::

    {"t": 1777552110.061, "dir": "in", "frame": "{\\"topic\\":\\"system\\",\\"hb\\":1}"}

* ``t``: receive time, epoch seconds (float).
* ``dir``: ``"in"`` = server→client (replayed), ``"out"`` = client→server: a *sync point*.
  Playback pauses at an ``out`` line until the connected client has sent as many messages as
  the recording had by then (at most ``SYNC_TIMEOUT`` seconds), so the frames that answered a
  recorded subscription are not sent before the live client subscribes.
* ``frame``: the frame text. Optional ``"enc": "b64"`` means ``frame`` is base64 of raw bytes
  (for non-UTF-8 payloads, §8.15); optional ``"binary": true`` replays as a binary frame.

Lines that are blank or start with ``#`` are skipped. Timing: the gaps between ``t`` values
divided by ``speed``; ``speed=None`` sends as fast as the socket drains. REST keeps working so
clients obtain a session as usual; sockets authenticate as usual (cookie or session frame) and
then receive the recording instead of the live model.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import orjson

from ibstream.exceptions import InvalidArgument
from ibstream.sim.connection import Connection
from ibstream.sim.gateway import Gateway
from ibstream.sim.wire import OP_BINARY

__all__ = ["SYNC_TIMEOUT", "Replay", "ReplayFrame"]

SYNC_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class ReplayFrame:
    """One recorded server→client frame."""

    t: float
    payload: bytes
    binary: bool = False
    outgoing: bool = False
    """A recorded client→server message (sync point, not sent)."""


class Replay:
    """A loaded recording and its playback speed."""

    def __init__(self, frames: list[ReplayFrame], speed: float | None) -> None:
        self.frames = frames
        self.speed = speed

    @classmethod
    def load(cls, path: str, speed: float | None = 1.0) -> Replay:
        """Parse a JSON-lines recording (see module docstring); ``InvalidArgument`` naming the
        file for one that cannot be read or served."""
        frames: list[ReplayFrame] = []
        opener = gzip.open if str(path).endswith(".gz") else open
        try:
            with opener(path, "rb") as fh:
                cls._parse(fh, str(path), frames)
        except OSError as exc:  # missing, a directory, a bad gzip header
            raise InvalidArgument("replay", f"cannot read {str(path)!r}: {exc}") from exc
        except EOFError as exc:  # e.g. a .gz cut off by a crash, without its end marker
            raise InvalidArgument("replay", f"{path}: unreadable recording ({exc})") from exc
        return cls(frames, speed)

    @staticmethod
    def _parse(fh: Iterable[bytes], name: str, frames: list[ReplayFrame]) -> None:
        for n, line in enumerate(fh, 1):
            if n == 1 and line.startswith(b"PAR1"):
                raise InvalidArgument(
                    "replay",
                    f"{name} is a Parquet recording; the simulator serves JSON lines "
                    "(plain or .gz): record with --format jsonl",
                )
            line = line.strip()
            if not line or line.startswith(b"#"):
                continue
            try:
                rec = orjson.loads(line)
                raw = rec["frame"]
                payload = base64.b64decode(raw) if rec.get("enc") == "b64" else str(raw).encode()
                frames.append(
                    ReplayFrame(
                        float(rec["t"]),
                        payload,
                        bool(rec.get("binary")),
                        rec.get("dir", "in") == "out",
                    )
                )
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise InvalidArgument("replay", f"{name} line {n}: {exc}") from exc

    def starter(self, gw: Gateway) -> Callable[[Connection], None]:
        """The callback the WS handler calls when a socket authenticates."""

        def start(conn: Connection) -> None:
            gw.spawn(self.play(conn))

        return start

    async def play(self, conn: Connection) -> None:
        """Send the recording to ``conn``."""
        if not self.frames:
            return
        t0 = self.frames[0].t
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent_by_client = 0
        for i, fr in enumerate(self.frames):
            if conn.closed:
                return
            if fr.outgoing:
                sent_by_client += 1
                await conn.wait_received(sent_by_client, SYNC_TIMEOUT)
                if self.speed is not None:  # keep the original gaps after the sync point
                    start = loop.time() - (fr.t - t0) / self.speed
                continue
            if self.speed is not None:
                due = start + (fr.t - t0) / self.speed
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            conn.send_payload(fr.payload, OP_BINARY if fr.binary else None)
            if self.speed is None and i % 256 == 255:
                await conn.drain()
                await asyncio.sleep(0)
