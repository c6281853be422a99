from __future__ import annotations

import asyncio
import contextlib

import aiohttp

from kumowatch_common import lifecycle
from kumowatch_common.settings import ServiceSettings
from kumowatch_common.testing import NatsServer


async def _ready(session: aiohttp.ClientSession, port: int) -> int:
    async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
        return resp.status


async def _until(session: aiohttp.ClientSession, port: int, status: int, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while await _ready(session, port) != status:
            await asyncio.sleep(0.1)


async def test_service_that_loses_nats_reconnects_and_readyz_follows(
    fresh_nats: NatsServer,
) -> None:
    settings = ServiceSettings(nats_url=fresh_nats.url)
    stop = asyncio.Event()
    async with (
        lifecycle.runtime("test", settings, 0, stop) as rt,
        aiohttp.ClientSession() as session,
    ):
        rt.mark_started()
        await _until(session, rt.port, 200, 10)
        fresh_nats.kill()
        await _until(session, rt.port, 503, 10)
        fresh_nats.start()
        await _until(session, rt.port, 200, 15)
        # JetStream works again on the same connection.
        ack = await rt.js.publish("kumomta.v1.mta1.status", b"{}")
        assert ack.seq >= 1
        stop.set()


async def test_service_starting_before_nats_becomes_ready_when_nats_arrives(
    tmp_path: object,
) -> None:
    server = NatsServer()
    settings = ServiceSettings(nats_url=server.url)
    stop = asyncio.Event()
    entered = asyncio.Event()

    async def serve() -> None:
        async with lifecycle.runtime("test", settings, 0, stop):
            entered.set()
            await stop.wait()

    task = asyncio.create_task(serve())
    try:
        await asyncio.sleep(0.5)
        assert not entered.is_set()
        server.start()
        async with asyncio.timeout(15):
            await entered.wait()
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        server.cleanup()


async def test_readyz_stays_not_ready_until_the_service_marks_itself_started(
    nats_server: NatsServer,
) -> None:
    settings = ServiceSettings(nats_url=nats_server.url)
    stop = asyncio.Event()
    async with (
        lifecycle.runtime("test", settings, 0, stop) as rt,
        aiohttp.ClientSession() as session,
    ):
        async with session.get(f"http://127.0.0.1:{rt.port}/readyz") as resp:
            assert resp.status == 503
            assert (await resp.json())["checks"]["startup"]["ok"] is False
        rt.mark_started()
        await _until(session, rt.port, 200, 5)
        stop.set()
