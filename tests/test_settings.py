"""Library settings: arguments > environment > .env file > defaults; TLS choices never mixed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ibstream.exceptions import InvalidArgument
from ibstream.settings import DEFAULT_URL, gateway_settings, read_env_file


def test_defaults_without_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = gateway_settings(environ={})
    assert (s.url, s.cacert, s.verify, s.tls_verify) == (DEFAULT_URL, None, True, True)


def test_environment_then_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cert = tmp_path / "gw.pem"
    cert.write_text("x")
    env = {"IBSTREAM_URL": "https://gw:5000/v1/api", "IBSTREAM_CACERT": str(cert)}
    s = gateway_settings(environ=env)
    assert s.url == "https://gw:5000/v1/api" and s.tls_verify == str(cert)
    # explicit arguments win, and an explicit TLS choice ignores the environment's
    s = gateway_settings("http://other/v1/api", verify=False, environ=env)
    assert s.url == "http://other/v1/api" and s.cacert is None and s.tls_verify is False


@pytest.mark.parametrize(
    ("env", "verify"),
    [
        ({"IBSTREAM_VERIFY": "0"}, False),
        ({"IBSTREAM_VERIFY": "yes"}, True),
        ({"IBSTREAM_INSECURE": "1"}, False),
        ({"IBSTREAM_INSECURE": "0"}, True),
    ],
)
def test_verify_flags(
    env: dict[str, str], verify: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert gateway_settings(environ=env).verify is verify


def test_bad_flag_and_missing_cacert_are_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidArgument, match="IBSTREAM_VERIFY: expected one of"):
        gateway_settings(environ={"IBSTREAM_VERIFY": "maybe"})
    # over plain HTTP too: a missing certificate file is never silently ignored
    with pytest.raises(InvalidArgument, match="no such certificate file"):
        gateway_settings("http://127.0.0.1:1/v1/api", cacert=str(tmp_path / "nope.pem"))


def test_dotenv_file_is_read_and_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "# comment\nexport IBSTREAM_URL='https://fromfile/v1/api'\n"
        'IBSTREAM_VERIFY="false"  \nOTHER=ignored\nIBSTREAM_CACERT=  # empty\n'
    )
    s = gateway_settings(environ={})
    assert s.url == "https://fromfile/v1/api" and s.verify is False
    s = gateway_settings(environ={"IBSTREAM_URL": "https://fromenv/v1/api"})
    assert s.url == "https://fromenv/v1/api"


def test_env_file_named_explicitly_and_errors(tmp_path: Path) -> None:
    f = tmp_path / "settings.env"
    f.write_text("IBSTREAM_URL=http://named/v1/api\n")
    s = gateway_settings(environ={"IBSTREAM_ENV_FILE": str(f)})
    assert s.url == "http://named/v1/api"
    assert read_env_file(f) == {"IBSTREAM_URL": "http://named/v1/api"}
    f.write_text("not an assignment\n")
    with pytest.raises(InvalidArgument, match=r"settings.env:1: expected NAME=value"):
        read_env_file(f)
    with pytest.raises(InvalidArgument, match="cannot read"):
        gateway_settings(environ={"IBSTREAM_ENV_FILE": str(tmp_path / "absent.env")})


def test_library_reads_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``connect()`` and ``Client()`` without a URL use IBSTREAM_URL; arguments still win."""
    from ibstream.aio.client import connect
    from ibstream.sync import Client

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IBSTREAM_URL", "http://gw.example:5000/v1/api")
    monkeypatch.setenv("IBSTREAM_VERIFY", "0")
    assert connect().rest.base_url == "http://gw.example:5000/v1/api"
    assert connect("http://other:1/v1/api").rest.base_url == "http://other:1/v1/api"
    client = Client()
    try:
        assert client._aclient.rest.base_url == "http://gw.example:5000/v1/api"
    finally:
        client.stop()
    monkeypatch.setenv("IBSTREAM_CACERT", str(tmp_path / "absent.pem"))
    monkeypatch.delenv("IBSTREAM_VERIFY")
    with pytest.raises(InvalidArgument, match="no such certificate file"):
        connect()
