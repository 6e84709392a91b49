"""Record raw frames as JSON lines: the format ``ibstream sim --replay`` serves.

One object per line: ``{"t": <epoch s>, "dir": "in"|"out", "frame": "<text>"}``; a frame that is
not valid UTF-8 is stored as ``"enc": "b64"`` with base64 bytes, a binary frame gets
``"binary": true``. A path ending in ``.gz`` is gzip-compressed. Attach with
``client.on_frame(recorder)``.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import orjson

from ibstream.exceptions import InvalidArgument

__all__ = ["FrameRecorder", "RecordedFrame", "read_recording"]


def _open(path: Path, mode: str) -> IO[bytes]:
    """A binary file, gzip-compressed when the name ends in ``.gz``."""
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, mode))
    return cast(IO[bytes], open(path, mode))


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedFrame:
    """One line of a recording."""

    t: float
    direction: str
    data: bytes
    binary: bool = False

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


class FrameRecorder:
    """Writes frames to a JSON-lines file; counts frames and bytes for progress lines."""

    def __init__(self, path: str | Path, *, include_outgoing: bool = True) -> None:
        self.path = Path(path)
        self.include_outgoing = include_outgoing
        self.frames = 0
        self.bytes = 0
        self.first_t: float | None = None
        self.last_t: float | None = None
        try:
            self._fh: IO[bytes] = _open(self.path, "wb")
        except OSError as exc:
            raise InvalidArgument("path", f"cannot write {str(path)!r}: {exc}") from exc

    def __repr__(self) -> str:
        return f"<FrameRecorder {self.path} frames={self.frames} bytes={self.bytes}>"

    def __call__(self, direction: str, data: bytes | str, now: float, binary: bool) -> None:
        if direction == "out" and not self.include_outgoing:
            return
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        line: dict[str, Any] = {"t": round(now, 6), "dir": direction}
        try:
            line["frame"] = payload.decode("utf-8")
        except UnicodeDecodeError:
            line["frame"] = base64.b64encode(payload).decode("ascii")
            line["enc"] = "b64"
        if binary:
            line["binary"] = True
        self._fh.write(orjson.dumps(line) + b"\n")
        self.frames += 1
        self.bytes += len(payload)
        if self.first_t is None:
            self.first_t = now
        self.last_t = now

    @property
    def duration(self) -> float:
        if self.first_t is None or self.last_t is None:
            return 0.0
        return self.last_t - self.first_t

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> FrameRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_recording(path: str | Path) -> Iterator[RecordedFrame]:
    """Read a recording; raises ``InvalidArgument`` naming the line for a malformed file."""
    p = Path(path)
    try:
        fh = _open(p, "rb")
    except OSError as exc:
        raise InvalidArgument("file", f"cannot read {str(path)!r}: {exc}") from exc
    with fh:
        for number, line in enumerate(fh, 1):
            stripped = line.strip()
            if not stripped or stripped.startswith(b"#"):
                continue
            try:
                obj = orjson.loads(stripped)
                frame = obj["frame"]
                data = base64.b64decode(frame) if obj.get("enc") == "b64" else frame.encode("utf-8")
                yield RecordedFrame(
                    t=float(obj["t"]),
                    direction=str(obj.get("dir", "in")),
                    data=data,
                    binary=bool(obj.get("binary", False)),
                )
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
                raise InvalidArgument(
                    "file", f"{p.name} line {number} is not a recorded frame: {exc}"
                ) from exc
            except (OSError, EOFError) as exc:
                raise InvalidArgument("file", f"{p.name}: unreadable ({exc})") from exc
