"""OAuth 1.0a end to end: the client against the simulator's independent server side, over
real sockets: REST, WebSocket streaming, refresh while streaming, every injected fault, and no
secret in DEBUG logs."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ibstream.aio.client import ClientConfig, StreamClient, connect
from ibstream.auth import OAuth1a, OAuthConfig
from ibstream.backoff import ReconnectPolicy
from ibstream.exceptions import (
    OAuthClockSkew,
    OAuthConfigError,
    OAuthSignatureRejected,
    OAuthTokenMismatch,
    OAuthTokenRevoked,
)
from ibstream.protocol.events import MarketData
from ibstream.protocol.lifecycle import Gap, SessionState, SubscriptionState
from ibstream.protocol.specs import MarketDataSpec
from ibstream.sim import Simulator
from ibstream.sim.oauth import RFC3526_PRIME_2048, OAuthCredentials
from toolkit import FAST

from .conftest import sim_config

# every test once per client WebSocket library (aiohttp, picows): see conftest.ws_backend
pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("ws_backend")]

AAPL = 265598


def oauth(creds: OAuthCredentials, **changes: Any) -> OAuth1a:
    settings = creds.client_settings()
    settings.update(changes)
    return OAuth1a(OAuthConfig.from_mapping(settings))


def client_for(sim: Simulator, auth: OAuth1a, start_timeout: float = 10.0) -> StreamClient:
    config = ClientConfig(
        protocol=FAST,
        reconnect=lambda: ReconnectPolicy(initial=0.05, max_delay=0.3, min_delay=0.01),
        start_timeout=start_timeout,
    )
    return connect(sim.base_url, config=config, auth=auth)


async def wait_for(cond: Callable[[], bool], timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def next_md(handle: Any, timeout: float = 5.0) -> MarketData:
    async with asyncio.timeout(timeout):
        async for ev in handle:
            if isinstance(ev, MarketData):
                return ev
    raise AssertionError("stream ended")


async def test_rest_and_streaming(osim: Simulator, creds: OAuthCredentials) -> None:
    """Token by DH exchange, ssodh/init, signed REST, WebSocket with oauth_token + api cookie."""
    assert osim.oauth is not None
    auth = oauth(creds)
    async with client_for(osim, auth) as client:
        assert osim.oauth.lst_issued == 1
        assert auth.expires_at is not None and auth.expires_at > time.time() + 3600
        accounts = await client.rest.accounts()
        assert accounts["accounts"] == ["DU1234567"]
        async with client.subscribe(MarketDataSpec(AAPL)) as handle:
            md = await next_md(handle)
            assert md.conid == AAPL
        assert osim.oauth.signed_ok >= 3  # ssodh/init, tickle, accounts
        assert not osim.oauth.rejected
        assert client.rest.auth.describe().kind == "oauth1a"


async def test_unsigned_requests_are_refused(osim: Simulator) -> None:
    """Without an OAuth signature the simulated api.ibkr.com answers 401, as IBKR does."""
    async with aiohttp.ClientSession() as http:
        async with http.post(osim.base_url + "/tickle") as resp:
            assert resp.status == 401
            body = await resp.json()
        assert "error" in body and body["statusCode"] == 401
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(osim.ws_url + "?oauth_token=nope")
        assert info.value.status == 401


async def test_replayed_nonce_is_refused(osim: Simulator, creds: OAuthCredentials) -> None:
    """The same signed request sent twice: the second is refused (nonce already used)."""
    auth = oauth(creds, refresh_margin=0.0)
    async with client_for(osim, auth) as client:
        headers: dict[str, str] = {}
        url = client.rest.base_url + "/iserver/accounts"
        auth.prepare_request("GET", url, None, headers, time.time())
        async with aiohttp.ClientSession() as http:
            async with http.get(url, headers=headers) as first:
                assert first.status == 200
            async with http.get(url, headers=headers) as second:
                assert second.status == 401
                assert "nonce" in (await second.json())["error"]


async def test_token_refresh_while_streaming(creds: OAuthCredentials) -> None:
    """Short-lived tokens are refreshed ahead of expiry: no 401, no reconnect, no gap."""
    async with Simulator(sim_config(oauth_lst_lifetime=4.0), oauth=creds) as sim:
        assert sim.oauth is not None
        auth = oauth(creds)
        async with client_for(sim, auth) as client:
            gaps: list[Gap] = []
            client.on(Gap, gaps.append)
            async with client.subscribe(MarketDataSpec(AAPL)) as handle:
                await next_md(handle)
                # refreshed at half the lifetime: 2 s apart, 2 s before each expiry
                await wait_for(lambda: sim.oauth is not None and sim.oauth.lst_issued >= 4, 15)
                # the 4th token issued may still be on its way to the client (a busy machine)
                await wait_for(lambda: auth.tokens_obtained >= 4, 15)
                await next_md(handle)
                assert handle.state is SubscriptionState.ACTIVE
            assert not sim.oauth.rejected, sim.oauth.rejected
            assert client.metrics()["connections"] == 1
            assert not gaps


async def test_token_expiry_mid_stream_recovers(osim: Simulator, creds: OAuthCredentials) -> None:
    """The server expires every token and drops brokerage auth: the client re-obtains a token,
    re-initialises the session, and data flows again."""
    assert osim.oauth is not None
    auth = oauth(creds)
    async with client_for(osim, auth) as client:
        async with client.subscribe(MarketDataSpec(AAPL)) as handle:
            await next_md(handle)
            osim.oauth.expire_tokens()
            await wait_for(lambda: osim.oauth is not None and osim.oauth.lst_issued >= 2)
            await wait_for(lambda: client.state is SessionState.AUTHENTICATED)
            await wait_for(lambda: handle.state is SubscriptionState.ACTIVE)
            await next_md(handle)
        assert osim.oauth.rejected["live session token expired or unknown"] >= 1
        assert client.error is None


async def test_invalid_signature_mid_stream_recovers(
    osim: Simulator, creds: OAuthCredentials
) -> None:
    """One request answered ``invalid signature``: a new token, the request retried, no error."""
    assert osim.oauth is not None
    auth = oauth(creds)
    async with client_for(osim, auth) as client:
        osim.oauth.inject_invalid_signature(1)
        body = await client.rest.accounts()
        assert body["accounts"] == ["DU1234567"]
        assert osim.oauth.rejected["invalid signature"] == 1
        assert osim.oauth.lst_issued == 2
        assert client.error is None


async def test_invalid_signature_at_start(osim: Simulator, creds: OAuthCredentials) -> None:
    """The token request itself refused for its signature: one clear error, no retry loop."""
    assert osim.oauth is not None
    osim.oauth.inject_invalid_signature(1)
    with pytest.raises(OAuthSignatureRejected, match="signature key"):
        await client_for(osim, oauth(creds)).start()


async def test_wrong_signature_key(osim: Simulator, creds: OAuthCredentials) -> None:
    """A signature key that is not the registered one: ``OAuthSignatureRejected``."""
    other = str(Path(__file__).parent / "fixtures" / "other_key.pem")
    with pytest.raises(OAuthSignatureRejected):
        await client_for(osim, oauth(creds, signature_key_file=other)).start()


async def test_wrong_prime(osim: Simulator, creds: OAuthCredentials) -> None:
    """A valid prime that is not the registered one: the token does not validate."""
    from .test_signing import FIXED_PRIME_HEX

    auth = oauth(creds, dh_param_file="", dh_prime=FIXED_PRIME_HEX)
    assert int(FIXED_PRIME_HEX, 16) != RFC3526_PRIME_2048
    with pytest.raises(OAuthTokenMismatch, match="DH prime"):
        await client_for(osim, auth).start()


async def test_clock_skew(osim: Simulator, creds: OAuthCredentials) -> None:
    """The server's clock is 15 minutes ahead: ``OAuthClockSkew`` with the estimated offset."""
    assert osim.oauth is not None
    osim.oauth.set_clock_skew(900.0)
    with pytest.raises(OAuthClockSkew) as info:
        await client_for(osim, oauth(creds)).start()
    assert info.value.skew is not None and abs(info.value.skew + 900.0) < 5.0
    assert "clock" in str(info.value)


