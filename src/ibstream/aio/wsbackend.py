"""Which library opens the client WebSocket: aiohttp or picows (issue 19).

Both sit behind the driver's socket interface (:class:`~ibstream.aio.transport.WebSocketLike`);
picows (:mod:`ibstream.aio.ws_picows`) also offers :class:`BatchSocket`, the batch read the
driver uses when a socket has it. ``ClientConfig.ws_backend`` chooses:

* ``"auto"`` (default): ``IBSTREAM_WS_BACKEND`` (environment or ``.env``) when it names a
  backend, else picows when it is installed at ibstream's minimum version (it delivers the same
  frames with less CPU per frame: docs/benchmarks.md), else aiohttp;
* ``"aiohttp"`` / ``"picows"``: that one (``picows`` missing: ``DependencyError`` saying what to
  install).

REST, the simulator and the service's servers stay on aiohttp whatever is chosen here.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Literal, Protocol, runtime_checkable

from ibstream._deps import DependencyError, require
from ibstream.exceptions import InvalidArgument
from ibstream.settings import environment

__all__ = [
    "ENV_WS_BACKEND",
    "WS_BACKENDS",
    "BatchSocket",
    "WSBackend",
    "picows_available",
    "resolve_ws_backend",
]

WSBackend = Literal["auto", "aiohttp", "picows"]
"""The values of ``ClientConfig.ws_backend``."""

WS_BACKENDS: tuple[str, ...] = ("auto", "aiohttp", "picows")

ENV_WS_BACKEND = "IBSTREAM_WS_BACKEND"
"""Environment (or ``.env``) name that decides what ``"auto"`` means."""


@runtime_checkable
class BatchSocket(Protocol):
    """A socket the driver reads in batches: every frame already received in one call."""

    @property
    def pending(self) -> bool:
        """Frames are received and not taken yet (the next ``receive_batch`` will not wait)."""
        ...

    async def receive_batch(self, limit: int) -> list[bytes]:
        """The payloads received so far, oldest first (at most ``limit``), waiting until there
        is one; an empty list once the socket is closed and drained."""
        ...

    @property
    def close_reason(self) -> str:
        """Why the socket closed (the peer's reason, or the error), once it has."""
        ...

    @property
    def taken_kinds(self) -> list[bool]:
        """Whether each frame the last ``receive_batch`` returned came as BINARY (else TEXT)."""
        ...


@cache
def picows_available() -> bool:
    """picows is installed at ibstream's minimum version."""
    try:
        require("picows")
    except DependencyError:
        return False
    return True


def resolve_ws_backend(
    choice: str, environ: Mapping[str, str] | None = None
) -> Literal["aiohttp", "picows"]:
    """The backend ``choice`` means here (see the module docstring)."""
    if choice not in WS_BACKENDS:
        raise InvalidArgument("ws_backend", f"one of {', '.join(WS_BACKENDS)}; got {choice!r}")
    if choice == "auto":
        wanted = environment(environ).get(ENV_WS_BACKEND, "").strip().lower()
        if wanted and wanted not in WS_BACKENDS:
            raise InvalidArgument(
                ENV_WS_BACKEND, f"one of {', '.join(WS_BACKENDS)}; got {wanted!r}"
            )
        choice = wanted if wanted in ("aiohttp", "picows") else "auto"
    if choice == "aiohttp":
        return "aiohttp"
    if choice == "picows":
        require("picows")
        return "picows"
    return "picows" if picows_available() else "aiohttp"
