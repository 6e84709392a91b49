"""The market-data field catalogue (protocol.md §6) and value parsing.

``FIELDS`` maps each field id to its :class:`FieldInfo`; :func:`parse_value` turns a wire value
(mostly strings, sometimes numbers) into a Python value according to the field's kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "Availability",
    "FieldValue",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Availability:
    """Field 6509, market-data availability (protocol.md §6.3), e.g. ``"DPB"``.

    ``code`` keeps the raw string. First letter: ``R`` real-time, ``D`` delayed, ``Z`` frozen,
    ``Y`` frozen delayed, ``N`` not subscribed, ``S`` streaming; ``P`` snapshot available, ``p``
    consolidated; ``B`` book.
    """

    code: str
    realtime: bool
    delayed: bool
    frozen: bool
    frozen_delayed: bool
    not_subscribed: bool
    streaming: bool
    snapshot: bool
    consolidated: bool
    book: bool


FieldValue: TypeAlias = float | int | str | Availability | None
"""A parsed market-data value."""
