"""The schema: the ``Query``, ``Mutation`` and ``Subscription`` parts composed into one.

To add fields, write a new module in this package with its own strawberry types (e.g. a
``TradingQuery`` and a ``TradingMutation`` class) and add one line per class to the tuples
below. The parts are merged by field name; two parts defining the same field is a ``ValueError``
when the schema is built, so a collision cannot go unnoticed.
"""

from __future__ import annotations

import functools

import strawberry
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.tools import merge_types

from ibstream.service.config import ServiceConfig
from ibstream.service.exercise import ExerciseMutation
from ibstream.service.graphql.mutations import Mutation
from ibstream.service.graphql.queries import Query
from ibstream.service.graphql.subscriptions import Subscription
from ibstream.service.graphql.types import LONG_SCALAR, Long
from ibstream.service.graphql_rest import RestQuery
from ibstream.service.trading import TradingMutation

__all__ = ["MUTATIONS", "QUERIES", "SUBSCRIPTIONS", "build_schema"]

QUERIES: tuple[type, ...] = (
    Query,
    RestQuery,  # contracts, snapshots, history, portfolio (ibstream.service.graphql_rest)
    # one line per extension module's query type
)
"""The strawberry types whose fields make up ``Query``."""

MUTATIONS: tuple[type, ...] = (
    Mutation,
    TradingMutation,  # order entry (ibstream.service.trading), refused without the trading scope
    ExerciseMutation,  # option exercise (ibstream.service.exercise), the same gate
    # one line per extension module's mutation type
)
"""The strawberry types whose fields make up ``Mutation``."""

SUBSCRIPTIONS: tuple[type, ...] = (Subscription,)
"""The strawberry types whose fields make up ``Subscription``."""


def _merge(name: str, parts: tuple[type, ...]) -> type:
    """One strawberry type with the fields of every part; a field defined twice is an error."""
    owner: dict[str, str] = {}
    for part in parts:
        for f in part.__strawberry_definition__.fields:  # type: ignore[attr-defined]
            if f.python_name in owner:
                raise ValueError(
                    f"GraphQL {name}.{f.python_name} is defined by both "
                    f"{owner[f.python_name]} and {part.__qualname__}"
                )
            owner[f.python_name] = part.__qualname__
    merged: type = merge_types(name, parts)
    return merged


def build_schema(
    config: ServiceConfig,
    *,
    queries: tuple[type, ...] = (),
    mutations: tuple[type, ...] = (),
    subscriptions: tuple[type, ...] = (),
) -> strawberry.Schema:
    """The schema with the document limits of ``config``; ``queries``, ``mutations`` and
    ``subscriptions`` add parts to those of this package (for an application's own fields)."""
    return strawberry.Schema(
        query=_merge("Query", (*QUERIES, *queries)),
        mutation=_merge("Mutation", (*MUTATIONS, *mutations)),
        subscription=_merge("Subscription", (*SUBSCRIPTIONS, *subscriptions)),
        scalar_overrides={Long: LONG_SCALAR},
        extensions=[
            functools.partial(QueryDepthLimiter, max_depth=config.max_query_depth),
            functools.partial(MaxAliasesLimiter, max_alias_count=config.max_aliases),
            functools.partial(MaxTokensLimiter, max_token_count=config.max_tokens),
        ],
    )
