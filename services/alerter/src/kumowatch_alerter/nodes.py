"""Owned nodes: discover them, share them through leases, and feed each one to the engine.

Every replica discovers the node set from the status and metrics subjects (a core subscription,
only the subject is read), from the snapshot stream's subjects, and from the alert-state bucket.
The shared :class:`~kumowatch_common.leases.LeaseManager` splits the nodes among replicas. For each
node it owns, a replica restores the node's active alerts from the bucket and starts two ordered
consumers (snapshots, log events) that begin ``max window`` in the past: the replayed messages fill
the windows without deciding anything, and once both consumers have caught up (``num_pending``
0) the node goes live and its data is judged. The same consumers then carry the live data, so
there is no gap and no duplicate between replay and live.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import ValidationError

from kumowatch_alerter.engine import Engine
from kumowatch_alerter.publisher import Publisher
from kumowatch_alerter.statemachine import Transition
from kumowatch_common import streams, subjects
from kumowatch_common.clock import Clock
from kumowatch_common.events import (
    Alert,
    ConnectionStatus,
    KumoLogEvent,
    MetricsUpdate,
    ProvidersSnapshot,
    StatesSnapshot,
)
from kumowatch_common.nats import subscribe_ordered

log = logging.getLogger(__name__)

REPLAY_MARGIN_MS = 30_000


class FeedMetrics:
    """``kumowatch_alerter_*`` metrics of the feeds."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.messages = Counter(
            "kumowatch_alerter_messages_total",
            "snapshots and log records consumed",
            ["kind", "phase"],
            registry=registry,
        )
        self.bad = Counter(
            "kumowatch_alerter_bad_payloads_total",
            "messages that failed to decode (skipped)",
            ["kind"],
            registry=registry,
        )
        self.evaluation = Histogram(
            "kumowatch_alerter_evaluation_seconds",
            "time to judge one input (a queue snapshot: every queue against every rule)",
            ["kind"],
            buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry,
        )
        self.owned = Gauge(
            "kumowatch_alerter_nodes_owned", "nodes this replica evaluates", registry=registry
        )
        self.live = Gauge(
            "kumowatch_alerter_nodes_live", "owned nodes past their replay", registry=registry
        )
        self.backlog = Gauge(
            "kumowatch_alerter_feed_backlog_bytes",
            "snapshot bytes received from JetStream and not yet evaluated, per owned node",
            ["node"],
            registry=registry,
        )


async def read_alerts(kv: KeyValue, attempts: int = 4) -> list[Alert]:
    """Every alert in a bucket of alerts (the alert-state bucket, or the pending bucket).

    The keys come from the bucket stream's per-subject state and each value from a direct get:
    unlike a watcher's "initial values done" marker, this cannot end early while a cluster is
    failing over, and a read that fails is retried (then raised: the lease manager calls the
    owner again next round) rather than taken for "none".
    A restore that silently missed an alert would fire it again under a new id.
    """
    delay = 0.2
    for attempt in range(attempts):
        try:
            return await _read_alerts_once(kv)
        except Exception as exc:
            if attempt == attempts - 1:
                raise
            log.warning("alert state unreadable, retrying", extra={"error": repr(exc)})
            await asyncio.sleep(delay)
            delay = min(2.0, delay * 2)
    return []


async def _read_alerts_once(kv: KeyValue) -> list[Alert]:
    bucket = kv._name
    prefix = f"$KV.{bucket}."
    info = await kv._js.stream_info(f"KV_{bucket}", subjects_filter=f"{prefix}>")
    out: list[Alert] = []
    for subject in sorted(info.state.subjects or {}):
        key = subject[len(prefix) :]
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:
            continue  # deleted (resolved) since the listing
        if not entry.value:
            continue
        try:
            out.append(Alert.from_bytes(entry.value))
        except ValidationError:
            log.warning("unreadable alert state skipped", extra={"key": key})
    return out


