"""Helpers for alerter tests on a real nats-server: run the service, act as the poller, watch."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.js.api import DeliverPolicy

from kumowatch_alerter.config import Settings
from kumowatch_alerter.service import serve
from kumowatch_common import streams, subjects
from kumowatch_common.events import (
    Alert,
    AlertEvent,
    AlertRule,
    ConnectionStatus,
    QueuesSnapshot,
    QueueUpdate,
)

LEASE_TTL = 2.0


def settings(url: str, **kw: Any) -> Settings:
    base: dict[str, Any] = {
        "nats_url": url,
        "alerter_port": 0,
        "lease_ttl_seconds": LEASE_TTL,
        "alerter_eval_interval": 0.2,
        "alerter_nodata_seconds": 30.0,
        "alerter_series_grace_seconds": 5.0,
        "shutdown_grace_seconds": 3.0,
    }
    base.update(kw)
    return Settings(**base)


@contextlib.asynccontextmanager
async def running(cfg: Settings) -> AsyncIterator[asyncio.Task[None]]:
    """The alerter in-process until the block ends (SIGTERM-like stop)."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(cfg, stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


async def provision(nc: nats.NATS) -> None:
    # Same lease TTL as the service: common's provision cannot shrink a bucket's TTL below its
    # duplicate window on update (reported), so create it right the first time.
    await streams.provision(nc.jetstream(), streams.Retention(lease_ttl=LEASE_TTL))


async def put_rules(nc: nats.NATS, rules: list[AlertRule], *, seeded: bool = True) -> None:
    kv = await nc.jetstream().key_value(streams.BUCKET_RULES)
    if seeded:
        await kv.put("_seeded", b"1")
    for r in rules:
        await kv.put(r.id, r.to_bytes())


@dataclass
class FakePoller:
    """Publishes status + a queue snapshot for one node every ``interval`` s into JetStream."""

    nc: nats.NATS
    node: str
    sizes: dict[str, float] = field(default_factory=dict)
    interval: float = 0.3
    state: str = "healthy"
    _task: asyncio.Task[None] | None = None
    _seq: int = 0

    async def publish_once(self) -> None:
        js = self.nc.jetstream()
        now = int(time.time() * 1000)
        self._seq += 1
        status = ConnectionStatus(
            connected=self.state != "down",
            kumoMtaStatus=self.state,
            timestamp=now,
            node=self.node,  # type: ignore[arg-type]
        )
        await js.publish(subjects.snapshot(self.node, "status"), status.to_bytes())
        snap = QueuesSnapshot(
            node=self.node,
            seq=self._seq,
            timestamp=now,
            totalQueues=len(self.sizes),
            queues=[
                QueueUpdate(queueName=n, size=s, timestamp=now, node=self.node)
                for n, s in self.sizes.items()
            ],
        )
        await js.publish(subjects.snapshot(self.node, "queues"), snap.to_bytes())

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.publish_once()
            await asyncio.sleep(self.interval)

    def start(self) -> FakePoller:
        self._task = asyncio.create_task(self._loop())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass
class AlertLog:
    """Every alert event in the ALERTS stream (after dedup), from an ordered consumer."""

    events: list[AlertEvent] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _sub: Any = None

    async def start(self, nc: nats.NATS, subject: str = subjects.ALL_ALERTS) -> AlertLog:
        async def on(msg: Any) -> None:
            self.events.append(AlertEvent.from_bytes(msg.data))
            self._changed.set()

        self._sub = await nc.jetstream().subscribe(
            subject, cb=on, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
        )
        return self

    def of(self, rule_id: str, event: str | None = None) -> list[AlertEvent]:
        return [
            e
            for e in self.events
            if e.alert.ruleId == rule_id and (event is None or e.event == event)
        ]

    async def wait_for(self, pred: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"condition not met; events: {[(e.event, e.alert.ruleId, e.alert.labels) for e in self.events]}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(left, 0.5))

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()


async def bucket_alerts(nc: nats.NATS, bucket: str) -> list[Alert]:
    """Every alert in a bucket of alerts (alert state or pending); none when it is empty."""
    kv = await nc.jetstream().key_value(bucket)
    try:
        keys = await kv.keys()
    except Exception:
        return []
    return [Alert.from_bytes((await kv.get(k)).value) for k in keys]
