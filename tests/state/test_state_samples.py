"""The protocol.md sample frames, decoded by the real decoder, merged into live state."""

from __future__ import annotations

import json

from ibstream.protocol import decoding
from ibstream.protocol.events import Event, MarketData, Trade
from ibstream.state import (
    AccountState,
    MarketHistories,
    OrderBook,
    OrderStatus,
    PriceLadders,
    Tickers,
    TradeBook,
    TradeChange,
)


def events(*frames: str) -> list[Event]:
    out: list[Event] = []
    for frame in frames:
        out.extend(decoding.decode(frame))
    return out


SMD = (  # protocol.md §4.1 (S9 smd-single.jsonl)
    '{"6509":"DPB","conidEx":"265598","topic":"smd+265598","conid":265598,"_updated":1777552110061,"6119":"q1","83":0.56,"server_id":"q1","84":"271.55","31":"271.67","86":"271.66"}',
    '{"server_id":"q1","conidEx":"265598","conid":265598,"_updated":1777552110061,"6119":"q1","84":"271.55","6509":"DPB","31":"271.67","86":"271.66","83":0.56,"topic":"smd+265598"}',
    '{"server_id":"q1","conidEx":"265598","conid":265598,"_updated":1777552129156,"6119":"q1","84":"271.70","86":"271.80","topic":"smd+265598"}',
    '{"server_id":"q1","conidEx":"265598","conid":265598,"_updated":1777552119103,"6119":"q1","84":"271.68","31":"271.68","86":"271.70","6508":"&serviceID1=122&serviceID2=123&serviceID3=203&serviceID4=775&serviceID5=204&serviceID6=206&serviceID7=108&serviceID8=109","topic":"smd+265598"}',
    '{"topic":"smd+265598"}',
)

FULL_ORDER = '{"acct":"U25235077","conidex":"265598","conid":265598,"account":"U25235077","orderId":912091175,"cashCcy":"USD","sizeAndFills":"0/1","orderDesc":"Buy 1 AAPL Limit 1.00, Day","description1":"AAPL","ticker":"AAPL","secType":"STK","listingExchange":"NASDAQ.NMS","remainingQuantity":1.0,"filledQuantity":0.0,"totalSize":1.0,"companyName":"APPLE INC","status":"Inactive","order_ccp_status":"Pending Submit","outsideRTH":false,"origOrderType":"LIMIT","supportsTaxOpt":"1","lastExecutionTime":"260430123533","orderType":"Limit","bgColor":"#000000","fgColor":"#AFAFAF","isEventTrading":"0","price":"1.00","timeInForce":"CLOSE","lastExecutionTime_r":1777552533000,"side":"BUY"}'  # noqa: E501
_PENDING_CANCEL = {
    **json.loads(FULL_ORDER),
    "status": "PendingCancel",
    "order_ccp_status": "Submitted",
    "fgColor": "#FF64FF",
}
SOR = (  # protocol.md §4.4 (S9 sor.jsonl), the "…full order again…" frame filled in
    '{"topic":"sor","args":[' + FULL_ORDER + "]}",
    '{"topic":"sor","args":[{"acct":"U25235077","conidex":"265598","conid":265598,"orderId":912091175,"isEventTrading":"0"}]}',
    '{"topic":"sor","args":[{"acct":"U25235077","orderId":912091175,"status":"PendingSubmit","fgColor":"#3399CC"}]}',
    '{"topic":"sor","args":[{"acct":"U25235077","orderId":912091175,"status":"PreSubmitted","bgColor":"#FFFFFF","fgColor":"#997EE5"}]}',
    '{"topic":"sor","args":[{"acct":"U25235077","orderId":912091175,"status":"Submitted","order_ccp_status":"Submitted","bgColor":"#000000","fgColor":"#00F000"}]}',
    json.dumps({"topic": "sor", "args": [_PENDING_CANCEL]}),
    '{"topic":"sor","args":[{"acct":"U25235077","orderId":912091175,"status":"Cancelled","order_ccp_status":"Cancelled","bgColor":"#FFFFFF","fgColor":"#AA0000"}]}',
)
PARTIAL_FILLS = """{"topic":"sor","args":[
 {"acct":"DU1234","orderId":352055828,"sizeAndFills":"100/622","remainingQuantity":622.0,"filledQuantity":100.0,"avgPrice":"382.45"},
 {"acct":"DU1234","orderId":352055828,"sizeAndFills":"700/22","remainingQuantity":22.0,"filledQuantity":700.0},
 {"acct":"DU1234","orderId":352055828,"sizeAndFills":"722","orderDesc":"Sold 722 Limit 382.40 GTC","remainingQuantity":0.0,"filledQuantity":722.0,"status":"Filled","timeInForce":"GTC","price":382.4,"bgColor":"#FFFFFF","fgColor":"#000000"}]}"""  # noqa: E501

