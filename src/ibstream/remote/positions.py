"""``remote.positions``: the positions the leader bridge publishes, read like ``client.positions``.

The same reading API as the local :class:`~ibstream.aio.portfolio.LivePositions` (one shared
base, :class:`~ibstream.aio.portfolio.PositionsView`): iteration, ``len``, ``in``, ``get`` /
``quantity`` by conid (and account), ``all()``, ``on_change`` callbacks with
:class:`~ibstream.state.positions.PositionChange`, ``wait_for``, ``start``/``stop``/``refresh``.
Where the local one reads REST, this one reads the bus: ``start()`` reads the positions state the
bridge keeps (every open position, late joiners included) and then follows the position stream
(:data:`~ibstream.remote.wire.POSITIONS_KEY`) from the state's watermark; ``refresh()`` reads the
state again. Each account/conid keeps the bus position of the update it holds, so an older update
(a state written before a message already applied) never takes a position back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ibstream.aio.portfolio import PositionsView
from ibstream.remote.wire import Position as BusPosition
from ibstream.remote.wire import PositionUpdate, entity_of
from ibstream.state.positions import PositionChange

__all__ = ["RemotePositions"]


class _Followed(Protocol):
    """The subscription ``start()`` opens (a feed-only remote subscription)."""

    async def ready(self, timeout: float | None = None) -> None: ...

    def close(self) -> None: ...


class RemotePositions(PositionsView):
    """``remote.positions`` (see the module docstring). ``await positions.start()`` first."""

    def __init__(
        self,
        follow: Callable[[], _Followed],
        read_state: Callable[[], Awaitable[list[tuple[BusPosition, Any]]]],
    ) -> None:
        super().__init__()
        self._follow = follow
        self._read_state = read_state
        self._sub: _Followed | None = None
        self._only: frozenset[str] = frozenset()
        self._at: dict[str, BusPosition] = {}  # entity -> bus position of the update held
        self.updates = 0  # updates applied (changes or not)

    def __repr__(self) -> str:
        return f"<RemotePositions {len(self.book)} positions tracking={self.tracking}>"

    @property
    def tracking(self) -> bool:
        """Whether the position stream is followed (``start()`` called, ``stop()`` not)."""
        return self._sub is not None

    @property
    def accounts(self) -> tuple[str, ...]:
        """The accounts tracked: those given to ``start()``, else every account seen."""
        return tuple(sorted(self._only)) if self._only else tuple(self.book.accounts())

    async def start(
        self, *, accounts: tuple[str, ...] | None = None, timeout: float | None = 10.0
    ) -> list[PositionChange]:
        """Read the current positions and follow their changes; returns the first changes.

        ``accounts`` limits the book to those accounts (default: every account the bridge
        publishes). Raises ``StreamTimeout`` when the state is not read within ``timeout``."""
        if self._sub is not None:
            return []
        self._only = frozenset(accounts or ())
        first: list[PositionChange] = []
        remove = self.on_change(first.append)
        try:
            self._sub = self._follow()
            await self._sub.ready(timeout)
        except BaseException:
            self.stop()
            raise
        finally:
            remove()
        return first

    def stop(self) -> None:
        """Stop following (the current positions stay readable)."""
        sub, self._sub = self._sub, None
        if sub is not None:
            sub.close()

    async def refresh(self) -> list[PositionChange]:
        """Read the positions state on the bus again; return and report the changes."""
        changes: list[PositionChange] = []
        for at, update in await self._read_state():
            change = self._update(update, at)
            if change is not None:
                changes.append(change)
        self._report(changes)
        return changes

    def apply(self, update: PositionUpdate, at: BusPosition | None = None) -> None:
        """Apply one update read from the bus at ``at`` (reported to ``on_change``)."""
        change = self._update(update, at)
        if change is not None:
            self._report([change])

    def _update(self, update: Any, at: BusPosition | None) -> PositionChange | None:
        if not isinstance(update, PositionUpdate):
            return None
        if self._only and update.account not in self._only:
            return None
        entity = entity_of(update)
        if at is not None and entity is not None:
            held = self._at.get(entity)
            if held is not None and at <= held:
                return None  # older than what the book holds
            self._at[entity] = at
        self.updates += 1
        return self.book.apply(update.account, update.conid, update.position)
