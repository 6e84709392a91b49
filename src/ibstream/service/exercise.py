"""Option exercise through the service: the GraphQL ``exerciseOption`` mutation.

Gated like the order mutations (:mod:`ibstream.service.trading`): the service must trade
(``--trading``) and the request must present the trading token. One call runs the whole dialog
of :mod:`ibstream.orders.exercise` on the service's session: it opens the ticket, submits
``quantity`` and reads the gateway's "final and irreversible" question; only with
``confirmFinal: true`` is it answered ``continue`` (the result carries the exercise order),
otherwise ``cancel`` (a dry run that shows the question). Nothing is confirmed silently.
"""

from __future__ import annotations

import strawberry

from ibstream.exceptions import IBStreamError
from ibstream.protocol.events import OrderUpdate
from ibstream.service.trading import trading_of

__all__ = ["ExerciseMutation", "ExerciseResult"]


@strawberry.type(description="The outcome of an option exercise dialog.")
class ExerciseResult:
    conid: int
    quantity: int
    confirmed: bool = strawberry.field(
        description="True when the final question was confirmed ('continue')."
    )
    question: str | None = strawberry.field(description="The gateway's final question.")
    order_id: int | None = strawberry.field(description="The exercise order (side EXER).")
    status: str | None


async def _exercise(
    info: strawberry.Info, conid: int, quantity: int, confirm_final: bool
) -> ExerciseResult:
    trading_of(info)  # the trading service and the trading token, or PermissionError
    desk = info.context["hub"].client.exercise
    try:
        async with await desk.start(conid) as ticket:
            prompt = await ticket.submit(quantity)
            question = " ".join(x for x in (prompt.title, prompt.text) if x) or None
            if not confirm_final:
                await ticket.cancel()
                return ExerciseResult(
                    conid=conid,
                    quantity=quantity,
                    confirmed=False,
                    question=question,
                    order_id=None,
                    status=None,
                )
            result = await ticket.confirm()
            if not isinstance(result, OrderUpdate):
                await ticket.cancel()
                raise ValueError(f"the gateway asks again: {result.text or result.title or ''}")
    except IBStreamError as exc:
        raise ValueError(str(exc)) from exc
    return ExerciseResult(
        conid=conid,
        quantity=quantity,
        confirmed=True,
        question=question,
        order_id=result.order_id,
        status=result.status,
    )


@strawberry.type
class ExerciseMutation:
    exercise_option: ExerciseResult = strawberry.mutation(
        resolver=_exercise,
        description="Exercise QUANTITY contracts of the option position CONID (trading service "
        "and trading token only); confirms the final question only with confirmFinal: true.",
    )
