"""One contender of ``bench/stream.py``, in its own process so CPU time and RSS are its own.

``python bench/_consumer.py KIND BASE_URL [--conids N] [--account ACCT]``. It connects,
subscribes ``N`` conids (``265598`` when N is 1, else the feed's synthetic conids), prints
``{"ready": ...}`` once every conid delivered its opening frame (the raw contenders see the
gateway's two copies, ibstream delivers one), then obeys JSON-line commands on
stdin (one JSON line back for each):

* ``{"cmd": "mark", "lat": bool, "rss_every": seconds|null}``: reset the counters; with ``lat``
  the user code also computes ``time.time_ns() - frame["_sent_ns"]`` per event.
* ``{"cmd": "expect", "n": N}``: wait until ``N`` market-data events arrived since the mark (or
  nothing new came for ``QUIET`` seconds) and answer the figures of the window.
* ``{"cmd": "quit"}``.

The user code of every contender is the same: count the event (and the latency when asked).
A control thread polls the count every ``POLL`` seconds; the throughput and CPU window runs from
the first to the last poll that saw the count change, so start-up and drain time do not count.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

FIELDS = ["31", "84", "85", "86", "88", "7059"]
SYNTHETIC_BASE = 1_000_000
POLL = 0.01
QUIET = 2.0
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE // 1024


def peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def out(obj: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(obj).decode() + "\n")
    sys.stdout.flush()


class Meter:
    """What user code touches: a count and, when ``lat`` is on, a latency list (ns)."""

    def __init__(self) -> None:
        self.n = 0
        self.lat_on = False
        self.lat: list[int] = []
        self.conflated: Callable[[], int] = lambda: 0

    def control(self, on_quit: Callable[[], None]) -> None:
        """The stdin command loop (runs in a thread)."""
        watch: Watch | None = None
        for line in sys.stdin:
            cmd = orjson.loads(line)
            kind = cmd["cmd"]
            if kind == "quit":
                break
            if kind == "mark":
                if watch is not None:
                    watch.stop()
                self.lat = []
                self.lat_on = bool(cmd.get("lat"))
                self.n = 0
                watch = Watch(self, cmd.get("rss_every"))
                out({"ok": True})
            elif kind == "expect" and watch is not None:
                out(watch.wait(int(cmd["n"])))
                watch.stop()
                watch = None
        if watch is not None:
            watch.stop()
        on_quit()


class Watch(threading.Thread):
    """Polls the meter from a mark on: first and last change of the count (time, CPU) and,
    optionally, RSS samples."""

    def __init__(self, meter: Meter, rss_every: float | None) -> None:
        super().__init__(daemon=True)
        self.meter = meter
        self.rss_every = rss_every
        self.conflated0 = meter.conflated()
        self.first: tuple[int, float, float] | None = None
        self.last: tuple[int, float, float] | None = None
        self.samples: list[tuple[int, int]] = []
        self._stop_flag = threading.Event()
        self.start()

    def run(self) -> None:
        prev = 0
        next_sample = 0.0
        while not self._stop_flag.is_set():
            n = self.meter.n
            now = time.perf_counter()
            if n != prev:
                point = (n, now, time.process_time())
                if self.first is None:
                    self.first = point
                self.last = point
                prev = n
            if self.rss_every and now >= next_sample:
                self.samples.append((n, rss_kb()))
                next_sample = now + self.rss_every
            time.sleep(POLL)

    def stop(self) -> None:
        self._stop_flag.set()
        self.join()

    def wait(self, expected: int) -> dict[str, Any]:
        m = self.meter
        last_n = -1
        quiet_since = time.perf_counter()
        while True:
            n = m.n
            now = time.perf_counter()
            if n != last_n:
                last_n = n
                quiet_since = now
            conflated = m.conflated() - self.conflated0
            if n + conflated >= expected or now - quiet_since > QUIET:
                break
            time.sleep(POLL)
        time.sleep(2 * POLL)  # let the poller see the final count
        res: dict[str, Any] = {
            "delivered": m.n,
            "conflated": m.conflated() - self.conflated0,
            "rss_kb": rss_kb(),
            "peak_rss_kb": peak_rss_kb(),
            "rss_samples": self.samples[:],
        }
        first, last = self.first, self.last
        if first is not None and last is not None and last[0] > first[0]:
            res["window_frames"] = last[0] - first[0]
            res["window_s"] = last[1] - first[1]
            res["window_cpu_s"] = last[2] - first[2]
        lat = sorted(m.lat)
        if lat:
            res["lat_p50_us"] = lat[len(lat) // 2] / 1000
            res["lat_p99_us"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1000
            res["lat_max_us"] = lat[-1] / 1000
        return res


def conid_list(n: int) -> list[int]:
    return [265598] if n <= 1 else [SYNTHETIC_BASE + i for i in range(n)]


async def _wait_for(pred: Callable[[], bool], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise TimeoutError("contender not ready")
        await asyncio.sleep(0.01)


async def _control_task(meter: Meter) -> None:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    threading.Thread(
        target=meter.control, args=(lambda: loop.call_soon_threadsafe(done.set),), daemon=True
    ).start()
    await done.wait()


# --- (1a) bare aiohttp + orjson --------------------------------------------------------------


async def run_bare(url: str, conids: list[int], meter: Meter) -> None:
    import aiohttp

    loads = orjson.loads
    async with aiohttp.ClientSession() as http:
        async with http.post(url + "/tickle") as r:
            session = (await r.json())["session"]
        ws = await http.ws_connect(
            url.replace("http", "ws", 1) + "/ws",
            max_msg_size=0,
            headers={"Cookie": f'api={{"session":"{session}"}}'},
        )
        # wait for the opening sts before subscribing (early subscribers are dropped)
        while True:
            msg = await ws.receive()
            if loads(msg.data).get("topic") == "sts":
                break
        for conid in conids:
            await ws.send_str(f"smd+{conid}+" + orjson.dumps({"fields": FIELDS}).decode())

        async def read() -> None:
            m = meter
            async for msg in ws:
                d = loads(msg.data)
                if d.get("topic", "")[:3] == "smd":
                    m.n += 1
                    if m.lat_on:
                        m.lat.append(time.time_ns() - d["_sent_ns"])

        reader = asyncio.create_task(read())
        await _wait_for(lambda: meter.n >= 2 * len(conids), 120)
        out({"ready": True, "rss_kb": rss_kb()})
        await _control_task(meter)
        reader.cancel()
        await ws.close()


# --- (1b) bare picows + orjson: the fastest raw Python loop measured here ------------------


async def run_picows(url: str, conids: list[int], meter: Meter) -> None:
    import aiohttp
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    # the /tickle session cookie only
    async with aiohttp.ClientSession() as http, http.post(url + "/tickle") as r:
        session = (await r.json())["session"]

    loads = orjson.loads
    m = meter
    ready = asyncio.get_running_loop().create_future()
    text, binary = WSMsgType.TEXT, WSMsgType.BINARY  # the gateway sends JSON in binary frames

    class Listener(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            mt = frame.msg_type
            if mt is not binary and mt is not text:
                return
            d = loads(frame.get_payload_as_memoryview())
            topic = d.get("topic", "")
            if topic[:3] == "smd":
                m.n += 1
                if m.lat_on:
                    m.lat.append(time.time_ns() - d["_sent_ns"])
            elif topic == "sts" and not ready.done():
                ready.set_result(None)

    transport, _ = await ws_connect(
        Listener,
        url.replace("http", "ws", 1) + "/ws",
        extra_headers={"Cookie": f'api={{"session":"{session}"}}'},
        max_frame_size=1 << 30,
    )
    await ready  # wait for the opening sts before subscribing (early subscribers are dropped)
    for conid in conids:
        transport.send(WSMsgType.TEXT, f"smd+{conid}+".encode() + orjson.dumps({"fields": FIELDS}))
    await _wait_for(lambda: meter.n >= 2 * len(conids), 120)
    out({"ready": True, "rss_kb": rss_kb()})
    await _control_task(meter)
    transport.disconnect()


# --- (2, 3) ibstream asyncio client: async iterator / callback -------------------------------


async def run_ibstream(
    url: str, conids: list[int], meter: Meter, callback: bool, backend: str = "auto"
) -> None:
    import ibstream
    from ibstream.aio.config import ClientConfig
    from ibstream.protocol.events import MarketData
    from ibstream.protocol.specs import MarketDataSpec

    config = ClientConfig(ws_backend=backend)  # type: ignore[arg-type]
    async with ibstream.connect(url, verify=False, config=config) as client:
        # callback users hold the streams without a buffer nobody would read
        handles = [
            client.subscribe(MarketDataSpec(c, fields=tuple(FIELDS)), buffer=not callback)
            for c in conids
        ]
        tasks = []
        if callback:
            m = meter

            def on_md(ev: Any) -> None:
                m.n += 1
                if m.lat_on:
                    m.lat.append(time.time_ns() - ev.raw["_sent_ns"])

            client.on(MarketData, on_md)
        else:

            async def consume(handle: Any) -> None:
                m = meter
                md = MarketData
                async for ev in handle:
                    if ev.__class__ is md:
                        m.n += 1
                        if m.lat_on:
                            m.lat.append(time.time_ns() - ev.raw["_sent_ns"])

            tasks = [asyncio.create_task(consume(h)) for h in handles]
            meter.conflated = lambda: sum(h.conflated for h in handles)
        await _wait_for(lambda: meter.n >= len(conids), 120)  # one opening each
        out({"ready": True, "rss_kb": rss_kb()})
        await _control_task(meter)
        for t in tasks:
            t.cancel()


# --- (4) IBind 0.2.2: QueueSink accessor / CallbackSink --------------------------------------


def run_ibind(url: str, conids: list[int], meter: Meter, callback: bool, account: str) -> None:
    from ibind import CallbackSink, IbkrClient, IbkrWsClient, QueueSink
    from ibind.events import MarketData
    from ibind.ibkr_ws.ibkr_router import IbkrRouter
    from ibind.subscriptions import MarketDataSubscription

    class _StampRouter(IbkrRouter):
        """IBind's default router (it renames the field ids and drops other keys), plus
        the bench's send stamp carried over so user code can read it."""

        def _preprocess_market_data_message(self, data: dict) -> Any:
            ev = super()._preprocess_market_data_message(data)
            stamp = data.get("_sent_ns")
            if stamp is not None and isinstance(ev, MarketData):
                ev.data["_sent_ns"] = stamp
            return ev

    m = meter
    sink: Any
    if callback:
        sink = CallbackSink()

        def on_md(ev: Any) -> None:
            m.n += 1
            if m.lat_on:
                m.lat.append(time.time_ns() - ev.data["_sent_ns"])

        sink.on(MarketData, on_md)
    else:
        sink = QueueSink()
    rest = IbkrClient(url=url + "/", cacert=False, account_id=account, use_oauth=False, timeout=5)
    ws = IbkrWsClient(
        url=url.replace("http", "ws", 1) + "/ws",
        ibkr_client=rest,
        account_id=account,
        cacert=False,
        sink=sink,
        use_oauth=False,
        router=_StampRouter(),
    )
    stop = threading.Event()
    try:
        if not ws.start():
            raise RuntimeError("IBind did not start")
        end = time.monotonic() + 20
        while not ws.is_authenticated():
            if time.monotonic() > end:
                raise TimeoutError("IBind not authenticated")
            time.sleep(0.02)
        for conid in conids:
            ws.subscribe(MarketDataSubscription(conid=str(conid), fields=FIELDS))
        if not callback:
            accessor = sink.new_queue_accessor(MarketData)

            def drain() -> None:
                get = accessor.get
                while not stop.is_set():
                    ev = get(True, 0.2)
                    if ev is not None:
                        m.n += 1
                        if m.lat_on:
                            m.lat.append(time.time_ns() - ev.data["_sent_ns"])

            threading.Thread(target=drain, daemon=True).start()
        end = time.monotonic() + 30
        while m.n < 2 * len(conids):
            if time.monotonic() > end:
                raise TimeoutError("IBind: no market data")
            time.sleep(0.01)
        out({"ready": True, "rss_kb": rss_kb()})
        done = threading.Event()
        meter.control(done.set)
    finally:
        stop.set()
        ws.shutdown()
        rest.close()


