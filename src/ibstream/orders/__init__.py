"""Order entry through the same session: typed requests, reply prompts, no duplicates, rails.

Pure core: :mod:`.model` (requests), :mod:`.prompts` (answers and the prompt policy),
:mod:`.reconcile` (the placement state machine), :mod:`.rails` (trading switch, read-only,
limits), :mod:`.results` (what-if, status, executions), :mod:`.errors`. Asyncio layer:
:mod:`.trading` (``client.trading``), :mod:`.handle` (order handles) and :mod:`.exercise`
(``client.exercise``: the option-exercise dialog). See docs/orders.md.
"""

from __future__ import annotations

from ibstream.orders.errors import (
    ActionNotOffered,
    ExerciseInterrupted,
    ExerciseRejected,
    LimitExceeded,
    OrderNotFilled,
    OrderRejected,
    OrderStateUnknown,
    PromptsDeclined,
    TradingDisabled,
    TradingError,
)
from ibstream.orders.exercise import ExerciseDesk, ExerciseTicket
from ibstream.orders.handle import OrderHandle
from ibstream.orders.model import (
    Bracket,
    Modification,
    OcaGroup,
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
    TrailingType,
)
from ibstream.orders.prompts import Prompt, PromptPolicy
from ibstream.orders.rails import Limits, TradingConfig
from ibstream.orders.results import Execution, MarginChange, OrderStatusInfo, WhatIf
from ibstream.orders.trading import BracketHandles, Trading

__all__ = [
    "ActionNotOffered",
    "Bracket",
    "BracketHandles",
    "Execution",
    "ExerciseDesk",
    "ExerciseInterrupted",
    "ExerciseRejected",
    "ExerciseTicket",
    "LimitExceeded",
    "Limits",
    "MarginChange",
    "Modification",
    "OcaGroup",
    "OrderHandle",
    "OrderNotFilled",
    "OrderRejected",
    "OrderRequest",
    "OrderStateUnknown",
    "OrderStatusInfo",
    "OrderType",
    "Prompt",
    "PromptPolicy",
    "PromptsDeclined",
    "Side",
    "TimeInForce",
    "Trading",
    "TradingConfig",
    "TradingDisabled",
    "TradingError",
    "TrailingType",
    "WhatIf",
]
