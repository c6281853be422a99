"""Everything the gateway reads from NATS, applied to the read model and pushed to clients.

- core subscriptions: ``kumomta.v1.*.{status,metrics,providers,queues,states}`` and
  ``kumomta.v1.*.events.>``; at start the last message per snapshot subject comes from
  KUMOMTA_SNAPSHOTS, so ``connection:status`` is the real latest status from the first client on
- KV watches: rules, alert state, acknowledgements, silences
- ordered consumers: ALERTS (the newest ``alert_history_limit * 3`` events replayed, then live)
  and NOTIFICATIONS (the newest ``notification_history_limit``)

Nothing replayed at start is pushed to WebSocket clients; only live changes are.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError

from kumowatch_common import streams, subjects
from kumowatch_common.events import (
    Acknowledgement,
    Alert,
    AlertEvent,
    AlertRule,
    ConnectionStatus,
    KumoLogEvent,
    MetricsUpdate,
    NotificationOutcome,
    ProvidersSnapshot,
    QueuesSnapshot,
    Silence,
    StatesSnapshot,
)
from kumowatch_common.nats import subscribe_ordered
from kumowatch_gateway import push
from kumowatch_gateway.hub import Hub, Topic
from kumowatch_gateway.keys import Sync
from kumowatch_gateway.readmodel import ReadModel

log = logging.getLogger(__name__)

FETCH_TIMEOUT: Final = 15.0
RETRY_DELAY: Final = 1.0


class Feeds:
    """Owns every NATS subscription of the gateway."""

    def __init__(
        self,
        nc: NatsClient,
        js: JetStreamContext,
        buckets: dict[str, KeyValue],
        model: ReadModel,
        hub: Hub,
        sync: Sync,
        *,
        alert_replay: int,
        notification_replay: int,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.nc, self.js, self.buckets = nc, js, buckets
        self.model, self.hub, self.sync = model, hub, sync
        self.alert_replay = alert_replay
        self.notification_replay = notification_replay
        self.invalid = Counter(
            "kumowatch_gateway_invalid_messages_total",
            "messages that failed validation, by source",
            ["source"],
            registry=registry or CollectorRegistry(),
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Subscribe to everything; return after ``stop`` is set and subscriptions are gone."""
        subs = [
            await self.nc.subscribe(subjects.ALL_SNAPSHOTS, cb=self._on_snapshot),
            await self.nc.subscribe(subjects.ALL_EVENTS, cb=self._on_event),
        ]
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(self._watch(streams.BUCKET_RULES, "rules", self._on_rule)),
                tg.create_task(
                    self._watch(streams.BUCKET_ALERT_STATE, "alert_state", self._on_alert_state)
                ),
                tg.create_task(self._watch(streams.BUCKET_ACKS, "acks", self._on_ack)),
                tg.create_task(self._watch(streams.BUCKET_SILENCES, "silences", self._on_silence)),
                tg.create_task(
                    self._follow(
                        streams.STREAM_ALERTS,
                        subjects.ALL_ALERTS,
                        "alerts",
                        self.alert_replay,
                        self._on_alert_event,
                    )
                ),
                tg.create_task(
                    self._follow(
                        streams.STREAM_NOTIFICATIONS,
                        subjects.ALL_NOTIFICATIONS,
                        "notifications",
                        self.notification_replay,
                        self._on_notification,
                    )
                ),
                tg.create_task(self._load_latest_snapshots()),
            ]
            await stop.wait()
            for task in tasks:
                task.cancel()
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    # ------------------------------------------------------------------ snapshots (core)

    async def _on_snapshot(self, msg: Msg) -> None:
        self._apply_snapshot(msg.subject, msg.data, live=True)

    def _apply_snapshot(self, subject: str, data: bytes, *, live: bool) -> None:
        kind = subject.rsplit(".", 1)[-1]
        try:
            if kind == "status":
                status = self.model.apply_status(ConnectionStatus.from_bytes(data))
                if status is not None and live:
                    push.connection_status(self.hub, status)
            elif kind == "metrics":
                metrics = MetricsUpdate.from_bytes(data)
                if self.model.apply_metrics(metrics) and live:
                    push.metrics_update(self.hub, metrics, data)
            elif kind == "queues":
                changes = self.model.apply_queues(QueuesSnapshot.from_bytes(data))
                if changes and live:
                    push.queue_updates(self.hub, changes)
            elif kind == "providers":
                self.model.apply_providers(ProvidersSnapshot.from_bytes(data))
            elif kind == "states":
                self.model.apply_states(StatesSnapshot.from_bytes(data))
        except ValidationError as exc:
            self._invalid(f"snapshot.{kind}", subject, exc)

    async def _on_event(self, msg: Msg) -> None:
        if not self.hub.has_subscribers(Topic.MESSAGES):
            return
        try:
            event = KumoLogEvent.from_bytes(msg.data)
        except ValidationError as exc:
            self._invalid("event", msg.subject, exc)
            return
        push.message_status(self.hub, event)

    async def _load_latest_snapshots(self) -> None:
        """The last message of every snapshot subject (and every chunk of the last queues poll)."""
        while True:
            try:
                msgs = await self._fetch(
                    streams.STREAM_SNAPSHOTS,
                    subjects.ALL_SNAPSHOTS,
                    ConsumerConfig(deliver_policy=DeliverPolicy.LAST_PER_SUBJECT),
                )
                for msg in msgs:
                    if msg.subject.endswith(".queues"):
                        await self._load_queue_chunks(msg)
                    else:
                        self._apply_snapshot(msg.subject, msg.data, live=False)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("loading latest snapshots failed, retrying", extra={"error": repr(exc)})
                await asyncio.sleep(RETRY_DELAY)
        self.sync.done("snapshots")
        log.info("latest snapshots loaded", extra={"nodes": len(self.model.nodes)})

    async def _load_queue_chunks(self, last: Msg) -> None:
        try:
            chunk = QueuesSnapshot.from_bytes(last.data)
        except ValidationError as exc:
            self._invalid("snapshot.queues", last.subject, exc)
            return
        if chunk.chunks <= 1:
            self._apply_snapshot(last.subject, last.data, live=False)
            return
        # The chunks of one poll share the subject; read back from shortly before the last one.
        since = last.metadata.timestamp - dt.timedelta(seconds=60)
        msgs = await self._fetch(
            streams.STREAM_SNAPSHOTS,
            last.subject,
            ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=since),
            until=last.metadata.sequence.stream,
        )
        for msg in msgs:
            self._apply_snapshot(msg.subject, msg.data, live=False)

    async def _fetch(
        self, stream: str, subject: str, config: ConsumerConfig, *, until: int | None = None
    ) -> list[Msg]:
        """Messages of a short-lived ordered consumer until it has caught up (or ``until``)."""
        got: list[Msg] = []
        done = asyncio.Event()

        async def cb(msg: Msg) -> None:
            got.append(msg)
            meta = msg.metadata
            if meta.num_pending == 0 or (until is not None and meta.sequence.stream >= until):
                done.set()

        sub = await subscribe_ordered(self.js, subject, stream=stream, cb=cb, config=config)
        try:
            info = await sub.consumer_info()
            if (
                info.num_pending == 0
                and (info.delivered.consumer_seq if info.delivered else 0) == 0
                and not got
            ):
                return []
            await asyncio.wait_for(done.wait(), FETCH_TIMEOUT)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        return got

    # ------------------------------------------------------------------ KV watches

    async def _watch(
        self, bucket: str, name: str, apply: Callable[[Any, bool], Awaitable[None]]
    ) -> None:
        """Apply every current value, mark ``name`` synced, then follow updates forever."""
        kv = self.buckets[bucket]
        while True:
            try:
                watcher = await kv.watchall()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("watch failed, retrying", extra={"bucket": bucket, "error": repr(exc)})
                await asyncio.sleep(RETRY_DELAY)
                continue
            try:
                live = False
                async for entry in watcher:
                    if entry is None:
                        live = True
                        self.sync.done(name)
                        continue
                    try:
                        await apply(entry, live)
                    except ValidationError as exc:
                        self._invalid(bucket, entry.key, exc)
            finally:
                with contextlib.suppress(Exception):
                    await watcher.stop()  # type: ignore[no-untyped-call]

    async def _on_rule(self, entry: Any, live: bool) -> None:
        if entry.operation in (KV_DEL, KV_PURGE):
            removed = self.model.remove_rule(entry.key, entry.revision)
            if removed is not None and live:
                push.rule_changed(self.hub, removed, "deleted")
            return
        rule = AlertRule.from_bytes(entry.value)
        action = self.model.apply_rule(rule, entry.revision)
        if action is not None and live:
            push.rule_changed(self.hub, rule, action)

    async def _on_alert_state(self, entry: Any, live: bool) -> None:
        if entry.operation in (KV_DEL, KV_PURGE) or not entry.value:
            return
        try:
            alert = Alert.from_bytes(entry.value)
        except ValidationError:
            alert = AlertEvent.from_bytes(entry.value).alert
        self.model.alerts.upsert(alert)

    async def _on_ack(self, entry: Any, live: bool) -> None:
        if entry.operation in (KV_DEL, KV_PURGE):
            self.model.alerts.drop_ack(entry.key)
            return
        self.model.alerts.set_ack(Acknowledgement.from_bytes(entry.value))

    async def _on_silence(self, entry: Any, live: bool) -> None:
        if entry.operation in (KV_DEL, KV_PURGE):
            self.model.remove_silence(entry.key)
            return
        self.model.apply_silence(Silence.from_bytes(entry.value))

    # ------------------------------------------------------------------ streams

    async def _follow(
        self,
        stream: str,
        subject: str,
        name: str,
        replay: int,
        apply: Callable[[bytes, bool], None],
    ) -> None:
        """Replay the newest ``replay`` messages, mark ``name`` synced, then follow live."""
        while True:
            try:
                info = await self.js.stream_info(stream)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "stream info failed, retrying", extra={"stream": stream, "error": repr(exc)}
                )
                await asyncio.sleep(RETRY_DELAY)
        last = info.state.last_seq
        start = max(info.state.first_seq, last - replay + 1, 1)
        caught_up = last == 0 or info.state.messages == 0

        async def cb(msg: Msg) -> None:
            nonlocal caught_up
            try:
                apply(msg.data, caught_up)
            except ValidationError as exc:
                self._invalid(stream, msg.subject, exc)
            if not caught_up and msg.metadata.sequence.stream >= last:
                caught_up = True
                self.sync.done(name)
                log.info("replayed", extra={"stream": stream})

        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if last else DeliverPolicy.ALL,
            opt_start_seq=start if last else None,
        )
        # A short heartbeat lets the ordered consumer notice a restarted server sooner.
        sub = await subscribe_ordered(
            self.js, subject, stream=stream, cb=cb, config=config, idle_heartbeat=2.0
        )
        if caught_up:
            self.sync.done(name)
        try:
            await asyncio.Event().wait()
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    def _on_alert_event(self, data: bytes, live: bool) -> None:
        event = AlertEvent.from_bytes(data)
        alert = event.alert
        if event.event == "acknowledged" and alert.acknowledgedBy and alert.acknowledgedAt:
            self.model.alerts.set_ack(
                Acknowledgement(
                    alertId=alert.id,
                    by=alert.acknowledgedBy,
                    at=alert.acknowledgedAt,
                    note=alert.ackNote,
                )
            )
        record = self.model.alerts.upsert(alert, event.rule)
        if record is not None and live:
            push.alert_event(self.hub, event.event, record)

    def _on_notification(self, data: bytes, live: bool) -> None:
        self.model.add_notification(NotificationOutcome.from_bytes(data))

    def _invalid(self, source: str, where: str, exc: ValidationError) -> None:
        self.invalid.labels(source).inc()
        log.debug(
            "invalid message ignored",
            extra={"source": source, "subject": where, "errors": exc.error_count()},
        )
