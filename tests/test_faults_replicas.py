"""Fault suite: ``kill -9`` of each kind of service replica, two replicas of poller, alerter and
notifier running. The poller and alerter replica killed is the one holding the lease of the node
the incidents happen on; the other must take the node over within the lease TTL (3 s here, see
``bench.faults.FAULT_ENV``) and the notifier's durable consumer must redeliver whatever the dead
replica had in flight (ack wait 5 s here). The gateway (stateless) has its own test,
tests/test_faults_gateway.py, with a connected WebSocket client.

Each test asserts alerts expected = alerts delivered, no duplicate by idempotency key, prints a
``FAULT ...`` line with the recovery time (kill → the probe incident's notification), and
restarts the killed replica so the next test starts with two again.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from bench.faults import FaultHarness, running, summary

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[FaultHarness]:
    async with running(replicas=2) as h:
        yield h


@pytest.mark.parametrize("service", ["poller", "alerter", "notifier"])
async def test_kill_9_of_one_replica_loses_and_duplicates_no_alert(
    stack: FaultHarness, service: str, capsys: pytest.CaptureFixture[str]
) -> None:
    h = stack
    mine: set[str] = set()
    mine.add(await h.incident())
    assert await h.wait_delivered(sorted(mine), 45), h.kumo.log_tails()

    replicas = h.kumo.replicas_of(service)
    assert len(replicas) == 2
    victim = replicas[0]
    if service != "notifier":
        holder = await h.lease_holder(service, h.node)
        victim = next((r for r in replicas if r.name == holder), replicas[0])
    # An incident in flight as the replica dies, then a probe right after.
    mine.add(await h.incident())
    killed_at = time.time()
    victim.proc.kill()
    probe = await h.incident()
    mine.add(probe)
    arrived = await h.arrival(probe, 60)
    mine.add(await h.incident())

    assert await h.wait_delivered(sorted(mine), 60), h.kumo.log_tails()
    await h.quiet()
    v = h.verdict(mine)
    recovery = None if arrived is None else arrived - killed_at
    with capsys.disabled():
        print("\n" + summary(f"kill-9-{service}", v, recovery, victim=victim.name))
    await h.kumo.restart_replica(victim)
    assert v.ok, v
