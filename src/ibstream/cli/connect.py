"""The heavy half of the CLI plumbing (imports aiohttp, the client and the simulator): opening
and pre-flighting a client, resolving symbols, the embedded simulator. Imported only when a
command runs."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from ibstream.aio.client import ClientConfig, StreamClient
from ibstream.aio.rest import AuthInfo, TickleInfo
from ibstream.aio.transport import Transport
from ibstream.auth import Auth, OAuth1a, OAuthConfig
from ibstream.cli.common import (
    EXIT_USAGE,
    CliError,
    GatewayTarget,
    cause_text,
    is_conid,
    tls_message,
    unless_stopped,
)
from ibstream.cli.oauth_opts import resolve_target
from ibstream.exceptions import (
    GatewayUnreachable,
    HTTPStatusError,
    IBStreamError,
    NotAuthenticated,
    StreamTimeout,
    TLSError,
)
from ibstream.protocol.lifecycle import SessionState
from ibstream.sim import SimConfig, Simulator

__all__ = [
    "check_client",
    "connected_client",
    "embedded_simulator",
    "make_auth",
    "open_client",
    "preflight",
    "resolve_instruments",
]


def make_auth(target: GatewayTarget) -> Auth | None:
    """The authentication strategy of ``target``: ``OAuth1a`` (keys read and checked now, so a
    bad key fails before connecting) or ``None`` for the gateway's own session."""
    if not target.oauth:
        return None
    return OAuth1a(OAuthConfig.load(target.oauth_config))


def open_client(target: GatewayTarget, *, config: ClientConfig | None = None) -> StreamClient:
    """A (not started) client for ``target``."""
    return StreamClient(
        target.url,
        verify=target.verify,
        cacert=target.cacert,
        config=config or ClientConfig(start_timeout=15.0),
        auth=make_auth(target),
    )


def check_client(client: StreamClient) -> None:
    """Raise ``CliError`` when the client stopped for good (a fatal error)."""
    if client.state is SessionState.CLOSED:
        fatal = client.error
        raise CliError(f"stream ended: {fatal}" if fatal else "stream ended: the client stopped")


# -- pre-flight ------------------------------------------------------------------------------


async def preflight(rest: Transport) -> tuple[TickleInfo, AuthInfo]:
    """Check the gateway answers and the brokerage session is usable, with clear errors.

    The client itself retries an unreachable gateway forever (right for a long-running stream);
    a command the user just typed should say at once what is wrong instead.
    """
    hint = (
        "the OAuth brokerage session did not initialise (POST /iserver/auth/ssodh/init)"
        if getattr(getattr(rest, "auth", None), "kind", None) == "oauth1a"
        else "log in to the gateway in a browser"
    )
    try:
        info = await rest.tickle()
    except GatewayUnreachable as exc:
        raise CliError(
            f"gateway {rest.base_url} is unreachable ({cause_text(exc)}); is it running?"
        ) from exc
    except NotAuthenticated as exc:
        raise CliError(f"gateway {rest.base_url} is not authenticated: {hint}") from exc
    except HTTPStatusError as exc:
        raise CliError(f"gateway {rest.base_url} answered {exc}") from exc
    except StreamTimeout as exc:
        raise CliError(f"gateway {rest.base_url} did not answer in time") from exc
    except TLSError as exc:
        raise CliError(tls_message(exc, rest.base_url)) from exc
    auth = info.auth
    if not auth.authenticated:
        with contextlib.suppress(IBStreamError):
            auth = await rest.auth_status()
    if auth.competing:
        raise CliError(
            f"gateway {rest.base_url}: another session competes for this user "
            "(log out elsewhere or re-authenticate)"
        )
    if not auth.authenticated:
        raise CliError(
            f"gateway {rest.base_url} is not authenticated: {hint}"
            + (f" ({auth.message})" if auth.message else "")
        )
    return info, auth


# -- instruments -----------------------------------------------------------------------------


async def resolve_instruments(rest: Transport, names: Sequence[str]) -> dict[str, int]:
    """``{"AAPL": 265598, "272093": 272093}``: symbols through ``/iserver/secdef/search``
    (first stock match); numbers are conids already. Unknown symbol: ``CliError`` (exit 2)."""
    out: dict[str, int] = {}
    for name in names:
        if is_conid(name):
            out[name] = int(name)
            continue
        symbol = name.strip().upper()
        if not symbol or not symbol.replace(".", "").replace(" ", "").isalnum():
            raise CliError(f"not a symbol or conid: {name!r}", EXIT_USAGE)
        results = await rest.search(symbol)
        conid = _first_stock(results, symbol)
        if conid is None:
            raise CliError(
                f"unknown symbol {symbol!r}: no stock found by secdef/search", EXIT_USAGE
            )
        out[name] = conid
    return out


def _first_stock(results: Sequence[dict[str, Any]], symbol: str) -> int | None:
    def conid_of(r: dict[str, Any]) -> int | None:
        raw = r.get("conid")
        return int(raw) if isinstance(raw, int | str) and str(raw).isdigit() else None

    def is_stock(r: dict[str, Any]) -> bool:
        sections = r.get("sections")
        if not isinstance(sections, list):
            return False
        return any(isinstance(s, dict) and s.get("secType") == "STK" for s in sections)

    stocks = [r for r in results if is_stock(r) and conid_of(r) is not None]
    exact = [r for r in stocks if str(r.get("symbol", "")).upper() == symbol]
    for r in exact or stocks:
        return conid_of(r)
    return None


# -- embedded simulator ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def embedded_simulator(**overrides: Any) -> AsyncIterator[Simulator]:
    """A simulator in this process: plain HTTP on a free local port."""
    settings: dict[str, Any] = {"port": 0, "tls": False, "host": "127.0.0.1"}
    settings.update(overrides)
    async with Simulator(SimConfig(**settings)) as sim:
        yield sim


@contextlib.asynccontextmanager
async def connected_client(
    args: argparse.Namespace, stop: asyncio.Event
) -> AsyncIterator[StreamClient]:
    """A pre-flighted, not yet started client for ``--sim`` or the gateway of the flags
    (``stop`` set during the pre-flight: ``Interrupted``)."""
    if getattr(args, "sim", False):
        oauth = bool(getattr(args, "oauth", None) or getattr(args, "oauth_config", None))
        async with embedded_simulator(oauth=oauth) as sim:
            auth = None
            if sim.oauth is not None:  # the simulator's generated credentials
                auth = OAuth1a(OAuthConfig.load(sim.oauth.credentials.config_file, env={}))
            client = StreamClient(sim.base_url, auth=auth)
            try:
                yield client
            finally:
                await client.stop()
        return
    client = open_client(resolve_target(args))
    try:
        await unless_stopped(stop, preflight(client.rest))
        yield client
    finally:
        await client.stop()
