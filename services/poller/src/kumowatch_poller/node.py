"""Polling one KumoMTA node: read, derive, publish; one poll at a time, ticks skipped on overrun.

Each poll reads ``/metrics`` (or ``/metrics.json``), liveness and machine-info concurrently, and
the admin lists every state interval; it then publishes the ``metrics``, ``providers``, ``queues``
and (when due) ``states`` snapshots in one concurrent JetStream batch, and the ``status`` when it
changed or is due again. Message ids are ``<node>:<kind>:<seq>[:<chunk>]`` with ``seq`` the epoch
ms of the poll start, so they keep increasing across restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass
from typing import Any, Final, Literal

from kumowatch_common import subjects
from kumowatch_common.clock import Clock, SystemClock, now_ms
from kumowatch_common.events import ConnectionStatus, MetricsUpdate, StatesSnapshot
from kumowatch_poller import client as api
from kumowatch_poller import states
from kumowatch_poller.client import KumoClient, Reply, gather_json
from kumowatch_poller.config import Node
from kumowatch_poller.errors import FetchError, MetricsParseError, PublishError
from kumowatch_poller.jsonmetrics import parse_json
from kumowatch_poller.metricset import WANTED, MetricSet
from kumowatch_poller.promtext import parse_text
from kumowatch_poller.publisher import Outgoing, Publisher
from kumowatch_poller.snapshots import NodeSnapshots, Scrape, queue_chunks, queue_items
from kumowatch_poller.states import SuspensionIndex
from kumowatch_poller.status import Observation, Verdict, describe, evaluate
from kumowatch_poller.telemetry import PollerMetrics

log = logging.getLogger(__name__)

#: Bodies above this size are parsed in a worker thread so ingest and other nodes keep going.
THREAD_ABOVE_BYTES: Final = 256 * 1024
STATE_PATHS: Final = [api.SUSPEND, api.SUSPEND_READY, api.BOUNCE, api.READY_Q_STATES]


@dataclass(frozen=True, slots=True)
class PollConfig:
    """How one node is polled."""

    interval: float = 5.0
    state_interval: float = 30.0
    metrics_format: Literal["text", "json"] = "text"
    status_every: float = 30.0


@dataclass(slots=True)
class _Built:
    update: MetricsUpdate
    messages: list[Outgoing]


class NodePoller:
    """The poll loop and state of one node owned by this replica."""

    def __init__(
        self,
        node: Node,
        client: KumoClient,
        publisher: Publisher,
        config: PollConfig,
        *,
        clock: Clock | None = None,
        metrics: PollerMetrics | None = None,
        node_ids: dict[str, str] | None = None,
    ) -> None:
        self.node = node
        self.client = client
        self.publisher = publisher
        self.config = config
        self.clock = clock or SystemClock()
        self.metrics = metrics
        self.node_ids = node_ids if node_ids is not None else {}
        self.snapshots = NodeSnapshots(node.name)
        self.suspensions = SuspensionIndex()
        self.verdict: Verdict | None = None
        self.info: dict[str, Any] = {}
        self.last_success_ms: int | None = None
        self._last_seq = 0
        self._next_states = -math.inf
        self._published: Verdict | None = None
        self._published_at = -math.inf
        self._series = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every interval until ``stop`` (or cancellation, when the lease is lost)."""
        interval = self.config.interval
        next_at = self.clock.monotonic()
        while not stop.is_set():
            try:
                await self.poll_once()
            except Exception:
                log.exception("poll failed unexpectedly", extra={"node": self.node.name})
            next_at += interval
            now = self.clock.monotonic()
            if now >= next_at:
                skipped = int((now - next_at) // interval) + 1
                next_at += skipped * interval
                if self.metrics is not None:
                    self.metrics.polls_skipped.labels(self.node.name).inc(skipped)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=next_at - now)

    async def poll_once(self) -> Verdict:
        """One poll and its publishes; returns the node's verdict."""
        started = self.clock.monotonic()
        seq = max(now_ms(self.clock), self._last_seq + 1)
        self._last_seq = seq
        states_due = started >= self._next_states
        path = api.METRICS_JSON if self.config.metrics_format == "json" else api.METRICS_TEXT
        jobs: list[Any] = [
            self.client.get(path),
            self.client.get(api.LIVENESS),
            self.client.get(api.MACHINE_INFO),
        ]
        if states_due:
            jobs.append(gather_json(self.client, STATE_PATHS))
        results: list[Any] = await asyncio.gather(*jobs, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, FetchError):
                raise result
        obs = Observation()
        self._machine_info(results[2], obs)
        self._liveness(results[1], obs)
        messages: list[Outgoing] = []
        if states_due:
            messages.extend(self._states(results[3], seq, started))
        metrics_reply = results[0]
        latency = metrics_reply.elapsed * 1000 if isinstance(metrics_reply, Reply) else None
        try:
            ms = await self._parse(path, metrics_reply)
        except FetchError as err:
            obs.metrics_error = err
        else:
            built = await self._build(ms, seq)
            obs.metrics = built.update
            messages.extend(built.messages)
            self.last_success_ms = built.update.timestamp
        verdict = evaluate(obs)
        self.verdict = verdict
        status_msg = self._status_message(verdict, seq, latency, started)
        if status_msg is not None:
            messages.append(status_msg)
        await self._publish(messages, verdict if status_msg is not None else None, started)
        self._count(obs, started)
        return verdict

    # ------------------------------------------------------------------ reading

    def _machine_info(self, result: Reply | FetchError, obs: Observation) -> None:
        try:
            if isinstance(result, FetchError):
                raise result
            if result.status == 404:
                return  # KumoMTA before 2026.03.04 has no machine-info
            if not result.ok:
                raise FetchError(api.MACHINE_INFO, "http", f"HTTP {result.status}", result.status)
            doc = result.json(api.MACHINE_INFO)
            if not isinstance(doc, dict):
                raise FetchError(api.MACHINE_INFO, "garbage", "not an object", result.status)
        except FetchError as err:
            obs.probe_errors.append(describe(err))
            return
        self.info = doc
        node_id = doc.get("node_id")
        if isinstance(node_id, str) and node_id:
            self.node_ids[node_id] = self.node.name

    def _liveness(self, result: Reply | FetchError, obs: Observation) -> None:
        if isinstance(result, FetchError):
            obs.probe_errors.append(describe(result))
        elif result.status == 503:
            obs.liveness_reason = result.text() or "HTTP 503"
        elif result.status != 404 and not result.ok:
            obs.probe_errors.append(f"{api.LIVENESS}: HTTP {result.status}")

    async def _parse(self, path: str, result: Reply | FetchError) -> MetricSet:
        if isinstance(result, FetchError):
            raise result
        if not result.ok:
            raise FetchError(path, "http", f"HTTP {result.status}: {result.text()}", result.status)
        parser = parse_json if path == api.METRICS_JSON else parse_text
        try:
            if len(result.body) > THREAD_ABOVE_BYTES:
                ms = await asyncio.to_thread(parser, result.body, WANTED)
            else:
                ms = parser(result.body, WANTED)
        except MetricsParseError as exc:
            raise FetchError(path, "garbage", str(exc), result.status) from None
        if ms.garbage and self.metrics is not None:
            self.metrics.garbage_lines.labels(self.node.name).inc(ms.garbage)
        self._series = ms.series
        if ms.series == 0:
            raise FetchError(path, "garbage", f"no series ({ms.garbage} bad lines)", result.status)
        return ms

    def _states(self, result: list[Any] | FetchError, seq: int, started: float) -> list[Outgoing]:
        if isinstance(result, FetchError):
            return []
        answers = [None if isinstance(r, FetchError) else r for r in result]
        if all(a is None for a in answers):
            return []
        self._next_states = started + self.config.state_interval
        snap: StatesSnapshot = states.snapshot(self.node.name, now_ms(self.clock), *answers)
        if answers[0] is not None or answers[1] is not None:
            self.suspensions = SuspensionIndex.of(snap.suspensions)
        return [self._out("states", seq, snap.to_bytes())]

    # ------------------------------------------------------------------ deriving

    async def _build(self, ms: MetricSet, seq: int) -> _Built:
        online = self.info.get("online_since")
        online_since = str(online) if online is not None else None
        scrape = Scrape(ms, self.clock.monotonic(), now_ms(self.clock), seq, online_since)
        big = ms.series > 5000
        return await asyncio.to_thread(self._derive, scrape) if big else self._derive(scrape)

    def _derive(self, scrape: Scrape) -> _Built:
        restarted = self.snapshots.restarted(scrape.online_since)
        update = self.snapshots.metrics(scrape, restarted)
        providers = self.snapshots.providers(scrape, update.counterReset)
        if update.counterReset and self.metrics is not None:
            self.metrics.counter_resets.labels(self.node.name).inc()
        items = queue_items(scrape.metrics, self.node.name, scrape.timestamp, self.suspensions)
        chunks = queue_chunks(items, self.node.name, scrape.seq, scrape.timestamp)
        messages = [
            self._out("metrics", scrape.seq, update.to_bytes()),
            self._out("providers", scrape.seq, providers.to_bytes()),
        ]
        messages.extend(
            self._out("queues", scrape.seq, payload, chunk=i) for i, payload in enumerate(chunks)
        )
        return _Built(update, messages)

    def _status_message(
        self, verdict: Verdict, seq: int, latency: float | None, started: float
    ) -> Outgoing | None:
        due = started - self._published_at >= self.config.status_every
        if verdict == self._published and not due:
            return None
        info = self.info
        msg = ConnectionStatus(
            connected=verdict.connected,
            kumoMtaStatus=verdict.status,
            timestamp=now_ms(self.clock),
            node=self.node.name,
            reason=verdict.reason,
            version=_str(info.get("version")),
            nodeId=_str(info.get("node_id")),
            hostname=_str(info.get("hostname")),
            onlineSince=_str(info.get("online_since")),
            lastSuccessAt=self.last_success_ms,
            latencyMs=latency,
        )
        return self._out("status", seq, msg.to_bytes())

    def _out(
        self, kind: subjects.SnapshotKind, seq: int, payload: bytes, chunk: int | None = None
    ) -> Outgoing:
        msg_id = f"{self.node.name}:{kind}:{seq}" + ("" if chunk is None else f":{chunk}")
        return Outgoing(subjects.snapshot(self.node.name, kind), payload, msg_id)

    # ------------------------------------------------------------------ publishing

    async def _publish(
        self, messages: list[Outgoing], status: Verdict | None, started: float
    ) -> None:
        try:
            await self.publisher.publish(messages)
        except PublishError as exc:
            if self.metrics is not None:
                self.metrics.publish_failures.labels("snapshot").inc(exc.failed)
            log.warning(
                "snapshots not published",
                extra={"node": self.node.name, "failed": exc.failed, "error": exc.cause},
            )
            return
        if status is not None:
            if status != self._published:
                log.info(
                    "node status",
                    extra={
                        "node": self.node.name,
                        "status": status.status,
                        "reason": status.reason,
                    },
                )
            self._published = status
            self._published_at = started

    def _count(self, obs: Observation, started: float) -> None:
        if self.metrics is None:
            return
        name = self.node.name
        outcome = "ok" if obs.metrics_error is None else obs.metrics_error.kind
        self.metrics.polls.labels(name, outcome).inc()
        self.metrics.poll_seconds.labels(name).observe(self.clock.monotonic() - started)
        if obs.metrics is not None:
            self.metrics.series.labels(name).set(self._series)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
