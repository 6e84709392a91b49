"""Plumbing shared by the examples: where the gateway is, and for how long to run.

``--sim`` starts ibstream's gateway simulator in a background thread (plain HTTP on a free port,
the default account ``DU1234567``); otherwise ``--url`` (default ``https://localhost:5000/v1/api``)
points at a real Client Portal Gateway, with ``--cacert gateway.pem`` or ``--insecure`` for its
self-signed certificate. ``--oauth-config oauth.json`` authenticates with OAuth 1.0a instead (the
URL then defaults to ``https://api.ibkr.com/v1/api``); ``--sim --oauth`` runs the simulator as
api.ibkr.com with generated credentials. ``--duration`` stops the example after that many seconds
(default: run until Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ibstream


@dataclass
class Gateway:
    url: str
    account: str
    options: dict[str, Any]  # keyword arguments for ibstream.Client (verify / cacert / auth)
    duration: float | None

    def expired(self, started: float) -> bool:
        return self.duration is not None and time.monotonic() - started >= self.duration


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sim", action="store_true", help="run against an embedded simulator")
    parser.add_argument("--url", default=None, help="gateway URL (default: localhost:5000)")
    parser.add_argument("--oauth-config", default=None, help="OAuth 1.0a settings (JSON)")
    parser.add_argument("--oauth", action="store_true", help="with --sim: require OAuth 1.0a")
    parser.add_argument("--cacert", default=None, help="the gateway's certificate (PEM)")
    parser.add_argument("--insecure", action="store_true", help="skip TLS verification")
    parser.add_argument("--account", default=os.getenv("IBKR_ACCOUNT_ID"), help="account id")
    parser.add_argument("--duration", type=float, default=None, help="seconds to run")
    return parser.parse_args()


@contextmanager
def gateway(args: argparse.Namespace) -> Iterator[Gateway]:
    """Yield where to connect; with ``--sim`` a simulator runs for the duration of the block."""
    if not args.sim:
        options: dict[str, Any] = {"cacert": args.cacert, "verify": not args.insecure}
        url = args.url or "https://localhost:5000/v1/api"
        if args.oauth_config:
            options["auth"] = ibstream.OAuth1a.from_file(args.oauth_config)
            url = args.url or ibstream.DEFAULT_OAUTH_URL
        yield Gateway(url, args.account or "", options, args.duration)
        return
    from ibstream.sim import SimConfig, Simulator

    config = SimConfig(
        port=0,
        tls=False,
        rate_limit=None,
        update_interval=0.1,
        pnl_interval=0.5,
        oauth=bool(args.oauth),
    )
    sim = Simulator(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="example-sim", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(sim.start(), loop).result(10)
    extra: dict[str, Any] = {}
    if sim.oauth is not None:  # the simulator's generated test credentials
        extra["auth"] = ibstream.OAuth1a.from_file(sim.oauth.credentials.config_file, env={})
    try:
        yield Gateway(sim.base_url, args.account or config.account, extra, args.duration)
    finally:
        asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