async def test_clock_skew_mid_stream_is_fatal(osim: Simulator, creds: OAuthCredentials) -> None:
    """Skew appearing while streaming: the next request fails, re-obtaining the token fails
    with ``OAuthClockSkew``, and the client stops with that error (no endless retries)."""
    assert osim.oauth is not None
    client = client_for(osim, oauth(creds))
    await client.start()
    try:
        osim.oauth.set_clock_skew(-900.0)
        await wait_for(lambda: client.error is not None)
        assert isinstance(client.error, OAuthClockSkew)
    finally:
        await client.stop()


async def test_revoked_token(osim: Simulator, creds: OAuthCredentials) -> None:
    """A revoked access token: ``OAuthTokenRevoked`` at start, and fatal while streaming."""
    assert osim.oauth is not None
    client = client_for(osim, oauth(creds))
    await client.start()
    try:
        osim.oauth.revoke()
        await wait_for(lambda: client.error is not None)
        assert isinstance(client.error, OAuthTokenRevoked)
    finally:
        await client.stop()
    with pytest.raises(OAuthTokenRevoked, match="self-service portal"):
        await client_for(osim, oauth(creds)).start()


def test_bad_key_file(creds: OAuthCredentials, tmp_path: Any) -> None:
    """A key file that is not a private key: ``OAuthConfigError`` naming it, no key material."""
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(OAuthConfigError, match="signature key file: not a PEM private key"):
        oauth(creds, signature_key_file=str(bad))


