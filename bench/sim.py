"""The KumoMTA simulator as a child process, and its control endpoints (``/_sim/``, admin API).

Running it out of the harness's process keeps its traffic model off the event loop that
timestamps webhook arrivals. Node ``i`` (``mta{i+1}``) listens on ``base_port + i``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from bench.procs import Child, free_port_block, wait_http


@dataclass
class SimProcess:
    """``python -m kumowatch_sim --nodes N`` on consecutive loopback ports."""

    nodes: int = 1
    rate: float = 50.0
    tick: float = 0.2
    queues: int | None = None
    scenario: str = "steady"
    log_hook_url: str | None = None
    base_port: int = field(default=0)
    child: Child | None = None
    _http: aiohttp.ClientSession | None = None

    @property
    def names(self) -> list[str]:
        return [f"mta{i + 1}" for i in range(self.nodes)]

    def url(self, node: str) -> str:
        index = int(node.removeprefix("mta")) - 1
        return f"http://127.0.0.1:{self.base_port + index}"

    def api_url_env(self) -> str:
        """The poller's ``KUMOMTA_API_URL`` for every node."""
        return ",".join(f"{n}={self.url(n)}" for n in self.names)

    def start(self) -> SimProcess:
        if not self.base_port:
            self.base_port = free_port_block(self.nodes)
        args = [
            "--nodes",
            str(self.nodes),
            "--port",
            str(self.base_port),
            "--rate",
            str(self.rate),
            "--tick",
            str(self.tick),
            "--scenario",
            self.scenario,
        ]
        if self.queues is not None:
            args += ["--queues", str(self.queues)]
        if self.log_hook_url:
            args += ["--log-hook-url", self.log_hook_url, "--log-hook-mode", "batch"]
        self.child = Child.python("kumomta-sim", "kumowatch_sim", args, {}).start()
        for name in self.names:
            wait_http(self.url(name) + "/api/check-liveness/v1", 120.0, self.child.proc)
        return self

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()

    async def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def call(self, node: str, method: str, path: str, body: Any = None) -> Any:
        http = await self._session()
        async with http.request(method, self.url(node) + path, json=body) as resp:
            text = await resp.text()
            if resp.status >= 400:
                raise RuntimeError(f"sim {node} {method} {path}: {resp.status} {text[:200]}")
            try:
                return orjson.loads(text) if text else None
            except orjson.JSONDecodeError:
                return text

    async def set(self, node: str, **knobs: Any) -> None:
        """``POST /_sim/set`` (rate, bounce_ratio, transfail_ratio, queue_rate, ...)."""
        await self.call(node, "POST", "/_sim/set", knobs)

    async def fault(self, node: str, kind: str, seconds: float | None = None) -> None:
        body: dict[str, Any] = {"kind": kind}
        if seconds is not None:
            body["seconds"] = seconds
        await self.call(node, "POST", "/_sim/fault", body)

    async def restart(self, node: str, keep_spool: bool = True) -> None:
        await self.call(node, "POST", "/_sim/restart", {"keep_spool": keep_spool})

    async def suspend(self, node: str, queues: list[str], reason: str, duration: str) -> str:
        """An admin suspension of scheduled queues (KumoMTA's ``/api/admin/suspend/v1``)."""
        body = {"queue_names": queues, "reason": reason, "duration": duration}
        out = await self.call(node, "POST", "/api/admin/suspend/v1", body)
        return str(out["id"])

    async def unsuspend(self, node: str, suspension_id: str) -> None:
        await self.call(node, "DELETE", "/api/admin/suspend/v1", {"id": suspension_id})

    async def truth(self, node: str, queues: bool = False) -> dict[str, Any]:
        out = await self.call(node, "GET", f"/_sim/truth?queues={'1' if queues else '0'}")
        return dict(out)
