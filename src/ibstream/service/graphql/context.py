"""What every resolver needs: the hub from the request context, and argument checks."""

from __future__ import annotations

import strawberry

from ibstream.exceptions import IBStreamError
from ibstream.service.hub import Hub
from ibstream.state import field_id

__all__ = ["MAX_CONIDS", "conid_list", "field_ids", "hub_of"]

MAX_CONIDS = 500
"""The most conids one ``marketData`` subscription may name."""


def hub_of(info: strawberry.Info) -> Hub:
    """The service's hub (put in the context by the view)."""
    hub: Hub = info.context["hub"]
    return hub


def field_ids(fields: list[str] | None) -> list[int] | None:
    """Field names or ids (``"last"``, ``"84"``) as ids; ``None`` for all fields."""
    if not fields:
        return None
    return [field_id(f) for f in fields]


def conid_list(conids: list[int]) -> list[int]:
    """``conids`` de-duplicated in order; at least one, at most :data:`MAX_CONIDS`."""
    if not conids:
        raise IBStreamError("conids: give at least one contract id")
    if len(conids) > MAX_CONIDS:
        raise IBStreamError(f"conids: at most {MAX_CONIDS} per subscription")
    return list(dict.fromkeys(conids))
