"""Benchmarks and the event builder they share with tests.

``await throughput(nats_url, alerts=2000, replicas=1)`` starts ``replicas`` notifier processes
against a local webhook receiver, publishes a burst of ``alerts`` firing events and reports
notifications per second (total and per replica). ``await latency(nats_url, alerts=300, rate=50)``
publishes at a steady rate and reports the latency from publishing an alert event to the webhook
receiving it (p50/p99). ``python -m kumowatch_notifier.bench`` runs both on a private nats-server.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import nats

from kumowatch_common import streams, subjects
from kumowatch_common.events import Alert, AlertCondition, AlertEvent, AlertRule, Throttle
from kumowatch_common.testing import ServiceProcess, free_port
from kumowatch_notifier.receiver import Received, Receiver


def make_event(
    rule_id: str,
    *,
    event: str = "firing",
    alert_id: str | None = None,
    name: str = "Queue depth high",
    channels: tuple[str, ...] = ("webhook",),
    throttle: tuple[int, int] | None = None,
    labels: dict[str, str] | None = None,
    severity: str = "warning",
    description: str = "Queue has more than 1000 messages",
    webhook: str | None = None,
    now_ms: int | None = None,
) -> AlertEvent:
    """A valid alert event; ``throttle`` is ``(period_ms, max_alerts)``."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    rule = AlertRule.model_validate(
        {
            "id": rule_id,
            "name": name,
            "description": description,
            "severity": severity,
            "condition": AlertCondition(
                type="queue_depth", operator=">", threshold=1000, timeWindow=60000
            ),
            "channels": list(channels),
            "throttle": Throttle(period=throttle[0], maxAlerts=throttle[1]) if throttle else None,
            "recipients": {"webhook": webhook} if webhook else {},
        }
    )
    alert = Alert(
        id=alert_id or uuid.uuid4().hex,
        ruleId=rule_id,
        ruleName=name,
        severity=rule.severity,
        message="Queue example.com has 1500 messages",
        value=1500.0,
        threshold=1000.0,
        timestamp=now,
        startsAt=now,
        status="resolved" if event == "resolved" else "firing",
        endsAt=now if event == "resolved" else None,
        labels={"node": "mta1", "queue": "example.com", **(labels or {})},
    )
    return AlertEvent.model_validate({"event": event, "alert": alert, "rule": rule})


async def publish(js: Any, ev: AlertEvent) -> None:
    """Publish as the alerter does (subject by rule and state, ``Nats-Msg-Id``)."""
    await js.publish(
        subjects.alert(ev.rule.id, ev.event),
        ev.to_bytes(),
        headers={"Nats-Msg-Id": f"{ev.alert.id}:{ev.event}"},
    )


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextlib.asynccontextmanager
async def _notifiers(nats_url: str, replicas: int, webhook: str) -> AsyncIterator[tuple[Any, str]]:
    consumer = f"bench-{uuid.uuid4().hex[:8]}"
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await streams.provision(js, streams.Retention())
    procs: list[ServiceProcess] = []
    try:
        for _ in range(replicas):
            port = free_port()
            env = {
                "NATS_URL": nats_url,
                "NOTIFIER_PORT": str(port),
                "WEBHOOK_URL": webhook,
                "NOTIFY_CONSUMER": consumer,
                "NOTIFY_START_LOOKBACK_SECONDS": "0",
                "NOTIFY_CONCURRENCY": "128",
                "LOG_LEVEL": "WARNING",
            }
            procs.append(ServiceProcess("kumowatch_notifier", env, port=port).start())
        await asyncio.gather(*(asyncio.to_thread(p.wait_ready, 60.0) for p in procs))
        yield js, consumer
    finally:
        for p in procs:
            p.stop()
        with contextlib.suppress(Exception):
            await js.delete_consumer(streams.STREAM_ALERTS, consumer)
        await nc.close()


def _latencies(got: list[Received], sent_at: dict[str, float]) -> list[float]:
    out = []
    for r in got:
        alert_id = r.json()["alert"]["id"]
        if alert_id in sent_at:
            out.append((r.at - sent_at[alert_id]) * 1000)
    return out


async def throughput(
    nats_url: str, alerts: int = 2000, replicas: int = 1, timeout: float = 120.0
) -> dict[str, float]:
    """A burst of ``alerts`` firing events: notifications/s, and latency p50/p99 (ms) under
    that backlog (it includes queueing behind the burst)."""
    rule_id = f"bench-{uuid.uuid4().hex[:8]}"
    async with Receiver() as rx, _notifiers(nats_url, replicas, rx.url) as (js, _):
        events = [make_event(rule_id) for _ in range(alerts)]
        sent_at: dict[str, float] = {}
        t0 = time.time()
        for i in range(0, alerts, 200):
            batch = events[i : i + 200]
            for ev in batch:
                sent_at[ev.alert.id] = time.time()
            await asyncio.gather(*(publish(js, ev) for ev in batch))
        got = await rx.wait_for(alerts, timeout)
        t1 = max(r.at for r in got)
    lat = _latencies(got, sent_at)
    rate = alerts / (t1 - t0)
    return {
        "alerts": float(alerts),
        "replicas": float(replicas),
        "notifications_per_s": round(rate, 1),
        "notifications_per_s_per_replica": round(rate / replicas, 1),
        "burst_latency_p50_ms": round(statistics.median(lat), 2),
        "burst_latency_p99_ms": round(_pct(lat, 0.99), 2),
    }


async def latency(
    nats_url: str, alerts: int = 300, rate: float = 50.0, replicas: int = 1
) -> dict[str, float]:
    """Alert event published → webhook received, p50/p99 in ms, at a steady ``rate``/s."""
    rule_id = f"bench-{uuid.uuid4().hex[:8]}"
    async with Receiver() as rx, _notifiers(nats_url, replicas, rx.url) as (js, _):
        sent_at: dict[str, float] = {}
        start = time.monotonic()
        for i in range(alerts):
            ev = make_event(rule_id)
            sent_at[ev.alert.id] = time.time()
            await publish(js, ev)
            pause = start + (i + 1) / rate - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
        got = await rx.wait_for(alerts, 60.0)
    lat = _latencies(got, sent_at)
    return {
        "alerts": float(alerts),
        "rate_per_s": rate,
        "replicas": float(replicas),
        "latency_p50_ms": round(statistics.median(lat), 2),
        "latency_p99_ms": round(_pct(lat, 0.99), 2),
    }


async def _main() -> None:
    from kumowatch_common.testing import NatsServer

    server = NatsServer().start()
    try:
        for replicas in (1, 2):
            print(await throughput(server.url, alerts=3000, replicas=replicas))
        print(await latency(server.url))
    finally:
        server.cleanup()


if __name__ == "__main__":
    asyncio.run(_main())
