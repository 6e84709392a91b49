"""``ibstream sim``: run the gateway simulator until SIGINT/SIGTERM (see ``ibstream.sim``).

Prints ``gateway: <base URL>`` once the listener accepts connections, then the session id and
how to point a client at it. With ``--oauth`` it acts as ``api.ibkr.com`` with OAuth 1.0a and
prints generated test credentials (keys written to a temporary directory, or ``--oauth-dir``)
that ``--oauth-config FILE`` of every command, ``serve`` and ``OAuth1a`` accept.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import TYPE_CHECKING, Any

from ibstream.exceptions import InvalidArgument

if TYPE_CHECKING:
    from ibstream.sim import SimConfig

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``sim`` subparser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "sim",
        help="run a local IBKR Client Portal Gateway simulator",
        description="Run a local IBKR Client Portal Gateway simulator with fault injection.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000, help="0 picks a free port")
    p.add_argument("--plain", action="store_true", help="plain HTTP/WS instead of HTTPS/WSS")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--replay", metavar="FILE", help="serve a recorded JSON-lines stream")
    p.add_argument(
        "--replay-speed",
        default="1",
        metavar="X|max",
        help="replay speed factor, or 'max' for as fast as possible",
    )
    p.add_argument("--cert-out", metavar="FILE", help="write the self-signed certificate here")
    p.add_argument("--scenario", metavar="FILE", help="JSON list of timed fault steps")
    p.add_argument(
        "--time-scale", type=float, default=1.0, help="simulated seconds per real second"
    )
    p.add_argument(
        "--update-interval",
        type=float,
        default=1.0,
        help="seconds between smd updates per conid (0 = saturation)",
    )
    p.add_argument(
        "--mode",
        choices=("gateway", "direct"),
        default="gateway",
        help="gateway (default): the local gateway authenticates sockets itself, binary frames; "
        "direct: cookie or session message required, text frames",
    )
    p.add_argument("--legacy-sts", action="store_true", help="one-key sts frames")
    frames = p.add_mutually_exclusive_group()
    frames.add_argument("--binary", action="store_true", help="send binary frames (any mode)")
    frames.add_argument("--text", action="store_true", help="send text frames (any mode)")
    p.add_argument(
        "--no-rate-limit",
        action="store_true",
        help="no 429s: neither the global 10 req/s nor IBKR's per-endpoint limits",
    )
    p.add_argument(
        "--admin-token",
        metavar="TOKEN",
        help="bearer token the admin API (/sim/admin) requires; needed off loopback",
    )
    p.add_argument("--no-admin", action="store_true", help="do not serve the admin API")
    p.add_argument(
        "--oauth",
        action="store_true",
        help="require OAuth 1.0a like api.ibkr.com; print generated test credentials",
    )
    p.add_argument("--oauth-dir", metavar="DIR", help="write the OAuth test credentials here")
    p.add_argument(
        "--lst-lifetime",
        type=float,
        default=86400.0,
        metavar="SECONDS",
        help="OAuth live session token lifetime (default 86400, as IBKR)",
    )
    p.set_defaults(func=run)


def _config(args: argparse.Namespace) -> SimConfig:
    from ibstream.sim import SimConfig

    speed: float | None = None if args.replay_speed == "max" else float(args.replay_speed)
    return SimConfig(
        host=args.host,
        port=args.port,
        tls=not args.plain,
        seed=args.seed,
        replay=args.replay,
        replay_speed=speed,
        cert_out=args.cert_out,
        scenario=args.scenario,
        time_scale=args.time_scale,
        update_interval=args.update_interval,
        sts_form="legacy" if args.legacy_sts else "full",
        mode=args.mode,
        binary_frames=True if args.binary else False if args.text else None,
        rate_limit=None if args.no_rate_limit else 10.0,
        admin=not args.no_admin,
        admin_token=args.admin_token,
        oauth=args.oauth or bool(args.oauth_dir),
        oauth_dir=args.oauth_dir,
        oauth_lst_lifetime=args.lst_lifetime,
        endpoint_limits=not args.no_rate_limit,
    )


async def _serve(cfg: SimConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    from ibstream.sim import Simulator

    async with Simulator(cfg) as sim:
        print(f"gateway: {sim.base_url}", flush=True)
        print(f"websocket: {sim.ws_url}")
        print(f"session: {sim.session_id}")
        verify = f"cacert={cfg.cert_out!r}" if cfg.cert_out else "cacert=False"
        print(f"ibind: IbkrClient(url='{sim.base_url}/', {verify if cfg.tls else 'cacert=False'})")
        if cfg.mode == "direct":
            print(f'cookie: api={{"session":"{sim.session_id}"}}  (or POST {sim.base_url}/tickle)')
        else:
            print("mode: gateway (sockets need no cookie; binary frames)")
        if cfg.admin:
            auth = " (Authorization: Bearer <admin token>)" if cfg.admin_token else ""
            print(
                f'admin: POST /sim/admin/fault {{"action": ...}}; GET /sim/admin/state{auth}',
                flush=True,
            )
        else:
            print("admin: off", flush=True)
        if sim.oauth is not None:
            creds = sim.oauth.credentials
            print("oauth: OAuth 1.0a required (test-only credentials, generated for this run)")
            print(f"oauth config: {creds.config_file}")
            for name, value in creds.env().items():
                print(f"  export {name}={value}")
            tls = ""
            if cfg.tls:
                tls = f" --cacert {cfg.cert_out}" if cfg.cert_out else " --insecure"
            print(
                f"try: ibstream status --url {sim.base_url}{tls} --oauth-config {creds.config_file}"
            )
            sys.stdout.flush()
        await stop.wait()


def run(args: argparse.Namespace) -> int:
    """Entry of ``ibstream sim``; returns 0 on a clean SIGINT/SIGTERM exit."""
    try:
        cfg = _config(args)
    except (InvalidArgument, ValueError) as exc:
        print(f"ibstream sim: {exc}", file=sys.stderr)
        return 2
    from ibstream._deps import DependencyError

    try:
        asyncio.run(_serve(cfg))
    except KeyboardInterrupt:
        pass
    except DependencyError as exc:  # TLS without cryptography: the message names the extra
        print(f"ibstream sim: {exc} (or run with --plain)", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. "cannot listen on 127.0.0.1:5000: Address already in use"
        text = exc.strerror if exc.strerror and exc.errno is not None else str(exc)
        hint = "; choose another with --port (0 picks a free one)" if "listen" in text else ""
        print(f"ibstream sim: {text}{hint}", file=sys.stderr)
        return 1
    return 0
