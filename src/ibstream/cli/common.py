"""Shared plumbing of the ``ibstream`` subcommands: gateway options, one-line errors, stop
signals. Cheap to import (no aiohttp): every subcommand module is imported to build the parser,
so heavy imports wait until a command runs (see :mod:`ibstream.cli.connect`).

Exit codes used by every command: ``0`` success (also a Ctrl-C that ends a live command, which is
how those commands are meant to end), ``1`` the gateway failed (unreachable, TLS, not
authenticated, competing session), ``2`` the user's input is wrong (bad spec, unknown symbol,
unreadable file, bad option), ``130`` interrupted before anything ran.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ibstream.exceptions import (
    IBStreamError,
    InvalidArgument,
    NotAuthenticated,
    OAuthConfigError,
    TLSError,
)
from ibstream.settings import DEFAULT_URL, ENV_CACERT, ENV_INSECURE, ENV_URL

__all__ = [
    "DEFAULT_URL",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliError",
    "GatewayTarget",
    "Interrupted",
    "add_gateway_args",
    "cause_text",
    "describe_error",
    "gateway_target",
    "help_text",
    "is_conid",
    "stop_on_signals",
    "tls_message",
    "unless_stopped",
]

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """An error the user can cause: printed as one line on stderr, exits with ``code``."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


def describe_error(exc: BaseException) -> tuple[str, int]:
    """One line and an exit code for any error reaching the top of a command."""
    if isinstance(exc, CliError):
        return str(exc), exc.code
    if isinstance(exc, TLSError):
        return tls_message(exc), EXIT_FAILURE
    if isinstance(exc, InvalidArgument | OAuthConfigError):
        return str(exc), EXIT_USAGE
    if isinstance(exc, NotAuthenticated):
        return (
            f"{exc}: log in to the gateway in a browser first",
            EXIT_FAILURE,
        )
    if isinstance(exc, IBStreamError):
        return str(exc), EXIT_FAILURE
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""), 1
    return f"{type(exc).__name__}: {exc}", 1


def help_text(doc: str | None) -> str:
    """A module docstring as ``--help`` text (reST literals become plain text)."""
    return (doc or "").replace("``", "").strip()


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
    g.add_argument(
        "--oauth-config",
        metavar="FILE",
        default=None,
        help="authenticate with OAuth 1.0a, settings from this JSON file (env "
        "IBSTREAM_OAUTH_CONFIG; IBSTREAM_OAUTH_* variables override it); the URL defaults to "
        "https://api.ibkr.com/v1/api",
    )
    g.add_argument(
        "--oauth",
        action="store_true",
        default=None,
        help="authenticate with OAuth 1.0a from IBSTREAM_OAUTH_* variables (env IBSTREAM_OAUTH=1)",
    )
    if sim:
        g.add_argument(
            "--sim",
            action="store_true",
            help="run against an embedded gateway simulator instead of a real gateway "
            "(with --oauth: the simulator acts as api.ibkr.com with generated credentials)",
        )


@dataclass(frozen=True, slots=True)
class GatewayTarget:
    """Where and how to connect, after flags and environment are merged."""

    url: str
    cacert: str | None
    insecure: bool
    #: OAuth 1.0a: ``oauth`` on; settings from ``oauth_config`` and IBSTREAM_OAUTH_* variables
    oauth: bool = False
    oauth_config: str | None = None

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
    """Flags first, then ``IBSTREAM_URL`` / ``IBSTREAM_CACERT`` / ``IBSTREAM_VERIFY`` /
    ``IBSTREAM_INSECURE`` from the environment or a ``.env`` file (:mod:`ibstream.settings`)."""
    from ibstream.settings import gateway_settings

    try:
        settings = gateway_settings(
            args.url, cacert=args.cacert, verify=False if args.insecure else None
        )
    except InvalidArgument as exc:
        text = str(exc)
        if exc.argument == "cacert":
            text = "--cacert: " + text.split(": ", 1)[-1]
        raise CliError(text, EXIT_USAGE) from exc
    return GatewayTarget(url=settings.url, cacert=settings.cacert, insecure=not settings.verify)


def tls_message(exc: BaseException, url: str | None = None) -> str:
    """The real cause of a TLS failure with the flags that can fix it: ``--cacert FILE`` or
    ``--insecure`` for an untrusted certificate (only when verification was on), an ``http://``
    URL for a server that does not speak TLS."""
    from ibstream.tlsdiag import diagnose

    verified = getattr(exc, "verified", None)
    return diagnose(exc).message(
        url or "the gateway",
        verified=verified is not False,
        advice_verify="use --cacert FILE with the gateway's certificate, or --insecure",
    )


def cause_text(exc: BaseException) -> str:
    cause = exc.__cause__
    text = str(cause) if cause is not None else str(exc)
    return text.strip() or type(cause or exc).__name__


def is_conid(text: str) -> bool:
    """A positive decimal number: a contract id rather than a symbol."""
    return text.isdigit() and int(text) > 0


# -- signals ---------------------------------------------------------------------------------


def stop_on_signals(stop: asyncio.Event) -> Callable[[], bool]:
    """Set ``stop`` on SIGINT/SIGTERM (Ctrl-C ends live commands cleanly); returns a function
    telling whether a signal arrived. After the first Ctrl-C the default handler is back, so a
    second one interrupts at once."""
    loop = asyncio.get_running_loop()
    fired: list[int] = []

    def handler(sig: int) -> None:
        fired.append(sig)
        stop.set()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, handler, sig)
    return lambda: bool(fired)


class Interrupted(Exception):
    """The user stopped the command while it was still setting up (exit 130, no message)."""


async def unless_stopped(stop: asyncio.Event, aw: Awaitable[T]) -> T:
    """Await ``aw`` unless ``stop`` is set first (then cancel it and raise ``Interrupted``):
    Ctrl-C during connecting or resolving symbols must not wait for a timeout."""
    task = asyncio.ensure_future(aw)
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    raise Interrupted
