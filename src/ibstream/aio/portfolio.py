"""Portfolio over REST and live positions: ``client.portfolio`` and ``client.positions``.

:class:`Portfolio` reads accounts (``/portfolio/accounts``, ``/portfolio/subaccounts``, the
brokerage ``/iserver/accounts``), positions (every page of ``/portfolio/{acct}/positions/{page}``),
the account summary and the ledger. IBKR wants ``/portfolio/accounts`` read before any other
``/portfolio`` call in each session: the first call does it (the limiter paces it at 1 per 5 s),
and a refusal after a new session reads it again and retries once.

:class:`LivePositions` keeps :class:`~ibstream.state.positions.PositionBook` current through the
client's public API only: after :meth:`LivePositions.start` it subscribes to executions
(``str``), and each ``Trade`` (a fill) and each return to ``AUTHENTICATED`` (a reconnect or
re-authentication) schedules a refresh from REST. Refreshes are coalesced (a burst of fills
costs one or two reads) and each reports :class:`~ibstream.state.positions.PositionChange` s to
the callbacks registered with :meth:`LivePositions.on_change`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from ibstream.aio.transport import Transport
from ibstream.exceptions import (
    HTTPStatusError,
    IBStreamError,
    InvalidArgument,
    NotFound,
    RateLimited,
    StreamTimeout,
)
from ibstream.protocol.events import Trade
from ibstream.protocol.lifecycle import SessionState, SessionStateChanged
from ibstream.protocol.portfolio import (
    CurrencyBalance,
    PortfolioAccount,
    Position,
    SummaryItem,
    parse_ledger,
    parse_summary,
)
from ibstream.protocol.specs import TradesSpec
from ibstream.state.positions import PositionBook, PositionChange

__all__ = ["MAX_POSITION_PAGES", "LivePositions", "Portfolio", "PositionsView"]

log = logging.getLogger("ibstream.portfolio")

_SMALLEST_PAGE = 30
"""The smallest positions page IBKR documents (older swagger: "default size is 30")."""

MAX_POSITION_PAGES = 1000
"""Safety stop for paging (100 positions per page: 100,000 positions)."""


class Portfolio:
    """Accounts, positions, summary and ledger over REST (see the module docstring)."""

    def __init__(self, rest: Transport) -> None:
        self._rest = rest
        self._accounts: list[PortfolioAccount] | None = None

    def __repr__(self) -> str:
        return "<Portfolio>"

    async def accounts(self, *, refresh: bool = False) -> list[PortfolioAccount]:
        """``/portfolio/accounts`` (cached after the first read unless ``refresh``)."""
        if self._accounts is None or refresh:
            _, body = await self._rest.request("GET", "/portfolio/accounts")
            parsed = [PortfolioAccount.from_json(d) for d in body or [] if isinstance(d, dict)]
            self._accounts = [a for a in parsed if a is not None]
        return list(self._accounts)

    async def subaccounts(self) -> list[PortfolioAccount]:
        """``/portfolio/subaccounts`` (advisor and multi-account structures)."""
        _, body = await self._rest.request("GET", "/portfolio/subaccounts")
        parsed = [PortfolioAccount.from_json(d) for d in body or [] if isinstance(d, dict)]
        return [a for a in parsed if a is not None]

    async def brokerage_accounts(self) -> dict[str, Any]:
        """``/iserver/accounts``: the brokerage session's accounts and selected account."""
        return await self._rest.accounts()

    async def _account(self, account: str | None) -> str:
        accounts = await self.accounts()
        if account is None:
            if not accounts:
                raise InvalidArgument("account", "the session has no portfolio account")
            return accounts[0].account_id
        if not isinstance(account, str) or not account:
            raise InvalidArgument("account", "an account id such as DU1234567")
        return account

    async def _account_get(self, account: str, path: str) -> Any:
        """GET a per-account path. A refusal of an account the session knows is retried once
        after reading ``/portfolio/accounts`` again: IBKR wants it read first in each brokerage
        session, and a reconnect or re-login may have started a new one."""
        try:
            return (await self._rest.request("GET", path))[1]
        except (NotFound, RateLimited):
            raise
        except HTTPStatusError as exc:
            known = any(a.account_id == account for a in self._accounts or ())
            if not known or exc.status not in (400, 500, 503):
                raise
        await self.accounts(refresh=True)
        return (await self._rest.request("GET", path))[1]

    async def positions(self, account: str | None = None) -> list[Position]:
        """Every position of ``account`` (default: the first account), all pages read."""
        acct = await self._account(account)
        out: list[Position] = []
        seen: set[int] = set()
        first = 0  # rows of page 0: the page size when more pages follow
        for page in range(MAX_POSITION_PAGES):
            body = await self._account_get(acct, f"/portfolio/{acct}/positions/{page}")
            rows = [d for d in body if isinstance(d, dict)] if isinstance(body, list) else []
            fresh = 0
            for row in rows:
                pos = Position.from_json(row, acct)
                if pos is not None and pos.conid not in seen:
                    seen.add(pos.conid)
                    out.append(pos)
                    fresh += 1
            # IBKR pages by 100 (30 in its older swagger): a first page of 30 or more may be
            # full, so reading goes on until a page is shorter than the first one (or empty)
            first = first or len(rows)
            if fresh == 0 or len(rows) < (_SMALLEST_PAGE if page == 0 else first):
                break
        return out

    async def invalidate(self, account: str | None = None) -> None:
        """Ask the gateway to drop its cached positions (``.../positions/invalidate``)."""
        acct = await self._account(account)
        await self._rest.request("POST", f"/portfolio/{acct}/positions/invalidate")

    async def summary(self, account: str | None = None) -> dict[str, SummaryItem]:
        """``/portfolio/{acct}/summary``: ``{"netliquidation": SummaryItem, ...}``."""
        acct = await self._account(account)
        body = await self._account_get(acct, f"/portfolio/{acct}/summary")
        return parse_summary(body)

    async def ledger(self, account: str | None = None) -> dict[str, CurrencyBalance]:
        """``/portfolio/{acct}/ledger``: balances per currency (``BASE`` included)."""
        acct = await self._account(account)
        body = await self._account_get(acct, f"/portfolio/{acct}/ledger")
        return parse_ledger(body)


