"""Property: whatever is lost, failed or slow, the placement machine never makes two orders.

The model gateway here does NOT refuse a repeated cOID (the weakest gateway): the only guard
left is the machine's rule to re-post only after ``settle_lookups`` successful lookups saw
nothing. New orders become visible to lookups after a lag shorter than that; prompts come in
chains; any request may be processed or not, and its answer delivered or lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from ibstream.orders import OrderRejected, OrderStateUnknown, PromptPolicy, PromptsDeclined
from ibstream.orders.prompts import Accepted, Placed, Prompt, Prompted, Refused
from ibstream.orders.reconcile import Decide, Done, Failed, LookUp, Placement, PostOrders, PostReply

SETTLE = 3


@dataclass
class Gateway:
    """A pure gateway model driven by hypothesis' choices."""

    draw: st.DataObject
    prompts: int
    orders: list[tuple[str, ...]] = field(default_factory=list)  # created orders (their cOIDs)
    pending: dict[str, int] = field(default_factory=dict)  # reply id -> prompts left
    created_at: dict[int, int] = field(default_factory=dict)  # order index -> lookups seen
    next_reply: int = 0

    def _lost(self) -> bool:
        return self.draw.draw(st.booleans(), label="answer lost")

    def _processed(self) -> bool:
        return self.draw.draw(st.booleans(), label="processed")

    def _prompt(self, left: int) -> Prompted:
        self.next_reply += 1
        rid = f"r{self.next_reply}"
        self.pending[rid] = left
        return Prompted(Prompt(rid, ("?",), (f"p{left}",)))

    def _create(self, coids: tuple[str, ...]) -> Accepted:
        self.orders.append(coids)
        self.created_at[len(self.orders) - 1] = 0
        return Accepted(tuple(Placed(100 + len(self.orders), None, c) for c in coids))

    def post(self, coids: tuple[str, ...]) -> Accepted | Prompted | Refused | None:
        if not self._processed():
            return None  # dropped before processing: looks like a loss
        answer = self._prompt(self.prompts) if self.prompts else self._create(coids)
        return None if self._lost() else answer

    def reply(self, rid: str, confirmed: bool, coids: tuple[str, ...]) -> object:
        if not self._processed():
            return None
        left = self.pending.pop(rid, None)
        if left is None:
            answer: object = Refused("Reply id is not valid")
        elif not confirmed:
            answer = Refused("not confirmed")
        elif left > 1:
            answer = self._prompt(left - 1)
        else:
            answer = self._create(coids)
        return None if self._lost() else answer

    def lookup(self, coids: tuple[str, ...]) -> dict[str, int] | None:
        if self.draw.draw(st.booleans(), label="lookup fails"):
            return None
        found: dict[str, int] = {}
        for i, made in enumerate(self.orders):
            seen = self.created_at[i]
            lag = self.draw.draw(st.integers(0, SETTLE - 1), label="visibility lag")
            self.created_at[i] = seen + 1
            if seen >= lag:
                found.update({c: 100 + i + 1 for c in made if c in coids})
        return found


@settings(max_examples=400, deadline=None)
@given(
    data=st.data(),
    prompts=st.integers(0, 2),
    group=st.integers(1, 3),
    max_posts=st.integers(1, 3),
)
def test_never_two_orders(data: st.DataObject, prompts: int, group: int, max_posts: int) -> None:
    coids = tuple(f"c{i}" for i in range(group))
    gw = Gateway(data, prompts)
    m = Placement(
        coids,
        {"orders": []},
        PromptPolicy(accept=["p1", "p2"]),
        max_posts=max_posts,
        settle_lookups=SETTLE,
        max_lookups=8,
    )
    cmd = m.start()
    for _ in range(500):
        if isinstance(cmd, PostOrders):
            answer = gw.post(coids)
            cmd = m.lost("lost") if answer is None else m.answered(answer)  # type: ignore[arg-type]
        elif isinstance(cmd, PostReply):
            answer = gw.reply(cmd.reply_id, cmd.confirmed, coids)
            cmd = m.lost("lost") if answer is None else m.answered(answer)  # type: ignore[arg-type]
        elif isinstance(cmd, LookUp):
            found = gw.lookup(coids)
            cmd = m.lookup_failed("error") if found is None else m.looked_up(found)
        elif isinstance(cmd, Decide):  # pragma: no cover - the policy accepts p1/p2 up front
            cmd = m.decided(True)
        else:
            break
    assert len(gw.orders) <= 1, gw.orders
    if isinstance(cmd, Done):
        assert len(gw.orders) == 1 and set(cmd.order_ids) == set(coids)
    else:
        assert isinstance(cmd, Failed)
        assert isinstance(cmd.error, (OrderStateUnknown, OrderRejected, PromptsDeclined))
        if isinstance(cmd.error, OrderRejected):
            assert not gw.orders  # "rejected" is said only when nothing can exist
