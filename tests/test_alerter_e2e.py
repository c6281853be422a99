"""End to end: simulator → poller process → NATS → alerter process → ALERTS stream."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import nats
import pytest
from alerter_support import (
    LEASE_TTL,
    AlertLog,
    alerter_process,
    metric,
    provision,
    put_rules,
    rule,
    until,
)

from kumowatch_common import rules as common_rules
from kumowatch_common.testing import NatsServer, ServiceProcess, free_port
from kumowatch_sim import SimCluster, SimConfig

NODE = "e2e-mta1"
BOUNCE = rule(
    "gmail-bounce-spike",
    "provider_bounce_rate",
    ">",
    20,
    timeWindow=4000,
    minVolume=60,  # long-tail providers see ~10 messages in 4 s: noise, not a spike
    keepFiringFor=2000,
    name="Provider bounce spike",
)


@dataclass
class Stack:
    nats: NatsServer
    nc: nats.NATS
    sim: SimCluster
    poller: ServiceProcess
    alerter: ServiceProcess
    alerts: AlertLog

    async def scenario(self, name: str, **params: object) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{self.sim.nodes[0].url}/_sim/scenario", json={"name": name, "params": params}
            ) as resp,
        ):
            assert resp.status == 200, await resp.text()


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[Stack]:
    server = NatsServer().start()
    nc = await nats.connect(server.url)
    await provision(nc)
    [unreachable] = [
        r for r in common_rules.default_rules() if r.id == common_rules.UNREACHABLE_RULE_ID
    ]
    await put_rules(nc, [BOUNCE, unreachable])
    alerts = await AlertLog().start(nc)
    sim = SimCluster(SimConfig(nodes=1, port=0, run_ticker=True, tick=0.2, rate=200, seed=3))
    await sim.start()
    port = free_port()
    poller = ServiceProcess(
        "kumowatch_poller",
        {
            "NATS_URL": server.url,
            "KUMOMTA_API_URL": f"{NODE}={sim.nodes[0].url}",
            "KUMOMTA_POLL_INTERVAL": "0.5",
            "KUMOMTA_STATE_INTERVAL": "1",
            "LEASE_TTL_SECONDS": str(LEASE_TTL),
            "POLLER_PORT": str(port),
            "LOG_LEVEL": "WARNING",
        },
        port=port,
    ).start()
    alerter = alerter_process(server.url, "e2e-alerter").start()
    try:
        await asyncio.gather(
            asyncio.to_thread(poller.wait_ready, 30), asyncio.to_thread(alerter.wait_ready, 30)
        )
        await until(
            lambda: metric(alerter, "kumowatch_alerter_nodes_live") >= 1, 30, "the node to go live"
        )
        yield Stack(server, nc, sim, poller, alerter, alerts)
    finally:
        poller.stop()
        alerter.stop()
        await sim.stop()
        await alerts.stop()
        await nc.drain()
        server.cleanup()


async def test_bounce_spike_at_one_provider_fires_once_then_resolves(stack: Stack) -> None:
    await stack.scenario("bounce-spike", spike_at=1, spike_for=8, provider="gmail", ratio=0.6)
    log = stack.alerts
    try:
        await until(lambda: len(log.of(BOUNCE.id, "resolved")) >= 1, 40, "fire and resolve")
        await asyncio.sleep(3)  # nothing more may follow
    except AssertionError:
        raise AssertionError(f"{log.describe()}\n{stack.alerter.log_tail()}") from None
    fired, resolved = log.of(BOUNCE.id, "firing"), log.of(BOUNCE.id, "resolved")
    assert len(fired) == 1, log.describe()
    assert len(resolved) == 1, log.describe()
    assert fired[0].alert.labels == {"node": NODE, "provider": "gmail"}
    assert fired[0].alert.message.startswith(f"Bounce rate of provider gmail on node {NODE} (")
    assert resolved[0].alert.id == fired[0].alert.id
    # The feed's backlog is reported per owned node (what an operator alerts on if it grows).
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.alerter.port}/metrics") as r:
        text = r.read().decode()
    backlog = re.search(
        rf'^kumowatch_alerter_feed_backlog_bytes{{node="{NODE}"}} (\S+)$', text, re.M
    )
    assert backlog is not None, text[:2000]
    assert float(backlog.group(1)) >= 0


async def test_node_down_gives_kumomta_unreachable(stack: Stack) -> None:
    await stack.scenario("node-down", at=0.5, duration=6, kind="refuse", node="mta1")
    rid = common_rules.UNREACHABLE_RULE_ID
    log = stack.alerts
    try:
        await until(lambda: len(log.of(rid, "firing")) >= 1, 20, "unreachable firing")
        await until(lambda: len(log.of(rid, "resolved")) >= 1, 30, "unreachable resolved")
    except AssertionError:
        raise AssertionError(f"{log.describe()}\n{stack.alerter.log_tail()}") from None
    [fired] = log.of(rid, "firing")
    assert fired.alert.ruleName == "KumoMTA unreachable"
    assert fired.alert.labels["node"] == NODE
    assert fired.alert.message.startswith(f"KumoMTA node {NODE} is unreachable: ")
    assert log.of(rid, "resolved")[0].alert.id == fired.alert.id
