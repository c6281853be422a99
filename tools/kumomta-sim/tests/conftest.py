"""Shared fixtures: simulated clusters on free ports and a real webhook receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from sim_helpers import Receiver, StartCluster

from kumowatch_sim import SimCluster, SimConfig


@pytest.fixture
async def start_cluster() -> AsyncIterator[StartCluster]:
    """Start clusters (port 0, no ticker unless asked) and stop them after the test."""
    started: list[SimCluster] = []

    async def start(**kwargs: Any) -> SimCluster:
        kwargs.setdefault("port", 0)
        kwargs.setdefault("seed", 7)
        kwargs.setdefault("run_ticker", False)
        sim = SimCluster(SimConfig(**kwargs))
        await sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        await sim.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()

    async def handle(request: web.Request) -> web.Response:
        rec.calls += 1
        body = await request.read()
        try:
            if rec.calls <= rec.fail_first:
                return web.Response(status=rec.fail_status, text="try later")
            rec.bodies.append(orjson.loads(body))
            rec.headers.append(dict(request.headers))
            return web.Response(text="ok")
        finally:
            rec.changed.set()

    app = web.Application()
    app.router.add_post("/log", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rec.url = f"http://127.0.0.1:{port}/log"
    yield rec
    await runner.cleanup()
