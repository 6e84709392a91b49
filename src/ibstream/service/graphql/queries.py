"""The ``Query`` type: the service's current state (session, tickers, orders, trades, account)."""

from __future__ import annotations

import strawberry

from ibstream.masking import mask
from ibstream.protocol.specs import PnlSpec
from ibstream.service.graphql.context import conid_list, field_ids, hub_of
from ibstream.service.graphql.oneoff import (
    QUERY_WAIT,
    ensure_orders,
    ensure_streams,
    market_data_specs,
)
from ibstream.service.graphql.types import (
    AccountSummaryValues,
    Execution,
    LedgerBalance,
    Long,
    Order,
    PnlRow,
    SessionStatus,
    Ticker,
    UpstreamSubscription,
    to_execution,
    to_ledger,
    to_order,
    to_pnl_row,
    to_summary,
    to_ticker,
    to_upstream,
)

__all__ = ["Query"]


def _q_status(info: strawberry.Info) -> SessionStatus:
    hub = hub_of(info)
    m = hub.client.metrics()
    ready, details = hub.readiness()
    sid = hub.client.session_id
    return SessionStatus(
        state=hub.client.state.name,
        authenticated=hub.authenticated,
        ready=ready,
        reason=details["reason"],
        gateway=hub.client.rest.base_url,
        session_id=mask(sid) if sid else None,
        accounts=list(hub.accounts),
        frames=Long(int(m["frames"])),
        reconnects=m["reconnects"],
        gaps=m["gaps"],
        consumers=len(hub.consumers),
        upstream_subscriptions=len(hub.upstreams),
    )


def _q_accounts(info: strawberry.Info) -> list[str]:
    hub = hub_of(info)
    return list(dict.fromkeys([*hub.accounts, *hub.client.account.accounts]))


async def _q_tickers(
    info: strawberry.Info,
    conids: list[int] | None = None,
    fields: list[str] | None = None,
    wait: float = QUERY_WAIT,
) -> list[Ticker]:
    hub = hub_of(info)
    ids = field_ids(fields)
    tickers = hub.client.tickers
    if conids is None:
        return [to_ticker(hub, c, ids, {}) for c in list(tickers)]
    wanted = conid_list(conids)

    def ready() -> bool:
        return all(c in tickers and tickers[c].update_count > 0 for c in wanted)

    missing = [c for c in wanted if not (c in tickers and tickers[c].update_count > 0)]
    await ensure_streams(hub, market_data_specs(missing), ready, f"tickers {missing}", wait=wait)
    return [to_ticker(hub, c, ids, {}) for c in wanted]


async def _q_orders(
    info: strawberry.Info, open_only: bool = True, account: str | None = None
) -> list[Order]:
    hub = hub_of(info)
    await ensure_orders(hub)
    book = hub.client.orders
    orders = book.open_orders() if open_only else book.orders()
    return [to_order(o) for o in orders if account is None or o.account == account]


def _q_trades(
    info: strawberry.Info, account: str | None = None, conid: int | None = None, limit: int = 200
) -> list[Execution]:
    book = hub_of(info).client.trades
    trades = book.for_conid(conid) if conid is not None else book.trades()
    out = [to_execution(t) for t in trades if account is None or t.account == account]
    return out[-min(limit, 10_000) :] if limit > 0 else []


async def _q_pnl(
    info: strawberry.Info, account: str | None = None, wait: float = QUERY_WAIT
) -> list[PnlRow]:
    hub = hub_of(info)
    state = hub.client.account

    def ready() -> bool:
        return any(account is None or r.account == account for r in state.pnl.values())

    if not hub.is_live(PnlSpec().key):
        what = "pnl" + (f" of {account}" if account else "")
        await ensure_streams(hub, [PnlSpec()], ready, what, wait=wait)
    rows = state.pnl.values()
    return [to_pnl_row(r) for r in rows if account is None or r.account == account]


def _q_account_summary(info: strawberry.Info, account: str) -> AccountSummaryValues:
    state = hub_of(info).client.account
    return to_summary(account, state.summary(account), state.summary_timestamp(account))


def _q_ledger(info: strawberry.Info, account: str) -> list[LedgerBalance]:
    balances = hub_of(info).client.account.ledger(account).values()
    return [to_ledger(b.account, b.currency, b.timestamp, b.values) for b in balances]


def _q_subscriptions(info: strawberry.Info) -> list[UpstreamSubscription]:
    return [to_upstream(d) for d in hub_of(info).describe_upstreams()]


@strawberry.type
class Query:
    status: SessionStatus = strawberry.field(
        resolver=_q_status, description="The upstream session and the service."
    )
    accounts: list[str] = strawberry.field(
        resolver=_q_accounts, description="Accounts of the session (the gateway's act message)."
    )
    tickers: list[Ticker] = strawberry.field(
        resolver=_q_tickers,
        description=(
            "Current tickers: every known conid, or those given (a stream nobody holds is opened "
            "for the query; an error when no value comes within a few seconds)."
        ),
    )
    orders: list[Order] = strawberry.field(
        resolver=_q_orders,
        description="Orders (open ones by default); the gateway's list when nobody streams them.",
    )
    trades: list[Execution] = strawberry.field(
        resolver=_q_trades, description="Executions, oldest first (the newest `limit`)."
    )
    pnl: list[PnlRow] = strawberry.field(
        resolver=_q_pnl,
        description="P&L rows (every account, or one); the stream is opened if nobody holds it.",
    )
    account_summary: AccountSummaryValues = strawberry.field(
        resolver=_q_account_summary, description="Account summary values received so far."
    )
    ledger: list[LedgerBalance] = strawberry.field(
        resolver=_q_ledger, description="Ledger balances per currency received so far."
    )
    subscriptions: list[UpstreamSubscription] = strawberry.field(
        resolver=_q_subscriptions, description="Upstream subscriptions held by the service."
    )