TRADE = json.loads(
    '{"execution_id":"0001390e.69f21453.01.01","symbol":"LRCX","supports_tax_opt":"1","side":"B","order_description":"Bot 2 @ 248.60 on NASDAQ","trade_time":"20260429-14:29:34","trade_time_r":1777472974000,"size":2.0,"price":"248.60","exchange":"NASDAQ","commission":"1.0","net_amount":497.2,"account":"U25235077","accountCode":"U25235077","account_allocation_name":"U25235077","company_name":"LAM RESEARCH CORP","contract_description_1":"LRCX","sec_type":"STK","listing_exchange":"NASDAQ.NMS","conid":732440574,"conidEx":"732440574","position":"2","clearing_id":"IB","clearing_name":"IB","liquidation_trade":"0","is_event_trading":"0","order_id":96335105}'  # noqa: E501
)
_TRADE_NO_COMMISSION = {k: v for k, v in TRADE.items() if k != "commission"}


def test_smd_samples_make_one_ticker() -> None:
    tickers = Tickers()
    changed = tickers.apply_all(events(*SMD))
    ticker = tickers[265598]
    assert changed == [ticker]
    assert (ticker.last, ticker.bid, ticker.ask) == (271.68, 271.68, 271.70)
    assert ticker.change_percent == 0.56
    assert ticker.updated_ms == 1777552129156 and ticker.stale_updates == 1
    assert ticker.update_count == 5
    availability = ticker.availability
    assert availability is not None and availability.code == "DPB"
    assert repr(ticker) == "<Ticker 265598 last=271.68 bid=271.68 ask=271.7 updated=1777552129156>"
    # The duplicated first frame alone changes nothing.
    fresh = Tickers()
    first, again = events(SMD[0], SMD[1])
    assert isinstance(again, MarketData)
    assert fresh.apply(first) is not None
    assert fresh[265598].apply(again) is False


def test_sor_recorded_life_cycle() -> None:
    book = OrderBook()
    book.apply_all(events(*SOR))
    order = book[912091175]
    assert order.status is OrderStatus.CANCELLED and order.terminal
    assert (order.symbol, order.side, order.price, order.total_size) == ("AAPL", "BUY", 1.0, 1.0)
    assert order.fields["order_ccp_status"] == "Cancelled"
    assert not {"bgColor", "fgColor"} & set(order.fields)
    assert book.open_orders() == []


def test_sor_partial_fills() -> None:
    book = OrderBook()
    book.apply_all(events(PARTIAL_FILLS))
    order = book[352055828]
    assert order.status is OrderStatus.FILLED
    assert (order.filled, order.remaining, order.avg_price, order.price) == (
        722.0,
        0.0,
        382.45,
        382.4,
    )
    assert order.description == "Sold 722 Limit 382.40 GTC"
    assert not {"bgColor", "fgColor"} & set(order.fields)


def test_rest_seed_then_sor() -> None:
    book = OrderBook()
    book.load_rest({"orders": [json.loads(FULL_ORDER)], "snapshot": True})
    seeded = book[912091175]
    book.apply_all(events(SOR[0]))
    assert book[912091175] is seeded  # same record via REST and sor: nothing changed
    book.apply_all(events(*SOR[1:]))
    assert book[912091175].status is OrderStatus.CANCELLED


