"""What consumers may ask of the shared upstream session: one set of limits, checked in one place.

Every consumer request that can reach IBKR goes through :func:`check_request` (the number of
specs in one request), :func:`check_spec` (argument lengths: account ids, exchanges, keys and
fields) and :func:`check_attach` (upstream market-data lines, per consumer and in total) before
the hub subscribes anything. A refusal raises :class:`LimitExceeded` (an ``InvalidArgument``, so
every protocol replies with its usual error) naming the limit and its setting, and is counted
in ``hub.counts["refused_<limit>"]`` (``ibstream_service_limit_refusals_total`` in /metrics).

Defaults (see docs/service.md, "Limits"): 200 upstream streams of any topic per consumer; IBKR
serves about 100 concurrent market-data lines for most accounts, so 100 market-data streams in
total and per consumer; 100 specs per request;
64 characters per text argument; 256 keys or fields per spec. ``0`` turns a limit off.

The limits of a hub are installed once with :func:`install` (the service does it at start);
a hub without them gets the defaults.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ibstream.exceptions import InvalidArgument
from ibstream.protocol.specs import Spec, Topic

if TYPE_CHECKING:
    from ibstream.service.config import ServiceConfig
    from ibstream.service.hub import Consumer, Hub

__all__ = [
    "LimitExceeded",
    "Limits",
    "check_attach",
    "check_filter_items",
    "check_request",
    "check_spec",
    "install",
    "limits_of",
    "market_data_streams",
]

#: Topics that take one of IBKR's market-data lines each.
MARKET_DATA_TOPICS = frozenset({Topic.MARKET_DATA})


class LimitExceeded(InvalidArgument):
    """A consumer request beyond one of the service's limits."""

    def __init__(self, limit: str, setting: str, message: str) -> None:
        super().__init__(limit, f"{message} (limit {setting!r}; see docs/service.md)")
        self.limit = limit
        self.setting = setting


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """The service's limits on consumer requests (``0`` = no limit)."""

    #: Upstream streams of any topic one consumer may hold.
    max_streams_per_consumer: int = 200
    #: Upstream market-data streams one consumer may hold.
    max_market_data_per_consumer: int = 100
    #: Upstream market-data streams the whole service may hold (IBKR's line limit is ~100).
    max_market_data: int = 100
    #: Specs in one request (a ``subscribe`` message, an SSE query, a GraphQL subscription).
    max_specs_per_request: int = 100
    #: Characters in one text argument (account id, exchange, a key or field name...).
    max_argument_length: int = 64
    #: Items in one list argument (summary/ledger ``keys``, market-data ``fields``, filters).
    max_list_items: int = 256

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if type(value) is not int or value < 0:
                raise InvalidArgument(f.name, f"must be an int >= 0 (0: no limit), got {value!r}")

    @classmethod
    def from_config(cls, config: ServiceConfig) -> Limits:
        return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(cls)})

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


_DEFAULT = Limits()
_BY_HUB: weakref.WeakKeyDictionary[Hub, Limits] = weakref.WeakKeyDictionary()


def install(hub: Hub, limits: Limits) -> None:
    """Make ``limits`` the limits of ``hub``."""
    _BY_HUB[hub] = limits


def limits_of(hub: Hub) -> Limits:
    """The limits installed for ``hub`` (the defaults when none were)."""
    return _BY_HUB.get(hub, _DEFAULT)


def _refuse(hub: Hub | None, limit: str, setting: str, message: str) -> LimitExceeded:
    if hub is not None:
        hub.counts[f"refused_{limit}"] += 1
    return LimitExceeded(limit, setting, message)


def check_request(hub: Hub, count: int) -> None:
    """A request of ``count`` specs."""
    cap = limits_of(hub).max_specs_per_request
    if cap and count > cap:
        raise _refuse(
            hub, "specs", "max_specs_per_request", f"{count} specs in one request, at most {cap}"
        )


def _check_text(hub: Hub | None, limits: Limits, name: str, value: str) -> None:
    cap = limits.max_argument_length
    if cap and len(value) > cap:
        raise _refuse(
            hub,
            "argument_length",
            "max_argument_length",
            f"{name} is {len(value)} characters, at most {cap}",
        )


def _check_items(hub: Hub | None, limits: Limits, name: str, items: Iterable[Any]) -> None:
    values = list(items)
    cap = limits.max_list_items
    if cap and len(values) > cap:
        raise _refuse(
            hub, "list_items", "max_list_items", f"{name} has {len(values)} items, at most {cap}"
        )
    for value in values:
        _check_text(hub, limits, f"an item of {name}", str(value))


def check_spec(hub: Hub, spec: Spec) -> Spec:
    """Argument lengths of one parsed spec; returns it."""
    limits = limits_of(hub)
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        if isinstance(value, str):
            _check_text(hub, limits, f.name, value)
        elif isinstance(value, tuple | list | frozenset | Mapping):
            _check_items(hub, limits, f.name, value)
    return spec


def check_filter_items(hub: Hub, **lists: object) -> None:
    """Filter arguments (``topics``, ``conids``, ``accounts``) of a consumer."""
    limits = limits_of(hub)
    for name, value in lists.items():
        if value is None:
            continue
        if isinstance(value, str):
            _check_items(hub, limits, name, value.split(","))
        elif isinstance(value, Iterable):
            _check_items(hub, limits, name, value)


def market_data_streams(hub: Hub) -> int:
    """Upstream market-data streams the hub holds now."""
    return sum(1 for key in hub.upstreams if key.topic in MARKET_DATA_TOPICS)


def check_attach(hub: Hub, consumer: Consumer | None, spec: Spec) -> Spec:
    """Whether ``consumer`` (``None``: the service itself, e.g. a pinned stream) may hold
    ``spec``'s stream: argument lengths, its streams, then the market-data lines; returns
    ``spec``."""
    check_spec(hub, spec)
    key = spec.key
    limits = limits_of(hub)
    if consumer is not None and key not in consumer.keys:
        cap = limits.max_streams_per_consumer
        if cap and len(consumer.keys) >= cap:
            raise _refuse(
                hub,
                "streams_per_consumer",
                "max_streams_per_consumer",
                f"this consumer already holds {len(consumer.keys)} streams, at most {cap}",
            )
    if key.topic not in MARKET_DATA_TOPICS:
        return spec
    if consumer is not None and key not in consumer.keys:
        cap = limits.max_market_data_per_consumer
        held = sum(1 for k in consumer.keys if k.topic in MARKET_DATA_TOPICS)
        if cap and held >= cap:
            raise _refuse(
                hub,
                "market_data_per_consumer",
                "max_market_data_per_consumer",
                f"this consumer already holds {held} market-data streams, at most {cap}",
            )
    if key not in hub.upstreams:
        cap = limits.max_market_data
        total = market_data_streams(hub)
        if cap and total >= cap:
            raise _refuse(
                hub,
                "market_data",
                "max_market_data",
                f"the service already holds {total} upstream market-data streams, at most "
                f"{cap} (IBKR's concurrent market-data lines)",
            )
    return spec
