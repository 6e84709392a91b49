"""Helpers for the command-line tests: run ``ibstream`` as a subprocess (real sockets), start
``ibstream sim`` subprocesses as "real gateways", drive the live view in a pseudo-terminal."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("IBSTREAM_URL", "IBSTREAM_CACERT", "IBSTREAM_INSECURE"):
        env.pop(name, None)
    for name in [n for n in env if n.startswith("IBSTREAM_OAUTH")]:
        env.pop(name)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "ibstream.cli.main", *args]


@dataclass
class Result:
    code: int
    out: str
    err: str
    seconds: float


def run_cli(*args: str, timeout: float = 30.0, env: dict[str, str] | None = None) -> Result:
    """Run ``ibstream ARGS`` with stdout/stderr as pipes (no terminal)."""
    t0 = time.monotonic()
    proc = subprocess.run(
        cli_argv(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or cli_env(),
        stdin=subprocess.DEVNULL,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)


def assert_one_line_error(result: Result, *fragments: str) -> None:
    """A user error: non-zero, exactly one line on stderr, no traceback."""
    assert result.code != 0, result
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@dataclass
class Gateway:
    """An ``ibstream sim`` subprocess."""

    proc: subprocess.Popen[str]
    url: str
    cert: Path | None = None

    @property
    def root(self) -> str:
        return self.url.removesuffix("/v1/api")

    def admin(self, action: str, **params: Any) -> Any:
        """``POST /sim/admin/fault`` (plain HTTP gateways only)."""
        import urllib.request

        body = orjson.dumps({"action": action, **params})
        req = urllib.request.Request(
            self.root + "/sim/admin/fault",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            return orjson.loads(resp.read())


def start_gateway(*extra: str, cert: Path | None = None) -> Gateway:
    args = ["sim", "--port", "0", *extra]
    if cert is not None:
        args += ["--cert-out", str(cert)]
    proc = subprocess.Popen(
        cli_argv(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if line.startswith("gateway: "):
                return Gateway(proc, line.split(None, 1)[1].strip(), cert)
            if not line and proc.poll() is not None:
                break
    proc.kill()
    raise RuntimeError("ibstream sim did not print its gateway line")


def stop_gateway(gw: Gateway) -> None:
    gw.proc.send_signal(signal.SIGINT)
    try:
        gw.proc.wait(10)
    except subprocess.TimeoutExpired:
        gw.proc.kill()
        gw.proc.wait()
    if gw.proc.stdout is not None:
        gw.proc.stdout.close()


@pytest.fixture(scope="session")
def gateway() -> Iterator[Gateway]:
    """A plain-HTTP simulator shared by the read-only tests."""
    gw = start_gateway("--plain", "--update-interval", "0.2")
    yield gw
    stop_gateway(gw)


@pytest.fixture(scope="session")
def tls_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A TLS simulator (self-signed certificate written to a file)."""
    cert = tmp_path_factory.mktemp("tls") / "gateway.pem"
    gw = start_gateway(cert=cert)
    yield gw
    stop_gateway(gw)


@pytest.fixture
def own_gateway() -> Iterator[Gateway]:
    """A plain-HTTP simulator for one test (faults may be injected)."""
    gw = start_gateway("--plain")
    yield gw
    stop_gateway(gw)


# -- pseudo-terminal -------------------------------------------------------------------------

_ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


@dataclass
class PtyResult:
    code: int
    raw: bytes
    seconds: float

    @property
    def text(self) -> str:
        return _ANSI.sub(b"", self.raw).decode("utf-8", "replace")


def run_in_pty(
    *args: str,
    ctrl_c_when: str | tuple[str, ...] | None = None,
    timeout: float = 30.0,
    cols: int = 120,
    rows: int = 40,
) -> PtyResult:
    """Run ``ibstream ARGS`` on a real pseudo-terminal; optionally type Ctrl-C once every regular
    expression of ``ctrl_c_when`` matches the output (ANSI sequences removed)."""
    import fcntl
    import pty
    import struct
    import termios

    t0 = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:  # child
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            env = cli_env(TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
            env.pop("NO_COLOR", None)
            os.execvpe(sys.executable, cli_argv(*args), env)
        finally:
            os._exit(127)
    buf = b""
    patterns = [ctrl_c_when] if isinstance(ctrl_c_when, str) else list(ctrl_c_when or ())
    sent = not patterns
    deadline = t0 + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                buf += data
            if not sent:
                text = _ANSI.sub(b"", buf).decode("utf-8", "replace")
                if all(re.search(p, text) for p in patterns):
                    os.write(fd, b"\x03")
                    sent = True
        else:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"timed out; output: {buf[-2000:]!r}")
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return PtyResult(os.waitstatus_to_exitcode(status), buf, time.monotonic() - t0)
