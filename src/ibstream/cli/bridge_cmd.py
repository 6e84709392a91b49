"""``ibstream bridge``: publish one IBKR session to NATS JetStream and/or Redis Streams.

Run two or more on different hosts: one leads (holds the gateway session and publishes), the
others stand by without connecting to the gateway and take over when the leader's lease
expires. Prints ``bridge: leader token=N ...`` / ``bridge: standby ...`` as the role changes.
Stops cleanly on SIGTERM/SIGINT. See docs/scaling-out.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from ibstream.cli.common import add_gateway_args, stop_on_signals

__all__ = ["register", "run"]

SIM_URL = "http://127.0.0.1/v1/api"


def register(subparsers: Any) -> None:
    """Add the ``bridge`` subparser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "bridge",
        help="publish the session to NATS JetStream / Redis Streams (with standby failover)",
        description=(
            "Hold one IBKR gateway session while holding the leader lease, and publish every "
            "event to NATS JetStream and/or Redis Streams for ibstream.remote consumers. "
            "Start several for failover: only the leader connects to the gateway. Settings: "
            "flags > IBSTREAM_* environment > --config FILE (JSON) > defaults."
        ),
    )
    add_gateway_args(p, sim=True)
    p.add_argument(
        "--config",
        metavar="FILE",
        help="JSON settings file (every option below in snake case, plus retention, "
        "flush_interval, max_inflight, ...; see docs/scaling-out.md)",
    )
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
    lease.add_argument("--lease-ttl", type=float, default=None, help="seconds (default 3)")
    lease.add_argument("--renew-every", type=float, default=None, help="seconds (default 1)")
    lease.add_argument("--standby-poll", type=float, default=None, help="seconds (default 0.25)")
    p.add_argument("--sim-update-interval", type=float, default=None, help="simulator cadence")
    p.set_defaults(func=run)


_OVERRIDES = (
    "url",
    "cacert",
    "insecure",
    "sim",
    "sim_update_interval",
    "nats",
    "redis",
    "prefix",
    "node",
    "lease_ttl",
    "renew_every",
    "standby_poll",
)


def run(args: argparse.Namespace) -> int:
    """Entry of ``ibstream bridge``: 0 after SIGTERM/SIGINT, 2 on bad settings."""
    try:
        from ibstream.bridge import Bridge, BridgeConfig, load_bridge_settings
    except ImportError as exc:  # pragma: no cover - the optional extra is missing
        print(f"ibstream bridge: {exc}; pip install 'ibstream[bridge]'", file=sys.stderr)
        return 2
    from ibstream.exceptions import InvalidArgument
    from ibstream.settings import gateway_settings

    if args.oauth or args.oauth_config:
        print("ibstream bridge: OAuth upstream is not supported by the bridge", file=sys.stderr)
        return 2
    overrides = {name: getattr(args, name, None) for name in _OVERRIDES}
    overrides["sim"] = args.sim or None  # a flag that is off leaves the file's choice
    try:
        settings = load_bridge_settings(args.config, overrides=overrides)
        if settings.cacert and settings.insecure:
            raise InvalidArgument("insecure", "cacert and insecure exclude each other")
        if settings.sim:  # the simulator's own URL replaces this one once it listens
            config: BridgeConfig = settings.bridge_config(SIM_URL, verify=False, cacert=None)
        else:
            target = gateway_settings(
                settings.url,
                cacert=settings.cacert,
                verify=False if settings.insecure else None,
            )
            config = settings.bridge_config(target.url, verify=target.verify, cacert=target.cacert)
    except InvalidArgument as exc:
        print(f"ibstream bridge: {exc}", file=sys.stderr)
        return 2

    async def main() -> int:
        stop = asyncio.Event()
        remove = stop_on_signals(stop)
        try:
            if settings.sim:
                from dataclasses import replace

                from ibstream.sim import SimConfig, Simulator

                sim_cfg = SimConfig(port=0, tls=False)
                if settings.sim_update_interval:
                    sim_cfg = replace(sim_cfg, update_interval=settings.sim_update_interval)
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
