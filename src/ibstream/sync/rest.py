"""Blocking facades of the REST features: ``Client.contracts``, ``.marketdata``, ``.portfolio``,
``.positions`` - the same names and arguments as on the asyncio client, each call run on the
client's loop thread (one implementation, style.md principle 11)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from ibstream.aio.contracts import Contracts, Resolved
from ibstream.aio.marketdata import MarketDataRest
from ibstream.aio.portfolio import Portfolio
from ibstream.protocol.contracts import (
    Contract,
    ContractDetails,
    FutureContract,
    StockListing,
    Strikes,
)
from ibstream.protocol.events import MarketHistory
from ibstream.protocol.portfolio import CurrencyBalance, PortfolioAccount, Position, SummaryItem
from ibstream.protocol.specs import DEFAULT_FIELDS
from ibstream.state.positions import PositionChange
from ibstream.state.ticker import TickerSnapshot

__all__ = ["SyncContracts", "SyncMarketData", "SyncPortfolio", "SyncPositions", "TrackedPositions"]

T = TypeVar("T")


class Runner(Protocol):
    """Runs a coroutine on the client's loop thread and blocks for its result."""

    def __call__(self, coro: Coroutine[Any, Any, T]) -> T: ...


class Caller(Protocol):
    """Runs a plain function on the client's loop thread and blocks for its result."""

    def __call__(self, fn: Callable[..., T], *args: Any) -> T: ...


class SyncContracts:
    """Blocking :class:`~ibstream.aio.contracts.Contracts`."""

    def __init__(self, inner: Contracts, run: Runner) -> None:
        self._c = inner
        self._run = run

    def search(
        self, symbol: str, *, sec_type: str | None = None, by_name: bool = False
    ) -> list[Contract]:
        return self._run(self._c.search(symbol, sec_type=sec_type, by_name=by_name))

    def stocks(self, *symbols: str) -> dict[str, list[StockListing]]:
        return self._run(self._c.stocks(*symbols))

    def stock(self, symbol: str, *, exchange: str | None = None, us: bool = True) -> int:
        return self._run(self._c.stock(symbol, exchange=exchange, us=us))

    def futures(self, symbol: str) -> list[FutureContract]:
        return self._run(self._c.futures(symbol))

    def front_month(self, symbol: str) -> FutureContract:
        return self._run(self._c.front_month(symbol))

    def future(self, symbol: str, month: int, year: str | int) -> FutureContract:
        return self._run(self._c.future(symbol, month, year))

    def option_months(self, symbol: str | int, *, sec_type: str = "OPT") -> tuple[str, ...]:
        return self._run(self._c.option_months(symbol, sec_type=sec_type))

    def option_expiries(
        self, symbol: str | int, month: str, *, sec_type: str = "OPT", exchange: str = "SMART"
    ) -> tuple[str, ...]:
        return self._run(
            self._c.option_expiries(symbol, month, sec_type=sec_type, exchange=exchange)
        )

    def strikes(
        self, symbol: str | int, month: str, *, sec_type: str = "OPT", exchange: str = "SMART"
    ) -> Strikes:
        return self._run(self._c.strikes(symbol, month, sec_type=sec_type, exchange=exchange))

    def option(
        self,
        symbol: str | int,
        expiry: str,
        strike: float,
        right: str,
        *,
        sec_type: str | None = None,
        exchange: str = "SMART",
    ) -> ContractDetails:
        return self._run(
            self._c.option(symbol, expiry, strike, right, sec_type=sec_type, exchange=exchange)
        )

    def fx(self, pair: str) -> Contract:
        return self._run(self._c.fx(pair))

    def index(self, symbol: str) -> Contract:
        return self._run(self._c.index(symbol))

    def cfd(self, symbol: str) -> int:
        return self._run(self._c.cfd(symbol))

    def bonds(self, issuer: str) -> list[Contract]:
        return self._run(self._c.bonds(issuer))

    def details(self, conid: int) -> ContractDetails:
        return self._run(self._c.details(conid))

    def combo(self, legs: Iterable[tuple[int, int]]) -> Resolved:
        return self._run(self._c.combo(list(legs)))

    def resolve(self, text: str) -> Resolved:
        return self._run(self._c.resolve(text))

    def resolve_many(self, texts: Sequence[str]) -> dict[str, Resolved]:
        return self._run(self._c.resolve_many(texts))


