"""Shared plumbing of the ``ibstream`` subcommands: gateway options, one-line errors, the
pre-flight check, symbol resolution, the embedded simulator and stop signals.

Exit codes used by every command: ``0`` success (also a Ctrl-C that ends a live command, which is
how those commands are meant to end), ``1`` the gateway failed (unreachable, TLS, not
authenticated, competing session), ``2`` the user's input is wrong (bad spec, unknown symbol,
unreadable file, bad option), ``130`` interrupted before anything ran.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ibstream.aio.client import ClientConfig, StreamClient
from ibstream.aio.rest import AuthInfo, GatewayRest, TickleInfo
from ibstream.exceptions import (
    GatewayUnreachable,
    HTTPStatusError,
    IBStreamError,
    InvalidArgument,
    NotAuthenticated,
    StreamTimeout,
    TLSError,
)
from ibstream.protocol.lifecycle import SessionState
from ibstream.sim import SimConfig, Simulator

__all__ = [
    "DEFAULT_URL",
    "EXIT_GATEWAY",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliError",
    "GatewayTarget",
    "add_gateway_args",
    "check_client",
    "describe_error",
    "embedded_simulator",
    "gateway_target",
    "is_conid",
    "open_client",
    "preflight",
    "resolve_instruments",
    "stop_on_signals",
    "tls_message",
]

EXIT_OK = 0
EXIT_GATEWAY = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

DEFAULT_URL = "https://localhost:5000/v1/api"
ENV_URL = "IBSTREAM_URL"
ENV_CACERT = "IBSTREAM_CACERT"
ENV_INSECURE = "IBSTREAM_INSECURE"


class CliError(Exception):
    """An error the user can cause: printed as one line on stderr, exits with ``code``."""

    def __init__(self, message: str, code: int = EXIT_GATEWAY) -> None:
        super().__init__(message)
        self.code = code


def describe_error(exc: BaseException) -> tuple[str, int]:
    """One line and an exit code for any error reaching the top of a command."""
    if isinstance(exc, CliError):
        return str(exc), exc.code
    if isinstance(exc, TLSError):
        return tls_message(exc), EXIT_GATEWAY
    if isinstance(exc, InvalidArgument):
        return str(exc), EXIT_USAGE
    if isinstance(exc, NotAuthenticated):
        return (
            f"{exc}: log in to the gateway in a browser first",
            EXIT_GATEWAY,
        )
    if isinstance(exc, IBStreamError):
        return str(exc), EXIT_GATEWAY
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""), 1
    return f"{type(exc).__name__}: {exc}", 1


# -- gateway options -------------------------------------------------------------------------


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def add_gateway_args(p: argparse.ArgumentParser, *, sim: bool = False) -> None:
    """``--url``, ``--cacert``/``--insecure`` (and ``--sim``) with environment defaults."""
    g = p.add_argument_group("gateway")
    g.add_argument(
        "--url",
        default=None,
        help=f"gateway base URL (env {ENV_URL}; default {DEFAULT_URL})",
    )
    tls = g.add_mutually_exclusive_group()
    tls.add_argument(
        "--cacert",
        metavar="FILE",
        default=None,
        help=f"verify TLS against this certificate, e.g. the gateway's (env {ENV_CACERT})",
    )
    tls.add_argument(
        "--insecure",
        action="store_true",
        default=None,
        help=f"do not verify the gateway's TLS certificate (env {ENV_INSECURE}=1)",
    )
    if sim:
        g.add_argument(
            "--sim",
            action="store_true",
            help="run against an embedded gateway simulator instead of a real gateway",
        )


@dataclass(frozen=True, slots=True)
class GatewayTarget:
    """Where and how to connect, after flags and environment are merged."""

    url: str
    cacert: str | None
    insecure: bool

    @property
    def verify(self) -> bool:
        return not self.insecure

    def tls_description(self) -> str:
        if not self.url.lower().startswith("https://"):
            return "off (plain http)"
        if self.insecure:
            return "on, certificate NOT verified (--insecure)"
        if self.cacert:
            return f"on, verified against {self.cacert}"
        return "on, verified against the system trust store"


def gateway_target(args: argparse.Namespace) -> GatewayTarget:
    """Flags first, then ``IBSTREAM_URL`` / ``IBSTREAM_CACERT`` / ``IBSTREAM_INSECURE``."""
    url = args.url or os.environ.get(ENV_URL) or DEFAULT_URL
    cacert = args.cacert
    insecure = bool(args.insecure)
    if cacert is None and not insecure:
        cacert = os.environ.get(ENV_CACERT) or None
        insecure = _truthy(os.environ.get(ENV_INSECURE)) and cacert is None
    if cacert is not None and not os.path.isfile(cacert):
        raise CliError(f"--cacert: no such file {cacert!r}", EXIT_USAGE)
    return GatewayTarget(url=url, cacert=cacert, insecure=insecure)


def open_client(target: GatewayTarget, *, config: ClientConfig | None = None) -> StreamClient:
    """A (not started) client for ``target``."""
    return StreamClient(
        target.url,
        verify=target.verify,
        cacert=target.cacert,
        config=config or ClientConfig(start_timeout=15.0),
    )


def check_client(client: StreamClient) -> None:
    """Raise ``CliError`` when the client stopped for good (a fatal error)."""
    if client.state is SessionState.CLOSED:
        # The client has no public accessor for its fatal error yet.
        fatal = getattr(client, "_fatal", None)
        raise CliError(f"stream ended: {fatal}" if fatal else "stream ended: the client stopped")


# -- pre-flight ------------------------------------------------------------------------------


async def preflight(rest: GatewayRest) -> tuple[TickleInfo, AuthInfo]:
    """Check the gateway answers and the brokerage session is usable, with clear errors.

    The client itself retries an unreachable gateway forever (right for a long-running stream);
    a command the user just typed should say at once what is wrong instead.
    """
    try:
        info = await rest.tickle()
    except GatewayUnreachable as exc:
        raise CliError(
            f"gateway {rest.base_url} is unreachable ({_cause(exc)}); is it running?"
        ) from exc
    except NotAuthenticated as exc:
        raise CliError(
            f"gateway {rest.base_url} is not authenticated: log in to the gateway in a browser"
        ) from exc
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
            f"gateway {rest.base_url} is not authenticated: log in to the gateway in a browser"
            + (f" ({auth.message})" if auth.message else "")
        )
    return info, auth


def tls_message(exc: BaseException, url: str | None = None) -> str:
    """``TLS verification failed for URL (self-signed certificate): use --cacert ...``."""
    where = f" for {url}" if url else ""
    text = str(exc.__cause__ or exc)
    m = re.search(r"certificate verify failed: ([^(\]]+)", text)
    reason = f" ({m.group(1).strip()})" if m else ""
    if not m and exc.__cause__ is not None:
        reason = f" ({_cause(exc)})"
    return (
        f"TLS verification failed{where}{reason}: use --cacert FILE with the gateway's "
        "certificate, or --insecure"
    )


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__
    text = str(cause) if cause is not None else str(exc)
    return text.strip() or type(cause or exc).__name__


# -- instruments -----------------------------------------------------------------------------


def is_conid(text: str) -> bool:
    return text.isdigit() and int(text) > 0


async def resolve_instruments(rest: GatewayRest, names: Sequence[str]) -> dict[str, int]:
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


# -- signals ---------------------------------------------------------------------------------


def stop_on_signals(stop: asyncio.Event) -> Callable[[], bool]:
    """Set ``stop`` on SIGINT/SIGTERM (Ctrl-C ends live commands cleanly); returns a function
    telling whether a signal arrived."""
    loop = asyncio.get_running_loop()
    fired: list[int] = []

    def handler(sig: int) -> None:
        fired.append(sig)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, handler, sig)
    return lambda: bool(fired)


def err(prog: str, message: str) -> None:
    """Print ``ibstream <cmd>: message`` on stderr."""
    print(f"{prog}: {message}", file=sys.stderr, flush=True)