def test_secret_not_decryptable(creds: OAuthCredentials) -> None:
    """An access token secret that is not base64: a clear error without the secret."""
    with pytest.raises(OAuthConfigError, match="access token secret: not base64") as info:
        oauth(creds, access_token_secret="!!!" + creds.access_token_secret[3:])
    assert creds.access_token_secret[3:20] not in str(info.value)


async def test_no_secret_in_debug_logs(
    osim: Simulator, creds: OAuthCredentials, caplog: pytest.LogCaptureFixture
) -> None:
    """DEBUG logs, reprs and errors never carry a key, token, secret or signature."""
    assert osim.oauth is not None
    caplog.set_level(logging.DEBUG)
    auth = oauth(creds)
    async with client_for(osim, auth) as client:
        async with client.subscribe(MarketDataSpec(AAPL)) as handle:
            await next_md(handle)
        osim.oauth.inject_invalid_signature(1)
        await client.rest.accounts()
        lst = auth._lst
        assert lst is not None
        secrets = [
            creds.access_token,
            creds.access_token_secret,
            creds.access_token_secret[:24],
            creds.secret.hex(),
            lst,
            base64.b64decode(lst).hex(),
            creds.consumer_key,
            client.rest.auth.ws_params()["oauth_token"],
        ]
        text = caplog.text + repr(auth) + repr(auth.config) + repr(client) + repr(client.rest)
    assert caplog.records, "expected DEBUG records"
    for secret in secrets:
        assert secret not in text
    for body in key_lines(creds.signature_key_file, creds.encryption_key_file):
        assert body not in text


def key_lines(*paths: str) -> list[str]:
    """A line of base64 from the middle of each PEM key file."""
    return [Path(p).read_text(encoding="ascii").splitlines()[5] for p in paths]


async def test_admin_api_injects_oauth_faults(osim: Simulator, creds: OAuthCredentials) -> None:
    """The admin API (used by ``ibstream sim --oauth`` users) drives the OAuth faults."""
    assert osim.oauth is not None
    async with aiohttp.ClientSession() as http:
        root = osim.base_url.rsplit("/v1/api", 1)[0]
        body = {"action": "oauth_invalid_signature", "count": 2}
        async with http.post(root + "/sim/admin/fault", json=body) as resp:
            assert resp.status == 200
        async with http.post(root + "/sim/admin/fault", json={"action": "nope"}) as resp:
            assert resp.status == 400
        async with http.get(root + "/sim/admin/state") as resp:
            state = await resp.json()
    assert osim.oauth.invalid_signatures == 2
    assert state["oauth"]["consumer_key"] == creds.consumer_key
    osim.oauth_clock_skew(30.0)
    assert osim.oauth.clock_skew == 30.0


async def test_oauth_faults_need_an_oauth_simulator() -> None:
    """Asking a gateway-mode simulator for an OAuth fault is a clear error."""
    from ibstream.exceptions import InvalidState

    async with Simulator(sim_config()) as sim:
        assert sim.oauth is None
        with pytest.raises(InvalidState, match="does not run OAuth"):
            sim.oauth_revoke()


