"""Authentication strategies: the gateway's browser session (:class:`GatewaySession`, the
default) and IBKR's first-party OAuth 1.0a (:class:`OAuth1a`). See docs/authentication.md."""

from __future__ import annotations

from ibstream.auth.config import DEFAULT_OAUTH_URL, OAuthConfig
from ibstream.auth.strategy import Auth, AuthDescription, GatewaySession, OAuth1a

__all__ = [
    "DEFAULT_OAUTH_URL",
    "Auth",
    "AuthDescription",
    "GatewaySession",
    "OAuth1a",
    "OAuthConfig",
]
