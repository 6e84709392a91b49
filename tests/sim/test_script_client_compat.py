"""An independent, script-style client written from IBKR's documented protocol (not from
ibstream's client) against ``ibstream sim`` in its default (local gateway) mode.

Like IBKR's own sample scripts for the Client Portal Gateway it uses ``websocket-client``'s
``WebSocketApp`` over ``wss://`` with certificate checks off, sends **no cookie and no session
message**, and decodes every received message from bytes (the gateway's frames are binary).
"""

from __future__ import annotations

import json
import ssl
import threading
from collections import defaultdict
from typing import Any

import pytest

from ibstream.sim.testing import SimThread

websocket = pytest.importorskip("websocket")  # websocket-client (dev extra)

COMBO = "28812380;;;265598/1,272093/-1"


class ScriptClient:
    """What a user's script does: subscribe once the session is confirmed, print messages."""

    def __init__(self, url: str, account: str) -> None:
        self.account = account
        self.by_topic: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.kinds: set[type] = set()
        self.errors: list[Any] = []
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.app = websocket.WebSocketApp(url, on_message=self.on_message, on_error=self.on_error)

    def on_error(self, ws: Any, error: Any) -> None:
        self.errors.append(error)

    def on_message(self, ws: Any, message: bytes | str) -> None:
        self.kinds.add(type(message))
        text = message.decode() if isinstance(message, bytes) else message
        frame = json.loads(text)
        topic = frame.get("topic", "")
        with self.lock:
            self.by_topic[topic].append(frame)
        if topic == "sts" and frame["args"].get("authenticated"):
            ws.send('smd+265598+{"fields":["31","84","86"]}')
            ws.send(f'smd+{COMBO}+{{"fields":["31","84","86"]}}')
            ws.send(
                'smh+265598+{"exchange":"ISLAND","period":"1d","bar":"1d",'
                '"outsideRth":false,"source":"trades"}'
            )
            ws.send(f"sbd+{self.account}+265598")
            ws.send("sor+{}")
            ws.send("str+{}")
            ws.send("tic")
        if topic == "smh+265598" and len(self.by_topic[topic]) == 1:
            ws.send(f"umh+{frame['serverId']}")
        if self.complete():
            self.done.set()

    def complete(self) -> bool:
        t = self.by_topic
        return (
            len(t["smd+265598"]) >= 3
            and len(t[f"smd+{COMBO}"]) >= 3
            and len(t["smh+265598"]) >= 1
            and len(t[f"sbd+{self.account}+265598"]) >= 1
            and len(t["str"]) >= 1
            and len(t["tic"]) >= 1
        )


def test_script_client_without_cookie_gets_binary_data() -> None:
    with SimThread(tls=True, update_interval=0.05, heartbeat_interval=0.5) as gateway:
        sim = gateway.sim
        assert sim.config.mode == "gateway"
        client = ScriptClient(sim.ws_url, sim.config.account)
        runner = threading.Thread(
            target=client.app.run_forever,
            kwargs={"sslopt": {"cert_reqs": ssl.CERT_NONE}},
            daemon=True,
        )
        runner.start()
        try:
            assert client.done.wait(15), {k: len(v) for k, v in client.by_topic.items()}
        finally:
            client.app.close()
            runner.join(5)
    assert client.kinds == {bytes}  # every frame binary, decoded by the script
    assert not client.errors
    assert [f["topic"] for f in client.by_topic["system"][:1]] == ["system"]
    md = client.by_topic["smd+265598"]
    assert md[0]["conid"] == 265598 and {"31", "84", "86"} <= set(md[0])
    combo = client.by_topic[f"smd+{COMBO}"][0]
    assert combo["conidEx"] == COMBO and "31" in combo
    ladder = client.by_topic[f"sbd+{sim.config.account}+265598"][0]
    assert isinstance(ladder["data"], list) and ladder["data"]
    assert client.by_topic["str"][0] == {"topic": "str", "args": []}
