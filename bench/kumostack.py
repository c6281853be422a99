"""The kumowatch services as real processes on a NATS server of their own, for benchmarks and
fault tests: poller, alerter and notifier (``replicas`` of each), rules put into the rules bucket.

``available()`` tells which service modules can run yet (the services land in parallel).
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from dataclasses import dataclass, field
from typing import Any, Final

import nats

from kumowatch_common import streams
from kumowatch_common.events import AlertRule
from kumowatch_common.testing import NatsCluster, NatsServer, ServiceProcess, free_port

SERVICES: Final = (
    ("poller", "kumowatch_poller", "POLLER_PORT"),
    ("alerter", "kumowatch_alerter", "ALERTER_PORT"),
    ("notifier", "kumowatch_notifier", "NOTIFIER_PORT"),
    ("gateway", "kumowatch_gateway", "PORT"),
)


def runnable(module: str) -> str | None:
    """None when ``python -m module`` can run, else why not."""
    try:
        if importlib.util.find_spec(f"{module}.__main__") is None:
            return f"{module}.__main__ missing"
    except ModuleNotFoundError as exc:
        return f"{module} not importable: {exc}"
    return None


def available() -> dict[str, str | None]:
    """Per detection service (poller, alerter, notifier): None when it can run, else why not."""
    return {name: runnable(module) for name, module, _ in SERVICES if name != "gateway"}


@dataclass
class Replica:
    """One service process."""

    service: str
    index: int
    proc: ServiceProcess

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"

    @property
    def pid(self) -> int | None:
        return self.proc.proc.pid if self.proc.proc is not None else None

    @property
    def alive(self) -> bool:
        return self.proc.proc is not None and self.proc.proc.poll() is None


@dataclass
class KumoStack:
    """NATS (own server unless ``nats`` is given) + poller/alerter/notifier processes."""

    api_url: str
    webhook_url: str
    poll_interval: float = 5.0
    replicas: int = 1
    nats: NatsServer | NatsCluster | None = None
    env: dict[str, str] = field(default_factory=dict)
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    services: tuple[str, ...] = ("poller", "alerter", "notifier")
    own_nats: bool = False
    procs: list[Replica] = field(default_factory=list)

    @property
    def nats_url(self) -> str:
        assert self.nats is not None
        return self.nats.url

    def _env(self, service: str, port: int, index: int) -> dict[str, str]:
        env = {
            "NATS_URL": self.nats_url,
            "LOG_LEVEL": "WARNING",
            "INSTANCE_ID": f"{service}-{index}",
            "KUMOMTA_API_URL": self.api_url,
            "KUMOMTA_POLL_INTERVAL": str(self.poll_interval),
            "WEBHOOK_URL": self.webhook_url,
            "KUMOWATCH_ENV": "development",
        }
        env[dict((s, v) for s, _, v in SERVICES)[service]] = str(port)
        env.update(self.env)
        env.update(self.service_env.get(service, {}))
        return env

    def start_nats(self) -> None:
        if self.nats is None:
            self.nats = NatsServer().start()
            self.own_nats = True

    async def provision(self, timeout: float = 30.0) -> None:
        """Create the streams, retrying while a just-started cluster has no placement yet
        (``no suitable peers for placement`` until every server has joined the meta group)."""
        nc = await nats.connect(servers=self.nats_url.split(","))
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    await streams.provision(
                        nc.jetstream(), streams.Retention(replicas=self._stream_replicas())
                    )
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.5)
        finally:
            await nc.close()

    def _stream_replicas(self) -> int:
        return int(self.env.get("NATS_STREAM_REPLICAS", "1"))

    async def put_rules(self, rules: list[AlertRule]) -> None:
        """Write rules into the rules bucket (key = rule id)."""
        nc = await nats.connect(servers=self.nats_url.split(","))
        try:
            kv = await nc.jetstream().key_value(streams.BUCKET_RULES)
            for rule in rules:
                await kv.put(rule.id, rule.to_bytes())
        finally:
            await nc.close()

    def start_replica(self, service: str, index: int) -> Replica:
        module = dict((s, m) for s, m, _ in SERVICES)[service]
        port = free_port()
        proc = ServiceProcess(module, self._env(service, port, index), port=port).start()
        replica = Replica(service, index, proc)
        self.procs.append(replica)
        return replica

    async def start(
        self, rules: list[AlertRule] | None = None, ready_timeout: float = 60.0
    ) -> None:
        """NATS, streams, rules, then every service replica; returns once all are ready."""
        self.start_nats()
        await self.provision()
        if rules:
            await self.put_rules(rules)
        started = [
            self.start_replica(service, i)
            for service in self.services
            for i in range(self.replicas)
        ]
        await asyncio.gather(
            *(asyncio.to_thread(r.proc.wait_ready, ready_timeout) for r in started)
        )

    def replicas_of(self, service: str) -> list[Replica]:
        return [r for r in self.procs if r.service == service and r.alive]

    async def restart_replica(self, replica: Replica, ready_timeout: float = 60.0) -> Replica:
        """Start a new process in the place of a dead replica (same instance id)."""
        self.procs.remove(replica)
        fresh = self.start_replica(replica.service, replica.index)
        await asyncio.to_thread(fresh.proc.wait_ready, ready_timeout)
        return fresh

    def peak_rss(self) -> dict[str, int | None]:
        """VmHWM in KiB per live replica."""
        from bench.procs import peak_rss_kib

        return {r.name: peak_rss_kib(r.pid) if r.alive and r.pid else None for r in self.procs}

    def rss(self) -> dict[str, int | None]:
        from bench.procs import rss_kib

        return {r.name: rss_kib(r.pid) if r.alive and r.pid else None for r in self.procs}

    def log_tails(self, lines: int = 20) -> dict[str, str]:
        return {r.name: r.proc.log_tail(lines) for r in self.procs}

    def stop(self) -> None:
        for replica in reversed(self.procs):
            replica.proc.stop(10.0)
        self.procs.clear()
        if self.own_nats and self.nats is not None:
            self.nats.cleanup()

    def describe(self) -> dict[str, Any]:
        return {"nats": self.nats_url, "procs": [r.name for r in self.procs]}
