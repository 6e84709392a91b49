"""Order entry through the client's session (asyncio layer): ``client.trading``.

A thin driver: the decisions live in the pure core (:mod:`~ibstream.orders.model` validates,
:mod:`~ibstream.orders.rails` refuses, :mod:`~ibstream.orders.reconcile` decides what to send
after every answer or loss, :mod:`~ibstream.orders.prompts` reads answers); this module only
sends requests through ``client.rest.request(...)`` (the one REST entry point, where pacing
lives), sleeps between lookups, asks prompt callbacks and logs every action with its cOID
(accounts masked). See docs/orders.md for the safety model.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ibstream.exceptions import HTTPStatusError, IBStreamError, InvalidArgument, NotAuthenticated
from ibstream.masking import mask_account, mask_text
from ibstream.orders._modify import _changes, _ended, _modified, _modify_base
from ibstream.orders.errors import OrderRejected, OrderStateUnknown, PromptsDeclined
from ibstream.orders.handle import ClientLike, OrderHandle, OrderTracker
from ibstream.orders.model import Bracket, Modification, OcaGroup, OrderRequest, check_coid
from ibstream.orders.prompts import (
    Accepted,
    Answer,
    Decision,
    Placed,
    Prompt,
    Prompted,
    PromptPolicy,
    Refused,
    parse_answer,
)
from ibstream.orders.rails import TradingConfig, check_allowed, check_limits, check_values
from ibstream.orders.reconcile import (
    Decide,
    Done,
    Failed,
    LookUp,
    Placement,
    PostOrders,
    PostReply,
)
from ibstream.orders.results import Execution, OrderStatusInfo, WhatIf
from ibstream.orders.verify import SymbolCheck
from ibstream.state.orders import Order, OrderBook

__all__ = ["BracketHandles", "Trading"]

log = logging.getLogger("ibstream.orders")

# Statuses whose answer is read as the gateway's definite word; 401 raises NotAuthenticated
# (nothing was processed); 408/429 and 5xx, timeouts and resets are "outcome unknown".
_ANSWERED = (200, 201, 400, 403, 404, 405, 409, 410, 415, 422)


@dataclass(frozen=True, slots=True)
class BracketHandles:
    """The handles of a bracket: the entry and its take-profit / stop-loss children."""

    parent: OrderHandle
    take_profit: OrderHandle | None
    stop_loss: OrderHandle | None

    def all(self) -> list[OrderHandle]:
        return [h for h in (self.parent, self.take_profit, self.stop_loss) if h is not None]


class _Lost(Exception):
    """A request whose outcome is unknown."""


class Trading:
    """Place, modify and cancel orders; read what-if previews, statuses, orders and trades.

    Off unless ``config.enabled`` (and never when ``config.read_only``): every order action
    raises ``TradingDisabled`` before anything is sent. Reads (what-if, status, live orders,
    trades) are always allowed.
    """

    def __init__(self, client: ClientLike, config: TradingConfig | None = None) -> None:
        self._client = client
        self.config = config or TradingConfig()
        self.tracker = OrderTracker(client)
        # /iserver/accounts of the current gateway session (None: not called yet)
        self._accounts_body: Mapping[str, Any] | None = None
        self._accounts_session: object = None
        self._seq = itertools.count(1)
        self._session = secrets.token_hex(4)
        # IBKR: do not place another order until the previous one is fully acknowledged (its
        # prompts answered); one placement or modification in flight per client.
        self._entry_lock = asyncio.Lock()
        self._symbols = SymbolCheck(lambda *a, **k: self._client.rest.request(*a, **k))

    def __repr__(self) -> str:
        mode = "read-only" if self.config.read_only else ("on" if self.config.enabled else "off")
        return f"<Trading {mode} {self.tracker!r}>"

    @property
    def enabled(self) -> bool:
        return self.config.enabled and not self.config.read_only

    # -- helpers ---------------------------------------------------------------------------

    def new_coid(self) -> str:
        """A fresh customer order id: ``<prefix>-<session>-<n>-<random>``."""
        return f"{self.config.coid_prefix}-{self._session}-{next(self._seq)}-{secrets.token_hex(3)}"

    async def account(self, requested: str | None = None) -> str:
        """The account of an order: ``requested``, the configured one, or the session's
        selected account. Also makes sure ``GET /iserver/accounts`` was called in this gateway
        session: IBKR requires it before placing, modifying or cancelling orders."""
        session = getattr(self._client, "session_id", None)
        if self._accounts_body is None or session != self._accounts_session:
            _, body = await self._client.rest.request("GET", "/iserver/accounts")
            self._accounts_body = body if isinstance(body, Mapping) else {}
            self._accounts_session = session
        if requested:
            return requested
        if self.config.account:
            return self.config.account
        body = self._accounts_body
        selected = body.get("selectedAccount")
        accounts = body.get("accounts")
        if not selected and isinstance(accounts, list) and accounts:
            selected = accounts[0]
        if not isinstance(selected, str) or not selected:
            raise InvalidArgument("account", "the gateway named no account: pass account=")
        return selected

    def _coid_of(self, order_id: int) -> str:
        """The cOID of a known order (``order_ref``), for logs; ``-`` if unknown."""
        order = self._client.orders.get(order_id)
        ref = order.fields.get("order_ref") if order is not None else None
        return str(ref) if ref else "-"

    def _reference_price(self, conid: int) -> float | None:
        tickers = getattr(self._client, "tickers", None)
        ticker = tickers.get(conid) if isinstance(tickers, Mapping) else None
        last = getattr(ticker, "last", None)
        return last if isinstance(last, float) else None

    async def _send(self, method: str, path: str, body: Any = None) -> Answer:
        """One request; a definite answer, or ``_Lost`` when its outcome is unknown."""
        try:
            status, answer = await self._client.rest.request(
                method, path, json=body, allow=_ANSWERED
            )
        except NotAuthenticated:
            raise
        except HTTPStatusError as exc:
            if exc.status in _ANSWERED:
                return Refused(mask_text(exc.body[:300]))
            raise _Lost(f"HTTP {exc.status}") from exc
        except (IBStreamError, OSError, TimeoutError) as exc:
            raise _Lost(f"{type(exc).__name__}: {mask_text(str(exc))}") from exc
        parsed = parse_answer(answer)
        if status >= 400 and not isinstance(parsed, Refused):
            return Refused(mask_text(f"HTTP {status}: {str(answer)[:200]}"))
        if isinstance(parsed, Refused):  # IBKR's text may name the account: mask it
            if status < 400 and not parsed.definite:  # taken in, but what was done is unknown
                raise _Lost(mask_text(parsed.message))
            return Refused(mask_text(parsed.message))
        return parsed

    async def _ask(self, policy: PromptPolicy, prompt: Prompt, what: str) -> bool:
        if policy.callback is None:
            return False
        try:
            result = policy.callback(prompt, what)
            if inspect.isawaitable(result):
                result = await result
        except Exception:
            log.exception("prompt callback failed: declining %s", prompt.reply_id)
            return False
        return result is True

    # -- placement -------------------------------------------------------------------------

    async def place(
        self, order: OrderRequest, *, prompts: PromptPolicy | None = None
    ) -> OrderHandle:
        """Place one order; returns its handle once the gateway accepted it."""
        if not isinstance(order, OrderRequest):
            raise InvalidArgument("order", "an OrderRequest (use place_bracket / place_oca)")
        handles = await self._place([order], [None], oca=False, prompts=prompts)
        return handles[0]

    async def place_bracket(
        self, bracket: Bracket, *, prompts: PromptPolicy | None = None
    ) -> BracketHandles:
        """Place a bracket (entry + take-profit and/or stop-loss) in one request."""
        orders = bracket.orders()
        parents: list[int | None] = [None] + [0] * (len(orders) - 1)
        handles = await self._place(orders, parents, oca=False, prompts=prompts)
        tp = handles[1] if bracket.take_profit is not None else None
        sl = handles[-1] if bracket.stop_loss is not None else None
        return BracketHandles(handles[0], tp, sl)

    async def place_oca(
        self, group: OcaGroup, *, prompts: PromptPolicy | None = None
    ) -> list[OrderHandle]:
        """Place a one-cancels-all group in one request."""
        return await self._place(
            list(group.orders), [None] * len(group.orders), oca=True, prompts=prompts
        )

    async def _place(
        self,
        orders: list[OrderRequest],
        parents: list[int | None],
        *,
        oca: bool,
        prompts: PromptPolicy | None,
    ) -> list[OrderHandle]:
        check_allowed(self.config, "placing an order")
        base = orders[0].coid or self.new_coid()
        coids = [o.coid or (base if i == 0 else f"{base}-{i}") for i, o in enumerate(orders)]
        for c in coids:
            check_coid(c)
        if len(set(coids)) != len(coids):
            raise InvalidArgument("coid", "every order of one placement needs its own cOID")
        orders = [o.with_coid(c) for o, c in zip(orders, coids, strict=True)]
        if self.config.limits.allowed_symbols is not None:  # the gateway's symbol, not a label
            orders = [await self._symbols.verified(o) for o in orders]
        for o in orders:
            check_limits(self.config.limits, o, self._reference_price(o.conid))
        account = await self.account(orders[0].account)
        wire = [
            o.to_wire(account, c, parent_coid=coids[p] if p is not None else None, oca=oca)
            for o, c, p in zip(orders, coids, parents, strict=True)
        ]
        policy = prompts or self.config.prompts
        cfg = self.config
        placement = Placement(
            tuple(coids),
            {"orders": wire},
            policy,
            max_posts=cfg.max_posts,
            settle_lookups=cfg.settle_lookups,
            max_lookups=cfg.max_lookups,
            lookup_delay=cfg.lookup_delay,
        )
        what = "; ".join(o.describe() for o in orders)
        log.info("place cOID=%s acct=%s: %s", ",".join(coids), mask_account(account), what)
        self.tracker.acquire()
        early = self.tracker.collect()
        try:
            async with self._entry_lock:
                ids = await self._drive(placement, account, what)
        except BaseException as exc:
            self.tracker.stop_collecting(early)
            self.tracker.release()
            if isinstance(exc, asyncio.CancelledError) and placement.posts:
                log.warning(
                    "cOID=%s: placement cancelled by the caller in %s; the order may exist: "
                    "look the cOIDs up before placing again",
                    ",".join(coids),
                    placement.phase.value,
                )
            raise
        handles = []
        for i, (o, c) in enumerate(zip(orders, coids, strict=True)):
            if i:
                self.tracker.acquire()
            h = OrderHandle(
                self.tracker,
                self._client,
                order_id=ids[c],
                coid=c,
                account=account,
                request=o,
                on_cancel=lambda h: self.cancel(h.order_id, account=h.account),
                on_modify=self.modify,
            )
            self.tracker.attach(h, early)
            handles.append(h)
        self.tracker.stop_collecting(early)
        log.info(
            "placed cOID=%s acct=%s order ids %s",
            ",".join(coids),
            mask_account(account),
            ",".join(str(ids[c]) for c in coids),
        )
        return handles

    async def _drive(self, placement: Placement, account: str, what: str) -> Mapping[str, int]:
        coids = ",".join(placement.coids)
        cmd = placement.start()
        while True:
            if isinstance(cmd, PostOrders):
                log.info("post cOID=%s attempt %d", coids, cmd.attempt)
                cmd = await self._feed(
                    placement, "POST", f"/iserver/account/{account}/orders", cmd.body
                )
            elif isinstance(cmd, PostReply):
                self._log_reply(f"cOID={coids}", cmd.prompt, cmd.confirmed, cmd.retry)
                cmd = await self._feed(
                    placement,
                    "POST",
                    f"/iserver/reply/{cmd.reply_id}",
                    {"confirmed": cmd.confirmed},
                )
            elif isinstance(cmd, Decide):
                ok = await self._ask(placement.policy, cmd.prompt, what)
                cmd = placement.decided(ok)
            elif isinstance(cmd, LookUp):
                log.warning("cOID=%s: outcome unknown (%s): looking it up", coids, cmd.reason)
                if cmd.delay:
                    await asyncio.sleep(cmd.delay)
                try:
                    found = await self._lookup(placement.coids, fresh=cmd.fresh)
                except (IBStreamError, OSError, TimeoutError) as exc:
                    cmd = placement.lookup_failed(mask_text(f"{type(exc).__name__}: {exc}"))
                else:
                    cmd = placement.looked_up(found)
            elif isinstance(cmd, Done):
                if cmd.reconciled:
                    log.warning(
                        "cOID=%s reconciled from live orders: %s", coids, dict(cmd.order_ids)
                    )
                return cmd.order_ids
            else:
                assert isinstance(cmd, Failed)
                log.warning(
                    "cOID=%s failed: %s (%s)", coids, cmd.error, "; ".join(placement.history)
                )
                raise cmd.error

    async def _feed(self, placement: Placement, method: str, path: str, body: Any) -> Any:
        try:
            answer = await self._send(method, path, body)
        except _Lost as exc:
            return placement.lost(str(exc))
        except NotAuthenticated as exc:
            if not placement.uncertain:
                raise  # a 401 is answered before anything is processed
            # an earlier request of this placement was lost: the order may exist
            raise OrderStateUnknown(
                f"session lost while reconciling cOIDs {', '.join(placement.coids)}: look them "
                "up before placing again",
                placement.coids,
                {},
            ) from exc
        return placement.answered(answer)

    def _log_reply(self, ref: str, prompt: Prompt, confirmed: bool, retry: bool) -> None:
        verb = "confirm" if confirmed else "decline"
        log.info(
            "%s%s prompt %s reply=%s ids=%s: %s",
            verb,
            " (again)" if retry else "",
            ref,
            prompt.reply_id,
            ",".join(prompt.message_ids) or "-",
            mask_text(prompt.text),
        )

    async def _lookup(self, coids: Iterable[str], *, fresh: bool = False) -> dict[str, int]:
        """cOID -> order id for the cOIDs visible in live orders (REST, then the stream)."""
        wanted = set(coids)
        found: dict[str, int] = {}
        _, body = await self._client.rest.request(
            "GET", "/iserver/account/orders", params={"force": "true"} if fresh else None
        )
        entries = body.get("orders") if isinstance(body, Mapping) else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, Mapping):
                ref = entry.get("order_ref")
                if ref in wanted and entry.get("orderId") is not None:
                    found[str(ref)] = int(entry["orderId"])
        for order in self._client.orders.values():
            ref = order.fields.get("order_ref")
            if ref in wanted and ref not in found:
                found[str(ref)] = order.order_id
        return found

    # -- modify / cancel -------------------------------------------------------------------

    async def modify(
        self,
        order_id: int,
        change: Modification | None = None,
        *,
        account: str | None = None,
        prompts: PromptPolicy | None = None,
        **values: Any,
    ) -> OrderStatusInfo:
        """Change a working order (``price=``, ``aux_price=``, ``quantity=``, ``tif=``,
        ``outside_rth=``, ``trailing_amount=``, or a :class:`Modification`). Prompts follow the
        policy. A lost answer is checked against the order's status (a modification sets
        absolute values, so sending it again cannot add anything); returns the new status."""
        check_allowed(self.config, "modifying an order")
        change = change or Modification(**values)
        acct = await self.account(account)
        current = await self.status(order_id)
        if current.conid is None or current.side is None:
            raise OrderRejected(f"order {order_id} is unknown to the gateway")
        check_values(
            self.config.limits,
            conid=current.conid,
            symbol=current.symbol,
            quantity=change.quantity or current.total_size,
            price=change.price
            or change.aux_price
            or current.limit_price
            or current.stop_price
            or self._reference_price(current.conid),
        )
        body = change.apply(_modify_base(current))
        if "outsideRTH" not in body:
            # a modify may act as a full replace: restate the flag so it is kept, not reset
            rth = await self._outside_rth(order_id)
            if rth is not None:
                body["outsideRTH"] = rth
        log.info(
            "modify order %s cOID=%s acct=%s: %s",
            order_id,
            self._coid_of(order_id),
            mask_account(acct),
            _changes(change),
        )
        policy = prompts or self.config.prompts
        path = f"/iserver/account/{acct}/order/{order_id}"
        async with self._entry_lock:
            await self._send_modify(order_id, path, body, policy, change)
        status = await self.status(order_id)
        log.info("modified order %s: %s", order_id, status.status)
        return status

    async def _outside_rth(self, order_id: int) -> bool | None:
        """The order's outside-RTH flag: from the live order book, else the gateway's order
        list; ``None`` when neither shows it (the status endpoint does not)."""
        order = self._client.orders.get(order_id)
        value = order.fields.get("outsideRTH") if order is not None else None
        if not isinstance(value, bool):
            listed = {o.order_id: o for o in await self.live_orders()}.get(order_id)
            value = listed.fields.get("outsideRTH") if listed is not None else None
        if isinstance(value, bool):
            return value
        log.warning("modify order %s: its outside-RTH flag is unknown and not restated", order_id)
        return None

    async def _send_modify(
        self, order_id: int, path: str, body: Any, policy: PromptPolicy, change: Modification
    ) -> None:
        for attempt in (1, 2):
            try:
                answer = await self._send("POST", path, body)
                await self._answer_prompts(
                    answer, policy, f"modify {order_id}", f"order {order_id}"
                )
                return
            except _Lost as exc:
                log.warning("modify order %s: outcome unknown (%s): checking", order_id, exc)
                if _modified(await self.status(order_id), change):
                    return
                if attempt == 2:
                    raise OrderStateUnknown(
                        f"modification of order {order_id} not confirmed", (), {}
                    ) from exc

    async def _answer_prompts(
        self, answer: Answer, policy: PromptPolicy, what: str, ref: str
    ) -> tuple[Placed, ...]:
        chain: list[Prompt] = []
        while isinstance(answer, Prompted):
            prompt = answer.prompt
            chain.append(prompt)
            decision = policy.decide(prompt)
            ok = decision is Decision.ACCEPT or (
                decision is Decision.ASK and await self._ask(policy, prompt, what)
            )
            if len(chain) > policy.max_chain:
                ok = False
            self._log_reply(ref, prompt, ok, False)
            try:
                answer = await self._send(
                    "POST", f"/iserver/reply/{prompt.reply_id}", {"confirmed": ok}
                )
            except _Lost:
                if not ok:
                    raise PromptsDeclined(chain) from None
                raise
            if not ok:
                raise PromptsDeclined(chain)
        if isinstance(answer, Refused):
            raise OrderRejected(answer.message)
        assert isinstance(answer, Accepted)
        return answer.orders

    async def cancel(self, order_id: int, *, account: str | None = None) -> None:
        """Cancel a working order. A lost answer is checked against the order's status and the
        cancel sent once more if the order still works (cancelling twice is harmless)."""
        check_allowed(self.config, "cancelling an order")
        if isinstance(order_id, bool) or not isinstance(order_id, int) or order_id <= 0:
            # IBKR reads -1 as "cancel every open order": never by accident.
            raise InvalidArgument("order_id", f"a positive order id, got {order_id!r}")
        acct = await self.account(account)
        log.info(
            "cancel order %s cOID=%s acct=%s", order_id, self._coid_of(order_id), mask_account(acct)
        )
        path = f"/iserver/account/{acct}/order/{order_id}"
        for attempt in (1, 2):
            try:
                answer = await self._send("DELETE", path)
            except _Lost as exc:
                log.warning("cancel order %s: outcome unknown (%s)", order_id, exc)
                info = await self.status(order_id)
                if _ended(info.status):
                    return
                if attempt == 2:
                    raise OrderStateUnknown(
                        f"cancel of order {order_id} not confirmed", (), {}
                    ) from exc
                continue
            if isinstance(answer, Refused):
                raise OrderRejected(answer.message)
            return

    # -- reads -----------------------------------------------------------------------------

    async def whatif(self, order: OrderRequest) -> WhatIf:
        """Preview commission, margin and equity impact; nothing is placed (no rails)."""
        account = await self.account(order.account)
        coid = order.coid or self.new_coid()
        _, body = await self._client.rest.request(
            "POST",
            f"/iserver/account/{account}/orders/whatif",
            json={"orders": [order.to_wire(account, coid)]},
            allow=_ANSWERED,
        )
        if isinstance(body, Mapping) and body.get("error") and "amount" not in body:
            raise OrderRejected(mask_text(str(body["error"])))
        return WhatIf.parse(body)

    async def status(self, order_id: int) -> OrderStatusInfo:
        """``GET /iserver/account/order/status/{orderId}``."""
        _, body = await self._client.rest.request(
            "GET", f"/iserver/account/order/status/{int(order_id)}", allow=_ANSWERED
        )
        if isinstance(body, Mapping) and body.get("error"):
            raise OrderRejected(mask_text(str(body["error"])))
        return OrderStatusInfo.parse(int(order_id), body)

    async def live_orders(self) -> list[Order]:
        """The day's orders (``GET /iserver/account/orders``, never filtered: filters mute
        ``sor``); their cOID is ``order.fields["order_ref"]``."""
        _, body = await self._client.rest.request("GET", "/iserver/account/orders")
        book = OrderBook(max_terminal=None)  # the whole list, however long
        book.load_rest(body if isinstance(body, Mapping) else {})
        return book.orders()

    async def recent_trades(self, days: int | None = None) -> list[Execution]:
        """Executions of today, or of the last ``days`` days (1-7; ``GET
        /iserver/account/trades``)."""
        params = None
        if days is not None:
            if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 7:
                raise InvalidArgument("days", f"an int from 1 to 7, got {days!r}")
            params = {"days": str(days)}
        _, body = await self._client.rest.request("GET", "/iserver/account/trades", params=params)
        out = (
            [Execution.parse(e) for e in body if isinstance(e, Mapping)]
            if isinstance(body, list)
            else []
        )
        return [e for e in out if e is not None]

    # -- prompt suppression ----------------------------------------------------------------

    async def suppress(self, message_ids: Iterable[str]) -> None:
        """Suppress reply prompts by message id for the rest of the session (explicit)."""
        check_allowed(self.config, "suppressing prompts")
        ids = [str(i) for i in message_ids]
        if not ids or isinstance(message_ids, str) or not all(ids):
            raise InvalidArgument("message_ids", "a non-empty list of message ids")
        log.info("suppress prompts %s for this session", ",".join(ids))
        await self._client.rest.request(
            "POST", "/iserver/questions/suppress", json={"messageIds": ids}
        )

    async def reset_suppression(self) -> None:
        """Ask every suppressed prompt again."""
        log.info("reset prompt suppression")
        await self._client.rest.request("POST", "/iserver/questions/suppress/reset")


# The order status spells types as words ("LIMIT", "Stop Limit"); orders take the codes.
