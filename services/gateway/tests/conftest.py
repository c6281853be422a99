"""Gateway fixtures: its own NATS server (so written rules never reach other services' tests)
and one in-process gateway shared by the tests of the session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import nats
import pytest
from gateway_support import Gateway, settings
from nats.aio.client import Client

from kumowatch_common import streams
from kumowatch_common.testing import NatsServer, free_port


@pytest.fixture(scope="session")
def gw_nats() -> Iterator[NatsServer]:
    server = NatsServer(name="kw-gateway-tests").start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
async def gw_nc(gw_nats: NatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(gw_nats.url)
    await streams.provision(client.jetstream(), streams.Retention())
    yield client
    await client.drain()


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="session")
async def gw(
    gw_nats: NatsServer, gw_nc: Client, http: aiohttp.ClientSession
) -> AsyncIterator[Gateway]:
    port = free_port()
    gateway = await Gateway(port, settings(gw_nats.url, port)).start(http)
    yield gateway
    await gateway.close()
