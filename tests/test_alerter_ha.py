"""Two alerter processes share the nodes: every transition once; a SIGKILLed one hands over."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter

import nats
from alerter_support import (
    AlertLog,
    alerter_process,
    metric,
    provision,
    put_rules,
    rule,
    until,
)

from kumowatch_common import streams, subjects
from kumowatch_common.events import ConnectionStatus, Lease, QueuesSnapshot, QueueUpdate
from kumowatch_common.testing import NatsServer

NODES = [f"ha-n{i}" for i in range(4)]
Q = "promo:acme@gmail.com"


async def feed(nc: nats.NATS, sizes: dict[str, float], stop: asyncio.Event) -> None:
    """Act as the poller: status + one queue per node, every 0.3 s, into JetStream."""
    js = nc.jetstream()
    seq = 0
    while not stop.is_set():
        seq += 1
        now = int(time.time() * 1000)
        for node in NODES:
            status = ConnectionStatus(
                connected=True, kumoMtaStatus="healthy", timestamp=now, node=node
            )
            snap = QueuesSnapshot(
                node=node,
                seq=seq,
                timestamp=now,
                totalQueues=1,
                queues=[QueueUpdate(queueName=Q, size=sizes[node], timestamp=now, node=node)],
            )
            with contextlib.suppress(Exception):
                await js.publish(subjects.snapshot(node, "status"), status.to_bytes())
                await js.publish(subjects.snapshot(node, "queues"), snap.to_bytes())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.3)


async def holders(nc: nats.NATS) -> dict[str, str]:
    kv = await nc.jetstream().key_value(streams.BUCKET_LEASES)
    out = {}
    for node in NODES:
        with contextlib.suppress(Exception):
            entry = await kv.get(f"alerter.{node}")
            if entry.value:
                lease = Lease.from_bytes(entry.value)
                if lease.expiresAt > time.time():
                    out[node] = lease.holder
    return out


async def test_two_replicas_publish_each_transition_once_and_survive_a_kill() -> None:
    server = NatsServer().start()
    nc = await nats.connect(server.url)
    await provision(nc)
    await put_rules(nc, [rule("ha-depth", "queue_depth", ">", 100)])
    log = await AlertLog().start(nc)
    sizes = dict.fromkeys(NODES, 1.0)
    stop = asyncio.Event()
    feeder = asyncio.create_task(feed(nc, sizes, stop))
    procs = {name: alerter_process(server.url, name).start() for name in ("ha-a", "ha-b")}
    try:
        await asyncio.gather(*(asyncio.to_thread(p.wait_ready, 30) for p in procs.values()))

        async def settled() -> bool:
            h = await holders(nc)
            live = sum(metric(p, "kumowatch_alerter_nodes_live") for p in procs.values())
            return len(h) == len(NODES) and set(h.values()) == set(procs) and live == len(NODES)

        deadline = time.monotonic() + 30
        while not await settled():
            assert time.monotonic() < deadline, "replicas never shared the nodes"
            await asyncio.sleep(0.2)

        # 1. Every node's queue crosses the threshold: one firing each.
        for node in NODES:
            sizes[node] = 500
        await until(lambda: len(log.of("ha-depth", "firing")) == len(NODES), 20, "4 firings")

        # 2. Kill -9 the holder of the first node; the queues drain meanwhile.
        victim = (await holders(nc))[NODES[0]]
        procs[victim].kill()
        for node in NODES:
            sizes[node] = 1
        await until(lambda: len(log.of("ha-depth", "resolved")) == len(NODES), 30, "4 resolved")

        # 3. The survivor carries every node: all fire again, once.
        for node in NODES:
            sizes[node] = 900
        await until(lambda: len(log.of("ha-depth", "firing")) == 2 * len(NODES), 20, "refire")
        await asyncio.sleep(2)  # nothing more may follow
    except AssertionError:
        tails = "\n".join(p.log_tail(15) for p in procs.values())
        raise AssertionError(f"{log.describe()}\n{tails}") from None
    finally:
        stop.set()
        await feeder
        for p in procs.values():
            p.stop()
        await log.stop()
        await nc.drain()
        server.cleanup()

    fired = log.of("ha-depth", "firing")
    resolved = log.of("ha-depth", "resolved")
    assert len(fired) == 2 * len(NODES)
    assert len(resolved) == len(NODES)
    per_node = Counter(e.alert.labels["node"] for e in fired)
    assert per_node == dict.fromkeys(NODES, 2)
    assert len({e.alert.id for e in fired}) == len(fired)
    first_ids = {e.alert.id for e in fired[: len(NODES)]}
    assert {e.alert.id for e in resolved} == first_ids
