"""``ibstream demo``: plain output without a terminal, the live view in a pseudo-terminal,
``--duration`` and Ctrl-C."""

from __future__ import annotations

import re

import pytest

from .conftest import assert_one_line_error, run_cli, run_in_pty

pytestmark = pytest.mark.e2e

STATUS = re.compile(r"^\d\d:\d\d:\d\d conn=authenticated auth=yes subs=(\d+)/(\d+) frames=(\d+)")


def test_demo_plain_lines_and_duration() -> None:
    result = run_cli("demo", "--duration", "2.2")
    assert result.code == 0, result.err
    assert result.err == ""
    assert 2.0 < result.seconds < 10.0
    blocks = [line for line in result.out.splitlines() if STATUS.match(line)]
    assert len(blocks) >= 2  # one block per second
    m = STATUS.match(blocks[-1])
    assert m is not None
    assert m.group(1) == m.group(2) == "8"  # 5 market data + orders + trades + pnl, all active
    assert int(m.group(3)) > 10
    last_block = result.out.split(blocks[-1])[-1]
    assert re.search(r"^  position \S+: [+-]\d+ avg=[\d,.]+ value=", last_block, re.M)
    for symbol in ("AAPL", "MSFT", "TSLA", "NVDA", "SPY"):
        assert re.search(rf"^  {symbol} +last=[\d,.]+ bid=[\d,.]+x\S+ ask=", last_block, re.M)
    # the user's own terminal shows the account id that summary:ACCT specs need
    assert "P&L DU1234567: daily=" in last_block


def test_demo_mask_hides_account_ids() -> None:
    result = run_cli("demo", "--duration", "1.2", "--mask")
    assert result.code == 0, result.err
    assert "P&L DU*****67: daily=" in result.out
    assert "DU1234567" not in result.out


def test_demo_conids_and_rate() -> None:
    result = run_cli("demo", "--duration", "1.2", "--conids", "AAPL", "12087792", "--rate", "10")
    assert result.code == 0, result.err
    assert "  AAPL " in result.out and "  EUR " in result.out
    assert "  MSFT " not in result.out
    # FX prices get the decimals of EUR.USD's increment (0.00005: five), looked up in the
    # background; the first block may still show the inferred four
    last_block = result.out.split("conn=authenticated")[-1]
    assert re.search(r"EUR +last=1\.\d{5} bid=1\.\d{5}x", last_block), last_block


def test_demo_bad_instrument_is_one_line() -> None:
    result = run_cli("demo", "--duration", "1", "--conids", "NOPE")
    assert result.code == 2
    assert_one_line_error(result, "unknown instrument 'NOPE'")


DEMO_SYMBOLS = ("AAPL", "MSFT", "TSLA", "NVDA", "SPY")


def test_demo_live_view_renders_and_ctrl_c_exits_cleanly() -> None:
    result = run_in_pty("demo", ctrl_c_when=("frames=", "[▁▂▃▄▅▆▇█]{2,}", "P&L", *DEMO_SYMBOLS))
    assert result.code in (0, 130), result.text[-2000:]
    text = result.text
    assert "Traceback" not in text
    assert "ibstream demo" in text
    for header in ("Symbol", "Last", "Bid", "Ask", "Chg", "Volume", "Age", "Trend"):
        assert header in text
    for symbol in DEMO_SYMBOLS:
        assert symbol in text
    assert "Ctrl-C to quit" in text
    assert "Positions" in text and "Unrealized" in text
    assert re.search(r"[▁▂▃▄▅▆▇█]{2,}", text)  # sparklines grew
    assert "P&L" in text
    assert b"\x1b[" in result.raw  # a real terminal rendering (cursor movement, colours)


def test_demo_live_view_duration() -> None:
    result = run_in_pty("demo", "--duration", "1", "--no-orders")
    assert result.code == 0, result.text[-2000:]
    assert "conn=authenticated" in result.text
    assert "Traceback" not in result.text
