"""Child processes for benchmarks: start, wait for a port or URL, stop, and read their memory.

Every process started through :class:`Child` is remembered in a :class:`ProcessGroup`, so one
``stop_all()`` in a ``finally`` leaves nothing running, whatever failed in between.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from kumowatch_common.testing import free_port, wait_port

__all__ = [
    "Child",
    "ProcessGroup",
    "free_port",
    "free_port_block",
    "peak_rss_kib",
    "rss_kib",
    "wait_http",
    "wait_port",
]


def _status_field(pid: int, name: str) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return None


def peak_rss_kib(pid: int) -> int | None:
    """Peak resident memory (``VmHWM``) of a live process, in KiB."""
    return _status_field(pid, "VmHWM")


def rss_kib(pid: int) -> int | None:
    """Current resident memory (``VmRSS``) of a live process, in KiB."""
    return _status_field(pid, "VmRSS")


def free_port_block(count: int, attempts: int = 50) -> int:
    """The first of ``count`` consecutive free loopback ports."""
    import socket

    for _ in range(attempts):
        base = free_port()
        if base + count > 65_000:
            continue
        socks: list[socket.socket] = []
        try:
            for i in range(count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", base + i))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return base
    raise RuntimeError(f"no block of {count} free ports found")


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Block until ``url`` answers 200 (raise if ``proc`` exits first or on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} was up")
        with (
            contextlib.suppress(Exception),
            urllib.request.urlopen(url, timeout=1) as resp,  # noqa: S310 - loopback URL
        ):
            if resp.status == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{url} not answering 200 after {timeout}s")


@dataclass
class Child:
    """One child process with its output in a log file."""

    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    log_path: Path = field(
        default_factory=lambda: Path(tempfile.mkstemp(prefix="kw-bench-", suffix=".log")[1])
    )
    proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def python(cls, name: str, module: str, args: list[str], env: dict[str, str]) -> Child:
        """``python -m module args`` with ``env`` added to the current environment."""
        return cls(name, [sys.executable, "-m", module, *args], {**os.environ, **env})

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> Child:
        out = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
            self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT
        )
        out.close()
        return self

    def peak_rss_kib(self) -> int | None:
        return peak_rss_kib(self.proc.pid) if self.alive and self.proc is not None else None

    def rss_kib(self) -> int | None:
        return rss_kib(self.proc.pid) if self.alive and self.proc is not None else None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL, as a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class ProcessGroup:
    """Children started together and stopped together (in reverse order)."""

    children: list[Child] = field(default_factory=list)

    def add(self, child: Child) -> Child:
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self.children):
            with contextlib.suppress(Exception):
                child.stop()
        self.children.clear()
