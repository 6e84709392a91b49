"""GraphQL at ``/graphql`` (strawberry-graphql): queries, mutations and subscriptions.

Subscriptions run over the standard ``graphql-transport-ws`` protocol (``graphql-ws`` is accepted
too). Each subscription is one hub consumer (its own bounded queue), so it shares upstream
streams with every other consumer. Data subscriptions yield a union: the data type, ``Gap`` (the
stream was interrupted and is live again; data in between was missed) and ``StreamState`` (the
upstream subscription changed state). A subscription that falls behind on events that are never
dropped ends with an error. Documents are limited in depth, aliases and tokens.

The package, one concern a module:

* :mod:`~ibstream.service.graphql.types` -- the output types and the functions that build them
  from live state and events;
* :mod:`~ibstream.service.graphql.queries` -- ``Query``; :mod:`~.mutations` -- ``Mutation``;
* :mod:`~ibstream.service.graphql.subscriptions` -- ``Subscription``, generated from the table
  ``STREAMS`` (one row per data topic: field name, topic, data type, converter, arguments);
* :mod:`~ibstream.service.graphql.schema` -- composes the parts; :mod:`~.view` -- the aiohttp view;
* :mod:`~ibstream.service.graphql.context` -- ``hub_of(info)`` and argument checks.

**Adding fields (the extension hook).** Put them in a new module of this package, e.g.
``trading.py``, as strawberry types of their own::

    @strawberry.type
    class TradingMutation:
        place_order: OrderTicket = strawberry.mutation(resolver=_place_order)

and add one line in :mod:`~ibstream.service.graphql.schema`: the class to ``QUERIES``,
``MUTATIONS`` or ``SUBSCRIPTIONS``. The parts are merged field by field into the schema's
``Query``/``Mutation``/``Subscription``; a field name defined twice fails at import. Resolvers reach
the service through ``hub_of(info)`` (the hub, its client, state and REST). A new data stream is one
more row of ``subscriptions.STREAMS``. An application embedding the service can also pass extra
parts to ``build_schema(config, queries=..., mutations=..., subscriptions=...)``.
"""

from __future__ import annotations

from ibstream.service.graphql.schema import MUTATIONS, QUERIES, SUBSCRIPTIONS, build_schema
from ibstream.service.graphql.view import ServiceGraphQLView, build_view

__all__ = [
    "MUTATIONS",
    "QUERIES",
    "SUBSCRIPTIONS",
    "ServiceGraphQLView",
    "build_schema",
    "build_view",
]
