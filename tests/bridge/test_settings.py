"""``ibstream bridge --config FILE``: the settings file, its precedence and its errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ibstream.bridge import BridgeSettings, load_bridge_settings
from ibstream.bridge.service import BridgeConfig
from ibstream.exceptions import InvalidArgument
from ibstream.remote import Retention

NO_ENV: dict[str, str] = {}


def _file(tmp_path: Path, data: Any) -> str:
    path = tmp_path / "bridge.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_every_setting_reaches_the_bridge_config(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        {
            "url": "https://gw.example:5000/v1/api",
            "nats": ["nats://a:4222", "nats://b:4222"],
            "redis": "redis://r:6379/0",
            "prefix": "desk1",
            "node": "bridge-a",
            "lease_ttl": 6,
            "renew-every": 2,  # dashes are accepted, as for serve
            "standby_poll": 0.5,
            "margin": 1,
            "flush_interval": 0.2,
            "md_state_interval": 3,
            "max_inflight": 64,
            "publish_timeout": 7,
            "max_demand_ttl": 30,
            "retention": {"market_data_per_key": 50, "reliable_age": 86400, "dedupe_window": 60},
        },
    )
    settings = load_bridge_settings(path, env=NO_ENV)
    config = settings.bridge_config(settings.url or "", verify=True, cacert=None)
    assert config.url == "https://gw.example:5000/v1/api"
    assert config.buses == ("nats://a:4222", "nats://b:4222", "redis://r:6379/0")
    assert (config.prefix, config.node) == ("desk1", "bridge-a")
    assert (config.lease_ttl, config.renew_every, config.standby_poll, config.margin) == (
        6.0,
        2.0,
        0.5,
        1.0,
    )
    assert (config.flush_interval, config.md_state_interval) == (0.2, 3.0)
    assert (config.max_inflight, config.publish_timeout, config.max_demand_ttl) == (64, 7.0, 30.0)
    assert config.retention == Retention(
        market_data_per_key=50, reliable_age=86400.0, dedupe_window=60.0
    )
    assert isinstance(config.retention.market_data_per_key, int)


def test_defaults_without_a_file() -> None:
    settings = load_bridge_settings(None, env=NO_ENV, overrides={"nats": ["nats://bus:4222"]})
    assert settings == BridgeSettings(nats=("nats://bus:4222",))
    config = settings.bridge_config("https://gw/v1/api", verify=True, cacert=None)
    assert config.lease_ttl == 3.0 and config.retention == Retention()
    assert config.node  # host-pid when not given
    # every tuning default is BridgeConfig's own
    assert config == BridgeConfig(url=config.url, buses=config.buses, node=config.node)


def test_flags_over_environment_over_file(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        {"prefix": "from-file", "lease_ttl": 9, "renew_every": 2, "nats": "nats://file:4222"},
    )
    env = {"IBSTREAM_BUS_PREFIX": "from-env", "IBSTREAM_REDIS": "redis://env:1,redis://env:2"}
    settings = load_bridge_settings(path, env=env, overrides={"lease_ttl": 12.0, "node": None})
    assert settings.prefix == "from-env"  # env over file
    assert settings.lease_ttl == 12.0  # flag over file
    assert settings.renew_every == 2.0  # the file where nothing overrides it
    # the environment's buses replace the file's as a whole (no NATS from the file left)
    assert settings.buses == ("redis://env:1", "redis://env:2")
    flags = load_bridge_settings(
        path, env=env, overrides={"prefix": "from-flag", "nats": ["nats://flag:4222"]}
    )
    assert flags.prefix == "from-flag" and flags.buses == ("nats://flag:4222",)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"lease_tll": 3}, "unknown setting 'lease_tll'"),
        ({"lease_ttl": "soon"}, "lease_ttl: expected a number, got 'soon'"),
        ({"lease_ttl": -1}, "lease_ttl: must be a positive number"),
        ({"lease_ttl": True}, "lease_ttl: expected a number"),
        ({"max_inflight": 2.5}, "max_inflight: must be a whole number"),
        ({"nats": "http://bus:4222"}, "'http://bus:4222' is not a nats://"),
        ({"redis": ["nats://bus:4222"]}, "is not a redis://"),
        ({"nats": 4222}, "nats: expected a URL or a list of URLs"),
        ({"prefix": ""}, "prefix: expected a non-empty string"),
        ({"sim": "maybe"}, "sim: expected true or false"),
        ({"retention": {"md_per_key": 5}}, "retention: unknown limit 'md_per_key'"),
        ({"retention": {"reliable_age": 0}}, "retention.reliable_age: must be a positive"),
        ({"retention": 5}, "retention: expected an object of limits"),
        ([1, 2], "must hold a JSON object"),
    ],
)
def test_bad_files_name_the_setting(tmp_path: Path, data: Any, message: str) -> None:
    path = _file(tmp_path, data)
    with pytest.raises(InvalidArgument) as err:
        load_bridge_settings(path, env=NO_ENV)
    assert message in str(err.value)
    assert path in str(err.value)  # which file


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="cannot read"):
        load_bridge_settings(str(tmp_path / "missing.json"), env=NO_ENV)
    bad = tmp_path / "bad.json"
    bad.write_text('{"nats": ', encoding="utf-8")
    with pytest.raises(InvalidArgument, match="not valid JSON"):
        load_bridge_settings(str(bad), env=NO_ENV)


def test_a_lease_that_cannot_be_renewed_in_time_is_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, {"nats": "nats://bus:4222", "lease_ttl": 2, "renew_every": 2})
    settings = load_bridge_settings(path, env=NO_ENV)
    with pytest.raises(InvalidArgument, match="renew_every"):
        settings.bridge_config("https://gw/v1/api", verify=True, cacert=None)


def test_bad_environment_values_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="IBSTREAM_NATS"):
        load_bridge_settings(None, env={"IBSTREAM_NATS": "redis://wrong-kind:6379"})
