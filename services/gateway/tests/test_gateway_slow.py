"""Slow WebSocket clients: keyed events coalesce to the latest value; clients that stay behind
are closed with 1013. Real sockets; events are fed to the hub directly so the test controls when
the client's pipe is full."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aiohttp import web
from gateway_support import auth, metrics, next_event, settings, sync, wait_until

from kumowatch_common.testing import free_port
from kumowatch_gateway import push
from kumowatch_gateway.app import create_app
from kumowatch_gateway.auth import Principal
from kumowatch_gateway.hub import NO_FILTER, Attrs, Client, Hub, Topic
from kumowatch_gateway.keys import HUB

BIG = {"pad": "x" * 256 * 1024}


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, Hub]]:
    port = free_port()
    app = create_app(
        settings("nats://127.0.0.1:1", port, ws_buffer_size=32, ws_slow_client_seconds=0.5)
    )
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", app[HUB]
    await runner.cleanup()


async def _stall(hub: Hub, client: Client) -> None:
    """Push big unkeyed frames until the client's writer is blocked on a full pipe."""

    def blocked() -> bool:
        if client.queued < 4:
            hub.publish(Topic.MESSAGES, "message:status", BIG)
        return client.queued >= 4

    await wait_until(blocked, timeout=20)


async def test_keyed_updates_coalesce_to_the_latest_for_a_slow_reader(
    served: tuple[str, Hub], http: aiohttp.ClientSession
) -> None:
    url, hub = served
    async with http.ws_connect(f"{url}/ws", headers=auth(), max_msg_size=0) as sock:
        await next_event(sock, "connection:status")
        await sock.send_str('{"event":"subscribe:metrics"}')
        await sock.send_str('{"event":"subscribe:messages"}')
        await sync(sock)
        (client,) = hub.clients
        await _stall(hub, client)
        for i in range(500):
            push.metrics_update(hub, metrics("mta1", delivered=i))
        assert client.queued < 32  # 500 updates took one slot
        seen = []
        while True:
            doc = orjson.loads((await sock.receive(timeout=10)).data)
            if doc["event"] == "metrics:update":
                seen.append(doc["data"]["delivered"])
                if seen[-1] == 499:
                    break
        assert len(seen) <= 2
        assert seen[-1] == 499


async def test_a_client_that_stays_behind_is_closed_with_1013(
    served: tuple[str, Hub], http: aiohttp.ClientSession
) -> None:
    url, hub = served
    async with http.ws_connect(f"{url}/ws", headers=auth(), max_msg_size=0) as slow:
        await next_event(slow, "connection:status")
        await slow.send_str('{"event":"subscribe:messages"}')
        await sync(slow)
        (client,) = hub.clients
        async with http.ws_connect(f"{url}/ws", headers=auth()) as fine:
            await next_event(fine, "connection:status")
            await _stall(hub, client)
            for _ in range(64):
                hub.publish(Topic.MESSAGES, "message:status", {"n": 1}, attrs=Attrs())
            assert client.behind_since is not None
            await wait_until(lambda: client not in hub.clients or client.closing, timeout=10)
            await sync(fine)  # the healthy client is unaffected
        while True:
            msg = await slow.receive(timeout=10)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.ERROR):  # fmt: skip
                break
        assert slow.close_code in (1013, 1006)
    assert hub.metrics.closed_slow._value.get() >= 1


def test_one_encoding_is_shared_by_every_client() -> None:
    hub = Hub()
    who = Principal("a", "a", frozenset(), 0)
    clients = [Client(object(), who, 8) for _ in range(3)]  # type: ignore[arg-type]
    for c in clients:
        hub.clients.add(c)
        hub.subscribe(c, Topic.METRICS, NO_FILTER)
    push.metrics_update(hub, metrics("mta1"))
    frames = [next(iter(c._outbox.values())) for c in clients]
    assert frames[0] is frames[1] is frames[2]
