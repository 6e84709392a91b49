"""``Simulator``: the async context manager that runs the gateway and exposes fault controls.

Listener: one aiohttp app, REST under ``/v1/api``, WebSocket at ``/v1/api/ws`` (protocol.md
§1.1), TLS with a generated self-signed certificate by default (§1.2). Faults mirror §8.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ibstream.exceptions import InvalidArgument, InvalidState
from ibstream.sim import faults, rest
from ibstream.sim.config import MarketState, SimConfig
from ibstream.sim.entry import OrderEntry
from ibstream.sim.entry_http import add_entry_routes
from ibstream.sim.gateway import Gateway
from ibstream.sim.orders import Order
from ibstream.sim.replay import Replay
from ibstream.sim.ws import make_ws_handler

if TYPE_CHECKING:
    from ibstream.sim.tls import SelfSigned


if TYPE_CHECKING:  # cryptography is imported only when OAuth starts (extra 'oauth')
    from ibstream.sim.oauth import OAuthCredentials, OAuthServer

__all__ = ["Simulator"]

log = logging.getLogger("ibstream.sim")


class Simulator:
    """A local IBKR Client Portal Gateway.

    Example::

        async with Simulator(SimConfig(port=0, tls=False, seed=1)) as sim:
            sim.base_url  # "http://127.0.0.1:PORT/v1/api"
    """

    def __init__(
        self, config: SimConfig | None = None, *, oauth: OAuthCredentials | None = None
    ) -> None:
        self.config = config or SimConfig()
        self.gateway = Gateway(self.config)
        #: OAuth 1.0a server side (``SimConfig(oauth=True)`` or ``oauth=`` credentials)
        self.oauth: OAuthServer | None = None
        self._oauth_credentials = oauth
        self._oauth_tmp: str | None = None
        #: order entry (validation, prompts, cOIDs, faults; ``ibstream.sim.entry``)
        self.entry = OrderEntry(
            self.gateway,
            on_disconnect=lambda: self.gateway.spawn(self.drop_connections(abrupt=True)),
        )
        self._runner: web.AppRunner | None = None
        self._site: web.SockSite | None = None
        self._port: int | None = None
        self._cert: SelfSigned | None = None
        self._replay = (
            Replay.load(self.config.replay, self.config.replay_speed)
            if self.config.replay
            else None
        )

    # --- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Bind the listener and start the gateway tasks."""
        cfg = self.config
        middlewares = [rest.make_middleware(self.gateway)]
        if cfg.oauth or self._oauth_credentials is not None:
            middlewares.insert(0, self._start_oauth())
        app = web.Application(middlewares=middlewares)
        starter = self._replay.starter(self.gateway) if self._replay else None
        app.router.add_get("/v1/api/ws", make_ws_handler(self.gateway, starter))
        rest.add_routes(app, self.gateway)
        add_entry_routes(app, self.entry)
        if cfg.admin:
            faults.add_admin_routes(app, self)
        if cfg.tls:
            # lazy: cryptography (extra ``sim``) is needed only for the HTTPS/WSS listener
            from ibstream.sim.tls import make_self_signed

            self._cert = make_self_signed()
            if cfg.cert_out:
                self._cert.write_cert(cfg.cert_out)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        await self._bind(cfg.port)
        self.gateway.start()
        if cfg.scenario:
            steps = faults.load_scenario(cfg.scenario, self.fault_actions())
            self.gateway.spawn(faults.run_scenario(self, steps))

    def _start_oauth(self) -> Any:
        from ibstream.sim.oauth import OAuthCredentials, OAuthServer  # needs the 'oauth' extra

        creds = self._oauth_credentials
        if creds is None:
            directory = self.config.oauth_dir
            if directory is None:
                directory = self._oauth_tmp = tempfile.mkdtemp(prefix="ibstream-oauth-")
            creds = OAuthCredentials.generate(directory)
        self.oauth = OAuthServer(creds, lst_lifetime=self.config.oauth_lst_lifetime)
        self.oauth.on_session_lost = self.gateway.lose_auth
        # the brokerage session starts with POST /iserver/auth/ssodh/init after the token
        self.gateway.authenticated = False
        return self.oauth.middleware()

    async def _bind(self, port: int) -> None:
        assert self._runner is not None
        ctx = self._cert.server_context() if self._cert else None
        sock = socket.socket(socket.AF_INET6 if ":" in self.config.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.config.host, port))
        except OSError as exc:  # name the address: "[Errno 98] Address already in use" alone
            sock.close()  # does not say which port
            raise OSError(
                exc.errno, f"cannot listen on {self.config.host}:{port}: {exc.strerror}"
            ) from exc
        self._port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock, ssl_context=ctx)
        await site.start()
        self._site = site

    async def stop(self) -> None:
        """Close every socket and the listener."""
        await self.drop_connections(abrupt=False)
        await self.gateway.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._oauth_tmp is not None:
            shutil.rmtree(self._oauth_tmp, ignore_errors=True)
            self._oauth_tmp = None

    # --- addresses -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the real one when configured with 0)."""
        if self._port is None:
            raise InvalidState("simulator not started")
        return self._port

    @property
    def base_url(self) -> str:
        """REST base, e.g. ``https://127.0.0.1:5000/v1/api``."""
        scheme = "https" if self.config.tls else "http"
        return f"{scheme}://{self.config.host}:{self.port}/v1/api"

    @property
    def ws_url(self) -> str:
        """WebSocket URL, e.g. ``wss://127.0.0.1:5000/v1/api/ws``."""
        scheme = "wss" if self.config.tls else "ws"
        return f"{scheme}://{self.config.host}:{self.port}/v1/api/ws"

    @property
    def cert_pem(self) -> bytes | None:
        """The generated certificate (PEM) when serving TLS."""
        return self._cert.cert_pem if self._cert else None

    @property
    def session_id(self) -> str:
        """The current ``/tickle`` session id (§2.1)."""
        return self.gateway.session_id

    @property
    def received(self) -> dict[int, list[str]]:
        """Every C→S text message, per socket id, in arrival order (closed sockets kept)."""
        return self.gateway.received

    def received_count(self, message: str) -> int:
        """How many times exactly ``message`` was received over all sockets."""
        return sum(m == message for msgs in self.received.values() for m in msgs)

    def received_matching(self, prefix: str) -> list[str]:
        """All received messages starting with ``prefix`` (over all sockets)."""
        return [m for msgs in self.received.values() for m in msgs if m.startswith(prefix)]

    @property
    def connections(self) -> int:
        """Number of open sockets."""
        return sum(1 for c in self.gateway.connections if not c.closed)

    def active_subscriptions(self) -> dict[int, list[str]]:
        """Subscription keys per open socket id (``md:265598``, ``or``, ``mh:341116``...)."""
        return {c.id: sorted(c.subs) for c in self.gateway.connections if not c.closed}

    @property
    def authenticated(self) -> bool:
        """Brokerage session state."""
        return self.gateway.authenticated

    # --- faults (§8) ---------------------------------------------------------------------

    async def drop_connections(self, abrupt: bool = False, code: int = 1000) -> int:
        """Close every socket: clean close ``code`` (1000) or abrupt TCP abort."""
        conns = list(self.gateway.connections)
        for c in conns:
            if abrupt:
                c.abort()
            else:
                await c.close(code)
        self.gateway.connections.difference_update(conns)
        return len(conns)

    def stop_heartbeats(self, answer_tic: bool = False) -> None:
        """Stop ``system`` ``hb`` frames: a stale gateway whose socket stays open.

        By default ``tic`` goes unanswered too, so the socket is silent apart from data (set
        ``answer_tic=True`` to stop only the ``hb`` frames).
        """
        self.gateway.heartbeats = False
        self.gateway.answer_tic = answer_tic

    def resume_heartbeats(self) -> None:
        """Resume ``system`` ``hb`` frames (and ``tic`` replies)."""
        self.gateway.heartbeats = True
        self.gateway.answer_tic = True

    async def lose_auth(self) -> None:
        """``sts authenticated:false``, data stops, REST says false, socket stays open (§8.10)."""
        self.gateway.lose_auth()

    def restore_auth(self) -> None:
        """Authentication back, silently (never announced on the socket)."""
        self.gateway.restore_auth()

    async def competing_session(self) -> None:
        """``competing:true`` then ``authenticated:false`` (§3.3)."""
        await self.gateway.competing_session()

    def logout(self) -> None:
        """SSO logout: ``/tickle`` 401 until :meth:`login`."""
        self.gateway.logout()

    def login(self, new_session: bool = True) -> str:
        """Log in again (new session id by default); returns the session id."""
        return self.gateway.login(new_session)

    def set_market_data_expiry(self, seconds: float | None) -> None:
        """``smd`` streams end silently ``seconds`` (simulated) after (re)subscription."""
        self.gateway.md_expiry = seconds

    def set_time_scale(self, x: float) -> None:
        """Simulated seconds per real second."""
        self.gateway.clock.set_scale(x)

    def ignore_subscriptions(self, prefix: str, count: int = 1) -> None:
        """Silently ignore the next ``count`` subscribe messages starting with ``prefix``."""
        self.gateway.ignore[prefix] = self.gateway.ignore.get(prefix, 0) + count

    def reject_subscriptions(self, prefix: str, count: int = 1) -> None:
        """Answer the next ``count`` subscribes starting with ``prefix`` with an error frame."""
        self.gateway.reject[prefix] = self.gateway.reject.get(prefix, 0) + count

    async def send_malformed(self, kind: str) -> int:
        """Send a malformed frame to every authenticated socket; returns how many got it.

        Kinds: ``not_json``, ``invalid_utf8`` (text opcode, ``0x99`` byte, §8.15), ``binary``
        (valid JSON in a binary frame), ``truncated``, ``wrong_types``.
        """
        payloads = faults.malformed(kind)
        conns = self.gateway.authed_connections()
        for c in conns:
            for payload, opcode in payloads:
                c.send_payload(payload, opcode)
        return len(conns)

    def set_update_interval(self, conid: int | None, seconds: float) -> None:
        """``smd`` cadence for ``conid`` (or all); ``0`` = saturation."""
        if seconds < 0:
            raise InvalidArgument("seconds", "must be >= 0")
        self.gateway.market.set_interval(conid, seconds)

    def slow_feed(self, factor: float) -> None:
        """Multiply every data cadence by ``factor`` (``1`` restores)."""
        if factor <= 0:
            raise InvalidArgument("factor", "must be > 0")
        self.gateway.market.slowdown = factor

    def set_market_state(self, state: MarketState) -> None:
        """``open`` / ``closed`` (``C`` prefix, ``ZB``) / ``halted`` (``H`` prefix) (§6.1, §6.3)."""
        if state not in ("open", "closed", "halted"):
            raise InvalidArgument("state", "open, closed or halted")
        self.gateway.market.state = state

    async def restart(self, reset_server_ids: bool = False, downtime: float = 0.0) -> str:
        """Gateway restart: all sockets dropped, a NEW session id; returns it.

        ``downtime`` (real seconds) keeps the port closed meanwhile (connection refused).
        """
        await self.drop_connections(abrupt=True)
        gw = self.gateway
        if reset_server_ids:
            gw.next_md_id = 0
        gw.preflighted.clear()
        gw.sor_muted = False
        if downtime > 0:
            await self.refuse_connections(downtime)
        return gw.login(new_session=True)

    async def refuse_connections(self, seconds: float, drop: bool = False) -> None:
        """Close the listening socket for ``seconds`` (real), then listen again.

        Open sockets stay up unless ``drop`` (then they are reset too: a gateway outage).
        """
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if drop:
            await self.drop_connections(abrupt=True)
        await asyncio.sleep(seconds)
        await self._bind(self.port)

    async def place_order(
        self,
        conid: int,
        side: str = "BUY",
        quantity: float = 1,
        order_type: str = "LMT",
        price: float | None = None,
        tif: str = "DAY",
    ) -> Order:
        """Place an order (its ``sor`` life cycle starts immediately)."""
        return self.gateway.place_order(conid, side, quantity, order_type, price, tif)

    async def cancel_order(self, order_id: int) -> Order:
        """Cancel an order (PendingCancel → Cancelled)."""
        return self.gateway.cancel_order(order_id)

    # --- order entry (ibstream.sim.entry) ---------------------------------------------------

    def order_fault(self, step: str, kind: str, count: int = 1, seconds: float = 0.0) -> None:
        """Inject an order-entry fault (see :mod:`ibstream.sim.entry`)."""
        self.entry.add_fault(step, kind, count, seconds)

    def clear_order_faults(self) -> None:
        """Remove every pending order-entry fault."""
        self.entry.clear_faults()

    def set_order_prompts(self, prompts: list[list[str]]) -> None:
        """Reply prompts ``[[message_id, text], ...]`` asked on every placement (chains)."""
        self.entry.extra_prompts = [(str(mid), str(text)) for mid, text in prompts]

    def set_price(self, conid: int, price: float) -> None:
        """Move ``conid``'s market to ``price`` and let working orders react at once."""
        if not self.gateway.market.known(conid) or not price > 0:
            raise InvalidArgument("conid", f"unknown conid {conid} or bad price {price!r}")
        self.entry.working.set_price(conid, float(price))

    def close_auction(self) -> int:
        """Run the closing auction for MOC/LOC orders; returns how many filled."""
        return self.entry.working.close_auction()

    def last_price(self, conid: int) -> float:
        """Current walk price of ``conid``."""
        return self.gateway.market.quote(conid).last

    def broadcast(self, frame: dict[str, Any]) -> int:
        """Send any JSON frame to every authenticated socket."""
        conns = self.gateway.authed_connections()
        for c in conns:
            c.send(frame)
        return len(conns)

    def send_bulletin(self, message: str, id: str = "1") -> int:
        """``blt`` in the configured form (recorded: a list of ``{id, exchanges, message}``)."""
        item: Any = {"id": id, "message": message}
        if self.config.blt_form == "list":
            item = [{"id": int(id) if id.isdigit() else id, "exchanges": None, "message": message}]
        return self.broadcast({"topic": "blt", "args": item})

    def send_notification(self, text: str, title: str = "Warning", id: str = "SIM_NTF") -> int:
        """``ntf`` in the configured form (recorded: a list; the documented object selectable)."""
        item = {"id": id, "text": text, "title": title, "url": "https://interactivebrokers.com/"}
        args: Any = [item] if self.config.ntf_form == "list" else item
        return self.broadcast({"topic": "ntf", "args": args})

    def send_order_prompt(
        self,
        order_id: int,
        text: str,
        options: tuple[str, ...] = ("Use on this order", "Always use", "Do not use"),
        message_id: str = "p12",
        request_id: str = "29042",
    ) -> int:
        """An ``ntf`` order question (recorded 2026 shape: orderId, reqId, options, prompt)."""
        item = {
            "orderId": order_id,
            "reqId": request_id,
            "dismissable": [],
            "text": text,
            "options": list(options),
            "type": "M",
            "messageId": message_id,
            "prompt": True,
        }
        args: Any = [item] if self.config.ntf_form == "list" else item
        return self.broadcast({"topic": "ntf", "args": args})

    def send_error(self, error: str, code: int = 500) -> int:
        """``{"topic":"error",...}`` (§5.7)."""
        return self.broadcast({"topic": "error", "args": {"code": code}, "error": error})

    # --- OAuth 1.0a faults (sim/oauth.py; SimConfig(oauth=True)) ---------------------------

    def _oauth_server(self) -> OAuthServer:
        if self.oauth is None:
            raise InvalidState("the simulator does not run OAuth (SimConfig(oauth=True))")
        return self.oauth

    def oauth_expire_tokens(self) -> int:
        """Every live session token expires now; brokerage auth drops (mid-stream expiry)."""
        return self._oauth_server().expire_tokens()

    def oauth_invalid_signature(self, count: int = 1) -> None:
        """Answer the next ``count`` signed requests with ``invalid signature``."""
        self._oauth_server().inject_invalid_signature(int(count))

    def oauth_clock_skew(self, seconds: float) -> None:
        """The server's clock runs ``seconds`` ahead (negative: behind)."""
        self._oauth_server().set_clock_skew(float(seconds))

    def oauth_revoke(self) -> None:
        """Revoke the access token: tokens die and new ones are refused."""
        self._oauth_server().revoke()

    def with_config(self, **changes: Any) -> None:
        """Replace config knobs at runtime (e.g. ``sts_form="legacy"``)."""
        self.config = replace(self.config, **changes)
        self.gateway.cfg = self.config

    def fault_actions(self) -> dict[str, Callable[..., Any]]:
        """The fault vocabulary of the admin API and scenario files: name -> method (§8)."""
        return {
            "drop_connections": self.drop_connections,
            "stop_heartbeats": self.stop_heartbeats,
            "resume_heartbeats": self.resume_heartbeats,
            "lose_auth": self.lose_auth,
            "restore_auth": self.restore_auth,
            "competing_session": self.competing_session,
            "logout": self.logout,
            "login": self.login,
            "set_market_data_expiry": self.set_market_data_expiry,
            "set_time_scale": self.set_time_scale,
            "ignore_subscriptions": self.ignore_subscriptions,
            "reject_subscriptions": self.reject_subscriptions,
            "send_malformed": self.send_malformed,
            "set_update_interval": self.set_update_interval,
            "slow_feed": self.slow_feed,
            "set_market_state": self.set_market_state,
            "restart": self.restart,
            "refuse_connections": self.refuse_connections,
            "place_order": self.place_order,
            "cancel_order": self.cancel_order,
            "send_bulletin": self.send_bulletin,
            "send_notification": self.send_notification,
            "send_order_prompt": self.send_order_prompt,
            "oauth_expire_tokens": self.oauth_expire_tokens,
            "oauth_invalid_signature": self.oauth_invalid_signature,
            "oauth_clock_skew": self.oauth_clock_skew,
            "oauth_revoke": self.oauth_revoke,
            "order_fault": self.order_fault,
            "clear_order_faults": self.clear_order_faults,
            "set_order_prompts": self.set_order_prompts,
            "set_price": self.set_price,
            "close_auction": self.close_auction,
            "send_error": self.send_error,
        }

    def state(self) -> dict[str, Any]:
        """A JSON-able view of the whole simulator (admin ``GET /sim/admin/state``)."""
        gw = self.gateway
        return {
            "session": gw.session_id,
            "logged_in": gw.logged_in,
            "authenticated": gw.authenticated,
            "competing": gw.competing,
            "heartbeats": gw.heartbeats,
            "time_scale": gw.clock.scale,
            "md_expiry": gw.md_expiry,
            "sor_muted": gw.sor_muted,
            "connections": [c.describe() for c in gw.connections if not c.closed],
            "orders": [o.full() for o in gw.book.orders.values()],
            "executions": len(gw.book.executions),
            "execution_records": [
                {"execution_id": e.execution_id, "order_id": e.order_id, "size": e.size}
                for e in gw.book.executions
            ],
            "next_server_id": f"q{gw.next_md_id}",
            "oauth": self.oauth.state() if self.oauth is not None else None,
        }
