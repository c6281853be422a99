"""Fixtures of the poller tests: the reference samples, simulated KumoMTA nodes, a JetStream reader."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kumowatch_sim import SimCluster, SimConfig

StartCluster = Callable[..., Awaitable[SimCluster]]


@pytest.fixture
async def start_cluster() -> AsyncIterator[StartCluster]:
    """Simulated kumod nodes on free ports; the clock stands still unless ``run_ticker=True``."""
    started: list[SimCluster] = []

    async def start(**kwargs: Any) -> SimCluster:
        kwargs.setdefault("port", 0)
        kwargs.setdefault("seed", 11)
        kwargs.setdefault("run_ticker", False)
        sim = SimCluster(SimConfig(**kwargs))
        await sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        await sim.stop()
