"""Faults: 503 everywhere, garbage bodies, slow answers, refused connections."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from sim_helpers import StartCluster

KUMO_PATHS = ("/metrics", "/metrics.json", "/api/check-liveness/v1", "/api/admin/suspend/v1")


async def test_503_fault_answers_every_kumomta_endpoint_with_503(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = (await start_cluster()).nodes[0]
    async with http.post(node.url + "/_sim/fault", json={"kind": "503", "seconds": 10}) as resp:
        assert resp.status == 200
    for path in KUMO_PATHS:
        async with http.get(node.url + path) as resp:
            assert resp.status == 503, path
    async with http.get(node.url + "/_sim/truth") as resp:
        assert resp.status == 200
        assert (await resp.json())["fault"]["kind"] == "503"
    node.model.advance(10)
    async with http.get(node.url + "/api/check-liveness/v1") as resp:
        assert resp.status == 200


async def test_garbage_fault_returns_200_with_unparseable_bodies(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = (await start_cluster()).nodes[0]
    await node.set_fault("garbage")
    async with http.get(node.url + "/metrics.json") as resp:
        assert resp.status == 200
        body = await resp.read()
    with pytest.raises(ValueError):  # noqa: PT011 - JSON or Unicode error, both ValueError
        json.loads(body)
    await node.set_fault("none")
    async with http.get(node.url + "/metrics.json") as resp:
        await resp.json()


async def test_slow_fault_delays_every_response(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = (await start_cluster()).nodes[0]
    await node.set_fault("slow", delay=0.3)
    start = time.perf_counter()
    async with http.get(node.url + "/api/check-liveness/v1") as resp:
        assert resp.status == 200
    assert time.perf_counter() - start >= 0.3
    with pytest.raises(asyncio.TimeoutError):
        async with http.get(
            node.url + "/metrics", timeout=aiohttp.ClientTimeout(total=0.1)
        ) as resp:
            await resp.read()


async def test_refuse_fault_closes_the_port_until_it_expires(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = (await start_cluster()).nodes[0]
    port = node.port
    async with http.post(node.url + "/_sim/fault", json={"kind": "refuse", "seconds": 5}) as resp:
        assert resp.status == 200
    assert not node.listening
    async with aiohttp.ClientSession() as fresh:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with fresh.get(node.url + "/metrics") as resp:
                await resp.read()
    # A kept-alive connection from before the fault is dropped too.
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.get(node.url + "/metrics") as resp:
            await resp.read()
    node.model.advance(5)
    await node.reconcile()
    assert node.port == port
    async with http.get(node.url + "/api/check-liveness/v1") as resp:
        assert resp.status == 200


async def test_node_down_scenario_takes_only_mta1_down_for_its_duration(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    sim = await start_cluster(
        nodes=2, scenario="node-down", scenario_params={"at": 5, "duration": 10, "kind": "503"}
    )
    for node in sim.nodes:
        node.model.advance(6)
    async with http.get(sim.nodes[0].url + "/api/check-liveness/v1") as resp:
        assert resp.status == 503
        assert await resp.text() == "load shedding"
    async with http.get(sim.nodes[1].url + "/api/check-liveness/v1") as resp:
        assert resp.status == 200
    sim.nodes[0].model.advance(10)
    async with http.get(sim.nodes[0].url + "/api/check-liveness/v1") as resp:
        assert resp.status == 200


async def test_unknown_fault_kind_is_rejected(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = (await start_cluster()).nodes[0]
    async with http.post(node.url + "/_sim/fault", json={"kind": "explode"}) as resp:
        assert resp.status == 400
