"""WebSocket fan-out: topics, per-client filters, bounded coalescing outboxes, slow-client policy.

Each event is encoded once (orjson) and the same bytes are queued for every matching client. A
client's outbox keeps at most ``capacity`` frames; frames with a key (``queue:update`` per node
and queue, ``metrics:update`` and ``connection:status`` per node) replace the queued value for
that key in place, so a slow reader gets the latest value instead of every value. When the
outbox is full, new unkeyed frames are dropped and the client is marked behind; a client that
stays behind for ``slow_after`` seconds is closed with 1013 (try again later). One writer task per
client sends frames in order, with the transport's back-pressure.

Fast path: server-to-client frames are unmasked, so the framed bytes of one event are the same
for every client and are built once. A client whose outbox is empty, whose writer is idle and
whose transport buffer is small gets them written straight to its transport, with no task
switch; everyone else takes the outbox path above, which keeps order and back-pressure.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import orjson
from aiohttp import WSMsgType, web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from kumowatch_gateway import globs
from kumowatch_gateway.auth import Principal

log = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_TRY_AGAIN_LATER: Final = 1013
CLOSE_GOING_AWAY: Final = 1001


class Topic(StrEnum):
    """What a client subscribes to with ``subscribe:<topic>``."""

    QUEUES = "queues"
    METRICS = "metrics"
    MESSAGES = "messages"
    ALERTS = "alerts"


@dataclass(frozen=True, slots=True)
class Filter:
    """Optional globs a subscription narrows events by; None matches everything."""

    node: str | None = None
    queue: str | None = None
    provider: str | None = None

    def matches(self, attrs: Attrs) -> bool:
        return (
            globs.match(self.node, attrs.node)
            and globs.match(self.queue, attrs.queue)
            and globs.match(self.provider, attrs.provider)
        )


@dataclass(frozen=True, slots=True)
class Attrs:
    """What an event is about, for filters."""

    node: str | None = None
    queue: str | None = None
    provider: str | None = None


NO_ATTRS: Final = Attrs()
NO_FILTER: Final = Filter()


#: Above this many bytes buffered in a client's transport, frames take the outbox path.
FAST_PATH_LIMIT: Final = 64 * 1024


def ws_text_frame(payload: bytes) -> bytes:
    """RFC 6455 framing of one unmasked, final text frame (what a server sends)."""
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 65536:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + payload


def frame(event: str, data: Any) -> bytes:
    """One ``{"event", "data"}`` text frame; ``data`` may be pre-encoded JSON bytes."""
    body = data if isinstance(data, bytes) else orjson.dumps(data)
    return b'{"event":' + orjson.dumps(event) + b',"data":' + body + b"}"


@dataclass(slots=True)
class HubMetrics:
    clients: Gauge
    frames: Counter
    dropped: Counter
    coalesced: Counter
    closed_slow: Counter
    fanout: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> HubMetrics:
        p = "kumowatch_gateway_ws"
        return cls(
            clients=Gauge(f"{p}_clients", "authenticated WebSocket clients", registry=registry),
            frames=Counter(f"{p}_frames_total", "frames queued to clients", registry=registry),
            dropped=Counter(
                f"{p}_dropped_total", "frames dropped for full outboxes", registry=registry
            ),
            coalesced=Counter(
                f"{p}_coalesced_total", "queued frames replaced by a newer value", registry=registry
            ),
            closed_slow=Counter(
                f"{p}_slow_closed_total", "clients closed for staying behind", registry=registry
            ),
            fanout=Histogram(
                f"{p}_fanout_seconds",
                "time to queue one event for every matching client",
                buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1),
                registry=registry,
            ),
        )


class Client:
    """One authenticated WebSocket connection."""

    _ids = itertools.count()

    def __init__(
        self,
        ws: web.WebSocketResponse,
        principal: Principal,
        capacity: int,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.id = next(self._ids)
        self.ws = ws
        self.transport = transport
        self.principal = principal
        self.subs: dict[Topic, Filter] = {Topic.ALERTS: NO_FILTER}
        self.capacity = capacity
        self._outbox: OrderedDict[object, bytes] = OrderedDict()
        self._seq = itertools.count()
        self._ready = asyncio.Event()
        self.behind_since: float | None = None
        self.writer: asyncio.Task[None] | None = None
        self.closing = False
        self._busy = False

    def put(
        self,
        data: bytes,
        key: str | None,
        metrics: HubMetrics | None = None,
        wire: bytes | None = None,
    ) -> bool:
        """Queue a frame (or write ``wire``, its framed bytes, at once when the client is idle);
        False when it was dropped because the outbox is full."""
        if self.closing:
            return False
        box = self._outbox
        t = self.transport
        if (
            wire is not None
            and not box
            and not self._busy
            and t is not None
            and not t.is_closing()
            and t.get_write_buffer_size() < FAST_PATH_LIMIT
        ):
            t.write(wire)
            return True
        if key is not None and key in box:
            box[key] = data
            if metrics is not None:
                metrics.coalesced.inc()
            return True
        if len(box) >= self.capacity:
            if self.behind_since is None:
                self.behind_since = time.monotonic()
            if metrics is not None:
                metrics.dropped.inc()
            return False
        box[key if key is not None else next(self._seq)] = data
        self._ready.set()
        return True

    @property
    def queued(self) -> int:
        return len(self._outbox)

    async def run_writer(self) -> None:
        """Send queued frames in order until the socket closes."""
        box = self._outbox
        ws = self.ws
        try:
            while True:
                await self._ready.wait()
                self._busy = True
                while box:
                    _, data = box.popitem(last=False)
                    await ws.send_frame(data, WSMsgType.TEXT)
                    if self.behind_since is not None and len(box) < self.capacity // 2:
                        self.behind_since = None
                self._busy = False
                self._ready.clear()
        except (ConnectionError, RuntimeError):
            pass  # the socket closed under us; the reader side cleans up

    async def close(self, code: int, message: str = "", last: bytes | None = None) -> None:
        """Close with ``code`` (after the frame ``last``); abort if the peer takes nothing."""
        if self.closing:
            return
        self.closing = True
        self._outbox.clear()
        if self.writer is not None:
            self.writer.cancel()
        try:
            if last is not None:
                await asyncio.wait_for(self.ws.send_frame(last, WSMsgType.TEXT), 2.0)
            await asyncio.wait_for(self.ws.close(code=code, message=message.encode()), 2.0)
        except (TimeoutError, ConnectionError, RuntimeError):
            if self.transport is not None:
                self.transport.abort()


class Hub:
    """Every connected client, indexed by topic."""

    def __init__(
        self, *, slow_after: float = 10.0, registry: CollectorRegistry | None = None
    ) -> None:
        self.slow_after = slow_after
        self.clients: set[Client] = set()
        self._by_topic: dict[Topic, set[Client]] = {t: set() for t in Topic}
        self.metrics = HubMetrics.create(registry or CollectorRegistry())

    def add(self, client: Client) -> None:
        self.clients.add(client)
        for topic in client.subs:
            self._by_topic[topic].add(client)
        client.writer = asyncio.create_task(client.run_writer(), name=f"ws-writer-{client.id}")
        self.metrics.clients.set(len(self.clients))

    async def remove(self, client: Client) -> None:
        self.clients.discard(client)
        for members in self._by_topic.values():
            members.discard(client)
        self.metrics.clients.set(len(self.clients))
        if client.writer is not None:
            client.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await client.writer

    def subscribe(self, client: Client, topic: Topic, flt: Filter) -> None:
        client.subs[topic] = flt
        self._by_topic[topic].add(client)

    def unsubscribe(self, client: Client, topic: Topic) -> None:
        client.subs.pop(topic, None)
        self._by_topic[topic].discard(client)

    def has_subscribers(self, topic: Topic) -> bool:
        return bool(self._by_topic[topic])

    def publish(
        self,
        topic: Topic | None,
        event: str,
        data: Any | Callable[[], Any],
        *,
        key: str | None = None,
        attrs: Attrs = NO_ATTRS,
    ) -> int:
        """Queue one event for every matching client (every client when ``topic`` is None).

        ``data`` may be a callable, evaluated only if some client matches. Returns the number of
        clients it was queued for.
        """
        started = time.perf_counter()
        members = self.clients if topic is None else self._by_topic[topic]
        if not members:
            return 0
        encoded: bytes | None = None
        wire: bytes | None = None
        count = 0
        m = self.metrics
        for client in members:
            if topic is not None and not client.subs[topic].matches(attrs):
                continue
            if encoded is None:
                payload = data() if callable(data) else data
                encoded = frame(event, payload)
                wire = ws_text_frame(encoded)
            if client.put(encoded, key, m, wire):
                count += 1
        if count:
            m.frames.inc(count)
        m.fanout.observe(time.perf_counter() - started)
        return count

    async def sweep(self) -> None:
        """Close clients that stayed behind longer than ``slow_after``, forever (a task)."""
        while True:
            await asyncio.sleep(min(1.0, self.slow_after / 4))
            await self.close_slow()

    async def close_slow(self) -> int:
        now = time.monotonic()
        slow = [
            c
            for c in self.clients
            if c.behind_since is not None and now - c.behind_since >= self.slow_after
        ]
        for client in slow:
            log.warning(
                "closing slow WebSocket client",
                extra={"client": client.id, "user": client.principal.subject},
            )
            self.metrics.closed_slow.inc()
            await client.close(CLOSE_TRY_AGAIN_LATER, "too slow: reconnect and refetch")
        return len(slow)

    async def close_all(self, code: int = CLOSE_GOING_AWAY, message: str = "") -> None:
        await asyncio.gather(
            *(c.close(code, message) for c in list(self.clients)), return_exceptions=True
        )
