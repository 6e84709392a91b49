"""``ibstream contract|snapshot|history|positions`` and ``watch`` of every security type, as
subprocesses against an ``ibstream sim`` subprocess (real sockets) and ``--sim``."""

from __future__ import annotations

import re

import orjson
import pytest

from .conftest import Gateway, assert_one_line_error, run_cli

pytestmark = pytest.mark.e2e


def test_contract_every_type(gateway: Gateway) -> None:
    result = run_cli("contract", "AAPL", "ES", "EUR.USD", "SPX", "AAPL CFD", "--url", gateway.url)
    assert result.code == 0, result.err
    assert re.search(r"^AAPL: AAPL NASDAQ$", result.out, re.M)
    assert re.search(r"^ES: ES [A-Z]{3}\d\d$", result.out, re.M)
    assert re.search(r"^  type +FUT$", result.out, re.M)
    assert re.search(r"^  multiplier +50", result.out, re.M)
    assert re.search(r"^  conid +12087792$", result.out, re.M)
    assert re.search(r"^  type +IND$", result.out, re.M)
    assert re.search(r"^  type +CFD$", result.out, re.M)


def test_contract_json_chain_option_and_combo(gateway: Gateway) -> None:
    result = run_cli("contract", "ES", "--chain", "--json", "--url", gateway.url)
    assert result.code == 0, result.err
    (es,) = orjson.loads(result.out)
    assert es["sec_type"] == "FUT" and len(es["chain"]) == 4
    assert es["conid"] == es["chain"][0]["conid"]  # the front month
    result = run_cli("contract", "AAPL", "--chain", "--json", "--url", gateway.url)
    month = orjson.loads(result.out)[0]["option_months"][0]
    result = run_cli("contract", "AAPL", "--strikes", month, "--json", "--url", gateway.url)
    strikes = orjson.loads(result.out)[0]["strikes"]["call"]
    assert strikes == sorted(strikes) and len(strikes) == 17
    combo = run_cli("contract", "28812380;;;265598/1,272093/-1", "--url", gateway.url)
    assert combo.code == 0, combo.err
    assert "+1 AAPL -1 MSFT" in combo.out
    assert re.search(r"^  leg +265598 x 1$", combo.out, re.M)
    assert re.search(r"^  leg +272093 x -1$", combo.out, re.M)


def test_option_by_grammar(gateway: Gateway) -> None:
    result = run_cli("contract", "AAPL", "--chain", "--json", "--url", gateway.url)
    month = orjson.loads(result.out)[0]["option_months"][0]
    strikes = orjson.loads(
        run_cli("contract", "AAPL", "--strikes", month, "--json", "--url", gateway.url).out
    )[0]["strikes"]["call"]
    strike = strikes[len(strikes) // 2]
    fut = orjson.loads(run_cli("contract", "AAPL", "--json", "--url", gateway.url).out)[0]
    assert fut["sec_type"] == "STK"
    expiry = _expiry_of(gateway, month)
    result = run_cli("contract", f"AAPL {expiry} {strike:g} C", "--json", "--url", gateway.url)
    assert result.code == 0, result.err
    (opt,) = orjson.loads(result.out)
    assert (opt["sec_type"], opt["right"], opt["strike"], opt["expiry"]) == (
        "OPT",
        "C",
        strike,
        expiry,
    )


def _expiry_of(gateway: Gateway, month: str) -> str:
    import urllib.request

    with urllib.request.urlopen(gateway.url + "/iserver/secdef/search?symbol=AAPL") as resp:
        first = orjson.loads(resp.read())[0]
    names = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    prefix = f"20{month[3:]}{names.index(month[:3]) + 1:02d}"
    return next(e for e in first["opt"].split(";") if e.startswith(prefix))


def test_snapshot_and_history(gateway: Gateway) -> None:
    result = run_cli("snapshot", "AAPL", "ES", "EUR.USD", "--url", gateway.url)
    assert result.code == 0, result.err
    assert re.search(r"^AAPL NASDAQ +[\d,.]+ +[\d,.]+ +[\d,.]+", result.out, re.M)
    assert re.search(r"^ES [A-Z]{3}\d\d +[\d,.]+", result.out, re.M)
    result = run_cli("history", "AAPL", "--period", "1d", "--bar", "5min", "--url", gateway.url)
    assert result.code == 0, result.err
    assert "288 bars of 5min, 1d" in result.out
    assert len(result.out.splitlines()) == 2 + 288
    result = run_cli("history", "EUR.USD", "--period", "2h", "--bar", "1h", "--csv", "--url",
                     gateway.url)  # fmt: skip
    lines = result.out.splitlines()
    assert lines[0] == "time,open,high,low,close,volume" and len(lines) == 3


def test_positions(gateway: Gateway) -> None:
    result = run_cli("positions", "--summary", "--ledger", "--url", gateway.url)
    assert result.code == 0, result.err
    assert re.search(r"^account DU1234567: \d+ position\(s\)$", result.out, re.M)
    assert re.search(r"^  netliquidation +[\d,.]+ USD$", result.out, re.M)
    assert re.search(r"^USD +[\d,.-]+", result.out, re.M)
    doc = orjson.loads(run_cli("positions", "--json", "--url", gateway.url).out)
    assert doc["account"] == "DU1234567"
    assert all(p["account"] == "DU1234567" and p["quantity"] for p in doc["positions"])


def test_watch_every_security_type() -> None:
    result = run_cli("watch", "AAPL", "ES", "EUR.USD", "SPX", "--sim", "--duration", "2",
                     "--no-account")  # fmt: skip
    assert result.code == 0, result.err
    for name in ("AAPL", "ES", r"EUR(\.USD)?", "SPX"):
        assert re.search(rf"^  {name} +last=[\d,.]+ ", result.out, re.M), result.out


def test_errors_are_one_line(gateway: Gateway) -> None:
    result = run_cli("contract", "NOSUCH", "--url", gateway.url)
    assert result.code == 2
    assert_one_line_error(result, "unknown symbol 'NOSUCH'", "GET /iserver/secdef/search")
    result = run_cli("contract", "999999999", "--url", gateway.url)
    assert result.code == 2
    assert_one_line_error(result, "invalid conid", "/iserver/contract/999999999/info")
    result = run_cli("history", "AAPL", "--bar", "7min", "--url", gateway.url)
    assert result.code == 2
    assert_one_line_error(result, "bar")
    result = run_cli("contract", "AAPL 2026 200 C", "--url", gateway.url)
    assert result.code == 2
    assert_one_line_error(result, "YYYYMMDD")


def test_contract_strikes_of_a_future_are_its_futures_options(gateway: Gateway) -> None:
    # ES has no OPT section, only FOP (futures options): --strikes must list those, not fail
    # with "no OPT on 'ES'".
    import urllib.request

    with urllib.request.urlopen(gateway.url + "/iserver/secdef/search?symbol=ES") as resp:
        sections = orjson.loads(resp.read())[0]["sections"]
    fop = next(s for s in sections if s["secType"] == "FOP")
    assert not any(s["secType"] == "OPT" for s in sections)
    month = fop["months"].split(";")[0]
    result = run_cli("contract", "ES", "--strikes", month, "--json", "--url", gateway.url)
    assert result.code == 0, result.err
    strikes = orjson.loads(result.out)[0]["strikes"]
    assert strikes["call"] and strikes["call"] == sorted(strikes["call"])
    assert strikes["put"]
