"""Two gateway processes on different ports are interchangeable: both push the same alert to
their WebSocket clients, and a rule written through one is pushed by the other."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import nats
import orjson
import pytest

from kumowatch_common import events, subjects
from kumowatch_common.clock import now_ms
from kumowatch_common.testing import NatsServer, ServiceProcess, free_port
from kumowatch_gateway.auth import mint

SECRET = "replica-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEF"


def _token(*roles: str) -> str:
    return mint(SECRET, sub="e2e", roles=list(roles), ttl_seconds=600)


@pytest.fixture
def gateways(fresh_nats: NatsServer) -> Iterator[list[str]]:
    procs = []
    for _ in range(2):
        port = free_port()
        env = {"PORT": str(port), "NATS_URL": fresh_nats.url, "JWT_SECRET": SECRET}
        procs.append(ServiceProcess("kumowatch_gateway", env, port=port).start())
    try:
        for p in procs:
            p.wait_ready(40)
        yield [f"http://127.0.0.1:{p.port}" for p in procs]
    finally:
        codes = [p.stop() for p in procs]
        assert codes == [0, 0], "\n".join(p.log_tail() for p in procs)


async def _next(ws: aiohttp.ClientWebSocketResponse, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        msg = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
        doc = orjson.loads(msg.data)
        if doc["event"] == name:
            return doc["data"]  # type: ignore[no-any-return]


async def test_both_replicas_push_the_same_alert(
    gateways: list[str], fresh_nats: NatsServer
) -> None:
    rule_id = f"replica-{uuid.uuid4().hex[:8]}"
    rule = events.AlertRule(
        id=rule_id, name="Critical Queue Depth", severity="critical", enabled=False,
        condition=events.AlertCondition(type="queue_depth", operator=">", threshold=10000),
        channels=["email", "slack"],
    )  # fmt: skip
    ts = now_ms()
    alert = events.Alert(
        id=f"a-{uuid.uuid4().hex}", ruleId=rule_id, ruleName=rule.name, severity="critical",
        message="Queue depth (12000) exceeded threshold (10000)", value=12000,
        threshold=10000, timestamp=ts, startsAt=ts, labels={"node": "mta1"},
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {_token('admin')}"}
    nc = await nats.connect(fresh_nats.url)
    async with aiohttp.ClientSession() as http:
        sockets = [await http.ws_connect(f"{url}/ws", headers=headers) for url in gateways]
        try:
            for ws in sockets:
                await _next(ws, "connection:status")
            event = events.AlertEvent(event="firing", alert=alert, rule=rule)
            await nc.jetstream().publish(
                subjects.alert(rule_id, "firing"), event.to_bytes(),
                headers={"Nats-Msg-Id": f"{alert.id}:firing"},
            )  # fmt: skip
            pushed = await asyncio.gather(*(_next(ws, "alert:triggered") for ws in sockets))
            assert [p["id"] for p in pushed] == [alert.id, alert.id]
            assert pushed[0] == pushed[1]

            # A write through replica 0 is pushed by replica 1 (the state lives in NATS).
            body = rule.model_dump(mode="json", by_alias=True) | {"name": "Edited"}
            async with http.post(f"{gateways[0]}/api/alerts/rules", json=body,
                                 headers=headers) as r:  # fmt: skip
                assert r.status == 200
            changed = await _next(sockets[1], "rule:changed")
            assert (changed["rule"]["name"], changed["action"]) == ("Edited", "created")
            async with http.get(f"{gateways[1]}/api/alerts/{alert.id}", headers=headers) as r:
                assert (await r.json())["alert"]["ruleName"] == rule.name
        finally:
            for ws in sockets:
                await ws.close()
    await nc.drain()
