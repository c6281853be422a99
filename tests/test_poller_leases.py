"""Two poller processes share simulated KumoMTA nodes; a SIGKILLed one's nodes move within the TTL."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest

from kumowatch_common.testing import ServiceProcess, free_port
from kumowatch_common.testing import eventually as until
from kumowatch_sim import SimCluster, SimConfig

TTL = 3.0
_POLLS = re.compile(r'kumowatch_poller_polls_total\{node="([^"]+)",outcome="ok"\} ([0-9.e+]+)')
_OWNED = re.compile(r"^kumowatch_poller_owned_nodes ([0-9.]+)$", re.M)


@pytest.fixture
async def sim() -> AsyncIterator[SimCluster]:
    cluster = SimCluster(SimConfig(nodes=3, port=0, run_ticker=True, tick=0.2, seed=5))
    await cluster.start()
    yield cluster
    await cluster.stop()


async def scrape(http: aiohttp.ClientSession, proc: ServiceProcess) -> tuple[dict[str, float], int]:
    """(ok polls by node, owned nodes) from a replica's /metrics."""
    async with http.get(f"http://127.0.0.1:{proc.port}/metrics") as resp:
        text = await resp.text()
    owned = _OWNED.search(text)
    return {n: float(v) for n, v in _POLLS.findall(text)}, int(
        float(owned.group(1))
    ) if owned else 0


async def test_each_node_polled_by_exactly_one_and_a_killed_replica_hands_over(
    fresh_nats, sim
) -> None:
    # Its own server: a short lease TTL cannot be applied to a bucket other tests created.
    nats_server = fresh_nats
    run = uuid.uuid4().hex[:6]
    names = [f"ha{run}-{i}" for i in range(len(sim.nodes))]
    urls = ",".join(f"{n}={node.url}" for n, node in zip(names, sim.nodes, strict=True))
    procs = []
    for replica in ("a", "b"):
        port = free_port()
        env = {
            "NATS_URL": nats_server.url,
            "KUMOMTA_API_URL": urls,
            "KUMOMTA_POLL_INTERVAL": "0.5",
            "LEASE_TTL_SECONDS": str(TTL),
            "POLLER_PORT": str(port),
            "INSTANCE_ID": f"poller-{run}-{replica}",
            "LOG_LEVEL": "WARNING",
        }
        procs.append(ServiceProcess("kumowatch_poller", env, port=port).start())
    a, b = procs
    try:
        await asyncio.gather(*(asyncio.to_thread(p.wait_ready, 30) for p in procs))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:

            async def shared() -> bool:
                (_, owned_a), (_, owned_b) = await scrape(http, a), await scrape(http, b)
                return owned_a >= 1 and owned_b >= 1 and owned_a + owned_b == len(names)

            await until(shared, 20, "both replicas to hold leases")

            async def both_readings() -> list[dict[str, float]]:
                return [(await scrape(http, p))[0] for p in procs]

            first = await both_readings()

            async def all_advanced() -> list[dict[str, float]] | None:
                now = await both_readings()
                moved = {
                    n for n in names for i in (0, 1) if now[i].get(n, 0) > first[i].get(n, 0) + 1
                }
                return now if moved == set(names) else None

            second = await until(all_advanced, 15, "every node to be polled")
            pollers = {
                n: [i for i in (0, 1) if second[i].get(n, 0) > first[i].get(n, 0)] for n in names
            }
            assert all(len(who) == 1 for who in pollers.values()), pollers
            of_a = {n for n, who in pollers.items() if who == [0]}
            assert of_a, pollers

            a.kill()
            killed = time.monotonic()
            base = (await scrape(http, b))[0]

            async def taken_over() -> bool:
                polls, owned = await scrape(http, b)
                return owned == len(names) and all(polls.get(n, 0) > base.get(n, 0) for n in of_a)

            await until(taken_over, 4 * TTL, "the survivor to poll the killed replica's nodes")
            took = time.monotonic() - killed
            # The lease expires at most TTL after the last renewal; the survivor checks every TTL/3.
            assert took <= TTL * 4 / 3 + 1.5, took
    finally:
        for p in procs:
            p.kill()
