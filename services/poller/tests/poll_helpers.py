"""Helpers for the polling tests: a NodePoller wired to a simulated node and a NATS inbox."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import nats
from nats.aio.msg import Msg

from kumowatch_common.clock import Clock, ManualClock
from kumowatch_common.events import (
    ConnectionStatus,
    MetricsUpdate,
    ProvidersSnapshot,
    QueuesSnapshot,
    StatesSnapshot,
)
from kumowatch_poller.client import KumoClient
from kumowatch_poller.config import Node
from kumowatch_poller.node import NodePoller, PollConfig
from kumowatch_poller.publisher import Publisher

KINDS: dict[str, Any] = {
    "metrics": MetricsUpdate,
    "queues": QueuesSnapshot,
    "providers": ProvidersSnapshot,
    "status": ConnectionStatus,
    "states": StatesSnapshot,
}


@dataclass
class Inbox:
    """Every snapshot published for one node, decoded, by kind."""

    got: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    headers: list[dict[str, str]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_msg(self, msg: Msg) -> None:
        kind = msg.subject.rsplit(".", 1)[1]
        self.got[kind].append(KINDS[kind].from_bytes(msg.data))
        self.headers.append(dict(msg.headers or {}))
        self.changed.set()

    def last(self, kind: str) -> Any:
        return self.got[kind][-1]

    async def wait(self, kind: str, pred: Callable[[Any], bool], timeout: float = 10.0) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                for item in reversed(self.got[kind]):
                    if pred(item):
                        return item
                self.changed.clear()
                await self.changed.wait()

    def queues(self, seq: int) -> list[Any]:
        chunks = [c for c in self.got["queues"] if c.seq == seq]
        assert chunks
        assert len(chunks) == chunks[0].chunks
        return [q for c in sorted(chunks, key=lambda c: c.chunk) for q in c.queues]


@dataclass
class Harness:
    poller: NodePoller
    inbox: Inbox
    clock: Clock
    nc: Any

    async def poll(self) -> Any:
        """One poll; waits until its publishes have reached the inbox."""
        verdict = await self.poller.poll_once()
        await self.nc.flush()
        return verdict


@asynccontextmanager
async def harness(
    nats_url: str,
    url: str,
    *,
    interval: float = 5.0,
    timeout: float = 2.0,
    clock: Clock | None = None,
    metrics_format: str = "text",
    state_interval: float = 30.0,
) -> AsyncIterator[Harness]:
    """A NodePoller for ``url`` under a unique node name, publishing to real JetStream."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    nc = await nats.connect(nats_url)
    inbox = Inbox()
    await nc.subscribe(f"kumomta.v1.{name}.*", cb=inbox.on_msg)
    clock = clock or ManualClock()
    async with aiohttp.ClientSession() as session:
        client = KumoClient(session, Node(name, url), timeout)
        config = PollConfig(
            interval=interval,
            state_interval=state_interval,
            metrics_format=metrics_format,  # type: ignore[arg-type]
        )
        poller = NodePoller(Node(name, url), client, Publisher(nc), config, clock=clock)
        try:
            yield Harness(poller, inbox, clock, nc)
        finally:
            await nc.drain()