class SyncMarketData:
    """Blocking :class:`~ibstream.aio.marketdata.MarketDataRest`."""

    def __init__(self, inner: MarketDataRest, run: Runner) -> None:
        self._m = inner
        self._run = run

    def snapshot(
        self,
        conids: Iterable[int | str] | int | str,
        fields: Iterable[str | int] | int | str = DEFAULT_FIELDS,
        *,
        timeout: float = 5.0,
        interval: float = 0.2,
    ) -> dict[int, TickerSnapshot]:
        items = conids if isinstance(conids, int | str) else list(conids)
        wanted = fields if isinstance(fields, int | str) else list(fields)
        return self._run(self._m.snapshot(items, wanted, timeout=timeout, interval=interval))

    def history(
        self,
        conid: int,
        *,
        period: str = "1d",
        bar: str = "5min",
        outside_rth: bool = False,
        exchange: str | None = None,
        start: dt.datetime | None = None,
    ) -> MarketHistory:
        return self._run(
            self._m.history(
                conid,
                period=period,
                bar=bar,
                outside_rth=outside_rth,
                exchange=exchange,
                start=start,
            )
        )


class SyncPortfolio:
    """Blocking :class:`~ibstream.aio.portfolio.Portfolio`."""

    def __init__(self, inner: Portfolio, run: Runner) -> None:
        self._p = inner
        self._run = run

    def accounts(self, *, refresh: bool = False) -> list[PortfolioAccount]:
        return self._run(self._p.accounts(refresh=refresh))

    def subaccounts(self) -> list[PortfolioAccount]:
        return self._run(self._p.subaccounts())

    def brokerage_accounts(self) -> dict[str, Any]:
        return self._run(self._p.brokerage_accounts())

    def positions(self, account: str | None = None) -> list[Position]:
        return self._run(self._p.positions(account))

    def summary(self, account: str | None = None) -> dict[str, SummaryItem]:
        return self._run(self._p.summary(account))

    def ledger(self, account: str | None = None) -> dict[str, CurrencyBalance]:
        return self._run(self._p.ledger(account))


class TrackedPositions(Protocol):
    """What :class:`SyncPositions` wraps: ``client.positions`` of the asyncio client
    (:class:`~ibstream.aio.portfolio.LivePositions`) or of ``ibstream.remote``."""

    async def start(self, *, accounts: tuple[str, ...] | None = None) -> list[PositionChange]: ...

    async def refresh(self) -> list[PositionChange]: ...

    def stop(self) -> None: ...

    async def wait_for(self, predicate: Callable[[Any], bool], timeout: float = 10.0) -> None: ...

    def on_change(self, callback: Callable[[PositionChange], None]) -> Callable[[], None]: ...

    def all(self) -> list[Position]: ...

    def get(self, conid: int, account: str | None = None) -> Position | None: ...

    def quantity(self, conid: int, account: str | None = None) -> float: ...

    @property
    def tracking(self) -> bool: ...


class SyncPositions:
    """Blocking live positions (:class:`TrackedPositions`: the asyncio client's
    :class:`~ibstream.aio.portfolio.LivePositions`, or ``ibstream.remote``'s).

    ``on_change`` callbacks run on the client's loop thread: keep them short.
    """

    def __init__(self, inner: TrackedPositions, run: Runner, call: Caller) -> None:
        self._l = inner
        self._run = run
        self._call = call

    def start(self, *, accounts: tuple[str, ...] | None = None) -> list[PositionChange]:
        return self._run(self._l.start(accounts=accounts))

    def refresh(self) -> list[PositionChange]:
        return self._run(self._l.refresh())

    def stop(self) -> None:
        self._call(self._l.stop)

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float = 10.0) -> None:
        self._run(self._l.wait_for(predicate, timeout))

    def on_change(self, callback: Callable[[PositionChange], None]) -> Callable[[], None]:
        return self._call(self._l.on_change, callback)

    def all(self) -> list[Position]:
        return self._call(self._l.all)

    def get(self, conid: int, account: str | None = None) -> Position | None:
        return self._call(self._l.get, conid, account)

    def quantity(self, conid: int, account: str | None = None) -> float:
        return self._call(self._l.quantity, conid, account)

    @property
    def tracking(self) -> bool:
        return self._l.tracking

    def __len__(self) -> int:
        return len(self.all())

    def __iter__(self) -> Iterator[Position]:
        return iter(self.all())

    def __contains__(self, conid: object) -> bool:
        return any(p.conid == conid for p in self.all())
