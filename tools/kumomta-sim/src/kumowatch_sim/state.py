"""Mutable per-node state: messages, scheduled and ready queues, labelled series."""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Hashable
from typing import Final, Generic, TypeVar

from kumowatch_sim.topology import Domain, Site

K = TypeVar("K", bound=Hashable)

LATENCY_BUCKETS: Final[tuple[float, ...]] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class Message:
    """One spooled message; sender and recipient are synthesised unless injected."""

    __slots__ = ("attempts", "created", "due", "id", "queue", "recipient", "sender", "size")

    def __init__(self, msg_id: str, queue: SchedQueue, created: float, size: int) -> None:
        self.id = msg_id
        self.queue = queue
        self.created = created
        self.size = size
        self.attempts = 0
        self.due = created
        self.sender: str | None = None
        self.recipient: str | None = None


class SchedQueue:
    """A scheduled queue ``campaign:tenant@domain``; ``count`` includes deferred messages."""

    __slots__ = ("campaign", "count", "domain", "due", "name", "pool", "tenant")

    def __init__(
        self, name: str, campaign: str | None, tenant: str | None, domain: Domain, pool: str
    ) -> None:
        self.name = name
        self.campaign = campaign
        self.tenant = tenant
        self.domain = domain
        self.pool = pool
        self.count = 0
        self.due: deque[Message] = deque()

    @property
    def provider(self) -> str:
        return self.domain.site.provider


class ReadyQueue:
    """A ready queue ``<source>-><site>@smtp_client`` with its own (prunable) counters."""

    __slots__ = (
        "budget",
        "connections",
        "delivered",
        "fail",
        "idle_since",
        "limited_since",
        "messages",
        "name",
        "pool",
        "service",
        "site",
        "source",
        "throttled_since",
        "total_connections",
        "transfail",
    )

    def __init__(self, source: str, pool: str, site: Site, name: str, now: float) -> None:
        self.source = source
        self.pool = pool
        self.site = site
        self.name = name
        self.service = "smtp_client:" + name
        self.messages: deque[Message] = deque()
        self.connections = 0
        self.delivered = 0
        self.transfail = 0
        self.fail = 0
        self.total_connections = 0
        self.budget = 0.0
        self.idle_since: float | None = now
        self.limited_since: float | None = None
        self.throttled_since: float | None = None


class GaugeMap(Generic[K]):
    """A labelled gauge whose series are pruned once they have been zero for a while."""

    __slots__ = ("values", "zero_since")

    def __init__(self) -> None:
        self.values: dict[K, int] = {}
        self.zero_since: dict[K, float] = {}

    def add(self, key: K, delta: int, now: float) -> None:
        value = self.values.get(key, 0) + delta
        self.values[key] = value
        if value == 0:
            self.zero_since[key] = now
        else:
            self.zero_since.pop(key, None)

    def prune(self, now: float, after: float) -> None:
        stale = [key for key, since in self.zero_since.items() if now - since >= after]
        for key in stale:
            del self.zero_since[key]
            del self.values[key]

    def clear(self) -> None:
        self.values.clear()
        self.zero_since.clear()


class CounterMap(Generic[K]):
    """A labelled counter whose series are pruned once idle (not incremented) for a while."""

    __slots__ = ("touched", "values")

    def __init__(self) -> None:
        self.values: dict[K, int] = {}
        self.touched: dict[K, float] = {}

    def inc(self, key: K, now: float, delta: int = 1) -> None:
        self.values[key] = self.values.get(key, 0) + delta
        self.touched[key] = now

    def prune(self, now: float, after: float, keep: set[K] | None = None) -> None:
        stale = [
            key
            for key, when in self.touched.items()
            if now - when >= after and (keep is None or key not in keep)
        ]
        for key in stale:
            del self.touched[key]
            del self.values[key]

    def clear(self) -> None:
        self.values.clear()
        self.touched.clear()


class Histogram:
    """A cumulative-bucket histogram like KumoMTA's latency rollups."""

    __slots__ = ("buckets", "count", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * len(LATENCY_BUCKETS)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(LATENCY_BUCKETS, value)
        if index < len(self.buckets):
            self.buckets[index] += 1
        self.count += 1
        self.sum += value

    def cumulative(self) -> list[tuple[float, int]]:
        out: list[tuple[float, int]] = []
        running = 0
        for le, n in zip(LATENCY_BUCKETS, self.buckets, strict=True):
            running += n
            out.append((le, running))
        return out