# --- (5) ibstream.sync (optional: another engineer's facade) ---------------------------------


def run_sync(url: str, conids: list[int], meter: Meter, callback: bool) -> None:
    from ibstream.exceptions import StreamTimeout
    from ibstream.protocol.events import MarketData
    from ibstream.protocol.specs import MarketDataSpec
    from ibstream.sinks import CallbackSink, QueueSink
    from ibstream.sync import Client  # not yet re-exported as ibstream.Client

    m = meter
    stop = threading.Event()
    sink: Any
    if callback:
        sink = CallbackSink()

        def on_md(ev: Any) -> None:
            m.n += 1
            if m.lat_on:
                m.lat.append(time.time_ns() - ev.raw["_sent_ns"])

        sink.on(MarketData, on_md)
    else:
        sink = QueueSink()
    with Client(url, verify=False, sink=sink) as client:
        for conid in conids:  # the sink gets the events: no handle buffer
            client.subscribe(MarketDataSpec(conid, fields=tuple(FIELDS)), buffer=False)

        # market data conflates in the client's hand-off to the sinks when they fall behind
        def handoff() -> int:
            return int(client.metrics()["sinks"]["conflated"])

        meter.conflated = handoff
        if not callback:
            reader = sink.reader(MarketData)
            meter.conflated = lambda: handoff() + reader.conflated

            def drain() -> None:
                get = reader.get
                while not stop.is_set():
                    try:
                        ev = get(0.2)
                    except StreamTimeout:
                        continue
                    m.n += 1
                    if m.lat_on:
                        m.lat.append(time.time_ns() - ev.raw["_sent_ns"])

            threading.Thread(target=drain, daemon=True).start()
        end = time.monotonic() + 30
        while m.n < len(conids):  # the duplicate is dropped
            if time.monotonic() > end:
                raise TimeoutError("ibstream.sync: no market data")
            time.sleep(0.01)
        out({"ready": True, "rss_kb": rss_kb()})
        meter.control(lambda: None)
        stop.set()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind")
    ap.add_argument("url")
    ap.add_argument("--conids", type=int, default=1)
    ap.add_argument("--account", default="DU1234567")
    args = ap.parse_args()
    meter = Meter()
    conids = conid_list(args.conids)
    kind = args.kind
    if kind == "bare":
        asyncio.run(run_bare(args.url, conids, meter))
    elif kind == "picows":
        asyncio.run(run_picows(args.url, conids, meter))
    elif kind in ("iter", "callback"):
        asyncio.run(run_ibstream(args.url, conids, meter, kind == "callback"))
    elif kind == "iter-aiohttp":  # the same iterator on the aiohttp WebSocket (issue 19)
        asyncio.run(run_ibstream(args.url, conids, meter, False, "aiohttp"))
    elif kind in ("ibind-queue", "ibind-callback"):
        run_ibind(args.url, conids, meter, kind == "ibind-callback", args.account)
    elif kind in ("sync-queue", "sync-callback"):
        run_sync(args.url, conids, meter, kind == "sync-callback")
    else:
        raise SystemExit(f"unknown contender {kind!r}")
    os._exit(0)  # IBind/sync threads must not delay the exit


if __name__ == "__main__":
    main()
