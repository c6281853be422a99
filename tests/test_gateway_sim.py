"""Simulator → poller → NATS → gateway → browser: real KumoMTA-shaped data reaches WS clients."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from kumowatch_common.testing import NatsServer, ServiceProcess, free_port
from kumowatch_gateway.auth import mint
from kumowatch_sim import SimCluster, SimConfig

SECRET = "sim-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ"


@pytest.fixture
async def stack(fresh_nats: NatsServer) -> AsyncIterator[str]:
    async with SimCluster(SimConfig(nodes=1, port=0, rate=200, tick=0.2)) as sim:
        node = sim.nodes[0]
        poller_port, gw_port = free_port(), free_port()
        poller = ServiceProcess(
            "kumowatch_poller",
            {"POLLER_PORT": str(poller_port), "NATS_URL": fresh_nats.url,
             "KUMOMTA_API_URL": f"{node.name}={node.url}", "KUMOMTA_POLL_INTERVAL": "0.5"},
            port=poller_port,
        ).start()  # fmt: skip
        gateway = ServiceProcess(
            "kumowatch_gateway",
            {"PORT": str(gw_port), "NATS_URL": fresh_nats.url, "JWT_SECRET": SECRET},
            port=gw_port,
        ).start()
        try:
            gateway.wait_ready(40)
            poller.wait_ready(40, path="/healthz")
            yield f"http://127.0.0.1:{gw_port}"
        finally:
            gateway.stop()
            poller.stop()


async def _until(ws: aiohttp.ClientWebSocketResponse, name: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        msg = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
        doc = orjson.loads(msg.data)
        if doc["event"] == name:
            return doc["data"]


async def test_simulated_node_reaches_websocket_clients(stack: str) -> None:
    token = mint(SECRET, sub="e2e", roles=[], ttl_seconds=600)
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{stack}/ws?token={token}") as ws:
        await ws.send_str('{"event":"subscribe:metrics","data":{"node":"mta1"}}')
        await ws.send_str('{"event":"subscribe:queues","data":{"node":"mta1"}}')
        m = await _until(ws, "metrics:update")
        assert m["node"] == "mta1"
        assert {"delivered", "bounced", "deferred", "throughput", "timestamp"} <= m.keys()
        q = await _until(ws, "queue:update")
        assert q["node"] == "mta1"
        assert {"queueName", "size", "ready", "scheduled", "timestamp"} <= q.keys()
        headers = {"Authorization": f"Bearer {token}"}
        async with http.get(f"{stack}/api/nodes", headers=headers) as r:
            nodes = await r.json()
        assert [(n["node"], n["kumoMtaStatus"]) for n in nodes] == [("mta1", "healthy")]
        async with http.get(f"{stack}/api/queues?node=mta1&limit=5", headers=headers) as r:
            page = await r.json()
        assert page["total"] > 0
        sizes = [i["size"] for i in page["items"]]
        assert sizes == sorted(sizes, reverse=True)
