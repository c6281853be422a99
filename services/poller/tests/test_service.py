"""The whole service in-process: leases, polling, ingest on the same port, readiness, clean stop."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import nats
import orjson
from poll_helpers import Inbox

from kumowatch_common.testing import free_port
from kumowatch_poller.config import Settings
from kumowatch_poller.ingest import PATH
from kumowatch_poller.service import serve


async def wait_ready(http: aiohttp.ClientSession, url: str, timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while True:
            try:
                async with http.get(url + "/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)


async def test_service_polls_serves_ingest_and_maps_nodeids(fresh_nats, start_cluster) -> None:
    # Its own server: a lease TTL below the shared one cannot be applied to an existing bucket.
    nats_server = fresh_nats
    sim = await start_cluster(run_ticker=True, tick=0.1)
    name = f"svc-{uuid.uuid4().hex[:8]}"
    port = free_port()
    settings = Settings(
        nats_url=nats_server.url,
        poller_port=port,
        kumomta_api_url=f"{name}={sim.nodes[0].url}",
        kumomta_poll_interval=0.5,
        lease_ttl_seconds=3,
        instance_id=f"test-{name}",
    )
    nc = await nats.connect(nats_server.url)
    inbox = Inbox()
    await nc.subscribe(f"kumomta.v1.{name}.*", cb=inbox.on_msg)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await wait_ready(http, base)
            status = await inbox.wait("status", lambda s: True, timeout=10)
            assert status.kumoMtaStatus == "healthy"
            await inbox.wait("metrics", lambda m: m.deliveredPerSec > 0, timeout=10)
            record = {
                "type": "Delivery",
                "id": uuid.uuid4().hex,
                "timestamp": 1_700_000_000,
                "nodeid": sim.nodes[0].model.node_id,
                "queue": "campaign:tenant@example.com",
            }
            sub = await nc.subscribe(f"kumomta.v1.{name}.events.Delivery")
            await nc.flush()  # the server has the interest before the ingest publishes
            async with http.post(base + PATH, data=orjson.dumps(record)) as resp:
                assert resp.status == 200
                assert await resp.json() == {"accepted": 1, "duplicates": 0}
            msg = await sub.next_msg(timeout=5)
            assert orjson.loads(msg.data)["node"] == name
            async with http.get(base + "/metrics") as resp:
                text = await resp.text()
            assert f'kumowatch_poller_polls_total{{node="{name}",outcome="ok"}}' in text
            assert "kumowatch_poller_owned_nodes 1.0" in text
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await nc.drain()