class _ClientLike(Protocol):
    """The public client API live positions use."""

    def on(self, event_type: type | None, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Register an event callback."""
        ...

    def subscribe(self, spec: TradesSpec, *, buffer: bool = ...) -> Any:
        """Subscribe to a stream."""
        ...


ChangeCallback = Callable[[PositionChange], None]


class PositionsView:
    """The reading side of live positions, shared by ``client.positions`` (:class:`LivePositions`,
    fed from REST) and ``ibstream.remote``'s (fed from the bus): a
    :class:`~ibstream.state.positions.PositionBook`, its lookups, change callbacks and
    :meth:`wait_for`. Feeders report what changed through :meth:`_report`."""

    def __init__(self) -> None:
        self.book = PositionBook()
        self._callbacks: list[ChangeCallback] = []
        self._changed: asyncio.Event | None = None

    # -- reading ----------------------------------------------------------------------------

    def __iter__(self) -> Any:
        return iter(self.book.all())

    def __len__(self) -> int:
        return len(self.book)

    def __contains__(self, conid: object) -> bool:
        return conid in self.book

    def get(self, conid: int, account: str | None = None) -> Position | None:
        """The position in ``conid`` (``None`` when flat)."""
        return self.book.get(conid, account)

    def quantity(self, conid: int, account: str | None = None) -> float:
        """Signed quantity held in ``conid`` (0.0 when flat)."""
        return self.book.quantity(conid, account)

    def all(self) -> list[Position]:
        """Every position of every tracked account."""
        return self.book.all()

    # -- change events ----------------------------------------------------------------------

    def on_change(self, callback: ChangeCallback) -> Callable[[], None]:
        """Call ``callback(PositionChange)`` for each change; returns a remover."""
        self._callbacks.append(callback)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

        return remove

    def _report(self, changes: list[PositionChange]) -> None:
        """Hand ``changes`` to the callbacks (one that raises is logged) and wake waiters."""
        for change in changes:
            for cb in list(self._callbacks):
                try:
                    cb(change)
                except Exception:
                    log.exception("position change callback %r failed", cb)
        if changes and self._changed is not None:
            self._changed.set()

    async def wait_for(self, predicate: Callable[[Any], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate(self)`` holds (checked after every change)."""
        if self._changed is None:
            self._changed = asyncio.Event()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate(self):
            left = deadline - loop.time()
            if left <= 0:
                raise StreamTimeout(f"positions: condition not met within {timeout}s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)


class LivePositions(PositionsView):
    """``client.positions``: positions kept current from REST on fills and reconnects."""

    def __init__(self, client: _ClientLike, portfolio: Portfolio) -> None:
        super().__init__()
        self._client = client
        self._portfolio = portfolio
        self.accounts: tuple[str, ...] = ()
        self.refreshes = 0
        self.errors = 0
        self.last_error: BaseException | None = None
        self._removers: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._dirty = False
        self._invalidate = False
        self._tracking = False
        self._subscription: Any = None

    def __repr__(self) -> str:
        return f"<LivePositions {len(self.book)} positions tracking={self._tracking}>"

    @property
    def tracking(self) -> bool:
        """Whether fills and reconnects refresh the positions."""
        return self._tracking

    # -- tracking ---------------------------------------------------------------------------

    async def start(self, *, accounts: tuple[str, ...] | None = None) -> list[PositionChange]:
        """Read the positions now and keep them current (fills, reconnects).

        Subscribes to executions (``str``) so fills are seen. Returns the first changes.
        """
        if not self._tracking:
            self._tracking = True
            self.accounts = tuple(accounts) if accounts else ()
            self._removers.append(self._client.on(Trade, self._on_trade))
            self._removers.append(self._client.on(SessionStateChanged, self._on_session))
            with contextlib.suppress(IBStreamError):
                self._subscription = self._client.subscribe(TradesSpec(), buffer=False)
        return await self.refresh()

    def stop(self) -> None:
        """Stop tracking (the current positions stay readable)."""
        self._tracking = False
        for remove in self._removers:
            remove()
        self._removers.clear()
        if self._subscription is not None:
            self._subscription.close()  # leave the executions stream taken by start()
            self._subscription = None
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def refresh(self) -> list[PositionChange]:
        """Read every tracked account's positions now; return and report the changes."""
        if not self.accounts:
            self.accounts = tuple(a.account_id for a in await self._portfolio.accounts())
        invalidate, self._invalidate = self._invalidate, False
        changes: list[PositionChange] = []
        for acct in self.accounts:
            if invalidate:
                with contextlib.suppress(IBStreamError):
                    await self._portfolio.invalidate(acct)
            positions = await self._portfolio.positions(acct)
            changes += self.book.replace_account(acct, positions)
        self.refreshes += 1
        self._report(changes)
        return changes

    def _schedule(self, invalidate: bool) -> None:
        if not self._tracking:
            return
        self._invalidate = self._invalidate or invalidate
        if self._task is not None and not self._task.done():
            self._dirty = True
            return
        self._task = asyncio.get_running_loop().create_task(
            self._refresh_loop(), name="ibstream-positions"
        )

    async def _refresh_loop(self) -> None:
        while True:
            self._dirty = False
            try:
                await self.refresh()
            except IBStreamError as exc:
                self.errors += 1
                self.last_error = exc
                log.warning("positions refresh failed: %s", exc)
            if not self._dirty or not self._tracking:
                return

    def _on_trade(self, event: Trade) -> None:
        self._schedule(invalidate=True)

    def _on_session(self, event: SessionStateChanged) -> None:
        if event.current is SessionState.AUTHENTICATED:
            self._schedule(invalidate=False)
