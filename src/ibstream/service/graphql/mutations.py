"""The ``Mutation`` type: upstream streams held without a consumer."""

from __future__ import annotations

import strawberry

from ibstream.protocol.registry import parse_key, spec_from_dict
from ibstream.service import limits
from ibstream.service.graphql.context import hub_of
from ibstream.service.graphql.types import SpecInput, UpstreamSubscription, to_upstream

__all__ = ["Mutation"]


def _m_subscribe(info: strawberry.Info, spec: SpecInput) -> UpstreamSubscription:
    hub = hub_of(info)
    up = hub.pin(limits.check_attach(hub, None, spec_from_dict(strawberry.asdict(spec))))
    described = {d["key"]: d for d in hub.describe_upstreams()}
    return to_upstream(described[str(up.key)])


def _m_unsubscribe(info: strawberry.Info, key: str) -> bool:
    return hub_of(info).unpin(parse_key(key))


@strawberry.type
class Mutation:
    subscribe_upstream: UpstreamSubscription = strawberry.mutation(
        resolver=_m_subscribe,
        description="Hold an upstream stream without a consumer, until unsubscribeUpstream.",
    )
    unsubscribe_upstream: bool = strawberry.mutation(
        resolver=_m_unsubscribe,
        description="Release a stream held by subscribeUpstream (key like 'md:265598'); it ends "
        "after the grace period when no consumer uses it. False if it was not held.",
    )
