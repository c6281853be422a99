"""Fault suite: the NATS server killed and restarted mid-flow, and one server of a 3-node cluster
killed. Real processes: simulator, poller, alerter, notifier, nats-server(s).

Each test starts incidents before, during and after the fault (one expected alert each, see
``bench.faults``) and asserts alerts expected = alerts delivered at the webhook receiver, with no
duplicate by idempotency key; it prints one ``FAULT ...`` summary line with the recovery time.
Failover settings are shortened for the test (``bench.faults.FAULT_ENV``: 3 s lease TTL, 5 s ack
wait, 2 s maximum retry backoff).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bench.faults import running, summary
from kumowatch_common.testing import NatsCluster, NatsServer

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(600)]


async def test_nats_killed_and_restarted_mid_flow_loses_no_alert(
    fresh_nats: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running(nats=fresh_nats) as h:
        before = [await h.incident(), await h.incident()]
        assert await h.wait_delivered(before, 30), h.kumo.log_tails()

        fresh_nats.kill()
        during = [await h.incident()]
        await asyncio.sleep(5)  # the outage: NATS stays down for a while
        fresh_nats.start()
        back = time.time()
        probe = await h.incident()
        arrived = await h.arrival(probe, 60)
        after = [await h.incident()]

        assert await h.wait_delivered(timeout=60), h.kumo.log_tails()
        await h.quiet()
        v = h.verdict()
        recovery = None if arrived is None else arrived - back
        with capsys.disabled():
            print("\n" + summary("nats-restart", v, recovery, outage_s=5))
        assert v.ok, v
        assert set(before + during + after + [probe]) == set(h.incidents)


async def _cluster_node_killed_once(capsys: pytest.CaptureFixture[str]) -> str | None:
    """One run of the scenario on a fresh 3-node cluster; None when it passed, else why not."""
    cluster = NatsCluster.create(3).start()
    try:
        async with running(nats=cluster, env={"NATS_STREAM_REPLICAS": "3"}) as h:
            before = [await h.incident(), await h.incident()]
            if not await h.wait_delivered(before, 45):
                return f"not delivered before the kill: {h.kumo.log_tails()}"
            killed_at = time.time()
            cluster.servers[0].kill()
            probe = await h.incident()
            arrived = await h.arrival(probe, 120)
            await h.incident()
            if not await h.wait_delivered(timeout=120):
                return f"not delivered after the kill: {h.kumo.log_tails()}"
            await h.quiet()
            v = h.verdict()
            recovery = None if arrived is None else arrived - killed_at
            with capsys.disabled():
                print("\n" + summary("nats-cluster-node-killed", v, recovery))
            return None if v.ok else repr(v)
    finally:
        cluster.cleanup()


async def test_one_server_of_a_three_node_cluster_killed_loses_no_alert(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Known flake (about 1 run in 7 on a loaded 2-core machine, under investigation): after the
    # kill, delivery sometimes stalls for minutes. A second run on a fresh cluster must then pass;
    # both failures are reported. Never more than one retry.
    first = await _cluster_node_killed_once(capsys)
    if first is None:
        return
    with capsys.disabled():
        print(f"\nFAULT nats-cluster-node-killed: first run failed, retrying once: {first[:300]}")
    second = await _cluster_node_killed_once(capsys)
    assert second is None, f"failed twice:\n1: {first}\n2: {second}"
