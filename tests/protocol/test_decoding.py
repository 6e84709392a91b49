"""The decoder: every frame sample of protocol.md, malformed input, unknown topics."""

# ruff: noqa: E501  (the frame samples are copied verbatim from protocol.md)

from __future__ import annotations

from typing import Any
from unittest.mock import ANY

import orjson
import pytest

from ibstream.protocol import decoding
from ibstream.protocol.decoding import decode
from ibstream.protocol.events import (
    AccountInfo,
    AccountLedger,
    AccountSummary,
    AuthStatus,
    Bar,
    Bulletin,
    ErrorMessage,
    Event,
    ExerciseAck,
    Heartbeat,
    HistoryUnsubscribed,
    LadderRow,
    LedgerUnsubscribed,
    Malformed,
    MarketData,
    MarketHistory,
    Notification,
    OrderUpdate,
    Pnl,
    PriceLadder,
    SummaryUnsubscribed,
    SummaryValue,
    SystemLogin,
    TicReply,
    Trade,
    TradesOpened,
    Unknown,
    WaitingForSession,
)
from ibstream.protocol.fields import parse_availability
from ibstream.protocol.specs import StreamKey, Topic

SAMPLES = {
    "system_login": '{"topic":"system","success":"cborlm154","isFT":false,"isPaper":false}',
    "act": '{"topic":"act","args":{"accounts":["U25235077"],"acctProps":{"U25235077":{"hasChildAccounts":false,"supportsCashQty":true,"liteUnderPro":false,"noFXConv":false,"isProp":false,"supportsFractions":true,"allowCustomerTime":false,"autoFx":false}},"aliases":{"U25235077":"U25235077"},"allowFeatures":{"showGFIS":true,"allowEventContract":true,"snapshotRefreshTimeout":30,"allowedAssetTypes":"STK,CFD,OPT,FOP,WAR,FUT,BAG,PDC,CASH,IND,BOND,BILL,FUND,SLB,News,CMDTY,IOPT,ICU,ICS,PHYSS,CRYPTO","…":"(≈25 more flags)"},"chartPeriods":{"STK":["*"],"OPT":["2h","1d","2d","1w","1m"],"…":"…"},"groups":[],"profiles":[],"selectedAccount":"U25235077","serverInfo":{"serverName":"JifZ11074","serverVersion":"Build 10.45.1a, Apr 22, 2026 1:39:05 PM"},"sessionId":"69f03732.00000af0","isFT":false,"isPaper":false}}',
    "sts_full": '{"topic":"sts","args":{"connected":true,"authenticated":true,"established":true,"competing":false,"message":"","fail":"","serverName":"JifZ11074","serverVersion":"Build 10.45.1a, Apr 22, 2026 1:39:05 PM","username":"cborlm154"}}',
    "heartbeat": '{"topic":"system","hb":1777415611502}',
    "tic": '{"topic":"tic","alive":true,"id":"e5af95a05fe55041a403680abb434efa","lastAccessed":1777415639969}',
    "smd_first": '{"6509":"DPB","conidEx":"265598","topic":"smd+265598","conid":265598,"_updated":1777552110061,"6119":"q1","83":0.56,"server_id":"q1","84":"271.55","31":"271.67","86":"271.66"}',
    "smd_first_again": '{"server_id":"q1","conidEx":"265598","conid":265598,"_updated":1777552110061,"6119":"q1","84":"271.55","6509":"DPB","31":"271.67","86":"271.66","83":0.56,"topic":"smd+265598"}',
    "smd_delta": '{"server_id":"q1","conidEx":"265598","conid":265598,"_updated":1777552129156,"6119":"q1","84":"271.70","86":"271.80","topic":"smd+265598"}',
    "smd_delta_6508": '{"server_id":"q1","conidEx":"265598","conid":265598,"_updated":1777552119103,"6119":"q1","84":"271.68","31":"271.68","86":"271.70","6508":"&serviceID1=122&serviceID2=123&serviceID3=203&serviceID4=775&serviceID5=204&serviceID6=206&serviceID7=108&serviceID8=109","topic":"smd+265598"}',
    "smh_doc": '{"serverId":"341115","symbol":"AAPL","text":"AAPLE INC","priceFactor":100,"startTime":"20210317-18:00:00",\n "high":"12586/14469/65","low":"12283/34103/0","timePeriod":"7200s","barLength":300,"mdAvailability":"S",\n "mktDataDelay":0,"outsideRth":false,"volumeFactor":1,"priceDisplayRule":1,"priceDisplayValue":"2",\n "negativeCapable":false,"messageVersion":2,"data":[…],"points":23,"topic":"smh+265598"}',
    "sor_full": '{"topic":"sor","args":[{"acct":"U25235077","conidex":"265598","conid":265598,"account":"U25235077","orderId":912091175,"cashCcy":"USD","sizeAndFills":"0/1","orderDesc":"Buy 1 AAPL Limit 1.00, Day","description1":"AAPL","ticker":"AAPL","secType":"STK","listingExchange":"NASDAQ.NMS","remainingQuantity":1.0,"filledQuantity":0.0,"totalSize":1.0,"companyName":"APPLE INC","status":"Inactive","order_ccp_status":"Pending Submit","outsideRTH":false,"origOrderType":"LIMIT","supportsTaxOpt":"1","lastExecutionTime":"260430123533","orderType":"Limit","bgColor":"#000000","fgColor":"#AFAFAF","isEventTrading":"0","price":"1.00","timeInForce":"CLOSE","lastExecutionTime_r":1777552533000,"side":"BUY"}]}',
    "sor_marker": '{"topic":"sor","args":[{"acct":"U25235077","conidex":"265598","conid":265598,"orderId":912091175,"isEventTrading":"0"}]}',
    "sor_pending_submit": '{"topic":"sor","args":[{"acct":"U25235077","orderId":912091175,"status":"PendingSubmit","fgColor":"#3399CC"}]}',
    "sor_presubmitted": '{"topic":"sor","args":[{"acct":"U25235077","orderId":912091175,"status":"PreSubmitted","bgColor":"#FFFFFF","fgColor":"#997EE5"}]}',
    "sor_submitted": '{"topic":"sor","args":[{"acct":"U25235077","orderId":912091175,"status":"Submitted","order_ccp_status":"Submitted","bgColor":"#000000","fgColor":"#00F000"}]}',
    "sor_elided": '{"topic":"sor","args":[{ …full order again…, "status":"PendingCancel","order_ccp_status":"Submitted","fgColor":"#FF64FF", … }]}',
    "sor_cancelled": '{"topic":"sor","args":[{"acct":"U25235077","orderId":912091175,"status":"Cancelled","order_ccp_status":"Cancelled","bgColor":"#FFFFFF","fgColor":"#AA0000"}]}',
    "sor_partial_fills": '{"topic":"sor","args":[\n {"acct":"DU1234","orderId":352055828,"sizeAndFills":"100/622","remainingQuantity":622.0,"filledQuantity":100.0,"avgPrice":"382.45"},\n {"acct":"DU1234","orderId":352055828,"sizeAndFills":"700/22","remainingQuantity":22.0,"filledQuantity":700.0},\n {"acct":"DU1234","orderId":352055828,"sizeAndFills":"722","orderDesc":"Sold 722 Limit 382.40 GTC","remainingQuantity":0.0,"filledQuantity":722.0,"status":"Filled","timeInForce":"GTC","price":382.4,"bgColor":"#FFFFFF","fgColor":"#000000"}]}',
    "str_trade": '{"topic":"str","args":[{"execution_id":"0001390e.69f21453.01.01","symbol":"LRCX","supports_tax_opt":"1","side":"B","order_description":"Bot 2 @ 248.60 on NASDAQ","trade_time":"20260429-14:29:34","trade_time_r":1777472974000,"size":2.0,"price":"248.60","exchange":"NASDAQ","commission":"1.0","net_amount":497.2,"account":"U25235077","accountCode":"U25235077","account_allocation_name":"U25235077","company_name":"LAM RESEARCH CORP","contract_description_1":"LRCX","sec_type":"STK","listing_exchange":"NASDAQ.NMS","conid":732440574,"conidEx":"732440574","position":"2","clearing_id":"IB","clearing_name":"IB","liquidation_trade":"0","is_event_trading":"0","order_id":96335105}]}',
    "spl": '{"topic":"spl","args":{"DU1234.Core":{"rowType":1,"dpl":-57520.0,"upl":972100.0}}}',
    "ssd": '{"topic":"ssd+DU1234567","result":[{"key":"AccountCode","value":"DU1234567","timestamp":1700248325},{"key":"NetLiquidation","currency":"USD","monetaryValue":50000.0,"severity":0,"timestamp":1700248325}]}',
    "sld": '{"result":[{"acctCode":"DU1234567","cashbalance":2.0201311791131118E8,"key":"LedgerListBASE","exchangeRate":1.0,"netLiquidationValue":2.0280151634374067E8,"unrealizedPnl":249013.5397937378,"secondKey":"BASE","settledCash":2.0201311791131118E8,"severity":0,"stockMarketValue":391710.74028015137,"timestamp":1700248325},{"key":"LedgerListUSD","timestamp":1700248325},{"key":"LedgerListEUR","timestamp":1700248325}],"topic":"sld+DU1234567"}',
    "ntf_object": '{"topic":"ntf","args":{"id":"INDICATIVE_DATA_SUGGESTION","text":"CFD quotes reference the trade, volume and bid/ask market data on the underlying STK","title":"Warning","url":"https://interactivebrokers.com/"}}',
}

