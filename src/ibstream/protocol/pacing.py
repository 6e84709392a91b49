"""Request pacing for the gateway's REST API, sans I/O: which limits a call falls under and when
it may go (IBKR "Pacing Limitations"; protocol.md §2.8, §2.9).

IBKR limits requests per session globally (10 req/s through the CP Gateway) and per endpoint
(snapshot 10 req/s, history 5 concurrent, ``/iserver/account/orders`` 1 per 5 s, ...); a client
that exceeds a limit gets HTTP 429 and may be put in a penalty box for minutes. The
:class:`Pacer` keeps every call within the limits *before* it is sent:

* a **window** limit allows at most ``count`` requests within any ``per`` seconds (a sliding
  window, the strictest reading of "N per T": a token bucket would allow a 2N burst in the first
  T seconds and be refused by a sliding-window server). The gateway counts a request when it
  *arrives*, which we cannot see: it lies between our send and the response. So a request
  occupies its window slot from its send until ``per`` (+ a small ``margin``) after its
  *response*; then no jitter between send and arrival can make the gateway see more than
  ``count`` in a window;
* a **concurrency** limit allows at most ``concurrent`` requests in flight;
* a **penalty** (after a 429) blocks a limit until a given time.

A call is checked against the global limit and its endpoint's limit. ``try_acquire(method,
path, now)`` either grants (the start is recorded, the grant must be released when the response
is in) or says how long to wait (``None``: until a release). Time is passed in; the asyncio
driver (:mod:`ibstream.aio.pacing`) sleeps and queues.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ibstream.exceptions import InvalidArgument

__all__ = [
    "DEFAULT_LIMITS",
    "GLOBAL",
    "Grant",
    "Limit",
    "Pacer",
]


@dataclass(frozen=True, slots=True)
class Limit:
    """One pacing rule: ``count`` requests per ``per`` seconds and/or ``concurrent`` in flight.

    ``pattern`` is a regular expression matched against ``"METHOD /path"`` (path without the
    ``/v1/api`` prefix and without the query), e.g. ``r"GET /iserver/marketdata/snapshot$"``.
    """

    name: str
    pattern: str
    count: int | None = None
    per: float = 1.0
    concurrent: int | None = None

    def __post_init__(self) -> None:
        if self.count is not None and self.count < 1:
            raise InvalidArgument("count", f"{self.name}: must be >= 1 or None")
        if self.per <= 0:
            raise InvalidArgument("per", f"{self.name}: must be > 0")
        if self.concurrent is not None and self.concurrent < 1:
            raise InvalidArgument("concurrent", f"{self.name}: must be >= 1 or None")
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise InvalidArgument("pattern", f"{self.name}: {exc}") from exc


GLOBAL = Limit("global", r".*", count=10, per=1.0)
"""Every request of the session: 10 req/s through the CP Gateway (IBKR; protocol.md §2.9)."""

DEFAULT_LIMITS: tuple[Limit, ...] = (
    Limit("snapshot", r"GET /iserver/marketdata/snapshot$", count=10, per=1.0),
    Limit("history", r"GET /iserver/marketdata/history$", concurrent=5),
    Limit("orders", r"GET /iserver/account/orders$", count=1, per=5.0),
    Limit("trades", r"GET /iserver/account/trades$", count=1, per=5.0),
    Limit("pnl", r"GET /iserver/account/pnl/partitioned$", count=1, per=5.0),
    Limit("portfolio_accounts", r"GET /portfolio/accounts$", count=1, per=5.0),
    Limit("portfolio_subaccounts", r"GET /portfolio/subaccounts$", count=1, per=5.0),
    Limit("scanner_params", r"GET /iserver/scanner/params$", count=1, per=900.0),
    Limit("scanner_run", r"POST /iserver/scanner/run$", count=1, per=1.0),
    Limit("fyi", r"\w+ /fyi/", count=1, per=1.0),
    Limit("pa", r"POST /pa/(performance|summary|transactions)$", count=1, per=900.0),
    Limit("sso_validate", r"GET /sso/validate$", count=1, per=60.0),
    Limit("tickle", r"\w+ /tickle$", count=1, per=1.0),
)
"""IBKR's documented per-endpoint limits (Web API "Pacing Limitations" table)."""


