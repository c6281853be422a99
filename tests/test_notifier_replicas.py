"""Two notifier processes sharing one durable consumer and one throttle budget."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import aiohttp
import nats
import orjson
import pytest

from kumowatch_common import streams
from kumowatch_common.testing import ServiceProcess, free_port
from kumowatch_notifier.bench import make_event, publish
from kumowatch_notifier.channels import IDEMPOTENCY_HEADER
from kumowatch_notifier.receiver import HANG, Receiver, Reply


def notifier(nats_url: str, webhook: str, consumer: str, **env: str) -> ServiceProcess:
    port = free_port()
    base = {
        "NATS_URL": nats_url,
        "NOTIFIER_PORT": str(port),
        "WEBHOOK_URL": webhook,
        "NOTIFY_CONSUMER": consumer,
        "NOTIFY_START_LOOKBACK_SECONDS": "0",
        "NOTIFY_SUMMARY_INTERVAL_SECONDS": "0.2",
        "LOG_LEVEL": "INFO",
    }
    return ServiceProcess("kumowatch_notifier", {**base, **env}, port=port)


@pytest.fixture
async def js(fresh_nats) -> AsyncIterator[object]:
    client = await nats.connect(fresh_nats.url)
    ctx = client.jetstream()
    await streams.provision(ctx, streams.Retention())
    yield ctx
    await client.close()


async def drained(js, consumer: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = await js.consumer_info(streams.STREAM_ALERTS, consumer)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"consumer {consumer} not drained")


async def acked(port: int) -> float:
    """``kumowatch_notifier_events_total{result="ack"}`` of one process."""
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/metrics") as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith('kumowatch_notifier_events_total{result="ack"}'):
            return float(line.split()[-1])
    return 0.0


async def summary_done(js, rule: str, timeout: float = 20.0) -> None:
    """The throttle state shows no suppression left and no summary in flight."""
    kv = await js.key_value(streams.BUCKET_THROTTLE)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = orjson.loads((await kv.get(f"throttle.{rule}")).value)
        if state["suppressed"] == 0 and state["pending"] is None:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("summary not finished")


async def test_storm_of_50_across_two_replicas_sends_3_then_one_summary(fresh_nats, js) -> None:
    consumer = f"storm-{uuid.uuid4().hex[:6]}"
    rule = f"storm-{uuid.uuid4().hex[:6]}"
    async with Receiver() as rx:
        # Small fetch batches so that both replicas take part in the storm.
        procs = [
            notifier(fresh_nats.url, rx.url, consumer, NOTIFY_CONCURRENCY="4").start()
            for _ in range(2)
        ]
        try:
            await asyncio.gather(*(asyncio.to_thread(p.wait_ready, 30.0) for p in procs))
            events = [make_event(rule, throttle=(2500, 3)) for _ in range(50)]
            await asyncio.gather(*(publish(js, ev) for ev in events))
            reqs = await rx.wait_for(4, timeout=30)
            await drained(js, consumer)
            await summary_done(js, rule)
            per_replica = [await acked(p.port or 0) for p in procs]
        finally:
            logs = [p.log_tail(100) for p in procs]
            for p in procs:
                p.stop()
    kinds = [r.json()["event"] for r in rx.requests]
    assert kinds == ["kumomta.alert"] * 3 + ["kumomta.alert.summary"], logs
    summary = reqs[3].json()
    assert summary["throttle"]["suppressed"] == 47
    assert summary["rule"]["id"] == rule
    assert sum(per_replica) == 50
    assert min(per_replica) > 0, per_replica


@pytest.mark.faults
async def test_kill_9_during_a_hanging_webhook_call_another_replica_delivers(
    fresh_nats, js
) -> None:
    consumer = f"kill-{uuid.uuid4().hex[:6]}"
    rule = f"kill-{uuid.uuid4().hex[:6]}"
    env = {"NOTIFY_ACK_WAIT_SECONDS": "3", "NOTIFY_TIMEOUT_SECONDS": "60"}
    async with Receiver() as rx:
        rx.script = [Reply(HANG)]
        a = notifier(fresh_nats.url, rx.url, consumer, **env).start()
        b = notifier(fresh_nats.url, rx.url, consumer, **env)
        try:
            await asyncio.to_thread(a.wait_ready, 30.0)
            victim = make_event(rule)
            await publish(js, victim)
            await rx.wait_for(1, timeout=10)  # a holds the call open
            b.start()
            await asyncio.to_thread(b.wait_ready, 30.0)
            a.kill()
            others = [make_event(rule) for _ in range(10)]
            await asyncio.gather(*(publish(js, ev) for ev in others))
            await rx.wait_for(12, timeout=30)
            await drained(js, consumer)
        finally:
            a.kill()
            b.stop()
    by_alert: dict[str, list[str]] = {}
    for r in rx.requests:
        by_alert.setdefault(r.json()["alert"]["id"], []).append(r.headers[IDEMPOTENCY_HEADER])
    keys = by_alert[victim.alert.id]
    assert len(keys) == 2
    assert set(keys) == {f"{victim.alert.id}:firing:webhook"}
    assert {ev.alert.id for ev in others} <= set(by_alert)
