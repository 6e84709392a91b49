"""Contracts, snapshots, history, portfolio and live positions against the simulator on port 0,
over real sockets: every security type, paging, the snapshot pre-flight, errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ibstream.aio.client import ClientConfig, StreamClient
from ibstream.aio.contracts import COMBO_CONID
from ibstream.exceptions import (
    GatewayUnreachable,
    HTTPStatusError,
    InvalidArgument,
    NotAuthenticated,
    NotFound,
)
from ibstream.protocol.connection import ProtocolConfig
from ibstream.protocol.events import MarketData
from ibstream.protocol.specs import MarketDataSpec
from ibstream.sim import Simulator, contract_routes
from ibstream.sim.portfolio_routes import set_position
from ibstream.sim.testing import SimulatorFactory
from ibstream.state.positions import PositionChange

pytestmark = pytest.mark.e2e

AAPL = 265598
MSFT = 272093
FAST = ProtocolConfig(
    heartbeat_timeout=1.5,
    tic_interval=1.0,
    tickle_interval=2.0,
    auth_poll_interval=0.1,
    auth_timeout=3.0,
    subscribe_timeout=0.5,
)


def make_client(sim: Simulator) -> StreamClient:
    return StreamClient(sim.base_url, config=ClientConfig(protocol=FAST, start_timeout=10.0))


@pytest.fixture
async def sim(simulator: SimulatorFactory) -> Simulator:
    return await simulator(update_interval=0.05)


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[StreamClient]:
    c = make_client(sim)
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


# -- contracts: every security type ---------------------------------------------------------


async def test_stock_search_listings_and_details(client: StreamClient) -> None:
    found = await client.contracts.search("AAPL")
    assert found[0].conid == AAPL and found[0].symbol == "AAPL"
    assert found[0].sec_types[:2] == ("STK", "OPT")
    assert found[0].section("OPT") is not None and found[0].section("OPT").months  # type: ignore[union-attr]
    listings = (await client.contracts.stocks("AAPL", "MSFT"))["AAPL"][0].listings
    assert {(x.exchange, x.is_us) for x in listings} == {("NASDAQ", True), ("MEXI", False)}
    assert await client.contracts.stock("AAPL") == AAPL
    assert await client.contracts.stock("AAPL", exchange="MEXI") != AAPL
    details = await client.contracts.details(AAPL)
    assert (details.symbol, details.sec_type, details.currency) == ("AAPL", "STK", "USD")
    assert "SMART" in details.valid_exchanges


async def test_futures_chain_front_month_and_month_codes(client: StreamClient) -> None:
    chain = await client.contracts.futures("ES")
    assert len(chain) == 4
    assert [f.expiration_date for f in chain] == sorted(f.expiration_date or "" for f in chain)
    front = await client.contracts.front_month("ES")
    assert front == chain[0] and front.underlying_conid == 11004968
    second = chain[1]
    assert second.expiration_date is not None
    code = "FGHJKMNQUVXZ"[int(second.expiration_date[4:6]) - 1]
    resolved = await client.contracts.resolve(f"ES{code}{second.expiration_date[3]}")
    assert resolved.conid == second.conid and resolved.sec_type == "FUT"
    by_month = await client.contracts.resolve(f"ES {second.expiration_date[:6]}")
    assert by_month.conid == second.conid
    bare = await client.contracts.resolve("ES")
    assert bare.conid == front.conid and bare.sec_type == "FUT"
    assert (await client.contracts.details(front.conid)).multiplier == 50.0


async def test_options_months_strikes_and_contract(client: StreamClient) -> None:
    months = await client.contracts.option_months("AAPL")
    assert len(months) == 4
    strikes = await client.contracts.strikes("AAPL", months[1])
    assert strikes.call and strikes.call == strikes.put
    strike = strikes.call[len(strikes.call) // 2]
    chain = await client.contracts.search("AAPL")
    expiries = str(chain[0].raw["opt"]).split(";")
    expiry = expiries[1]
    assert await client.contracts.option_expiries("AAPL", months[1]) == (expiry,)
    call = await client.contracts.option("AAPL", expiry, strike, "C")
    put = await client.contracts.option("AAPL", expiry, strike, "PUT")
    assert call.conid != put.conid
    assert (call.sec_type, call.right, call.strike, call.expiry) == ("OPT", "C", strike, expiry)
    resolved = await client.contracts.resolve(f"AAPL {expiry} {strike:g} P")
    assert resolved.conid == put.conid and resolved.right == "P"
    index_strikes = await client.contracts.strikes(
        "SPX", (await client.contracts.option_months("SPX"))[0]
    )
    assert index_strikes.call
    with pytest.raises(NotFound) as info:
        await client.contracts.option("AAPL", expiry, strike + 0.5, "C")
    assert info.value.endpoint == "GET /iserver/secdef/info"


async def test_option_takes_the_underlying_as_a_conid(client: StreamClient) -> None:
    # ``symbol: str | int``: an int is the underlying's conid, for ``option`` as for
    # ``option_months``/``strikes``/``option_expiries`` (it was searched as the text "265598")
    month = (await client.contracts.option_months(AAPL))[0]
    strikes = await client.contracts.strikes(AAPL, month)
    strike = strikes.call[len(strikes.call) // 2]
    expiry = (await client.contracts.option_expiries(AAPL, month))[0]
    by_symbol = await client.contracts.option("AAPL", expiry, strike, "C")
    by_conid = await client.contracts.option(AAPL, expiry, strike, "C")
    assert by_conid.conid == by_symbol.conid and by_conid.right == "C"


async def test_futures_options(client: StreamClient) -> None:
    months = await client.contracts.option_months("ES", sec_type="FOP")
    assert len(months) == 4
    with pytest.raises(NotFound):
        await client.contracts.option_months("ES")  # no OPT section on ES, only FOP
    strikes = await client.contracts.strikes("ES", months[0], sec_type="FOP")
    assert 5600.0 in strikes.call
    expiry = (await client.contracts.option_expiries("ES", months[0], sec_type="FOP"))[0]
    fop = await client.contracts.option("ES", expiry, 5600, "C")  # OPT absent: FOP found
    assert (fop.sec_type, fop.strike, fop.right, fop.multiplier) == ("FOP", 5600.0, "C", 50.0)
    resolved = await client.contracts.resolve(f"ES {expiry} 5600 C")
    assert resolved.conid == fop.conid and resolved.sec_type == "FOP"


async def test_fx_index_cfd_combo_and_grammar(client: StreamClient) -> None:
    eur = await client.contracts.fx("EUR.USD")
    assert eur.conid == 12087792
    assert (await client.contracts.resolve("EUR.USD")).conid == 12087792
    assert (await client.contracts.resolve("usd.jpy")).conid == 15016059
    spx = await client.contracts.index("SPX")
    assert spx.conid == 416904
    assert (await client.contracts.resolve("SPX")).sec_type == "IND"
    assert (await client.contracts.resolve("VIX IND")).conid == 13455763
    cfd = await client.contracts.cfd("AAPL")
    assert (await client.contracts.details(cfd)).sec_type == "CFD"
    assert (await client.contracts.resolve("AAPL CFD")).conid == cfd
    assert (await client.contracts.resolve("AAPL")).conid == AAPL
    assert (await client.contracts.resolve("265598")).symbol == "AAPL"
    combo = await client.contracts.combo([(AAPL, 1), (MSFT, -1)])
    assert combo.conidex == f"{COMBO_CONID};;;{AAPL}/1,{MSFT}/-1"
    assert combo.description == "+1 AAPL -1 MSFT"
    again = await client.contracts.resolve(combo.conidex)
    assert again.conidex == combo.conidex and again.legs == combo.legs
    assert (await client.contracts.details(COMBO_CONID)).sec_type == "BAG"
    many = await client.contracts.resolve_many(["AAPL", "ES", "EUR.USD", "AAPL"])
    assert list(many) == ["AAPL", "ES", "EUR.USD"]


async def test_lookup_errors_are_typed_and_name_the_endpoint(client: StreamClient) -> None:
    with pytest.raises(NotFound) as info:
        await client.contracts.resolve("ZZZZ")
    assert info.value.endpoint == "GET /iserver/secdef/search"
    assert isinstance(info.value, LookupError)
    with pytest.raises(NotFound) as info2:
        await client.contracts.details(999_999_999)
    assert info2.value.endpoint == "GET /iserver/contract/999999999/info"
    assert info2.value.status == 400 and "invalid conid" in info2.value.error
    with pytest.raises(NotFound):
        await client.contracts.stock("ZZZZ")
    with pytest.raises(NotFound):
        await client.contracts.futures("ZZZZ")
    with pytest.raises(InvalidArgument):
        await client.contracts.resolve("AAPL 2026 200 C")
    with pytest.raises(InvalidArgument):
        await client.contracts.details(-1)
    with pytest.raises(NotFound) as info3:
        await client.rest.request("GET", "/no/such/path")
    assert info3.value.endpoint == "GET /no/such/path"


# -- snapshots and history ------------------------------------------------------------------


async def test_snapshot_preflight_and_stream_parsing(sim: Simulator, client: StreamClient) -> None:
    es = (await client.contracts.front_month("ES")).conid
    snaps = await client.marketdata.snapshot([AAPL, es, 12087792], fields=["31", "84", "86", "55"])
    assert set(snaps) == {AAPL, es, 12087792}
    assert {AAPL, es, 12087792} <= sim.gateway.preflighted  # the first call only primed them
    aapl = snaps[AAPL]
    assert aapl.symbol == "AAPL" and isinstance(aapl.last, float)
    assert aapl.bid is not None and aapl.ask is not None and aapl.bid <= aapl.ask
    # same field ids, names and parsed values as the stream
    sub = client.subscribe(MarketDataSpec(AAPL, fields=("31", "84", "86", "55")))
    async with sub:
        async for event in sub:
            if isinstance(event, MarketData) and 31 in event.values:
                break
    assert set(event.values) >= {31, 84, 86, 55}
    assert type(event.values[31]) is type(aapl.values[31]) and aapl.get("symbol") == "AAPL"
    unknown = (await client.marketdata.snapshot(123456, fields=["31"]))[123456]
    assert unknown.last is None and unknown.raw.get(55) == "-"  # how the gateway says unknown
    with pytest.raises(InvalidArgument):
        await client.marketdata.snapshot([], fields=["31"])
    with pytest.raises(InvalidArgument):
        await client.marketdata.snapshot([AAPL], fields=["no_such_field"])
    named = (await client.marketdata.snapshot(AAPL, fields=["last", "bid", "ask"]))[AAPL]
    assert named.last is not None and named.bid is not None and set(named.values) >= {31, 84, 86}


async def test_history_bars_typed(client: StreamClient) -> None:
    hist = await client.marketdata.history(AAPL, period="1d", bar="1h", outside_rth=True)
    assert hist.conid == AAPL and hist.symbol == "AAPL" and hist.bar_length_s == 3600
    assert len(hist.bars) == 24 == hist.points
    times = [b.time_ms for b in hist.bars]
    assert times == sorted(times) and all(t is not None for t in times)
    assert all(b.low is not None and b.high is not None and b.low <= b.high for b in hist.bars)
    assert hist.raw["outsideRth"] is True
    es = await client.contracts.front_month("ES")
    assert (await client.marketdata.history(es.conid, period="2h", bar="5min")).bars
    with pytest.raises(InvalidArgument):
        await client.marketdata.history(AAPL, bar="7min")
    with pytest.raises(NotFound) as info:
        await client.marketdata.history(123456)
    assert info.value.endpoint == "GET /iserver/marketdata/history"


async def test_history_concurrency_is_paced_not_refused(
    sim: Simulator, client: StreamClient
) -> None:
    results = await asyncio.gather(
        *(client.marketdata.history(AAPL, period="1h", bar="1min") for _ in range(12))
    )
    assert all(len(r.bars) == 60 for r in results)
    assert sim.gateway.limits.refused["history"] == 0
    pacing = client.metrics()["pacing"]["limits"]["history"]
    assert pacing["granted"] == 12 and pacing["waited"] >= 7 and pacing["throttled"] == 0


async def test_logged_out_mid_call_raises_not_authenticated(
    sim: Simulator, client: StreamClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contract_routes, "HISTORY_DELAY", 0.5)
    task = asyncio.create_task(client.marketdata.history(AAPL))
    while sim.gateway.limits.in_flight["history"] == 0:  # the request reached the gateway
        await asyncio.sleep(0.005)
    sim.gateway.logout()
    with pytest.raises(NotAuthenticated) as info:
        await task
    assert info.value.endpoint == "GET /iserver/marketdata/history"


# -- portfolio --------------------------------------------------------------------------------


async def test_accounts_positions_paging_summary_ledger(
    sim: Simulator, client: StreamClient
) -> None:
    accounts = await client.portfolio.accounts()
    assert [a.account_id for a in accounts] == ["DU1234567"]
    assert accounts[0].currency == "USD" and not accounts[0].is_advisor
    assert [a.account_id for a in await client.portfolio.subaccounts()] == ["DU1234567"]
    assert (await client.portfolio.brokerage_accounts())["selectedAccount"] == "DU1234567"
    options = [c for c, s in sim.gateway.universe.specs.items() if s.sec_type == "OPT"]
    assert len(options) >= 250
    for n, conid in enumerate(options[:250]):
        set_position(sim.gateway, conid, n + 1, 1.5)
    positions = await client.portfolio.positions()
    held = {c for c, p in sim.gateway.book.positions.items() if p.quantity}
    assert len(positions) == len(held) >= 250  # three pages
    assert {p.conid for p in positions} == held
    opt = next(p for p in positions if p.conid == options[10])
    assert opt.quantity == 11 and opt.sec_type == "OPT" and opt.right in ("C", "P")
    assert opt.multiplier == 100 and opt.avg_price == 1.5 and opt.expiry
    summary = await client.portfolio.summary()
    assert (
        summary["netliquidation"].amount is not None and summary["netliquidation"].currency == "USD"
    )
    assert summary["accountready"].value == "true"
    ledger = await client.portfolio.ledger()
    assert set(ledger) == {"USD", "BASE"} and ledger["USD"].cash_balance is not None
    with pytest.raises(HTTPStatusError) as info:
        await client.portfolio.positions("U0000000")
    assert info.value.status == 400 and "U0000000 is not accessible" in info.value.error


@pytest.mark.parametrize("total", [45, 60, 61])
async def test_positions_paging_of_a_gateway_with_pages_of_30(
    simulator: SimulatorFactory, total: int
) -> None:
    # IBKR's older swagger documents pages of 30 positions (the current docs 100): a full page
    # of 30 is not the last one, whatever size the client expects.
    sim = await simulator(update_interval=0.05, positions_page_size=30)
    options = [c for c, s in sim.gateway.universe.specs.items() if s.sec_type == "OPT"]
    already = sum(1 for p in sim.gateway.book.positions.values() if p.quantity)
    for n, conid in enumerate(options[: total - already]):
        set_position(sim.gateway, conid, n + 1, 1.5)
    expected = {c for c, p in sim.gateway.book.positions.items() if p.quantity}
    assert len(expected) == total
    c = make_client(sim)
    await c.start()
    try:
        positions = await c.portfolio.positions()
    finally:
        await c.stop()
    assert {p.conid for p in positions} == expected
    assert len(positions) == len(expected)


async def test_live_positions_follow_fills_and_reconnects(
    sim: Simulator, client: StreamClient
) -> None:
    changes: list[PositionChange] = []
    client.positions.on_change(changes.append)
    await client.positions.start()
    assert client.positions.tracking and client.positions.accounts == ("DU1234567",)
    before = client.positions.quantity(AAPL)
    await sim.place_order(AAPL, "BUY", 7, "MKT")
    await client.positions.wait_for(lambda p: p.quantity(AAPL) == before + 7, timeout=10)
    assert any(c.conid == AAPL and c.quantity_delta == 7 for c in changes)
    # a change made while disconnected shows after the reconnect
    ibm = 8314
    set_position(sim.gateway, ibm, 42, 240.0)
    await sim.drop_connections(abrupt=True)
    await client.positions.wait_for(lambda p: p.quantity(ibm) == 42, timeout=15)
    assert client.positions.get(ibm) is not None and ibm in client.positions
    assert client.positions.refreshes >= 2 and client.positions.errors == 0
    assert "tr" in client.metrics()["subscriptions"]
    client.positions.stop()
    assert not client.positions.tracking
    assert "tr" not in client.metrics()["subscriptions"] or client.metrics()["subscriptions"][
        "tr"
    ] in ("UNSUBSCRIBING", "REMOVED")


async def test_lookups_are_cached_for_the_ttl(client: StreamClient) -> None:
    def searches() -> int:
        return int(client.metrics()["pacing"]["limits"]["global"]["granted"])

    await client.contracts.search("MSFT")
    before = searches()
    await client.contracts.search("MSFT")
    assert searches() == before  # cached
    client.contracts.cache_ttl = 0.0
    await client.contracts.search("MSFT")
    assert searches() == before + 1  # expired: asked again
    client.contracts.cache_ttl = 3600.0
    client.contracts.clear_cache()
    await client.contracts.search("MSFT")
    assert searches() == before + 2


async def test_pacing_metrics_are_exposed(client: StreamClient) -> None:
    await client.contracts.details(AAPL)
    metrics: dict[str, Any] = client.metrics()["pacing"]
    assert metrics["limits"]["global"]["granted"] >= 1
    assert set(metrics) == {"queued", "queued_max", "wait_s_total", "limits"}


async def test_bonds(client: StreamClient) -> None:
    bonds = await client.contracts.bonds("US-T")
    assert [b.description for b in bonds] == ["T 4 1/4 11/15/34", "T 4 5/8 02/15/55"]
    assert all(b.sec_types == ("BOND",) for b in bonds)
    resolved = await client.contracts.resolve("US-T BOND")
    assert resolved.conid == bonds[0].conid and resolved.sec_type == "BOND"
    assert (await client.contracts.details(resolved.conid)).sec_type == "BOND"
    assert (await client.contracts.resolve("IBM")).sec_type == "STK"  # bonds only when asked


async def test_no_raw_aiohttp_error_reaches_the_user() -> None:
    # nothing listening
    down = StreamClient("http://127.0.0.1:9")
    try:
        with pytest.raises(GatewayUnreachable) as info:
            await down.contracts.details(AAPL)
        assert "GET /iserver/contract/265598/info" in str(info.value)
    finally:
        await down.rest.close()

    # a server that accepts and hangs up mid-request
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    rude = StreamClient(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(GatewayUnreachable):
            await rude.portfolio.positions("DU1234567")
    finally:
        await rude.rest.close()
        server.close()
        await server.wait_closed()


async def test_account_ids_are_masked_in_error_messages(client: StreamClient) -> None:
    with pytest.raises(HTTPStatusError) as info:
        await client.portfolio.positions("U7654321")
    assert "U7654321" not in str(info.value) and "U7****21" in str(info.value)
    assert info.value.endpoint == "GET /portfolio/U7654321/positions/0"


async def test_portfolio_reprimes_accounts_after_a_new_session(
    sim: Simulator, client: StreamClient
) -> None:
    assert await client.portfolio.positions()  # reads /portfolio/accounts first
    # a raw per-account call before /portfolio/accounts in a new session is refused
    sim.gateway.logout()
    sim.gateway.login()  # new session id: IBKR wants /portfolio/accounts read again
    await client.positions.start()  # the cached accounts list is stale for this session
    assert len(client.positions) > 0
    accounts_reads = client.metrics()["pacing"]["limits"]["portfolio_accounts"]["granted"]
    assert accounts_reads == 2  # the refusal was answered by reading the accounts again
