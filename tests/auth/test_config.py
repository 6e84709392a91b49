"""OAuth settings: file < environment < arguments, clear errors, nothing secret in a repr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ibstream.auth import GatewaySession, OAuthConfig
from ibstream.auth.config import default_realm
from ibstream.exceptions import OAuthConfigError

FULL = {
    "consumer_key": "ABCDEFGHI",
    "access_token": "0123456789abcdef0123",
    "access_token_secret": "c2VjcmV0c2VjcmV0c2VjcmV0",
    "signature_key_file": "sig.pem",
    "encryption_key_file": "enc.pem",
    "dh_prime": "ff",
}


def test_precedence_file_env_arguments(tmp_path: Path) -> None:
    """The file is overridden by IBSTREAM_OAUTH_* which is overridden by arguments."""
    path = tmp_path / "oauth.json"
    path.write_text(json.dumps(FULL))
    env = {"IBSTREAM_OAUTH_ACCESS_TOKEN": "fromenv", "IBSTREAM_OAUTH_REALM": "test_realm"}
    config = OAuthConfig.load(str(path), env=env, realm="limited_poa")
    assert config.consumer_key == "ABCDEFGHI"
    assert config.access_token == "fromenv"
    assert config.realm == "limited_poa"
    # key paths in a file are relative to the file
    assert config.signature_key_file == str(tmp_path / "sig.pem")


def test_config_file_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "o.json"
    path.write_text(json.dumps(FULL))
    config = OAuthConfig.load(env={"IBSTREAM_OAUTH_CONFIG": str(path)})
    assert config.access_token == FULL["access_token"]
    assert OAuthConfig.configured({"IBSTREAM_OAUTH_CONFIG": str(path)})
    assert OAuthConfig.configured({"IBSTREAM_OAUTH_CONSUMER_KEY": "X"})
    assert not OAuthConfig.configured({"IBSTREAM_URL": "x"})


def test_environment_only() -> None:
    env = {f"IBSTREAM_OAUTH_{k.upper()}": v for k, v in FULL.items()}
    env["IBSTREAM_OAUTH_REFRESH_MARGIN"] = "30"
    config = OAuthConfig.load(env=env)
    assert config.refresh_margin == 30.0
    assert config.effective_realm == "limited_poa"


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("consumer_key", r"consumer key: missing \(set IBSTREAM_OAUTH_CONSUMER_KEY"),
        ("access_token_secret", "access token secret: missing"),
        ("signature_key_file", "signature key file: missing"),
        ("dh_prime", "DH prime: missing"),
    ],
)
def test_missing_setting(drop: str, message: str) -> None:
    data = {k: v for k, v in FULL.items() if k != drop}
    with pytest.raises(OAuthConfigError, match=message):
        OAuthConfig.from_mapping(data).check()


def test_bad_files_and_values(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(OAuthConfigError, match="not valid JSON"):
        OAuthConfig.load(str(bad), env={})
    with pytest.raises(OAuthConfigError, match="cannot read"):
        OAuthConfig.load(str(tmp_path / "missing.json"), env={})
    with pytest.raises(OAuthConfigError, match="unknown setting 'consumer'"):
        OAuthConfig.from_mapping({"consumer": "x"})
    with pytest.raises(OAuthConfigError, match="refresh margin: not a number"):
        OAuthConfig.from_mapping({"refresh_margin": "soon"})
    with pytest.raises(OAuthConfigError, match="must be a string"):
        OAuthConfig.from_mapping({"access_token": 12})


def test_repr_hides_secrets() -> None:
    config = OAuthConfig.from_mapping(FULL)
    text = repr(config)
    for secret in (FULL["access_token"], FULL["access_token_secret"], FULL["consumer_key"]):
        assert secret not in text
    assert "AB…(9)" in text
    assert repr(GatewaySession()) == "GatewaySession()"


def test_realm_default() -> None:
    assert default_realm("TESTCONS") == "test_realm"
    assert default_realm("ABCDEFGHI") == "limited_poa"
    assert OAuthConfig.from_mapping({**FULL, "consumer_key": "TESTCONS"}).effective_realm == (
        "test_realm"
    )
