"""Helpers for the notifier's tests: an in-process service and an outcome collector."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import nats

from kumowatch_common import streams, subjects
from kumowatch_common.clock import Clock
from kumowatch_common.events import NotificationOutcome
from kumowatch_common.testing import free_port
from kumowatch_notifier.config import Settings
from kumowatch_notifier.outcomes import DeadLetter
from kumowatch_notifier.service import serve


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def settings(nats_url: str, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "nats_url": nats_url,
        "notifier_port": free_port(),
        "notify_consumer": uid("t"),
        "notify_start_lookback_seconds": 0,
        "notify_retry_base_seconds": 0.05,
        "notify_retry_max_seconds": 0.2,
        "notify_timeout_seconds": 2.0,
        "notify_summary_interval_seconds": 0.1,
        "shutdown_grace_seconds": 5.0,
    }
    base.update(overrides)
    return Settings(**base)


async def readyz(port: int) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/readyz") as r:
        return r.status, await r.json()


@contextlib.asynccontextmanager
async def running(
    cfg: Settings, clock: Clock | None = None, keep_consumer: bool = False
) -> AsyncIterator[Settings]:
    """The notifier serving in this event loop until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(cfg, stop, clock=clock))
    try:
        for _ in range(200):
            if task.done():
                task.result()
            with contextlib.suppress(aiohttp.ClientError):
                status, _ = await readyz(cfg.notifier_port)
                if status == 200:
                    break
            await asyncio.sleep(0.05)
        else:
            raise TimeoutError("notifier not ready")
        yield cfg
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        if not keep_consumer:
            nc = await nats.connect(cfg.nats_url)
            with contextlib.suppress(Exception):
                await nc.jetstream().delete_consumer(streams.STREAM_ALERTS, cfg.notify_consumer)
            await nc.close()


class Outcomes:
    """Every outcome for one rule, decoded, as it is published."""

    def __init__(self, rule_id: str) -> None:
        self.rule_id = rule_id
        self.items: list[NotificationOutcome] = []
        self._cond = asyncio.Condition()
        self._sub: Any = None

    async def start(self, nc: Any) -> Outcomes:
        async def on_msg(msg: Any) -> None:
            rec: NotificationOutcome = DeadLetter.from_bytes(msg.data)
            if rec.ruleId == self.rule_id:
                async with self._cond:
                    self.items.append(rec)
                    self._cond.notify_all()

        self._sub = await nc.subscribe(subjects.ALL_NOTIFICATIONS, cb=on_msg)
        await nc.flush()
        return self

    async def stop(self) -> None:
        await self._sub.unsubscribe()

    def of(self, outcome: str) -> list[NotificationOutcome]:
        return [o for o in self.items if o.outcome == outcome]

    async def wait(
        self, pred: Callable[[list[NotificationOutcome]], bool], timeout: float = 10.0
    ) -> list[NotificationOutcome]:
        async with self._cond:
            await asyncio.wait_for(self._cond.wait_for(lambda: pred(self.items)), timeout)
        return list(self.items)

    async def wait_outcome(
        self, outcome: str, count: int = 1, timeout: float = 10.0
    ) -> list[NotificationOutcome]:
        await self.wait(lambda items: sum(o.outcome == outcome for o in items) >= count, timeout)
        return self.of(outcome)