def test_str_history_duplicates_with_commission() -> None:
    book = TradeBook()
    frames = [
        '{"topic":"str","args":[]}',
        json.dumps({"topic": "str", "args": [_TRADE_NO_COMMISSION]}),
        json.dumps({"topic": "str", "args": [TRADE]}),
        json.dumps({"topic": "str", "args": [TRADE]}),
    ]
    results = [book.apply(e) for e in events(*frames) if isinstance(e, Trade)]
    assert results == [TradeChange.NEW, TradeChange.UPDATED, TradeChange.DUPLICATE]
    stored = book["0001390e.69f21453.01.01"]
    assert stored.commission == 1.0 and stored.price == 248.6 and stored.order_id == 96335105
    assert book.for_conid(732440574) == [stored]


def test_account_samples() -> None:
    accounts = AccountState()
    accounts.apply_all(
        events(
            '{"topic":"spl","args":{"DU1234.Core":{"rowType":1,"dpl":-57520.0,"upl":972100.0}}}',
            '{"topic":"ssd+DU1234567","result":[{"key":"AccountCode","value":"DU1234567","timestamp":1700248325},{"key":"NetLiquidation","currency":"USD","monetaryValue":50000.0,"severity":0,"timestamp":1700248325}]}',
            '{"result":[{"acctCode":"DU1234567","cashbalance":2.0201311791131118E8,"key":"LedgerListBASE","exchangeRate":1.0,"netLiquidationValue":2.0280151634374067E8,"unrealizedPnl":249013.5397937378,"secondKey":"BASE","settledCash":2.0201311791131118E8,"severity":0,"stockMarketValue":391710.74028015137,"timestamp":1700248325},{"key":"LedgerListUSD","timestamp":1700248325},{"key":"LedgerListEUR","timestamp":1700248325}],"topic":"sld+DU1234567"}',
        )
    )
    pnl = accounts.pnl_of("DU1234")
    assert pnl is not None and (pnl.daily_pnl, pnl.unrealized_pnl) == (-57520.0, 972100.0)
    assert accounts.summary_value("DU1234567", "NetLiquidation") == 50000.0
    assert accounts.summary("DU1234567")["NetLiquidation"].currency == "USD"
    ledger = accounts.ledger("DU1234567")
    assert list(ledger) == ["BASE"]  # blank USD/EUR entries: nothing known yet
    assert ledger["BASE"].cash_balance == 2.0201311791131118e8
    assert ledger["BASE"].net_liquidation == 2.0280151634374067e8


def test_ladder_and_history_samples() -> None:
    ladders = PriceLadders()
    ladders.apply_all(
        events(
            '{"topic":"sbd+ACC789+11111","data":[{"row":0,"focus":0,"price":"100.00","bid":"12"}]}'
        )
    )
    ladder = ladders[("ACC789", 11111)]
    best = ladder.best_bid
    assert best is not None and best.price == 100.0 and best.bid_size == 12.0
    histories = MarketHistories()
    frame = {
        "serverId": "341115",
        "symbol": "AAPL",
        "text": "AAPLE INC",
        "priceFactor": 100,
        "timePeriod": "7200s",
        "barLength": 300,
        "points": 2,
        "topic": "smh+265598",
        "data": [
            {
                "o": 171.05,
                "c": 189.37,
                "h": 192.93,
                "l": 170.12,
                "v": 6942998.04,
                "t": 1698796800000,
            },
            {"o": 189.0, "c": 190.0, "h": 191.0, "l": 188.0, "v": 10.0, "t": 1698797100000},
        ],
    }
    histories.apply_all(events(json.dumps(frame)))
    frame["data"] = [
        {"o": 189.0, "c": 190.5, "h": 191.0, "l": 188.0, "v": 12.0, "t": 1698797100000}
    ]
    histories.apply_all(events(json.dumps(frame)))
    bars = histories[265598]
    assert bars.server_id == "341115"
    assert [b.close for b in bars.bars] == [189.37, 190.5]
