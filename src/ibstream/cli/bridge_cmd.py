"""``ibstream bridge``: publish one IBKR session to NATS JetStream and/or Redis Streams.

Run two or more on different hosts: one leads (holds the gateway session and publishes), the
others stand by without connecting to the gateway and take over when the leader's lease
expires. Prints ``bridge: leader token=N ...`` / ``bridge: standby ...`` as the role changes.
Stops cleanly on SIGTERM/SIGINT. See docs/scaling-out.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from ibstream.cli.common import CliError, add_gateway_args, gateway_target, stop_on_signals

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``bridge`` subparser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "bridge",
        help="publish the session to NATS JetStream / Redis Streams (with standby failover)",
        description=(
            "Hold one IBKR gateway session while holding the leader lease, and publish every "
            "event to NATS JetStream and/or Redis Streams for ibstream.remote consumers. "
            "Start several for failover: only the leader connects to the gateway."
        ),
    )
    add_gateway_args(p, sim=True)
    bus = p.add_argument_group("bus")
    bus.add_argument(
        "--nats", action="append", default=[], metavar="URL", help="NATS server (env IBSTREAM_NATS)"
    )
    bus.add_argument(
        "--redis", action="append", default=[], metavar="URL", help="Redis (env IBSTREAM_REDIS)"
    )
    bus.add_argument(
        "--prefix", default=None, help="subject / key prefix (env IBSTREAM_BUS_PREFIX; default ibs)"
    )
    lease = p.add_argument_group("leader lease")
    lease.add_argument("--node", default=None, help="this bridge's name (default host-pid)")
    lease.add_argument("--lease-ttl", type=float, default=3.0, help="seconds (default 3)")
    lease.add_argument("--renew-every", type=float, default=1.0, help="seconds (default 1)")
    lease.add_argument("--standby-poll", type=float, default=0.25, help="seconds (default 0.25)")
    p.add_argument("--sim-update-interval", type=float, default=None, help="simulator cadence")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Entry of ``ibstream bridge``: 0 after SIGTERM/SIGINT, 2 on bad settings."""
    try:
        from ibstream.bridge import Bridge, bridge_config
    except ImportError as exc:  # pragma: no cover - the optional extra is missing
        print(f"ibstream bridge: {exc}; pip install 'ibstream[bridge]'", file=sys.stderr)
        return 2
    from ibstream.exceptions import InvalidArgument

    buses = [*args.nats, *args.redis]
    if not buses:  # flags first, then the environment (comma-separated lists)
        for name in ("IBSTREAM_NATS", "IBSTREAM_REDIS"):
            buses += [u.strip() for u in os.environ.get(name, "").split(",") if u.strip()]
    prefix = args.prefix or os.environ.get("IBSTREAM_BUS_PREFIX") or "ibs"
    try:
        target = gateway_target(args)
        extra: dict[str, Any] = {
            "prefix": prefix,
            "lease_ttl": args.lease_ttl,
            "renew_every": args.renew_every,
            "standby_poll": args.standby_poll,
        }
        if args.node:
            extra["node"] = args.node
        config = bridge_config(
            target.url, buses, verify=target.verify, cacert=target.cacert, **extra
        )
    except (InvalidArgument, CliError) as exc:
        print(f"ibstream bridge: {exc}", file=sys.stderr)
        return 2

    async def main() -> int:
        stop = asyncio.Event()
        remove = stop_on_signals(stop)
        try:
            if args.sim:
                from dataclasses import replace

                from ibstream.sim import SimConfig, Simulator

                sim_cfg = SimConfig(port=0, tls=False)
                if args.sim_update_interval:
                    sim_cfg = replace(sim_cfg, update_interval=args.sim_update_interval)
                async with Simulator(sim_cfg) as sim:
                    await Bridge(replace(config, url=sim.base_url)).run(stop)
            else:
                await Bridge(config).run(stop)
        finally:
            remove()
        return 0

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"ibstream bridge: {exc}", file=sys.stderr)
        return 1
