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

import nats
import pytest

from bench.faults import running, summary
from kumowatch_common import streams, subjects
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


async def test_one_server_of_a_three_node_cluster_killed_loses_no_alert(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Streams and buckets at 3 replicas. The alerter reads snapshots through an R1 ordered
    # consumer; the server holding it is the one killed, so the client must re-create it
    # (kumowatch_common.nats.subscribe_ordered) for snapshots to reach the alerter again.
    cluster = NatsCluster.create(3).start()
    try:
        async with running(nats=cluster, env={"NATS_STREAM_REPLICAS": "3"}) as h:
            before = [await h.incident(), await h.incident()]
            assert await h.wait_delivered(before, 45), h.kumo.log_tails()
            victim = await _alerter_consumer_host(cluster)
            killed_at = time.time()
            victim.kill()
            probe = await h.incident()
            arrived = await h.arrival(probe, 60)
            after = [await h.incident()]
            assert await h.wait_delivered(timeout=60), h.kumo.log_tails()
            await h.quiet()
            v = h.verdict()
            recovery = None if arrived is None else arrived - killed_at
            with capsys.disabled():
                print("\n" + summary("nats-cluster-node-killed", v, recovery))
            assert v.ok, v
            assert set(before + after + [probe]) == set(h.incidents)
    finally:
        cluster.cleanup()


async def _alerter_consumer_host(cluster: NatsCluster) -> NatsServer:
    """The server that holds the alerter's snapshot consumer for mta1 (the incidents' node)."""
    nc = await nats.connect(servers=cluster.url.split(","))
    try:
        infos = await nc.jetstream().consumers_info(streams.STREAM_SNAPSHOTS)
    finally:
        await nc.close()
    mine = subjects.node_snapshots("mta1")
    leaders = {
        i.cluster.leader
        for i in infos
        if not i.config.durable_name and i.config.filter_subject == mine and i.cluster
    }
    assert len(leaders) == 1, leaders
    return next(s for s in cluster.servers if s.name in leaders)
