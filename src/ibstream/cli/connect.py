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
    InvalidArgument,
    NotAuthenticated,
    NotFound,
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
    """``{"AAPL": 265598, "ES": 495512552, "272093": 272093}``: every text of the shared
    instrument grammar (stocks, futures, options, FX, indices, CFDs; see
    :mod:`ibstream.protocol.symbols`) resolved through the gateway; numbers are conids already.
    Unknown or malformed instruments: ``CliError`` (exit 2)."""
    from ibstream.aio.contracts import Contracts

    contracts = Contracts(rest)
    out: dict[str, int] = {}
    for name in names:
        if is_conid(name):
            out[name] = int(name)
            continue
        text = " ".join(name.split()).upper()
        try:
            resolved = await contracts.resolve(name)
        except InvalidArgument as exc:
            raise CliError(f"not a symbol or conid: {name!r} ({exc})", EXIT_USAGE) from exc
        except NotFound as exc:
            raise CliError(
                f"unknown symbol {text!r}: {exc.error or 'not found'} ({exc.endpoint})",
                EXIT_USAGE,
            ) from exc
        if resolved.sec_type == "BAG":
            raise CliError(f"{name!r} is a combo: stream it by its legs", EXIT_USAGE)
        out[name] = resolved.conid
    return out


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
