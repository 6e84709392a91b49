"""OAuth 1.0a from the command line: ``ibstream sim --oauth`` prints test credentials that
``status`` and ``watch`` accept from ``--oauth-config FILE`` or ``IBSTREAM_OAUTH_*`` variables."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Gateway, assert_one_line_error, cli_env, run_cli, start_gateway, stop_gateway

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def oauth_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, Path]]:
    directory = tmp_path_factory.mktemp("sim-oauth")
    gw = start_gateway("--plain", "--oauth-dir", str(directory), "--update-interval", "0.2")
    yield gw, directory / "oauth.json"
    stop_gateway(gw)


def _report(out: str) -> dict[str, str]:
    rows = {}
    for line in out.splitlines():
        name, _, value = line.partition(" ")
        rows[name] = value.strip()
    return rows


def _secrets(config: Path) -> list[str]:
    data = json.loads(config.read_text())
    return [data["access_token"], data["access_token_secret"], data["consumer_key"]]


def test_status_with_oauth_config(oauth_gateway: tuple[Gateway, Path]) -> None:
    gw, config = oauth_gateway
    result = run_cli("status", "--url", gw.url, "--oauth-config", str(config))
    assert result.code == 0, result.err
    report = _report(result.out)
    assert report["auth"].startswith("OAuth 1.0a (consumer ")
    assert re.match(r"live session token expires in 2[34]h \d\dm \d\ds \(", report["token"])
    assert report["authenticated"] == "yes"
    assert report["status"] == "OK"
    for secret in _secrets(config):
        assert secret not in result.out + result.err


def test_status_with_oauth_environment(oauth_gateway: tuple[Gateway, Path]) -> None:
    gw, config = oauth_gateway
    data = json.loads(config.read_text())
    env = cli_env(
        IBSTREAM_URL=gw.url, **{f"IBSTREAM_OAUTH_{k.upper()}": v for k, v in data.items()}
    )
    result = run_cli("status", env=env)
    assert result.code == 0, result.err
    assert _report(result.out)["auth"].startswith("OAuth 1.0a")


def test_status_without_oauth_is_refused(oauth_gateway: tuple[Gateway, Path]) -> None:
    gw, _ = oauth_gateway
    result = run_cli("status", "--url", gw.url)
    assert result.code == 3
    assert _report(result.out)["auth"] == "gateway session (browser login)"


def test_status_with_a_wrong_signature_key(
    oauth_gateway: tuple[Gateway, Path], tmp_path: Path
) -> None:
    gw, config = oauth_gateway
    data = json.loads(config.read_text())
    data["signature_key_file"] = str(Path(__file__).parents[1] / "auth/fixtures/other_key.pem")
    bad = tmp_path / "oauth.json"
    bad.write_text(json.dumps(data))
    result = run_cli("status", "--url", gw.url, "--oauth-config", str(bad))
    assert result.code == 3
    assert "invalid signature" in result.err and "signature key" in result.err


def test_bad_oauth_config_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "oauth.json"
    bad.write_text('{"consumer_key": "ABCDEFGHI"}')
    result = run_cli("watch", "AAPL", "--url", "http://127.0.0.1:9", "--oauth-config", str(bad))
    assert result.code == 2
    assert_one_line_error(result, "OAuth access token: missing")


def test_watch_with_oauth(oauth_gateway: tuple[Gateway, Path]) -> None:
    gw, config = oauth_gateway
    result = run_cli(
        "watch", "AAPL", "--url", gw.url, "--oauth-config", str(config), "--duration", "2"
    )
    assert result.code == 0, result.err
    assert re.search(r"^  AAPL +last=[\d,.]+ ", result.out, re.M)
    assert "conn=authenticated auth=yes" in result.out


def test_watch_sim_oauth() -> None:
    """``--sim --oauth``: the embedded simulator requires OAuth and the client signs."""
    result = run_cli("watch", "MSFT", "--sim", "--oauth", "--duration", "1.5", "--no-account")
    assert result.code == 0, result.err
    assert re.search(r"^  MSFT +last=", result.out, re.M)


def test_sim_oauth_prints_credentials(oauth_gateway: tuple[Gateway, Path]) -> None:
    _, config = oauth_gateway
    assert config.is_file()
    data = json.loads(config.read_text())
    assert set(data) >= {"consumer_key", "access_token", "access_token_secret", "realm"}
    assert Path(data["signature_key_file"]).is_file()
    pem = Path(data["dh_param_file"]).read_bytes()
    assert pem.startswith(b"-----BEGIN DH PARAMETERS-----\n")
    from cryptography.hazmat.primitives import serialization

    from ibstream.sim.oauth import RFC3526_PRIME_2048

    numbers = serialization.load_pem_parameters(pem).parameter_numbers()  # type: ignore[attr-defined]
    assert (numbers.p, numbers.g) == (RFC3526_PRIME_2048, 2)
