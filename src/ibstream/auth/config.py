"""OAuth 1.0a settings: from arguments, ``IBSTREAM_OAUTH_*`` environment variables or a JSON
file (later sources override earlier ones: file < environment < arguments).

Parsing is pure (:meth:`OAuthConfig.from_mapping`, :meth:`OAuthConfig.from_env` take the mapping);
only :meth:`OAuthConfig.load` reads the file. Nothing here is ever shown in clear: the repr masks
the consumer key and the access token and leaves the secret and the prime out.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ibstream.exceptions import OAuthConfigError
from ibstream.masking import mask

__all__ = [
    "DEFAULT_OAUTH_URL",
    "ENV_OAUTH_CONFIG",
    "ENV_PREFIX",
    "OAuthConfig",
    "default_realm",
]

#: IBKR's OAuth base URL (REST; the WebSocket is ``wss://api.ibkr.com/v1/api/ws``).
DEFAULT_OAUTH_URL = "https://api.ibkr.com/v1/api"
ENV_PREFIX = "IBSTREAM_OAUTH_"
#: Environment variable naming a JSON settings file.
ENV_OAUTH_CONFIG = "IBSTREAM_OAUTH_CONFIG"

_REQUIRED = (
    "consumer_key",
    "access_token",
    "access_token_secret",
    "signature_key_file",
    "encryption_key_file",
)


def default_realm(consumer_key: str) -> str:
    """``test_realm`` for IBKR's ``TESTCONS`` consumer, ``limited_poa`` otherwise."""
    return "test_realm" if consumer_key == "TESTCONS" else "limited_poa"


@dataclass(frozen=True, slots=True, kw_only=True)
class OAuthConfig:
    """What IBKR's self-service portal gives a first-party OAuth user, plus two knobs.

    ``dh_prime`` is the hex prime of ``dhparam.pem`` (``openssl dhparam -in dhparam.pem -text``);
    ``dh_param_file`` may name the PEM file instead.
    """

    consumer_key: str = ""
    access_token: str = ""
    access_token_secret: str = field(default="", repr=False)
    signature_key_file: str = ""
    encryption_key_file: str = ""
    dh_prime: str = field(default="", repr=False)
    dh_param_file: str = ""
    realm: str = ""
    dh_generator: int = 2
    #: Refresh the live session token this long before it expires (at most half its lifetime).
    refresh_margin: float = 600.0

    def __repr__(self) -> str:
        return (
            f"OAuthConfig(consumer_key={mask(self.consumer_key, 2)}, "
            f"access_token={mask(self.access_token, 2)}, realm={self.effective_realm!r}, "
            f"signature_key_file={self.signature_key_file!r}, "
            f"encryption_key_file={self.encryption_key_file!r})"
        )

    @property
    def effective_realm(self) -> str:
        return self.realm or default_realm(self.consumer_key)

    def check(self) -> OAuthConfig:
        """Raise ``OAuthConfigError`` naming the first missing or malformed setting."""
        for name in _REQUIRED:
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                env = ENV_PREFIX + name.upper()
                raise OAuthConfigError(name.replace("_", " "), f"missing (set {env} or pass it)")
        if not self.dh_prime.strip() and not self.dh_param_file.strip():
            raise OAuthConfigError(
                "DH prime", f"missing (set {ENV_PREFIX}DH_PRIME or {ENV_PREFIX}DH_PARAM_FILE)"
            )
        if self.dh_generator < 2:
            raise OAuthConfigError("DH generator", "must be >= 2")
        if not self.refresh_margin >= 0:
            raise OAuthConfigError("refresh margin", "must be >= 0 seconds")
        return self

    # -- sources ---------------------------------------------------------------------------

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "settings") -> OAuthConfig:
        """Build from ``{"consumer_key": ..., ...}``; unknown keys are an error (typos)."""
        names = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = key.lower().replace("-", "_")
            if name not in names:
                raise OAuthConfigError(source, f"unknown setting {key!r}")
            if value is None:
                continue
            if name == "dh_generator":
                try:
                    values[name] = int(value)
                except (TypeError, ValueError) as exc:
                    raise OAuthConfigError("DH generator", "not an integer") from exc
            elif name == "refresh_margin":
                try:
                    values[name] = float(value)
                except (TypeError, ValueError) as exc:
                    raise OAuthConfigError("refresh margin", "not a number") from exc
            elif isinstance(value, str):
                values[name] = value.strip()
            else:
                raise OAuthConfigError(source, f"{key!r} must be a string")
        return cls(**values)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OAuthConfig:
        """The ``IBSTREAM_OAUTH_<SETTING>`` variables of ``env`` (``IBSTREAM_OAUTH_CONFIG``,
        the file, is not read here)."""
        names = {f.name for f in fields(cls)}
        data = {
            k[len(ENV_PREFIX) :].lower(): v
            for k, v in env.items()
            if k.startswith(ENV_PREFIX) and k[len(ENV_PREFIX) :].lower() in names and v
        }
        return cls.from_mapping(data, "environment")

    @classmethod
    def parse_file(cls, text: str, path: str) -> OAuthConfig:
        """Parse the JSON text of a settings file; relative key paths are taken relative to
        the file's directory."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise OAuthConfigError("config file", f"{path}: not valid JSON ({exc.msg})") from exc
        if not isinstance(data, dict):
            raise OAuthConfigError("config file", f"{path}: expected a JSON object")
        config = cls.from_mapping(data, f"config file {path}")
        base = os.path.dirname(path)
        changes: dict[str, Any] = {
            name: os.path.join(base, value)
            for name in ("signature_key_file", "encryption_key_file", "dh_param_file")
            if (value := getattr(config, name)) and not os.path.isabs(value)
        }
        return replace(config, **changes) if changes else config

    def merged(self, other: OAuthConfig) -> OAuthConfig:
        """``self`` with every setting ``other`` sets (non-empty) taking precedence."""
        defaults = OAuthConfig()
        changes = {
            f.name: getattr(other, f.name)
            for f in fields(OAuthConfig)
            if getattr(other, f.name) != getattr(defaults, f.name)
        }
        return replace(self, **changes)

    @classmethod
    def load(
        cls,
        path: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> OAuthConfig:
        """File (``path`` or ``IBSTREAM_OAUTH_CONFIG``) < environment < ``overrides``; checked."""
        env = os.environ if env is None else env
        path = path or env.get(ENV_OAUTH_CONFIG) or None
        config = cls()
        if path:
            try:
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
            except OSError as exc:
                raise OAuthConfigError(
                    "config file", f"cannot read {path}: {exc.strerror or exc}"
                ) from exc
            config = cls.parse_file(text, path)
        config = config.merged(cls.from_env(env))
        if overrides:
            config = config.merged(cls.from_mapping(overrides, "arguments"))
        return config.check()

    @staticmethod
    def configured(env: Mapping[str, str] | None = None) -> bool:
        """Whether the environment asks for OAuth (a config file or a consumer key is set)."""
        env = os.environ if env is None else env
        return bool(env.get(ENV_OAUTH_CONFIG) or env.get(ENV_PREFIX + "CONSUMER_KEY"))