class _Slot:
    """One request in a window: ``done`` is when its response came (``None``: in flight)."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done: float | None = None


@dataclass(slots=True)
class _State:
    limit: Limit
    slots: deque[_Slot] = field(default_factory=deque)
    in_flight: int = 0
    blocked_until: float = 0.0
    granted: int = 0
    waits: int = 0
    throttled: int = 0


@dataclass(frozen=True, slots=True)
class Grant:
    """A granted request; hand it back to :meth:`Pacer.release` when the response is in."""

    key: str
    names: tuple[str, ...]
    slots: tuple[_Slot, ...] = field(default=(), repr=False, compare=False)


class Pacer:
    """The limit states of one session (see the module docstring)."""

    def __init__(
        self,
        limits: tuple[Limit, ...] = DEFAULT_LIMITS,
        *,
        global_limit: Limit | None = GLOBAL,
        margin: float = 0.05,
    ) -> None:
        if margin < 0:
            raise InvalidArgument("margin", "must be >= 0")
        self.margin = margin
        self._global = _State(global_limit) if global_limit is not None else None
        self._states = {lim.name: _State(lim) for lim in limits}
        self._compiled = [(re.compile(lim.pattern), lim.name) for lim in limits]
        self._keys: dict[str, str | None] = {}

    def limit_for(self, method: str, path: str) -> str | None:
        """The name of the endpoint limit ``METHOD path`` falls under (``None``: global only)."""
        target = f"{method.upper()} {path.split('?', 1)[0]}"
        try:
            return self._keys[target]
        except KeyError:
            pass
        name = next((n for rx, n in self._compiled if rx.match(target)), None)
        if len(self._keys) < 4096:  # paths carry ids (conids, accounts): keep the cache bounded
            self._keys[target] = name
        return name

    def _chain(self, name: str | None) -> list[_State]:
        chain = [] if self._global is None else [self._global]
        if name is not None:
            chain.append(self._states[name])
        return chain

    def _delay(self, st: _State, now: float) -> float | None:
        """Seconds until ``st`` allows one more request (``None``: until a release)."""
        lim = st.limit
        wait = max(0.0, st.blocked_until - now)
        release_needed = False
        if lim.count is not None:
            window = lim.per + self.margin
            slots = st.slots
            while slots and slots[0].done is not None and now - slots[0].done >= window:
                slots.popleft()
            if len(slots) >= lim.count:
                # the slot that frees first among those that must free for one more request
                ends = sorted(s.done if s.done is not None else float("inf") for s in slots)
                end = ends[len(slots) - lim.count]
                if end == float("inf"):
                    release_needed = True
                else:
                    wait = max(wait, end + window - now)
        if lim.concurrent is not None and st.in_flight >= lim.concurrent:
            release_needed = True
        if release_needed and wait <= 0:
            return None
        return wait

    def try_acquire(self, method: str, path: str, now: float) -> Grant | float | None:
        """Grant the request now, or return the seconds to wait (``None``: until a release)."""
        name = self.limit_for(method, path)
        chain = self._chain(name)
        longest = 0.0
        blocked_by_release = False
        for st in chain:
            d = self._delay(st, now)
            if d is None:
                blocked_by_release = True
            elif d > longest:
                longest = d
        if longest > 0:
            return longest
        if blocked_by_release:
            return None
        slots: list[_Slot] = []
        for st in chain:
            if st.limit.count is not None:
                slot = _Slot()
                st.slots.append(slot)
                slots.append(slot)
            st.in_flight += 1
            st.granted += 1
        return Grant(name or "global", tuple(st.limit.name for st in chain), tuple(slots))

    def note_wait(self, method: str, path: str) -> None:
        """Count one request that had to wait (for metrics)."""
        for st in self._chain(self.limit_for(method, path)):
            st.waits += 1

    def release(self, grant: Grant, now: float) -> None:
        """The request of ``grant`` is over (answered, failed or cancelled) at ``now``."""
        for slot in grant.slots:
            if slot.done is None:
                slot.done = now
        for name in grant.names:
            st = self._global if name == "global" and self._global is not None else None
            st = st or self._states.get(name)
            if st is not None and st.in_flight > 0:
                st.in_flight -= 1

    def _penalized(self, method: str, path: str) -> _State | None:
        name = self.limit_for(method, path)
        return self._states[name] if name is not None else self._global

    def penalize(self, method: str, path: str, now: float, seconds: float) -> None:
        """A 429 came back: block the endpoint's limit (or the global one) for ``seconds``."""
        st = self._penalized(method, path)
        if st is None:
            return
        st.throttled += 1
        st.blocked_until = max(st.blocked_until, now + seconds)

    def blocked_for(self, method: str, path: str, now: float) -> float:
        """Seconds left of the penalty on the limit :meth:`penalize` blocks for this call."""
        st = self._penalized(method, path)
        return 0.0 if st is None else max(0.0, st.blocked_until - now)

    def metrics(self, now: float) -> dict[str, Any]:
        """Per-limit state: requests granted, waits, 429s, in flight, window use, blocked."""
        out: dict[str, Any] = {}
        states = ([self._global] if self._global is not None else []) + list(self._states.values())
        for st in states:
            lim = st.limit
            recent = sum(1 for s in st.slots if s.done is None or now - s.done < lim.per)
            out[lim.name] = {
                "granted": st.granted,
                "waited": st.waits,
                "throttled": st.throttled,
                "in_flight": st.in_flight,
                "window_used": recent,
                "limit": lim.count,
                "per": lim.per,
                "concurrent": lim.concurrent,
                "blocked_s": round(max(0.0, st.blocked_until - now), 3),
            }
        return out
