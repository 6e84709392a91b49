"""Per-endpoint request limits of the simulated gateway (IBKR "Pacing Limitations").

Beside the global ``/iserver/*`` limit (``SimConfig.rate_limit``, in :mod:`ibstream.sim.rest`),
IBKR limits some endpoints on their own; a request over a limit gets HTTP 429
``{"error": "Too many requests"}``. Windows are sliding: at most ``count`` requests arrived in
any ``per`` seconds. Keep-alive paths (``/tickle``, ``/sso/validate``) are not limited here so
ordinary clients cannot trip the simulator by keeping the session alive. ``/iserver/marketdata/
history`` (5 concurrent, always enforced like the gateway) uses :meth:`EndpointLimits.enter`.
Counters of served and refused requests are kept per endpoint.
"""

from __future__ import annotations

import collections
import re
import time

__all__ = ["ENDPOINT_LIMITS", "EndpointLimits"]

ENDPOINT_LIMITS: tuple[tuple[str, str, int, float], ...] = (
    ("snapshot", r"GET /v1/api/iserver/marketdata/snapshot$", 10, 1.0),
    ("orders", r"GET /v1/api/iserver/account/orders$", 1, 5.0),
    ("trades", r"GET /v1/api/iserver/account/trades$", 1, 5.0),
    ("pnl", r"GET /v1/api/iserver/account/pnl/partitioned$", 1, 5.0),
    ("portfolio_accounts", r"GET /v1/api/portfolio/accounts$", 1, 5.0),
    ("portfolio_subaccounts", r"GET /v1/api/portfolio/subaccounts$", 1, 5.0),
    ("scanner_run", r"POST /v1/api/iserver/scanner/run$", 1, 1.0),
)
"""(name, "METHOD path" pattern, count, per seconds) - IBKR's documented table."""


class EndpointLimits:
    """Sliding-window counters per limited endpoint; ``check`` says whether to answer 429."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._rules = [(re.compile(p), name, n, per) for name, p, n, per in ENDPOINT_LIMITS]
        self._windows: dict[str, collections.deque[float]] = {}
        self.refused: collections.Counter[str] = collections.Counter()
        self.served: collections.Counter[str] = collections.Counter()
        self.in_flight: collections.Counter[str] = collections.Counter()

    def enter(self, name: str, concurrent: int) -> bool:
        """Start one request of a concurrency-limited endpoint; ``False``: answer 429."""
        if self.in_flight[name] >= concurrent:
            self.refused[name] += 1
            return False
        self.in_flight[name] += 1
        self.served[name] += 1
        return True

    def leave(self, name: str) -> None:
        """That request is answered."""
        if self.in_flight[name] > 0:
            self.in_flight[name] -= 1

    def check(self, method: str, path: str) -> bool:
        """Record the request; ``False`` when it exceeds its endpoint's limit (answer 429)."""
        if not self.enabled:
            return True
        target = f"{method} {path}"
        for rx, name, count, per in self._rules:
            if not rx.match(target):
                continue
            now = time.monotonic()
            window = self._windows.setdefault(name, collections.deque())
            while window and now - window[0] > per:
                window.popleft()
            if len(window) >= count:
                self.refused[name] += 1
                return False
            window.append(now)
            self.served[name] += 1
            return True
        return True
