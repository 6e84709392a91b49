"""``ibstream serve``: one IBKR session, many consumers (see ``ibstream.service``).

Prints ``service: <URL>`` once it listens and upstream is authenticated (or after
``--ready-wait`` seconds), then serves until SIGTERM/SIGINT, which it answers by telling every
consumer and stopping cleanly. Settings: flags > ``IBSTREAM_*`` environment > ``--config`` file.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``serve`` subparser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="share one gateway session with many consumers (GraphQL, WebSocket, SSE)",
        description=(
            "Hold one IBKR gateway session and fan it out: GraphQL at /graphql, a JSON "
            "WebSocket at /stream, Server-Sent Events at /events, a dashboard at /, health at "
            "/livez and /readyz, Prometheus metrics at /metrics. Settings may also come from "
            "IBSTREAM_* environment variables (IBSTREAM_URL, IBSTREAM_TOKEN, ...) or --config."
        ),
    )
    up = p.add_mutually_exclusive_group()
    up.add_argument("--url", help="gateway base URL (default https://localhost:5000/v1/api)")
    up.add_argument("--sim", action="store_true", default=None, help="embedded simulator")
    tls = p.add_mutually_exclusive_group()
    tls.add_argument("--cacert", metavar="FILE", help="verify the gateway against this cert")
    tls.add_argument(
        "--insecure", action="store_true", default=None, help="do not verify the gateway's TLS"
    )
    p.add_argument(
        "--oauth-config",
        metavar="FILE",
        help="OAuth 1.0a upstream, settings from this JSON file (IBSTREAM_OAUTH_* override it)",
    )
    p.add_argument(
        "--oauth",
        action="store_true",
        default=None,
        help="OAuth 1.0a upstream from IBSTREAM_OAUTH_* variables (with --sim: generated keys)",
    )
    p.add_argument("--host", help="bind address (default 127.0.0.1; others need a token)")
    p.add_argument("--port", type=int, help="port (default 8800; 0 picks a free one)")
    tok = p.add_mutually_exclusive_group()
    tok.add_argument("--token", help="bearer token (prefer --token-file: argv is visible)")
    tok.add_argument("--token-file", metavar="FILE", help="file whose first line is the token")
    p.add_argument(
        "--trading",
        action="store_true",
        default=None,
        help="allow order mutations for callers presenting the trading token",
    )
    p.add_argument(
        "--trading-token-file", metavar="FILE", help="file whose first line is the trading token"
    )
    p.add_argument("--config", metavar="FILE", help="JSON settings file")
    p.add_argument("--grace", type=float, help="seconds a stream outlives its last consumer")
    p.add_argument("--buffer-size", type=int, help="per-consumer queue size (events)")
    p.add_argument(
        "--allowed-origin",
        action="append",
        dest="allowed_origins",
        metavar="ORIGIN",
        help="browser origin allowed besides the service's own (repeatable)",
    )
    p.add_argument("--sim-update-interval", type=float, help="simulator smd cadence (--sim)")
    p.add_argument(
        "--sim-admin",
        action="store_true",
        default=None,
        help="serve the embedded simulator's admin API (--sim; needs the token when set)",
    )
    p.add_argument("--ready-wait", type=float, help="max seconds to wait for upstream at start")
    p.set_defaults(func=run)


_OVERRIDES = (
    "url",
    "sim",
    "cacert",
    "insecure",
    "host",
    "port",
    "token",
    "token_file",
    "trading",
    "trading_token_file",
    "grace",
    "buffer_size",
    "allowed_origins",
    "sim_update_interval",
    "sim_admin",
    "ready_wait",
    "oauth",
    "oauth_config",
)


def run(args: argparse.Namespace) -> int:
    """Entry of ``ibstream serve``; 0 after SIGTERM/SIGINT, 1 on upstream failure, 2 on bad
    settings."""
    from ibstream._deps import DependencyError

    try:
        from ibstream.exceptions import InvalidArgument
        from ibstream.service import load_config, serve
    except DependencyError as exc:  # missing or too old: the message names the fix
        print(f"ibstream serve: {exc}", file=sys.stderr)
        return 2
    overrides = {name: getattr(args, name, None) for name in _OVERRIDES}
    try:
        config = load_config(args.config, overrides=overrides)
        config.check()
    except InvalidArgument as exc:
        print(f"ibstream serve: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(serve(config))
    except KeyboardInterrupt:
        return 0
    except InvalidArgument as exc:
        print(f"ibstream serve: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"ibstream serve: {exc}", file=sys.stderr)
        return 1