MD = StreamKey(Topic.MARKET_DATA, "265598")
OR = StreamKey(Topic.ORDERS, "")
TR = StreamKey(Topic.TRADES, "")
DPB = parse_availability("DPB")
SERVICE = "&serviceID1=122&serviceID2=123&serviceID3=203&serviceID4=775&serviceID5=204&serviceID6=206&serviceID7=108&serviceID8=109"
SERVER = "Build 10.45.1a, Apr 22, 2026 1:39:05 PM"


def _md(updated: int, values: dict[int, Any], **kw: Any) -> MarketData:
    return MarketData(
        key=MD, conid=265598, server_id="q1", updated_ms=updated, values=values, raw=ANY, **kw
    )


def _order(order_id: int, status: str | None, changes: dict[str, Any], **kw: Any) -> OrderUpdate:
    defaults: dict[str, Any] = {"account": "U25235077", "conid": None}
    defaults.update(kw)
    return OrderUpdate(
        key=OR, order_id=order_id, status=status, changes=changes, raw=ANY, **defaults
    )


FIRST_VALUES = {6509: DPB, 83: 0.56, 84: 271.55, 31: 271.67, 86: 271.66}

# (name, frame, expected events) -- every frame sample of protocol.md
CASES: list[tuple[str, str, list[Event]]] = [
    (
        "system login (§1.4)",
        SAMPLES["system_login"],
        [SystemLogin(username="cborlm154", is_ft=False, is_paper=False, raw=ANY)],
    ),
    (
        "act (§1.4)",
        SAMPLES["act"],
        [
            AccountInfo(
                accounts=("U25235077",),
                selected_account="U25235077",
                session_id="69f03732.00000af0",
                server_name="JifZ11074",
                server_version=SERVER,
                is_paper=False,
                raw=ANY,
            )
        ],
    ),
    (
        "sts full (§1.4)",
        SAMPLES["sts_full"],
        [
            AuthStatus(
                authenticated=True,
                competing=False,
                connected=True,
                established=True,
                message="",
                fail="",
                username="cborlm154",
                server_name="JifZ11074",
                server_version=SERVER,
                raw=ANY,
            )
        ],
    ),
    ("heartbeat (§1.4, §5.1)", SAMPLES["heartbeat"], [Heartbeat(hb_ms=1777415611502)]),
    (
        "old opening sts (§1.4)",
        '{"topic":"sts","args":{"authenticated":true}}',
        [AuthStatus(authenticated=True, raw={"authenticated": True})],
    ),
    (
        "old system login (§1.4)",
        '{"topic":"system","success":"username"}',
        [SystemLogin(username="username", raw=ANY)],
    ),
    (
        "one-key sts authenticated (§1.4)",
        '{"topic":"sts","args":{"authenticated":false}}',
        [AuthStatus(authenticated=False, raw=ANY)],
    ),
    (
        "one-key sts competing (§1.4, §5.3)",
        '{"topic":"sts","args":{"competing":false}}',
        [AuthStatus(competing=False, raw=ANY)],
    ),
    (
        "one-key sts message (§1.4)",
        '{"topic":"sts","args":{"message":""}}',
        [AuthStatus(message="", raw=ANY)],
    ),
    ("sts without args (§5.3)", '{"topic":"sts"}', [AuthStatus(raw={})]),
    (
        "sts competing login (§5.3)",
        '{"topic":"sts","args":{"authenticated":false,"competing":true}}',
        [AuthStatus(authenticated=False, competing=True, raw=ANY)],
    ),
    (
        "tic reply (§1.7, §5.2)",
        SAMPLES["tic"],
        [
            TicReply(
                alive=True,
                session_id="e5af95a05fe55041a403680abb434efa",
                last_accessed_ms=1777415639969,
            )
        ],
    ),
    ("smd first frame (§4.1)", SAMPLES["smd_first"], [_md(1777552110061, FIRST_VALUES)]),
    (
        "smd first frame repeated (§4.1)",
        SAMPLES["smd_first_again"],
        [_md(1777552110061, FIRST_VALUES)],
    ),
    (
        "smd delta (§4.1)",
        SAMPLES["smd_delta"],
        [_md(1777552129156, {84: 271.70, 86: 271.80})],
    ),
    (
        "smd delta with 6508 (§4.1)",
        SAMPLES["smd_delta_6508"],
        [_md(1777552119103, {84: 271.68, 31: 271.68, 86: 271.70, 6508: SERVICE})],
    ),
    (
        "smd empty update (§4.1)",
        '{"topic":"smd+265598"}',
        [MarketData(key=MD, conid=265598, server_id=None, updated_ms=None, values={}, raw=ANY)],
    ),
    (
        "smh doc example, data elided with an ellipsis (§4.2): not JSON",
        SAMPLES["smh_doc"],
        [Malformed(raw=SAMPLES["smh_doc"], reason=ANY)],
    ),
    (
        "smh with the REST history bar sample (§4.2)",
        SAMPLES["smh_doc"].replace(
            "[…]",
            '[{"c":189.37,"h":192.93,"l":170.12,"o":171.05,"t":1698796800000,"v":6942998.04}]',
        ),
        [
            MarketHistory(
                key=StreamKey(Topic.MARKET_HISTORY, "265598"),
                conid=265598,
                server_id="341115",
                symbol="AAPL",
                text="AAPLE INC",
                bars=(
                    Bar(
                        time_ms=1698796800000,
                        open=171.05,
                        high=192.93,
                        low=170.12,
                        close=189.37,
                        volume=6942998.04,
                    ),
                ),
                price_factor=100.0,
                start_time="20210317-18:00:00",
                bar_length_s=300,
                points=23,
                raw=ANY,
            )
        ],
    ),
    (
        "sbd price ladder (§4.3)",
        '{"topic":"sbd+ACC789+11111","data":[{"row":0,"focus":0,"price":"100.00","bid":"12"}]}',
        [
            PriceLadder(
                key=StreamKey(Topic.PRICE_LADDER, "ACC789"),
                account="ACC789",
                conid=11111,
                exchange=None,
                rows=(LadderRow(row=0, focus=False, price=100.0, bid_size=12.0, ask_size=None),),
                raw=ANY,
            )
        ],
    ),
    (
        "sbd with exchange and focus row (§4.3)",
        '{"topic":"sbd+DU12345+265598+ARCA","data":[{"row":3,"focus":1,"price":"271.10","ask":"4"}]}',
        [
            PriceLadder(
                key=StreamKey(Topic.PRICE_LADDER, "DU12345"),
                account="DU12345",
                conid=265598,
                exchange="ARCA",
                rows=(LadderRow(row=3, focus=True, price=271.1, bid_size=None, ask_size=4.0),),
                raw=ANY,
            )
        ],
    ),
    (
        "sor full order (§4.4)",
        SAMPLES["sor_full"],
        [
            _order(
                912091175,
                "Inactive",
                ANY,
                conid=265598,
            )
        ],
    ),
    (
        "sor marker frame (§4.4)",
        SAMPLES["sor_marker"],
        [
            _order(
                912091175,
                None,
                {
                    "acct": "U25235077",
                    "conidex": "265598",
                    "conid": 265598,
                    "orderId": 912091175,
                    "isEventTrading": "0",
                },
                conid=265598,
            )
        ],
    ),
    (
        "sor PendingSubmit (§4.4)",
        SAMPLES["sor_pending_submit"],
        [
            _order(
                912091175,
                "PendingSubmit",
                {"acct": "U25235077", "orderId": 912091175, "status": "PendingSubmit"},
            )
        ],
    ),
    (
        "sor PreSubmitted (§4.4)",
        SAMPLES["sor_presubmitted"],
        [
            _order(
                912091175,
                "PreSubmitted",
                {"acct": "U25235077", "orderId": 912091175, "status": "PreSubmitted"},
            )
        ],
    ),
    (
        "sor Submitted (§4.4)",
        SAMPLES["sor_submitted"],
        [
            _order(
                912091175,
                "Submitted",
                {
                    "acct": "U25235077",
                    "orderId": 912091175,
                    "status": "Submitted",
                    "order_ccp_status": "Submitted",
                },
            )
        ],
    ),
    (
        "sor elided sample (§4.4): not JSON",
        SAMPLES["sor_elided"],
        [Malformed(raw=SAMPLES["sor_elided"], reason=ANY)],
    ),
    (
        "sor Cancelled (§4.4)",
        SAMPLES["sor_cancelled"],
        [
            _order(
                912091175,
                "Cancelled",
                {
                    "acct": "U25235077",
                    "orderId": 912091175,
                    "status": "Cancelled",
                    "order_ccp_status": "Cancelled",
                },
            )
        ],
    ),
    (
        "sor partial fills, three entries (§4.4)",
        SAMPLES["sor_partial_fills"],
        [
            _order(
                352055828,
                None,
                {
                    "acct": "DU1234",
                    "orderId": 352055828,
                    "sizeAndFills": "100/622",
                    "remainingQuantity": 622.0,
                    "filledQuantity": 100.0,
                    "avgPrice": 382.45,
                },
                account="DU1234",
            ),
            _order(
                352055828,
                None,
                {
                    "acct": "DU1234",
                    "orderId": 352055828,
                    "sizeAndFills": "700/22",
                    "remainingQuantity": 22.0,
                    "filledQuantity": 700.0,
                },
                account="DU1234",
            ),
            _order(
                352055828,
                "Filled",
                {
                    "acct": "DU1234",
                    "orderId": 352055828,
                    "sizeAndFills": "722",
                    "orderDesc": "Sold 722 Limit 382.40 GTC",
                    "remainingQuantity": 0.0,
                    "filledQuantity": 722.0,
                    "status": "Filled",
                    "timeInForce": "GTC",
                    "price": 382.4,
                },
                account="DU1234",
            ),
        ],
    ),
    ("str opener (§4.5)", '{"topic":"str","args":[]}', [TradesOpened(key=TR)]),
    (
        "str execution (§4.5)",
        SAMPLES["str_trade"],
        [
            Trade(
                key=TR,
                execution_id="0001390e.69f21453.01.01",
                account="U25235077",
                conid=732440574,
                symbol="LRCX",
                side="B",
                size=2.0,
                price=248.6,
                commission=1.0,
                net_amount=497.2,
                trade_time_ms=1777472974000,
                order_id=96335105,
                exchange="NASDAQ",
                raw=ANY,
            )
        ],
    ),
    (
        "spl (§4.6)",
        SAMPLES["spl"],
        [
            Pnl(
                key=StreamKey(Topic.PNL, ""),
                account="DU1234",
                row="DU1234.Core",
                row_type=1,
                daily_pnl=-57520.0,
                unrealized_pnl=972100.0,
                net_liquidity=None,
                excess_liquidity=None,
                market_value=None,
                raw={"rowType": 1, "dpl": -57520.0, "upl": 972100.0},
            )
        ],
    ),
    (
        "ssd (§4.7)",
        SAMPLES["ssd"],
        [
            AccountSummary(
                key=StreamKey(Topic.ACCOUNT_SUMMARY, "DU1234567"),
                account="DU1234567",
                timestamp=1700248325,
                values={
                    "AccountCode": SummaryValue(value="DU1234567", timestamp=1700248325),
                    "NetLiquidation": SummaryValue(
                        value=50000.0, currency="USD", severity=0, timestamp=1700248325
                    ),
                },
                raw=ANY,
            )
        ],
    ),
    (
        "sld: one event per non-blank entry (§4.7)",
        SAMPLES["sld"],
        [
            AccountLedger(
                key=StreamKey(Topic.ACCOUNT_LEDGER, "DU1234567"),
                account="DU1234567",
                currency="BASE",
                timestamp=1700248325,
                values={
                    "cashbalance": 2.0201311791131118e8,
                    "exchangeRate": 1.0,
                    "netLiquidationValue": 2.0280151634374067e8,
                    "unrealizedPnl": 249013.5397937378,
                    "settledCash": 2.0201311791131118e8,
                    "severity": 0.0,
                    "stockMarketValue": 391710.74028015137,
                },
                raw=ANY,
            )
        ],
    ),
    (
        "option exercise ack (§4.8)",
        '{"topic":"shs+exercise"}',
        [ExerciseAck()],
    ),
    (
        "blt (§5.5)",
        '{"topic":"blt","args":{"id":"<id>","message":"<text>"}}',
        [Bulletin(bulletin_id="<id>", message="<text>", raw=ANY)],
    ),
    (
        "ntf object (§5.6)",
        SAMPLES["ntf_object"],
        [
            Notification(
                notification_id="INDICATIVE_DATA_SUGGESTION",
                text="CFD quotes reference the trade, volume and bid/ask market data on the underlying STK",
                title="Warning",
                url="https://interactivebrokers.com/",
                raw=ANY,
            )
        ],
    ),
    (
        "ntf list, IBind form (§5.6)",
        '{"topic":"ntf","args":[{"id":1,"msg":"notif1"},{"id":2,"msg":"notif2"}]}',
        [
            Notification(notification_id="1", text="notif1", title=None, url=None, raw=ANY),
            Notification(notification_id="2", text="notif2", title=None, url=None, raw=ANY),
        ],
    ),
    (
        "error topic (§5.7)",
        '{"topic":"error","args":{"code":500},"error":"test error"}',
        [ErrorMessage(topic="error", message="test error", code=500, raw=ANY)],
    ),
    (
        "bare error (§5.7)",
        '{"error":"test error"}',
        [ErrorMessage(topic=None, message="test error", code=None, raw=ANY)],
    ),
    (
        "sor with an error key (§3.3, §5.7)",
        '{"topic":"sor","error":"not authenticated"}',
        [ErrorMessage(topic="sor", message="not authenticated", code=None, raw=ANY)],
    ),
    ("waiting for session (§5.8)", '{"message":"waiting for session"}', [WaitingForSession()]),
    (
        "history unsubscribed (§4.2, §5.8)",
        '{"message":"Unsubscribed 341115"}',
        [HistoryUnsubscribed(server_id="341115")],
    ),
    (
        "history unsubscribed, IBind test (§4.2)",
        '{"message":"Unsubscribed srv123"}',
        [HistoryUnsubscribed(server_id="srv123")],
    ),
    (
        "summary unsubscribed (§4.7)",
        '{"result":"unsubscribed from summary"}',
        [SummaryUnsubscribed()],
    ),
    ("ledger unsubscribed (§4.7)", '{"result":"unsubscribed from ledger"}', [LedgerUnsubscribed()]),
    (
        "other topic-less message (§5.8)",
        '{"message":"something else"}',
        [Unknown(topic=None, payload={"message": "something else"})],
    ),
    ("echo reply (§7)", "ech+hb", [Heartbeat(hb_ms=None)]),
    ("echo reply as a topic (§7)", '{"topic":"ech+hb"}', [Heartbeat(hb_ms=None)]),
]


