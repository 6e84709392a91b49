"""Display decimals per instrument from its price increment, without ever blocking a view.

:class:`PriceDecimals` answers ``get(conid)`` at once from its cache: the decimals of the
contract's minimum tick (``client.contracts.price_rules``: ``0.00005`` -> 5 for EUR.USD,
``0.01`` -> 2 for a stock), or ``None`` while the rules are not known yet, when the gateway has
none, or when the lookup failed; the first ``get`` of a conid starts the lookup in the
background (one at a time per conid, a few at once). A contract without rules or a usable
increment is asked again after ``retry_after`` seconds, a lookup that failed otherwise (the
session down, a timeout) after ``retry_transient``. Live views (the terminal view, the
service's dashboard) show prices with these decimals and fall back to their own inference
meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from ibstream.exceptions import IBStreamError, NotFound
from ibstream.protocol.ticks import PriceRules

__all__ = ["PriceDecimals", "RulesSource"]

log = logging.getLogger("ibstream.contracts")


class RulesSource(Protocol):
    """Where the rules come from (``client.contracts``)."""

    async def price_rules(self, conid: int) -> PriceRules: ...


class PriceDecimals:
    """conid -> display decimals from the contract rules (see the module docstring)."""

    def __init__(
        self,
        source: RulesSource,
        *,
        retry_after: float = 300.0,
        retry_transient: float = 15.0,
        concurrency: int = 4,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self.retry_after = retry_after
        self.retry_transient = retry_transient
        self.timeout = timeout
        self._clock = clock
        self._rules: dict[int, PriceRules] = {}
        self._failed: dict[int, float] = {}  # conid -> when it may be asked again
        self._inflight: dict[int, asyncio.Task[PriceRules | None]] = {}
        self._limit = asyncio.Semaphore(concurrency)
        self.lookups = 0
        self.failures = 0

    def __repr__(self) -> str:
        return (
            f"<PriceDecimals known={len(self._rules)} failed={len(self._failed)} "
            f"pending={len(self._inflight)}>"
        )

    def rules(self, conid: int) -> PriceRules | None:
        """The cached rules of ``conid`` (``None``: not known)."""
        return self._rules.get(conid)

    def pending(self, conid: int) -> bool:
        """Whether a lookup of ``conid`` is in flight."""
        return conid in self._inflight

    def get(self, conid: int, price: float | None = None) -> int | None:
        """The decimals of ``conid``'s increment (at ``price`` when it depends on it), or
        ``None`` (unknown yet: a lookup starts in the background when a loop runs)."""
        rules = self._rules.get(conid)
        if rules is not None:
            return rules.decimals(price)
        self._start(conid)
        return None

    def decimals(self, conid: int, price: float | None, fallback: int) -> int:
        """:meth:`get`, else ``fallback`` (the caller's inferred decimals)."""
        found = self.get(conid, price)
        return fallback if found is None else found

    def _due(self, conid: int) -> bool:
        if conid in self._rules or conid in self._inflight:
            return False
        again = self._failed.get(conid)
        return again is None or self._clock() >= again

    def _start(self, conid: int) -> asyncio.Task[PriceRules | None] | None:
        if isinstance(conid, bool) or not isinstance(conid, int) or conid <= 0:
            return None
        task = self._inflight.get(conid)
        if task is not None or not self._due(conid):
            return task
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None  # no loop (a synchronous caller): nothing to look up with
        task = loop.create_task(self._lookup(conid), name=f"ibstream-rules-{conid}")
        self._inflight[conid] = task
        return task

    async def _lookup(self, conid: int) -> PriceRules | None:
        try:
            async with self._limit:
                self.lookups += 1
                async with asyncio.timeout(self.timeout):
                    rules = await self._source.price_rules(conid)
        except NotFound as exc:
            self._fail(conid, f"{type(exc).__name__}: {exc}", self.retry_after)
            return None
        except (IBStreamError, TimeoutError) as exc:
            self._fail(conid, f"{type(exc).__name__}: {exc}", self.retry_transient)
            return None
        except Exception as exc:  # a bug must never take a live view down
            log.warning("price rules of %s failed", conid, exc_info=exc)
            self._fail(conid, repr(exc), self.retry_after)
            return None
        finally:
            self._inflight.pop(conid, None)
        if rules.decimals() is None:
            self._fail(conid, "no usable increment", self.retry_after)
            return None
        self._failed.pop(conid, None)
        self._rules[conid] = rules
        return rules

    def _fail(self, conid: int, why: str, retry: float) -> None:
        self.failures += 1
        self._failed[conid] = self._clock() + retry
        log.info("price increment of %s unknown (%s): prices keep inferred decimals", conid, why)

    async def lookup(self, conid: int) -> PriceRules | None:
        """Wait for ``conid``'s rules (from the cache, the lookup in flight or a new one);
        ``None`` when unknown (a recent failure is not asked again before its retry time)."""
        if conid in self._rules:
            return self._rules[conid]
        task = self._start(conid)
        return None if task is None else await asyncio.shield(task)

    async def lookup_many(self, conids: Iterable[int]) -> dict[int, PriceRules | None]:
        """:meth:`lookup` of several conids at once."""
        ids = list(dict.fromkeys(conids))
        found = await asyncio.gather(*(self.lookup(c) for c in ids))
        return dict(zip(ids, found, strict=True))

    async def close(self) -> None:
        """Cancel the lookups in flight."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._inflight.clear()
