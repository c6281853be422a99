"""Polling the simulator: snapshot values match its truth; restarts, faults and down nodes."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from poll_helpers import harness

from kumowatch_common import streams, subjects
from kumowatch_common.clock import SystemClock
from kumowatch_common.testing import free_port

INTERVAL = 5.0


async def step(h, sim_node, seconds: float = INTERVAL):
    sim_node.model.advance(seconds)
    h.clock.advance(seconds)
    return await h.poll()


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_snapshots_match_simulator_truth(nats_server, nc, start_cluster, fmt) -> None:
    sim = await start_cluster(quirks=frozenset({"trailing-comma", "unescaped-labels"}))
    node = sim.nodes[0]
    node.model.advance(30)
    async with harness(nats_server.url, node.url, metrics_format=fmt) as h:
        before = node.truth()
        verdict = await h.poll()
        assert verdict.status == "healthy"
        after_verdict = await step(h, node)
        assert after_verdict.status == "healthy"
        truth = node.truth()
        m = h.inbox.last("metrics")
        t, t0 = truth["totals"], before["totals"]
        assert (m.delivered, m.bounced, m.deferred, m.received) == (
            t["delivered"],
            t["fail"],
            t["transfail"],
            t["received"],
        )
        assert m.deliveredPerSec == pytest.approx((t["delivered"] - t0["delivered"]) / INTERVAL)
        assert m.bouncedPerSec == pytest.approx((t["fail"] - t0["fail"]) / INTERVAL)
        assert m.deferredPerSec == pytest.approx((t["transfail"] - t0["transfail"]) / INTERVAL)
        assert m.receivedPerSec == pytest.approx((t["received"] - t0["received"]) / INTERVAL)
        assert m.deliveredPerSec > 0
        assert m.throughput == m.deliveredPerSec
        assert not m.counterReset
        assert m.intervalSeconds == INTERVAL
        assert m.scheduledTotal == truth["scheduled_total"]
        assert m.diskFreePercent is not None
        assert m.memoryUsage is not None

        queues = h.inbox.queues(m.seq)
        sched = {q.queueName: q.scheduled for q in queues if q.kind == "scheduled"}
        ready = {q.queueName: q.ready for q in queues if q.kind == "ready"}
        assert sched == truth["scheduled"]
        assert {k: v for k, v in ready.items() if k in truth["ready"]} == truth["ready"]

        providers = {p.provider: p for p in h.inbox.last("providers").providers}
        for name, counts in t["by_provider"].items():
            assert providers[name].delivered == counts["delivered"]
            assert providers[name].failed == counts["fail"]

        status = h.inbox.last("status")
        assert status.kumoMtaStatus == "healthy"
        assert status.connected
        assert status.nodeId == truth["node_id"]
        assert status.version

        states = h.inbox.last("states")
        assert states.node == h.poller.node.name
        assert len(h.inbox.got["status"]) == 1  # unchanged status is not republished


async def test_snapshots_are_persisted_with_message_ids(nats_server, nc, start_cluster) -> None:
    sim = await start_cluster()
    node = sim.nodes[0]
    node.model.advance(10)
    async with harness(nats_server.url, node.url) as h:
        await h.poll()
        name = h.poller.node.name
        seq = h.inbox.last("metrics").seq
        js = nc.jetstream()
        msg = await js.get_last_msg(streams.STREAM_SNAPSHOTS, subjects.snapshot(name, "metrics"))
        assert msg.headers is not None
        assert msg.headers["Nats-Msg-Id"] == f"{name}:metrics:{seq}"
        ids = {hd["Nats-Msg-Id"] for hd in h.inbox.headers}
        assert f"{name}:queues:{seq}:0" in ids
        assert f"{name}:status:{seq}" in ids
        h.clock.advance(1)
        await h.poll()
        assert h.inbox.last("metrics").seq > seq


async def test_restart_gives_no_false_spike(nats_server, nc, start_cluster) -> None:
    sim = await start_cluster()
    node = sim.nodes[0]
    node.model.advance(30)
    async with harness(nats_server.url, node.url) as h:
        await h.poll()
        await step(h, node)
        normal = h.inbox.last("metrics").deliveredPerSec
        node.restart()
        await step(h, node)
        m = h.inbox.last("metrics")
        assert m.counterReset
        assert m.deliveredPerSec == m.bouncedPerSec == m.deferredPerSec == 0
        assert h.inbox.last("providers").counterReset
        before = node.truth()["totals"]["delivered"]
        await step(h, node)
        m = h.inbox.last("metrics")
        assert not m.counterReset
        delta = node.truth()["totals"]["delivered"] - before
        assert m.deliveredPerSec == pytest.approx(delta / INTERVAL)
        assert 0 <= m.deliveredPerSec < normal * 3


async def test_restart_detected_by_online_since_when_counters_overtake(
    nats_server, nc, start_cluster
) -> None:
    sim = await start_cluster()
    node = sim.nodes[0]
    async with harness(nats_server.url, node.url) as h:
        node.model.advance(2)
        await h.poll()
        low = h.inbox.last("metrics").delivered
        node.restart()
        await step(h, node, 30)
        m = h.inbox.last("metrics")
        assert m.delivered > low  # counters alone would not show the restart
        assert m.counterReset
        assert m.deliveredPerSec == 0


async def test_faults_give_the_right_status_without_crashing(
    nats_server, nc, start_cluster
) -> None:
    sim = await start_cluster()
    node = sim.nodes[0]
    node.model.advance(10)
    async with harness(nats_server.url, node.url, timeout=0.3) as h:
        assert (await h.poll()).status == "healthy"

        await node.set_fault("503")
        v = await h.poll()
        assert v.status == "down"
        assert "HTTP 503" in v.reason
        assert "load shedding" in v.reason

        await node.set_fault("garbage")
        v = await h.poll()
        assert v.status == "degraded"
        assert "unparseable" in v.reason

        await node.set_fault("slow", delay=1.0)
        v = await h.poll()
        assert v.status == "down"
        assert "timed out" in v.reason

        await node.set_fault("refuse")
        v = await h.poll()
        assert v.status == "down"
        assert "unreachable" in v.reason

        await node.set_fault("none")
        assert (await h.poll()).status == "healthy"
        statuses = [s.kumoMtaStatus for s in h.inbox.got["status"]]
        assert statuses == ["healthy", "down", "degraded", "down", "down", "healthy"]
        assert [s.connected for s in h.inbox.got["status"]][1:3] == [False, True]


async def test_liveness_503_and_critical_disk_degrade(nats_server, nc, start_cluster) -> None:
    sim = await start_cluster()
    node = sim.nodes[0]
    node.model.advance(10)
    async with harness(nats_server.url, node.url) as h:
        node.apply({"liveness": "waiting for spool startup"})
        v = await h.poll()
        assert (v.status, v.reason) == ("degraded", "liveness: waiting for spool startup")
        node.apply({"liveness": None, "disk_free_percent": 3})
        h.clock.advance(1)
        v = await h.poll()
        assert v.status == "degraded"
        assert "storage is too full" in v.reason
        assert "disk critical" in v.reason
        s = h.inbox.last("status")
        assert s.kumoMtaStatus == "degraded"
        assert s.reason == v.reason


async def test_suspensions_reach_states_and_queue_flags(nats_server, nc, start_cluster) -> None:
    sim = await start_cluster()
    node = sim.nodes[0]
    node.model.advance(20)
    tenant = next(q.split("@")[0].split(":")[-1] for q in node.truth()["scheduled"] if "@" in q)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            node.url + "/api/admin/suspend/v1", json={"reason": "maintenance", "tenant": tenant}
        ) as resp,
    ):
        assert resp.status == 200
    async with harness(nats_server.url, node.url) as h:
        await h.poll()
        states = h.inbox.last("states")
        assert [(s.kind, s.tenant, s.reason) for s in states.suspensions] == [
            ("scheduled", tenant, "maintenance")
        ]
        queues = h.inbox.queues(h.inbox.last("metrics").seq)
        flagged = {q.queueName for q in queues if q.suspended}
        assert flagged
        assert all(q.tenant == tenant for q in queues if q.suspended)


async def test_node_down_at_start_and_within_two_intervals(nats_server, nc, start_cluster) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with harness(nats_server.url, dead, clock=SystemClock(), timeout=0.5) as h:
        v = await h.poll()
        assert v.status == "down"
        assert h.inbox.last("status").kumoMtaStatus == "down"

    interval = 0.5
    sim = await start_cluster(run_ticker=True, tick=0.1)
    node = sim.nodes[0]
    async with harness(
        nats_server.url, node.url, clock=SystemClock(), interval=interval, timeout=0.4
    ) as h:
        stop = asyncio.Event()
        task = asyncio.create_task(h.poller.run(stop))
        try:
            await h.inbox.wait("status", lambda s: s.kumoMtaStatus == "healthy")
            await node.set_fault("refuse")
            began = time.monotonic()
            down = await h.inbox.wait("status", lambda s: s.kumoMtaStatus == "down", timeout=5)
            took = time.monotonic() - began
            # Down is reported at the next poll: within two intervals (plus scheduling slack).
            assert took <= 2 * interval + 0.5, took
            await node.set_fault("none")
            await h.inbox.wait(
                "status",
                lambda s: s.kumoMtaStatus == "healthy" and s.timestamp > down.timestamp,
                timeout=5,
            )
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
