"""Fixtures of the poller tests: the reference samples, simulated KumoMTA nodes, a JetStream reader."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kumowatch_sim import SimCluster, SimConfig

#: Copies of reference/kumomta-samples (literal KumoMTA formats), first line a source comment.
SAMPLES = Path(__file__).parent / "samples"

StartCluster = Callable[..., Awaitable[SimCluster]]


def sample(name: str) -> str:
    """A reference sample without its first (source comment) line."""
    return (SAMPLES / name).read_text().split("\n", 1)[1]


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
