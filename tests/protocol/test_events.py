"""Event construction: the fast __init__ keeps the dataclass contract."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from ibstream.protocol import events
from ibstream.protocol.specs import StreamKey, Topic

EVENT_CLASSES = [
    c
    for c in vars(events).values()
    if isinstance(c, type) and dataclasses.is_dataclass(c) and c.__module__ == events.__name__
]


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__name__)
def test_fast_init_keeps_signature_and_defaults(cls: type) -> None:
    """Keyword-only parameters in field order with the declared defaults; frozen instances."""
    params = list(inspect.signature(cls).parameters.values())
    fields = dataclasses.fields(cls)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        assert p.kind is inspect.Parameter.KEYWORD_ONLY
        assert p.default == (
            inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        )
    kwargs = {f.name: f"v-{f.name}" for f in fields}
    obj = cls(**kwargs)
    assert all(getattr(obj, f.name) == f"v-{f.name}" for f in fields)
    assert obj == cls(**kwargs)
    if fields:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, fields[0].name, 1)


def test_missing_and_unknown_arguments_raise() -> None:
    """Like any dataclass: missing required or unknown keyword arguments raise TypeError."""
    with pytest.raises(TypeError):
        events.Heartbeat()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        events.Heartbeat(hb_ms=1, nope=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        events.Heartbeat(1)  # type: ignore[misc]


def test_defaults_apply() -> None:
    """Defaults declared on the dataclass are used by the fast init."""
    login = events.SystemLogin(username="u", raw={})
    assert login.is_ft is None and login.is_paper is None
    key = StreamKey(Topic.ORDERS, "")
    assert events.TradesOpened(key=key).key == key