class NodeFeed:
    """One owned node: replay, then live, through two ordered consumers."""

    def __init__(
        self,
        node: str,
        js: JetStreamContext,
        engine: Engine,
        publisher: Publisher,
        metrics: FeedMetrics,
        clock: Clock,
    ) -> None:
        self.node = node
        self.js = js
        self.engine = engine
        self.publisher = publisher
        self.metrics = metrics
        self.clock = clock
        self.subs: list[Subscription] = []
        self.caught_up = {"snapshots": False, "events": False}
        self.live = asyncio.Event()
        self._bad_logged = 0.0
        self._snapshots: JetStreamContext.PushSubscription | None = None

    async def start(self, alerts: list[Alert], republish_ms: int) -> None:
        """Restore the node's alerts, then start replaying; live once caught up."""
        self.engine.add_node(self.node, live=False)
        mine = [a for a in alerts if a.labels.get("node") == self.node]
        self.publisher.submit(self.engine.restore(mine))
        now = self.engine.now()
        recent = [a for a in mine if now - a.timestamp < republish_ms]
        self._republish(recent)
        window = max(self.engine.max_window_ms(), self.engine.nodata_ms) + REPLAY_MARGIN_MS
        await self._subscribe(
            "snapshots", subjects.node_snapshots(self.node), streams.STREAM_SNAPSHOTS, window
        )
        events_window = max([0, *(cr.window_ms or 0 for cr in self.engine.family("event"))])
        await self._subscribe(
            "events", subjects.node_events(self.node), streams.STREAM_EVENTS, events_window
        )
        log.info(
            "node acquired",
            extra={"node": self.node, "restored": len(mine), "replay_ms": window},
        )

    def _republish(self, alerts: list[Alert]) -> None:
        # A crash between the bucket write and the publish would otherwise lose the firing event;
        # the same Nats-Msg-Id makes this a no-op when it did go out.
        out = []
        for alert in alerts:
            cr = self.engine.rules.get(alert.ruleId)
            if cr is not None and alert.status == "firing":
                out.append(Transition("firing", alert, cr.rule))
        self.publisher.submit(out)

    async def _subscribe(self, which: str, subject: str, stream: str, window_ms: int) -> None:
        start = self.clock.now() - window_ms / 1000.0
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=dt.datetime.fromtimestamp(start, tz=dt.UTC),
        )
        cb = self._on_snapshot if which == "snapshots" else self._on_event
        sub = await subscribe_ordered(
            self.js,
            subject,
            stream=stream,
            cb=cb,
            config=config,
            # Two missed heartbeats re-create a consumer lost with its server: 2-4 s without data.
            idle_heartbeat=1.0,
            pending_msgs_limit=100_000,
            pending_bytes_limit=512 * 1024 * 1024,
        )
        self.subs.append(sub)
        if which == "snapshots":
            self._snapshots = sub
        info = await sub.consumer_info()
        if info.num_pending == 0 and sub.delivered == 0:
            self._caught(which)

    def _caught(self, which: str) -> None:
        if self.caught_up[which]:
            return
        self.caught_up[which] = True
        if all(self.caught_up.values()) and not self.live.is_set():
            self.engine.go_live(self.node)
            self.live.set()
            log.info("node live", extra={"node": self.node})

    def _phase(self) -> str:
        return "live" if self.live.is_set() else "replay"

    async def _on_snapshot(self, msg: Msg) -> None:
        kind = msg.subject.rsplit(".", 1)[-1]
        self.metrics.messages.labels(kind, self._phase()).inc()
        started = time.perf_counter()
        try:
            transitions = self._dispatch(kind, msg.data)
        except (ValidationError, ValueError, KeyError, TypeError) as exc:
            self._bad(kind, exc)
            transitions = []
        self.metrics.evaluation.labels(kind).observe(time.perf_counter() - started)
        if self._snapshots is not None:
            self.metrics.backlog.labels(self.node).set(self._snapshots.pending_bytes)
        self.publisher.submit(transitions)
        if msg.metadata.num_pending == 0:
            self._caught("snapshots")

    def _dispatch(self, kind: str, data: bytes) -> list[Transition]:
        e = self.engine
        if kind == "queues":
            raw: dict[str, Any] = orjson.loads(data)
            return e.on_queues(raw)
        handlers: dict[str, Callable[[bytes], list[Transition]]] = {
            "metrics": lambda d: e.on_metrics(MetricsUpdate.from_bytes(d)),
            "status": lambda d: e.on_status(ConnectionStatus.from_bytes(d)),
            "providers": lambda d: e.on_providers(ProvidersSnapshot.from_bytes(d)),
            "states": lambda d: e.on_states(StatesSnapshot.from_bytes(d)),
        }
        handler = handlers.get(kind)
        return handler(data) if handler is not None else []

    async def _on_event(self, msg: Msg) -> None:
        if self.engine.family("event"):
            self.metrics.messages.labels("event", self._phase()).inc()
            try:
                self.publisher.submit(self.engine.on_event(KumoLogEvent.from_bytes(msg.data)))
            except (ValidationError, ValueError) as exc:
                self._bad("event", exc)
        if msg.metadata.num_pending == 0:
            self._caught("events")

    def _bad(self, kind: str, exc: Exception) -> None:
        self.metrics.bad.labels(kind).inc()
        now = time.monotonic()
        if now - self._bad_logged > 10:
            self._bad_logged = now
            log.warning(
                "undecodable payload skipped",
                extra={"node": self.node, "kind": kind, "error": str(exc)[:300]},
            )

    async def stop(self) -> None:
        for sub in self.subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self.subs.clear()
        self._snapshots = None
        with contextlib.suppress(KeyError):
            self.metrics.backlog.remove(self.node)


class Discovery:
    """The node set: from live status/metrics subjects, the snapshot stream and the alert bucket."""

    def __init__(self, nc: Client, js: JetStreamContext) -> None:
        self.nc = nc
        self.js = js
        self.nodes: set[str] = set()
        self.subs: list[Subscription] = []

    async def start(self, alerts: list[Alert]) -> None:
        for kind in ("status", "metrics"):
            self.subs.append(await self.nc.subscribe(subjects.all_of_kind(kind), cb=self._seen))
        try:
            info = await self.js.stream_info(
                streams.STREAM_SNAPSHOTS, subjects_filter=subjects.all_of_kind("status")
            )
            for subject in (info.state.subjects or {}) if info.state else {}:
                self._add(subjects.parse_node(subject))
        except Exception as exc:
            log.warning("stream subjects unavailable", extra={"error": repr(exc)})
        for alert in alerts:
            self._add(alert.labels.get("node"))

    def _add(self, node: str | None) -> None:
        if node and subjects.TOKEN_RE.match(node) and node not in self.nodes:
            self.nodes.add(node)
            log.info("node discovered", extra={"node": node})

    async def _seen(self, msg: Msg) -> None:
        self._add(subjects.parse_node(msg.subject))

    async def stop(self) -> None:
        for sub in self.subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