@pytest.mark.parametrize(("frame", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_protocol_samples(frame: str, expected: list[Event]) -> None:
    """Every frame sample of protocol.md decodes to its expected events, as text and bytes."""
    assert decode(frame) == expected
    assert decode(frame.encode()) == expected


def test_raw_keeps_original_strings() -> None:
    """The raw frame stays reachable from data events."""
    (event,) = decode(SAMPLES["smd_first"])
    assert isinstance(event, MarketData)
    assert event.raw == orjson.loads(SAMPLES["smd_first"])
    assert event.raw["31"] == "271.67"


def test_order_changes_drop_colours_and_convert_numbers() -> None:
    """bgColor/fgColor are removed and numeric strings of prices become floats."""
    (event,) = decode(SAMPLES["sor_full"])
    assert isinstance(event, OrderUpdate)
    assert "bgColor" not in event.changes and "fgColor" not in event.changes
    assert event.changes["price"] == 1.0
    assert event.changes["totalSize"] == 1.0
    assert event.raw["bgColor"] == "#000000"
    assert event.raw["price"] == "1.00"


def test_market_data_prefix_flags() -> None:
    """C and H prefixes on field 31 set closed/halted and the value is still parsed."""
    (closed,) = decode('{"topic":"smd+8314","conid":8314,"31":"C271.20"}')
    assert isinstance(closed, MarketData)
    assert closed.closed and not closed.halted and closed.values == {31: 271.2}
    (halted,) = decode('{"topic":"smd+8314","31":"H12"}')
    assert isinstance(halted, MarketData)
    assert halted.halted and not halted.closed


def test_market_data_fast_path_matches_first_frame_path() -> None:
    """The inlined hot path gives the same events as the first-frame path."""
    decoding._MD_KEYS.clear()
    frames = [
        SAMPLES["smd_first"],
        '{"topic":"smd+265598","31":"C1","87":"24.2M","88":"1,300","6119":"q9","_updated":"12"}',
        '{"topic":"smd+265598","31":[1],"99999":"x","foo":1,"conid":"265598"}',
        '{"topic":"smd+265598","31":"","55":"N/A"}',
    ]
    for frame in frames:
        decoding._MD_KEYS.clear()
        first = decode(frame)
        second = decode(frame)
        assert first == second
        assert decoding._MD_KEYS
    (event,) = decode(frames[1])
    assert isinstance(event, MarketData)
    assert event.server_id == "q9"
    assert event.updated_ms == 12
    assert event.values == {31: 1.0, 87: 24200000.0, 88: 1300.0}
    (event,) = decode(frames[2])
    assert isinstance(event, MarketData)
    assert event.values == {31: "[1]", 99999: "x"}


def test_market_data_fast_construction_equals_init() -> None:
    """The fast-built MarketData equals one built by its constructor and is immutable."""
    (event,) = decode(SAMPLES["smd_delta"])
    (event,) = decode(SAMPLES["smd_delta"])
    assert isinstance(event, MarketData)
    rebuilt = MarketData(**{name: getattr(event, name) for name in MarketData._fields})
    assert rebuilt == event
    assert hash(event.key) == hash(MD)
    with pytest.raises(AttributeError):
        event.conid = 1  # type: ignore[misc]


def test_market_data_conid_fallbacks() -> None:
    """The conid comes from the topic, else the payload; exchange suffixes are ignored."""
    (a,) = decode('{"topic":"smd+265598@NASDAQ","conid":265598}')
    (b,) = decode('{"topic":"smd+X","conid":"8314"}')
    assert isinstance(a, MarketData) and isinstance(b, MarketData)
    assert a.conid == 265598 and b.conid == 8314 and b.key == StreamKey(Topic.MARKET_DATA, "8314")


def test_caches_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-topic and per-value caches are cleared when full."""
    monkeypatch.setattr(decoding, "_MD_KEYS_MAX", 2)
    monkeypatch.setattr(decoding, "_CACHE_MAX", 2)
    for conid in range(1, 6):
        (event,) = decoding._smd({"31": str(conid)}, f"smd+{conid}")
        assert isinstance(event, MarketData) and event.values == {31: float(conid)}
    assert len(decoding._MD_KEYS) <= 2


MALFORMED: list[tuple[str | bytes, str]] = [
    ("", "empty frame"),
    ("   ", "empty frame"),
    ("not json", "not JSON"),
    ('{"topic":"smd+1",', "not JSON"),
    ("[1,2]", "not a JSON object"),
    ("42", "not a JSON object"),
    ('"text"', "not a JSON object"),
    ("null", "not a JSON object"),
    (b"\x00\x01\x02\xff", "not JSON"),
    ('{"topic":5}', "topic must be a string"),
    ('{"topic":["smd"]}', "topic must be a string"),
    ('{"topic":"smd+X"}', "no conid"),
    ('{"topic":"smd+X","conid":[1]}', "conid must be an integer"),
    ('{"topic":"smd+X","conid":-4}', "conid cannot be represented: -4 is outside 1..2147483647"),
    ('{"topic":"smd+1","conid":[1]}', "conid must be an integer"),
    ('{"topic":"smh+1","data":{}}', "data must be a list"),
    ('{"topic":"smh+1","data":[1]}', "history bar must be an object"),
    ('{"topic":"sbd","data":[]}', "price ladder topic"),
    ('{"topic":"sbd+A+1","data":{}}', "data must be a list"),
    ('{"topic":"sbd+A+1","data":[5]}', "ladder rows must be objects"),
    ('{"topic":"sor","args":5}', "args must be a list"),
    ('{"topic":"sor"}', "args must be a list"),
    ('{"topic":"str","args":"x"}', "args must be a list"),
    ('{"topic":"spl","args":[]}', "args must be an object"),
    ('{"topic":"ssd+A","result":5}', "result must be a list"),
    ('{"topic":"ssd+A","result":[5]}', "summary entries"),
    ('{"topic":"ssd","result":[{"key":"x","value":1}]}', "no account"),
    ('{"topic":"sld+A","result":"x"}', "result must be a list"),
    ('{"topic":"sld","result":[{"key":"LedgerListUSD","cashbalance":1}]}', "no account"),
    ('{"topic":"system","hb":"soon"}', "hb must be an integer"),
    ('{"topic":"system","success":5}', "system success must be a string"),
    ('{"topic":"act","args":[]}', "args must be an object"),
    ('{"topic":"act","args":{"accounts":[1]}}', "accounts must be a list of strings"),
    ('{"topic":"act","args":{"accounts":"U1"}}', "accounts must be a list of strings"),
    ('{"topic":"sts","args":"authenticated"}', "args must be an object"),
    ('{"topic":"blt","args":5}', "args must be an object or a list"),
    ('{"topic":"ntf","args":"x"}', "args must be an object or a list"),
]


@pytest.mark.parametrize(("frame", "reason"), MALFORMED)
def test_malformed(frame: str | bytes, reason: str) -> None:
    """Bad input becomes one Malformed event with the raw text and a clear reason."""
    (event,) = decode(frame)
    assert isinstance(event, Malformed), event
    assert reason in event.reason
    text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
    assert event.raw == text


def test_invalid_utf8_is_replaced_and_still_decoded() -> None:
    """A stray non-UTF-8 byte (e.g. 0x99) inside a text frame does not lose the frame (§1.5)."""
    (event,) = decode(b'{"topic":"system","success":"user\x99"}')
    assert event == SystemLogin(username="user\ufffd", raw=ANY)
    (event,) = decode(bytearray(b'{"topic":"system","hb":1}'))
    assert event == Heartbeat(hb_ms=1)
    (event,) = decode(memoryview(b'{"topic":"system","hb":2}'))
    assert event == Heartbeat(hb_ms=2)
    (event,) = decode(b'["\x99"]')
    assert isinstance(event, Malformed) and "not a JSON object" in event.reason


def test_lone_surrogates() -> None:
    """A str with lone surrogates is decoded with them replaced."""
    (event,) = decode('{"topic":"system","success":"a\ud800"}')
    assert event == SystemLogin(username="a?", raw=ANY)


def test_never_raises_on_unexpected_input_types() -> None:
    """Even a wrong input type gives Malformed rather than an exception."""
    for data in (12345, None, 1.5, ["x"]):
        (event,) = decode(data)  # type: ignore[arg-type]
        assert isinstance(event, Malformed) and event.raw == repr(data)


def test_unknown_topics() -> None:
    """Unknown topics keep their payload; near-miss names are not misread."""
    for topic in ("xyz", "smdx", "sts+1", "systems", "ticker"):
        payload = {"topic": topic, "a": 1}
        assert decode(orjson.dumps(payload)) == [Unknown(topic=topic, payload=payload)]
    assert decode("{}") == [Unknown(topic=None, payload={})]
    assert decode('{"topic":"system"}') == [Unknown(topic="system", payload={"topic": "system"})]
    assert decode('{"message":"Unsubscribed "}') == [
        Unknown(topic=None, payload={"message": "Unsubscribed "})
    ]


def test_list_topics_keep_good_entries() -> None:
    """One bad entry in a list topic gives Malformed for it only."""
    events = decode('{"topic":"sor","args":[5,{"orderId":"x"},{"orderId":"17","price":"n/a"}]}')
    assert [type(e) for e in events] == [Malformed, Malformed, OrderUpdate]
    assert "sor entry 0" in events[0].reason  # type: ignore[union-attr]
    assert events[2].order_id == 17  # type: ignore[union-attr]
    assert events[2].changes["price"] == "n/a"  # type: ignore[union-attr]
    events = decode('{"topic":"str","args":[5,{"execution_id":""},{"execution_id":"e1"}]}')
    assert [type(e) for e in events] == [Malformed, Malformed, Trade]
    events = decode('{"topic":"sld+A","result":[5,{"key":"LedgerListUSD","x":1}]}')
    assert [type(e) for e in events] == [Malformed, AccountLedger]
    assert events[1].currency == "USD"  # type: ignore[union-attr]
    events = decode('{"topic":"spl","args":{"A.Core":5,"B.Core":{"nl":"12.5","mv":3}}}')
    assert [type(e) for e in events] == [Malformed, Pnl]
    assert events[1].net_liquidity == 12.5 and events[1].market_value == 3.0  # type: ignore[union-attr]


def test_variants_tolerated() -> None:
    """Variants listed by protocol.md decode too."""
    # single sor entry sent bare, trades with string conid
    (order,) = decode('{"topic":"sor","args":{"orderId":5,"account":"DU1"}}')
    assert isinstance(order, OrderUpdate) and order.account == "DU1"
    (trade,) = decode(
        '{"topic":"str","args":[{"execution_id":"e","conid":"265598","accountCode":"U1"}]}'
    )
    assert isinstance(trade, Trade) and trade.conid == 265598 and trade.account == "U1"
    # smh with integer serverId and conid from the payload
    (hist,) = decode('{"topic":"smh","conid":265598,"serverId":195436}')
    assert isinstance(hist, MarketHistory) and hist.server_id == "195436" and hist.bars == ()
    # blt as a list, ntf list with non-object elements skipped
    assert decode('{"topic":"blt","args":[{"id":1,"message":"m"},3]}') == [
        Bulletin(bulletin_id="1", message="m", raw={"id": 1, "message": "m"})
    ]
    assert decode('{"topic":"blt"}') == [Bulletin(bulletin_id=None, message=None, raw={})]
    # ssd entries under args, blank entries skipped, AccountCode gives the account
    (summary,) = decode(
        '{"topic":"ssd","args":[{"key":"AccountCode","value":"DU9","timestamp":1},'
        '{"key":"X","timestamp":1},{"key":"Flag","value":true},{"key":"L","value":[1]},'
        '{"key":"N","value":3}]}'
    )
    assert isinstance(summary, AccountSummary) and summary.account == "DU9"
    assert set(summary.values) == {"AccountCode", "Flag", "L", "N"}
    assert summary.values["Flag"].value is True
    assert summary.values["L"].value == "[1]"
    assert summary.values["N"].value == 3.0
    # sld account from acctCode, all-blank frames give nothing, values of odd types as text
    (ledger,) = decode(
        '{"topic":"sld","result":[{"key":"LedgerListEUR","acctCode":"DU9","x":[1],"y":true,"z":null,"w":"s"}]}'
    )
    assert isinstance(ledger, AccountLedger) and ledger.account == "DU9"
    assert ledger.values == {"x": "[1]", "y": "true", "z": None, "w": "s"}
    assert decode(SAMPLES["sld"].replace('"acctCode"', '"key":"LedgerListX","acct"')) != []
    assert decode('{"topic":"sld+A","result":[{"key":"LedgerListUSD","timestamp":1}]}') == []
    # error variants: message in args, non-string error, code at top level
    assert decode('{"topic":"error","args":{"message":"boom"}}') == [
        ErrorMessage(topic="error", message="boom", code=None, raw=ANY)
    ]
    assert decode('{"error":{"x":1},"code":7}') == [
        ErrorMessage(topic=None, message='{"x":1}', code=7, raw=ANY)
    ]
    assert decode('{"topic":"error"}') == [
        ErrorMessage(topic="error", message="", code=None, raw=ANY)
    ]
    # act with odd serverInfo, heartbeat as float
    (info,) = decode('{"topic":"act","args":{"serverInfo":5}}')
    assert isinstance(info, AccountInfo) and info.accounts == () and info.server_name is None
    assert decode('{"topic":"system","hb":1.0}') == [Heartbeat(hb_ms=1)]
    # sts with wrong value types: absent, not wrong
    assert decode('{"topic":"sts","args":{"authenticated":"yes","message":1}}') == [
        AuthStatus(raw={"authenticated": "yes", "message": 1})
    ]
    # price ladder with a non-numeric conid
    (ladder,) = decode('{"topic":"sbd+A+x+","data":[]}')
    assert isinstance(ladder, PriceLadder) and ladder.conid is None and ladder.exchange is None
