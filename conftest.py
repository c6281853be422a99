"""Shared pytest fixtures: a real JetStream ``nats-server`` for the whole test session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from kumowatch_common.testing import NatsServer


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    """One real nats-server with JetStream on a free port, shared by the session."""
    server = NatsServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def fresh_nats() -> Iterator[NatsServer]:
    """A nats-server of the test's own, for tests that kill or restart it."""
    server = NatsServer().start()
    yield server
    server.cleanup()


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[object]:
    """A connected nats-py client on the session server; streams are provisioned."""
    import nats

    from kumowatch_common import streams

    client = await nats.connect(nats_server.url)
    await streams.provision(client.jetstream(), streams.Retention())
    yield client
    await client.drain()
