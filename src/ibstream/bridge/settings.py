"""``ibstream bridge --config FILE``: the bridge's settings file, checked field by field.

A JSON object with the bridge's options in snake case; every key is optional, an unknown key or
a value of the wrong type is an error that names the key and the file::

    {
      "url": "https://gateway:5000/v1/api", "cacert": "gateway.pem",
      "nats": ["nats://bus-1:4222"], "redis": "redis://bus-2:6379/0",
      "prefix": "ibs", "node": "bridge-a",
      "lease_ttl": 3, "renew_every": 1, "standby_poll": 0.25, "margin": 0.5,
      "retention": {"market_data_per_key": 1000, "reliable_age": 604800}
    }

Precedence, as for ``ibstream serve``: defaults < file < environment (``IBSTREAM_NATS``,
``IBSTREAM_REDIS``, ``IBSTREAM_BUS_PREFIX``, ``IBSTREAM_URL``, ``IBSTREAM_CACERT``,
``IBSTREAM_INSECURE``) < command-line flags. :func:`load_bridge_settings` merges and checks;
:meth:`BridgeSettings.bridge_config` makes the :class:`~ibstream.bridge.service.BridgeConfig`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import orjson

from ibstream.bridge.service import BridgeConfig
from ibstream.exceptions import InvalidArgument
from ibstream.remote.bus import Retention

__all__ = ["BridgeSettings", "load_bridge_settings"]

DEFAULT_URL = "https://localhost:5000/v1/api"

# setting -> environment variable (the gateway's are read by ibstream.settings as well)
ENVIRONMENT = {
    "nats": "IBSTREAM_NATS",
    "redis": "IBSTREAM_REDIS",
    "prefix": "IBSTREAM_BUS_PREFIX",
    "url": "IBSTREAM_URL",
    "cacert": "IBSTREAM_CACERT",
    "insecure": "IBSTREAM_INSECURE",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeSettings:
    """Everything ``ibstream bridge`` can be told (flags, environment, ``--config`` file)."""

    # the gateway
    url: str | None = None  # None: IBSTREAM_URL, then https://localhost:5000/v1/api
    cacert: str | None = None
    insecure: bool = False
    sim: bool = False  # an embedded simulator instead of a gateway
    sim_update_interval: float | None = None
    # the buses (the tuning below defaults to BridgeConfig's own defaults, kept there only)
    nats: tuple[str, ...] = ()
    redis: tuple[str, ...] = ()
    prefix: str = BridgeConfig.prefix
    node: str | None = None  # None: host-pid
    # the leader lease (seconds)
    lease_ttl: float = BridgeConfig.lease_ttl
    renew_every: float = BridgeConfig.renew_every
    standby_poll: float = BridgeConfig.standby_poll
    margin: float = BridgeConfig.margin
    # publishing (seconds, counts)
    flush_interval: float = BridgeConfig.flush_interval
    md_state_interval: float = BridgeConfig.md_state_interval
    max_inflight: int = BridgeConfig.max_inflight
    publish_timeout: float = BridgeConfig.publish_timeout
    max_demand_ttl: float = BridgeConfig.max_demand_ttl
    retention: Retention = field(default_factory=Retention)

    @property
    def buses(self) -> tuple[str, ...]:
        return (*self.nats, *self.redis)

    def bridge_config(self, url: str, *, verify: bool, cacert: str | None) -> BridgeConfig:
        """The checked ``BridgeConfig`` (gateway URL and TLS as resolved by the caller)."""
        extra: dict[str, Any] = {} if self.node is None else {"node": self.node}
        config = BridgeConfig(
            url=url,
            verify=verify,
            cacert=cacert,
            buses=self.buses,
            prefix=self.prefix,
            lease_ttl=self.lease_ttl,
            renew_every=self.renew_every,
            standby_poll=self.standby_poll,
            margin=self.margin,
            flush_interval=self.flush_interval,
            md_state_interval=self.md_state_interval,
            max_inflight=self.max_inflight,
            publish_timeout=self.publish_timeout,
            max_demand_ttl=self.max_demand_ttl,
            retention=self.retention,
            **extra,
        )
        config.check()
        return config


# -- parsing one value ------------------------------------------------------------------------


def _number(name: str, value: Any, *, integer: bool = False) -> float:
    if isinstance(value, bool):
        raise InvalidArgument(name, f"expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidArgument(name, f"expected a number, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise InvalidArgument(name, f"must be a positive number, got {value!r}")
    if integer and number != int(number):
        raise InvalidArgument(name, f"must be a whole number, got {value!r}")
    return number


def _seconds(name: str, value: Any) -> float:
    return _number(name, value)


def _count(name: str, value: Any) -> int:
    return int(_number(name, value, integer=True))


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(name, f"expected a non-empty string, got {value!r}")
    return value.strip()


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise InvalidArgument(name, f"expected true or false, got {value!r}")


def _urls(*schemes: str) -> Callable[[str, Any], tuple[str, ...]]:
    """A parser of one URL, a comma-separated list (the environment's form) or a JSON list of
    URLs, each with one of ``schemes``."""

    def parse(name: str, value: Any) -> tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise InvalidArgument(name, f"expected a URL or a list of URLs, got {value!r}")
        urls = []
        for item in items:
            url = _text(name, item)
            if not url.startswith(schemes):
                raise InvalidArgument(name, f"{url!r} is not a {' / '.join(schemes)} URL")
            urls.append(url)
        return tuple(urls)

    return parse


_RETENTION_KINDS: dict[str, Callable[[str, Any], Any]] = {
    f.name: _count if f.type in ("int", int) else _seconds for f in fields(Retention)
}


def _retention(name: str, value: Any) -> Retention:
    if not isinstance(value, Mapping):
        raise InvalidArgument(name, f"expected an object of limits, got {value!r}")
    limits = {}
    for key, item in value.items():
        parse = _RETENTION_KINDS.get(key)
        if parse is None:
            known = ", ".join(sorted(_RETENTION_KINDS))
            raise InvalidArgument(name, f"unknown limit {key!r} (known: {known})")
        limits[key] = parse(f"{name}.{key}", item)
    return Retention(**limits)


_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "url": _text,
    "cacert": _text,
    "insecure": _flag,
    "sim": _flag,
    "sim_update_interval": _seconds,
    "nats": _urls("nats://", "tls://", "ws://", "wss://"),
    "redis": _urls("redis://", "rediss://", "unix://"),
    "prefix": _text,
    "node": _text,
    "lease_ttl": _seconds,
    "renew_every": _seconds,
    "standby_poll": _seconds,
    "margin": _seconds,
    "flush_interval": _seconds,
    "md_state_interval": _seconds,
    "max_inflight": _count,
    "publish_timeout": _seconds,
    "max_demand_ttl": _seconds,
    "retention": _retention,
}
assert set(_PARSERS) == {f.name for f in fields(BridgeSettings)}


def _read_file(path: str) -> dict[str, Any]:
    try:
        data = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise InvalidArgument("config", f"cannot read {path}: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument("config", f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgument("config", f"{path} must hold a JSON object of settings")
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        parse = _PARSERS.get(name)
        if parse is None:
            raise InvalidArgument("config", f"unknown setting {key!r} in {path}")
        try:
            values[name] = parse(name, value)
        except InvalidArgument as exc:
            raise InvalidArgument("config", f"{path}: {exc}") from None
    return values


def load_bridge_settings(
    file: str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> BridgeSettings:
    """Defaults < the JSON ``file`` < ``env`` (default ``os.environ``) < ``overrides`` (flags;
    ``None`` values and empty lists are ignored). Raises ``InvalidArgument`` naming the setting.

    The buses of one level replace those of the levels below as a whole: ``--nats`` on the
    command line drops the file's and the environment's buses (NATS and Redis alike)."""
    values = _read_file(file) if file else {}
    environ = os.environ if env is None else env
    env_values = {
        name: _PARSERS[name](var, environ[var])
        for name, var in ENVIRONMENT.items()
        if environ.get(var, "").strip()
    }
    flags = {
        name: _PARSERS[name](name, value)
        for name, value in (overrides or {}).items()
        if value is not None and value != [] and value != ()
    }
    for level in (env_values, flags):
        if "nats" in level or "redis" in level:  # the buses are replaced as a whole
            values.pop("nats", None)
            values.pop("redis", None)
        values.update(level)
    try:
        return replace(BridgeSettings(), **values)
    except TypeError as exc:  # an override named no setting
        raise InvalidArgument("config", str(exc)) from None
