"""The placement state machine, driven by hand: prompts, losses and lookups (no I/O)."""

from __future__ import annotations

from ibstream.orders import OrderRejected, OrderStateUnknown, PromptPolicy, PromptsDeclined
from ibstream.orders.prompts import Accepted, Placed, Prompt, Prompted, Refused
from ibstream.orders.reconcile import (
    Decide,
    Done,
    Failed,
    LookUp,
    Placement,
    PostOrders,
    PostReply,
)

BODY = {"orders": [{"cOID": "c1"}]}
OK = Accepted((Placed(101, "Submitted", "c1"),))
PROMPT = Prompted(Prompt("r1", ("Sure?",), ("o163",)))


def machine(policy: PromptPolicy | None = None, **kw: int) -> Placement:
    return Placement(("c1",), BODY, policy or PromptPolicy(), lookup_delay=0.5, **kw)


def test_plain_success() -> None:
    """Post, accepted: done without a lookup."""
    m = machine()
    assert m.start() == PostOrders(BODY, 1)
    assert m.answered(OK) == Done({"c1": 101}, reconciled=False)


def test_refusal_without_loss_is_final() -> None:
    m = machine()
    m.start()
    cmd = m.answered(Refused("Contract not found"))
    assert isinstance(cmd, Failed) and isinstance(cmd.error, OrderRejected)


def test_prompt_chain_accepted_and_declined() -> None:
    """Accepted ids are confirmed; the next unknown prompt is declined explicitly, then raised."""
    m = machine(PromptPolicy(accept=["o163"]))
    m.start()
    assert m.answered(PROMPT) == PostReply("r1", True, PROMPT.prompt)
    second = Prompted(Prompt("r2", ("And?",), ("o999",)))
    cmd = m.answered(second)
    assert cmd == PostReply("r2", False, second.prompt)
    failed = m.answered(Refused("discarded"))
    assert isinstance(failed, Failed) and isinstance(failed.error, PromptsDeclined)
    assert [p.reply_id for p in failed.error.prompts] == ["r1", "r2"]


def test_callback_decides() -> None:
    m = machine(PromptPolicy(callback=lambda p, w: True))
    m.start()
    assert m.answered(PROMPT) == Decide(PROMPT.prompt)
    assert m.decided(True) == PostReply("r1", True, PROMPT.prompt)
    assert m.answered(OK) == Done({"c1": 101}, reconciled=False)


def test_lost_post_found_by_lookup() -> None:
    """A lost post is looked up at once; found: done, never posted again."""
    m = machine()
    m.start()
    assert m.lost("reset") == LookUp(0.0, "reset", fresh=True)
    assert m.looked_up({"c1": 101, "other": 5}) == Done({"c1": 101}, reconciled=True)
    assert m.posts == 1


def test_lost_post_not_found_is_reposted_after_settling() -> None:
    """Absent after settle_lookups lookups: the same body is posted again (same cOIDs)."""
    m = machine(settle_lookups=3)
    m.start()
    m.lost("timeout")
    assert m.looked_up({}) == LookUp(0.5, "not visible yet")
    assert m.looked_up({}) == LookUp(0.5, "not visible yet")
    assert m.looked_up({}) == PostOrders(BODY, 2)
    assert m.answered(OK) == Done({"c1": 101}, reconciled=False)


def test_lost_reply_is_confirmed_again_before_reposting() -> None:
    m = machine(PromptPolicy(accept=["o163"]), settle_lookups=1)
    m.start()
    m.answered(PROMPT)
    assert isinstance(m.lost("reset"), LookUp)
    assert m.looked_up({}) == PostReply("r1", True, PROMPT.prompt, retry=True)
    # the reply id was already used: refused, which after a loss means "look again"
    assert isinstance(m.answered(Refused("Reply id r1 is not valid")), LookUp)
    assert m.looked_up({}) == PostOrders(BODY, 2)


def test_refusal_after_loss_is_not_final_and_gives_up_unknown() -> None:
    """A duplicate-cOID refusal after a loss leads to lookups; never 'rejected' unverified."""
    m = machine(settle_lookups=1, max_posts=2)
    m.start()
    m.lost("500")
    assert m.looked_up({}) == PostOrders(BODY, 2)
    assert isinstance(m.answered(Refused("Local order ID=c1 is already registered.")), LookUp)
    cmd = m.looked_up({})
    assert isinstance(cmd, Failed) and isinstance(cmd.error, OrderStateUnknown)
    assert "already registered" in str(cmd.error) and cmd.error.coids == ("c1",)


def test_partial_group_is_never_reposted() -> None:
    m = Placement(("p", "c"), BODY, PromptPolicy(), settle_lookups=1, max_lookups=3)
    m.start()
    m.lost("reset")
    assert isinstance(m.looked_up({"p": 1}), LookUp)
    assert isinstance(m.looked_up({"p": 1}), LookUp)
    cmd = m.looked_up({"p": 1})
    assert isinstance(cmd, Failed) and cmd.error.found == {"p": 1}  # type: ignore[attr-defined]
    assert m.posts == 1


def test_answer_naming_fewer_orders_is_completed_by_lookup() -> None:
    m = Placement(("p", "c"), BODY, PromptPolicy())
    m.start()
    assert isinstance(m.answered(Accepted((Placed(1, None, None),))), LookUp)
    assert m.looked_up({"p": 1, "c": 2}) == Done({"p": 1, "c": 2}, reconciled=True)


def test_lookup_failures_are_bounded() -> None:
    m = machine(max_lookups=2)
    m.start()
    m.lost("reset")
    assert isinstance(m.lookup_failed("timeout"), LookUp)
    assert isinstance(m.lookup_failed("timeout"), Failed)


def test_lost_decline_means_not_placed_and_inputs_out_of_phase_fail() -> None:
    m = machine()
    m.start()
    m.answered(PROMPT)  # declined by the default policy
    cmd = m.lost("reset")
    assert isinstance(cmd, Failed) and isinstance(cmd.error, PromptsDeclined)
    m2 = machine()
    assert isinstance(m2.looked_up({}), Failed)
    assert isinstance(machine().decided(True), Failed)


def test_max_posts_one_never_posts_twice() -> None:
    """max_posts=1: a lost answer whose order is not found ends unknown, never a second post."""
    m = machine(max_posts=1, settle_lookups=2)
    m.start()
    m.lost("reset")
    assert isinstance(m.looked_up({}), LookUp)
    cmd = m.looked_up({})
    assert isinstance(cmd, Failed) and isinstance(cmd.error, OrderStateUnknown)
    assert m.posts == 1
