"""Helpers for the ingest tests: the endpoint on a real port, publishing to real JetStream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import nats
from aiohttp import web
from pydantic import SecretStr

from kumowatch_common import streams
from kumowatch_common.testing import free_port
from kumowatch_poller.ingest import PATH, Ingest
from kumowatch_poller.publisher import Publisher


@dataclass
class Endpoint:
    url: str
    ingest: Ingest
    nc: Any

    async def stored(self, node: str) -> dict[str, int]:
        """Messages in KUMOMTA_EVENTS per subject of ``node``."""
        js = self.nc.jetstream()
        info = await js.stream_info(
            streams.STREAM_EVENTS, subjects_filter=f"kumomta.v1.{node}.events.>"
        )
        return dict(info.state.subjects or {})

    async def count(self, node: str) -> int:
        return sum((await self.stored(node)).values())


@asynccontextmanager
async def endpoint(
    nats_url: str,
    *,
    max_body: int = 16 * 1024 * 1024,
    token: str | None = None,
    node_ids: dict[str, str] | None = None,
    publish_timeout: float = 5.0,
) -> AsyncIterator[Endpoint]:
    nc = await nats.connect(nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    await streams.provision(nc.jetstream(), streams.Retention())
    ingest = Ingest(
        max_body=max_body,
        token=SecretStr(token) if token else None,
        node_ids=node_ids or {},
    )
    ingest.publisher = Publisher(nc, timeout=publish_timeout)
    app = web.Application()
    ingest.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield Endpoint(f"http://127.0.0.1:{port}{PATH}", ingest, nc)
    finally:
        await runner.cleanup()
        await nc.close()
