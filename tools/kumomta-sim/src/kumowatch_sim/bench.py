"""Benchmarks, for ``make bench``: how long /metrics takes with many scheduled queues."""

from __future__ import annotations

import asyncio
import statistics
import time

import aiohttp

from kumowatch_sim.cluster import SimCluster
from kumowatch_sim.config import SimConfig


async def metrics_render_seconds_async(queues: int = 100_000, repeats: int = 5) -> float:
    """Median seconds to render and serve ``/metrics`` (uncached) for a ``big`` node."""
    config = SimConfig(nodes=1, port=0, scenario="big", queues=queues, run_ticker=False)
    async with SimCluster(config) as sim, aiohttp.ClientSession() as http:
        node = sim.nodes[0]
        node.model.advance(1.0)
        times: list[float] = []
        for _ in range(repeats):
            node.model.advance(0.1)  # a new version defeats the per-tick cache
            start = time.perf_counter()
            async with http.get(node.url + "/metrics") as resp:
                body = await resp.read()
            times.append(time.perf_counter() - start)
            assert resp.status == 200
            assert body
        return statistics.median(times)


def metrics_render_seconds(queues: int = 100_000, repeats: int = 5) -> float:
    """Synchronous wrapper of :func:`metrics_render_seconds_async`."""
    return asyncio.run(metrics_render_seconds_async(queues, repeats))