def test_threaded_client_with_oauth(creds: OAuthCredentials) -> None:
    """``ibstream.Client(url, auth=OAuth1a(...))``: the blocking client over the same driver."""
    import threading

    import ibstream

    ready = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        async with Simulator(sim_config(), oauth=creds) as sim:
            box["url"] = sim.base_url
            box["sim"] = sim
            ready.set()
            while not box.get("done"):
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        auth = OAuth1a.from_file(creds.config_file, env={})
        with (
            ibstream.Client(box["url"], auth=auth) as client,
            client.subscribe(MarketDataSpec(AAPL)) as handle,
        ):
            assert handle.wait(10)
            event = handle.get(timeout=5)
            while not isinstance(event, MarketData):
                event = handle.get(timeout=5)
            assert event.conid == AAPL
        assert box["sim"].oauth.lst_issued == 1
    finally:
        box["done"] = True
        thread.join(10)


async def test_ws_refusal_does_not_chain_the_token(
    osim: Simulator, creds: OAuthCredentials
) -> None:
    """A refused handshake does not carry aiohttp's error (its text shows the oauth_token)."""
    import traceback

    from ibstream.aio.rest import GatewayRest
    from ibstream.exceptions import NotAuthenticated

    assert osim.oauth is not None
    rest = GatewayRest(osim.base_url, auth=oauth(creds))
    try:
        info = await rest.tickle()
        osim.oauth.tokens.clear()  # silently: the client still believes its token valid
        with pytest.raises(NotAuthenticated) as err:
            await rest.ws_connect(info.session_id)
        assert err.value.__cause__ is None
        assert creds.access_token not in "".join(traceback.format_exception(err.value))
    finally:
        await rest.close()


async def test_concurrent_401s_obtain_one_token(osim: Simulator, creds: OAuthCredentials) -> None:
    """Several requests refused at once share one new token (a lock, and no invalidation of a
    token that replaced the refused one)."""
    from ibstream.aio.rest import GatewayRest

    assert osim.oauth is not None
    auth = oauth(creds)
    rest = GatewayRest(osim.base_url, auth=auth)
    try:
        await rest.accounts()
        osim.oauth.tokens.clear()
        bodies = await asyncio.gather(*(rest.accounts() for _ in range(5)))
        assert all(b["accounts"] == ["DU1234567"] for b in bodies)
        assert osim.oauth.lst_issued == 2
        assert auth.tokens_obtained == 2
    finally:
        await rest.close()


async def test_query_values_with_special_characters(
    osim: Simulator, creds: OAuthCredentials
) -> None:
    """Spaces, '&', '=', '+', '/', commas and non-ASCII in a query: client and simulator agree
    on the signed form, and the server sees the values unchanged."""
    assert osim.oauth is not None
    async with client_for(osim, oauth(creds)) as client:
        for symbol in ("BRK B", "A&B=C+D/E", "Ünï,cødé", "AAPL"):
            status, body = await client.rest.request(
                "GET", "/iserver/secdef/search", params={"symbol": symbol}
            )
            assert status == 200
            if symbol == "AAPL":
                assert body and body[0]["symbol"] == "AAPL"
        assert not osim.oauth.rejected


async def test_a_refused_signature_on_an_account_path_logs_no_account(
    osim: Simulator, creds: OAuthCredentials, caplog: pytest.LogCaptureFixture
) -> None:
    """The 401 that makes the client obtain new credentials is logged with its path masked:
    order paths name the account (``/iserver/account/{acct}/orders...``)."""
    from ibstream.aio.rest import GatewayRest

    assert osim.oauth is not None
    caplog.set_level(logging.INFO, logger="ibstream")
    rest = GatewayRest(osim.base_url, auth=oauth(creds))
    order = {"conid": AAPL, "side": "BUY", "orderType": "MKT", "quantity": 1, "tif": "DAY"}
    try:
        await rest.accounts()
        osim.oauth.inject_invalid_signature(1)
        status, body = await rest.request(
            "POST", "/iserver/account/DU1234567/orders/whatif", json={"orders": [order]}
        )
    finally:
        await rest.close()
    assert status == 200 and "amount" in body
    assert "401, obtaining new credentials" in caplog.text
    assert "DU1234567" not in caplog.text
