"""Which authentication a connecting command uses: ``--oauth-config FILE``, ``--oauth``,
``IBSTREAM_OAUTH=1``, ``IBSTREAM_OAUTH_CONFIG`` or ``IBSTREAM_OAUTH_CONSUMER_KEY`` turn OAuth 1.0a
on (see docs/authentication.md); without ``--url`` / ``IBSTREAM_URL`` the gateway is then
IBKR's own. Cheap to import (the keys are read later, by ``cli.connect.make_auth``)."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace

from ibstream.cli.common import EXIT_USAGE, CliError, GatewayTarget, gateway_target

__all__ = ["DEFAULT_OAUTH_URL", "ENV_OAUTH", "ENV_OAUTH_CONFIG", "resolve_target", "with_oauth"]

ENV_OAUTH = "IBSTREAM_OAUTH"
ENV_OAUTH_CONFIG = "IBSTREAM_OAUTH_CONFIG"
DEFAULT_OAUTH_URL = "https://api.ibkr.com/v1/api"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def with_oauth(target: GatewayTarget, args: argparse.Namespace) -> GatewayTarget:
    """``target`` with the OAuth choice of the flags and the environment applied."""
    oauth_config = getattr(args, "oauth_config", None) or os.environ.get(ENV_OAUTH_CONFIG)
    oauth = bool(
        getattr(args, "oauth", None)
        or oauth_config
        or _truthy(os.environ.get(ENV_OAUTH))
        or os.environ.get("IBSTREAM_OAUTH_CONSUMER_KEY")
    )
    if not oauth:
        return target
    if oauth_config is not None and not os.path.isfile(oauth_config):
        raise CliError(f"--oauth-config: no such file {oauth_config!r}", EXIT_USAGE)
    url = target.url
    if not getattr(args, "url", None) and not os.environ.get("IBSTREAM_URL"):
        url = DEFAULT_OAUTH_URL
    return replace(target, url=url, oauth=True, oauth_config=oauth_config)


def resolve_target(args: argparse.Namespace) -> GatewayTarget:
    """Where and how to connect: :func:`gateway_target` plus the authentication."""
    return with_oauth(gateway_target(args), args)
