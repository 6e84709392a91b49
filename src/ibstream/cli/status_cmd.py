"""``ibstream status``: is the gateway usable? Reachability, TLS, authentication, competing
session, accounts (in full: ``summary:ACCT`` specs need them; ``--mask`` masks them, e.g. when
sharing the screen) and session expiry, as a readable report.

Exit status: 0 healthy; 1 unreachable or TLS failure; 3 not authenticated; 4 another session
competes; 2 bad options.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TYPE_CHECKING, Any

from ibstream.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    add_gateway_args,
    cause_text,
    help_text,
    tls_message,
)
from ibstream.exceptions import (
    GatewayUnreachable,
    HTTPStatusError,
    IBStreamError,
    NotAuthenticated,
    OAuthConfigError,
    OAuthError,
    StreamTimeout,
    TLSError,
)
from ibstream.masking import mask_account

if TYPE_CHECKING:
    from ibstream.aio.rest import AuthInfo, GatewayRest

__all__ = ["EXIT_COMPETING", "EXIT_NOT_AUTHENTICATED", "register", "run"]

EXIT_NOT_AUTHENTICATED = 3
EXIT_COMPETING = 4


def register(subparsers: Any) -> None:
    """Add the ``status`` subparser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "status",
        help="check the gateway: reachable, TLS, authenticated, accounts, session expiry",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_gateway_args(p)
    p.add_argument("--timeout", type=float, default=5.0, help="per request, seconds (default 5)")
    p.add_argument(
        "--mask", action="store_true", help="mask account ids (e.g. when sharing the screen)"
    )
    p.set_defaults(func=run)


def _duration(ms: int) -> str:
    s = max(0, ms // 1000)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h {m:02d}m {sec:02d}s" if h else f"{m}m {sec:02d}s"


def _login_hint(rest: GatewayRest) -> str:
    """What to do about a brokerage session that is not authenticated (the auth row of the
    report names the strategy in use: gateway session or OAuth 1.0a with its token expiry)."""
    if rest.auth.kind == "oauth1a":
        return "the OAuth brokerage session did not initialise (POST /iserver/auth/ssodh/init)"
    return "log in to the gateway in a browser"


class _Report:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str]] = []

    def add(self, name: str, value: str) -> None:
        self.rows.append((name, value))

    def print(self) -> None:
        for name, value in self.rows:
            print(f"{name:<14} {value}")
        sys.stdout.flush()


async def _status(args: argparse.Namespace) -> int:
    from ibstream.aio.rest import GatewayRest
    from ibstream.cli.connect import make_auth
    from ibstream.cli.oauth_opts import resolve_target

    target = resolve_target(args)
    try:
        auth = make_auth(target)
    except OAuthConfigError as exc:
        print(f"ibstream status: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    rest = GatewayRest(
        target.url,
        verify=target.cacert if target.cacert else target.verify,
        timeout=args.timeout,
        auth=auth,
    )
    report = _Report()
    report.add("gateway", rest.base_url)
    report.add("tls", target.tls_description())
    report.add("auth", rest.auth.describe().detail)
    try:
        return await _check(rest, report, mask=args.mask)
    finally:
        await rest.close()
        report.print()


def _problem(report: _Report, message: str, code: int) -> int:
    report.add("status", f"PROBLEM: {message}")
    print(f"ibstream status: {message}", file=sys.stderr, flush=True)
    return code


async def _check(rest: GatewayRest, report: _Report, *, mask: bool = False) -> int:
    t0 = time.perf_counter()
    try:
        info = await rest.tickle()
    except TLSError as exc:
        report.add("reachable", "yes, but the TLS handshake failed")
        return _problem(report, tls_message(exc, rest.base_url), EXIT_FAILURE)
    except GatewayUnreachable as exc:
        report.add("reachable", f"NO ({cause_text(exc)})")
        return _problem(report, f"gateway {rest.base_url} is unreachable", EXIT_FAILURE)
    except StreamTimeout:
        report.add("reachable", "NO (timed out)")
        return _problem(report, f"gateway {rest.base_url} did not answer in time", EXIT_FAILURE)
    except NotAuthenticated:
        report.add("reachable", f"yes ({(time.perf_counter() - t0) * 1000:.0f} ms)")
        report.add("authenticated", "NO (401: not logged in)")
        return _problem(
            report,
            f"gateway is not authenticated: {_login_hint(rest)}",
            EXIT_NOT_AUTHENTICATED,
        )
    except HTTPStatusError as exc:
        report.add("reachable", f"yes, but {exc}")
        return _problem(report, f"unexpected answer from the gateway: {exc}", EXIT_FAILURE)
    except OAuthError as exc:
        report.add("reachable", "yes")
        report.add("authenticated", "NO (OAuth refused)")
        return _problem(report, str(exc), EXIT_NOT_AUTHENTICATED)
    report.add("reachable", f"yes ({(time.perf_counter() - t0) * 1000:.0f} ms)")
    expires_at = rest.auth.describe().expires_at
    if expires_at is not None:
        left = int((expires_at - time.time()) * 1000)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(expires_at))
        report.add("token", f"live session token expires in {_duration(left)} ({stamp})")
    auth: AuthInfo = info.auth
    try:
        auth = await rest.auth_status()
    except IBStreamError as exc:
        report.add("auth status", f"unavailable ({exc})")
    report.add("authenticated", "yes" if auth.authenticated else "NO")
    report.add("connected", "yes" if auth.connected else "NO")
    report.add("competing", "YES: another session took over" if auth.competing else "no")
    if auth.message:
        report.add("message", auth.message)
    if auth.authenticated and not auth.competing:
        try:
            accounts = await rest.accounts()
        except IBStreamError as exc:
            report.add("accounts", f"unavailable ({exc})")
        else:
            ids = [a for a in accounts.get("accounts", []) if isinstance(a, str)]
            selected = accounts.get("selectedAccount")
            shown = mask_account if mask else str
            text = ", ".join(shown(a) for a in ids) or "none"
            if isinstance(selected, str) and len(ids) > 1:
                text += f" (selected {shown(selected)})"
            report.add("accounts", text)
    if info.sso_expires_ms is not None:
        report.add("session", f"expires in {_duration(info.sso_expires_ms)} (ssoExpires)")
    else:
        report.add("session", "expiry unknown (no ssoExpires in /tickle)")
    if auth.competing:
        return _problem(
            report,
            "another session competes for this user: log out elsewhere or re-authenticate",
            EXIT_COMPETING,
        )
    if not auth.authenticated:
        return _problem(
            report,
            f"gateway is not authenticated: {_login_hint(rest)}",
            EXIT_NOT_AUTHENTICATED,
        )
    if not auth.connected:
        return _problem(report, "brokerage session is not connected", EXIT_NOT_AUTHENTICATED)
    report.add("status", "OK")
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry of ``ibstream status``."""
    return asyncio.run(_status(args))
