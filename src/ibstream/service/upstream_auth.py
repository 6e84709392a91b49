"""How the service authenticates upstream: the gateway's session (default) or OAuth 1.0a
(``oauth`` / ``oauth_config`` settings, ``IBSTREAM_OAUTH_*`` variables; with ``sim`` the
simulator's generated credentials)."""

from __future__ import annotations

from ibstream.auth import DEFAULT_OAUTH_URL, Auth, OAuth1a, OAuthConfig
from ibstream.exceptions import InvalidArgument, OAuthConfigError
from ibstream.service.config import DEFAULT_GATEWAY_URL, ServiceConfig
from ibstream.sim import Simulator

__all__ = ["upstream_auth"]


def upstream_auth(
    config: ServiceConfig, sim: Simulator | None, url: str
) -> tuple[Auth | None, str]:
    """The strategy and the upstream URL (IBKR's OAuth URL when none was set)."""
    if sim is not None:
        if sim.oauth is None:
            return None, url
        settings = OAuthConfig.load(sim.oauth.credentials.config_file, env={})
        return OAuth1a(settings), url
    if not config.uses_oauth:
        return None, url
    try:
        auth = OAuth1a(OAuthConfig.load(config.oauth_config))
    except OAuthConfigError as exc:
        raise InvalidArgument("oauth", str(exc)) from exc
    return auth, DEFAULT_OAUTH_URL if url == DEFAULT_GATEWAY_URL else url
