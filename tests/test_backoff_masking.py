"""The reconnect policy and secret masking (pure helpers)."""

from __future__ import annotations

import random

import pytest

from ibstream.backoff import ReconnectPolicy, classify
from ibstream.exceptions import (
    GatewayUnreachable,
    HTTPStatusError,
    InvalidArgument,
    NotAuthenticated,
    TLSError,
)
from ibstream.masking import mask, mask_account, mask_text


def test_backoff_grows_with_jitter_and_caps() -> None:
    """Delays stay under initial*factor**n and under max_delay; jitter varies them."""
    policy = ReconnectPolicy(initial=1.0, factor=2.0, max_delay=8.0, min_delay=0.0)
    rng = random.Random(7)
    delays = [policy.next_delay(rng) for _ in range(10)]
    for n, d in enumerate(delays):
        assert 0.0 <= d <= min(8.0, 2.0**n)
    assert len(set(delays)) > 5


def test_backoff_resets_after_healthy_period() -> None:
    """A connection healthy for reset_after seconds resets the attempt counter."""
    policy = ReconnectPolicy(initial=1.0, reset_after=60.0)
    rng = random.Random(1)
    for _ in range(5):
        policy.next_delay(rng)
    policy.connection_healthy_for(10.0)
    assert policy.attempt == 5
    policy.connection_healthy_for(61.0)
    assert policy.attempt == 0


def test_backoff_resets_after_a_successful_connection() -> None:
    """A connection that authenticated and delivered data resets the counter at once, however
    short it was: the next delay is drawn from the first, shortest ceiling again."""
    policy = ReconnectPolicy(initial=1.0, max_delay=30.0, min_delay=0.0)
    rng = random.Random(2)
    for _ in range(6):
        policy.next_delay(rng)
    assert policy.attempt == 6
    policy.connection_succeeded()
    assert policy.attempt == 0
    assert policy.next_delay(rng) <= 1.0


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"initial": 0}, "initial"),
        ({"factor": 0.5}, "factor"),
        ({"initial": 5, "max_delay": 1}, "max_delay"),
        ({"min_delay": -1}, "min_delay"),
        ({"reset_after": -1}, "reset_after"),
    ],
)
def test_backoff_rejects_bad_arguments(kwargs: dict[str, float], argument: str) -> None:
    """Bad policy arguments name the argument."""
    with pytest.raises(InvalidArgument) as info:
        ReconnectPolicy(**kwargs)
    assert info.value.argument == argument


@pytest.mark.parametrize(
    ("exc", "fatal"),
    [
        (InvalidArgument("url", "bad"), True),
        (TLSError("verify failed"), True),
        (HTTPStatusError("POST", "/tickle", 404), True),
        (HTTPStatusError("POST", "/tickle", 503), False),
        (HTTPStatusError("POST", "/tickle", 429), False),
        (HTTPStatusError("POST", "/tickle", 401), False),
        (NotAuthenticated("401"), False),
        (GatewayUnreachable("refused"), False),
        (ConnectionResetError(), False),
        (TimeoutError(), False),
        (RuntimeError("surprise"), False),
    ],
)
def test_classify(exc: BaseException, fatal: bool) -> None:
    """Errors are classified fatal or retryable."""
    assert classify(exc) is fatal
    assert ReconnectPolicy().is_fatal(exc) is fatal


def test_masking() -> None:
    """Session ids, accounts, cookies and tokens never appear in clear."""
    sid = "e5af95a05fe55041a403680abb434efa"
    assert sid not in mask(sid) and mask(sid).startswith("e5af")
    assert mask(None) == "<none>" and mask("abc") == "***"
    assert mask_account("U25235077") == "U2*****77"
    assert mask_account("") == "<none>" and mask_account("U12") == "***"
    text = f'Cookie: api={{"session":"{sid}"}} acct DU1234567 url ?oauth_token=abcdef123456'
    masked = mask_text(text)
    assert sid not in masked
    assert "DU1234567" not in masked
    assert "abcdef123456" not in masked
