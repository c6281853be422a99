"""Helpers for the gateway tests: an in-process gateway on its own NATS, tokens, contracts."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from kumowatch_common import events
from kumowatch_common.clock import now_ms
from kumowatch_common.testing import eventually as wait_until
from kumowatch_gateway.auth import mint
from kumowatch_gateway.config import Settings
from kumowatch_gateway.service import serve

SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMN"


def settings(nats_url: str, port: int, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "nats_url": nats_url,
        "port": port,
        "jwt_secret": SECRET,
        "ws_auth_timeout_seconds": 1.0,
        "ws_slow_client_seconds": 1.0,
        "ws_buffer_size": 64,
        "ws_heartbeat_seconds": 10.0,
        "cors_origin": "http://localhost:5173,http://dash.example",
    }
    base.update(overrides)
    return Settings(**base)


def token(*roles: str, ttl: float = 600, sub: str = "tester", **kw: Any) -> str:
    return mint(SECRET, sub=sub, roles=list(roles), ttl_seconds=ttl, **kw)


def auth(*roles: str, **kw: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(*roles, **kw)}"}


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Gateway:
    """A gateway running ``serve()`` on the test's event loop."""

    port: int
    settings: Settings
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, session: aiohttp.ClientSession) -> Gateway:
        self.task = asyncio.create_task(serve(self.settings, self.stop))
        await wait_until(lambda: _ready(session, self.url), timeout=20)
        return self

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.task, 15)


async def _ready(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(f"{url}/readyz") as r:
            return r.status == 200
    except aiohttp.ClientError:
        return False


async def next_event(
    ws: aiohttp.ClientWebSocketResponse, name: str, timeout: float = 5.0
) -> dict[str, Any]:
    """The data of the next frame named ``name`` (other frames are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {name!r} frame within {timeout}s")
        msg = await ws.receive(timeout=left)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"socket ended while waiting for {name!r}: {msg.type} {msg.data}")
        doc = orjson.loads(msg.data)
        if doc["event"] == name:
            return doc["data"]  # type: ignore[no-any-return]


async def sync(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Round-trip a ping: every frame sent before it has been processed by the server."""
    await ws.send_str('{"event":"ping"}')
    await next_event(ws, "pong")


def rule(rule_id: str, **kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": rule_id,
        "name": "Custom Alert",
        "description": "Custom alert description",
        "enabled": False,
        "severity": "warning",
        "condition": {"type": "queue_depth", "operator": ">", "threshold": 5000},
        "channels": ["slack", "webhook"],
        "throttle": {"period": 300000, "maxAlerts": 3},
    }
    doc.update(kw)
    return doc


def alert_event(
    rule_id: str,
    *,
    alert_id: str | None = None,
    event: str = "firing",
    status: str = "firing",
    starts: int | None = None,
    labels: dict[str, str] | None = None,
    value: float = 12000,
) -> events.AlertEvent:
    starts = starts if starts is not None else now_ms()
    r = events.AlertRule.model_validate(rule(rule_id, enabled=True))
    alert = events.Alert(
        id=alert_id or uid("alert"),
        ruleId=rule_id,
        ruleName=r.name,
        severity=r.severity,
        message=f"Queue depth ({value}) exceeded threshold (5000)",
        value=value,
        threshold=5000,
        timestamp=starts,
        status=status,  # type: ignore[arg-type]
        startsAt=starts,
        endsAt=now_ms() if status == "resolved" else None,
        labels=labels or {},
    )
    return events.AlertEvent(event=event, alert=alert, rule=r)  # type: ignore[arg-type]


def status(node: str, kumo: str = "healthy", **kw: Any) -> events.ConnectionStatus:
    return events.ConnectionStatus(
        connected=kumo != "down", kumoMtaStatus=kumo, timestamp=now_ms(), node=node, **kw
    )


def metrics(node: str, delivered: float = 100, **kw: Any) -> events.MetricsUpdate:
    return events.MetricsUpdate(
        node=node, delivered=delivered, bounced=5, deferred=3, throughput=12.5,
        timestamp=now_ms(), **kw,
    )  # fmt: skip


def queue(node: str, name: str, size: float, **kw: Any) -> events.QueueUpdate:
    return events.QueueUpdate(
        queueName=name, size=size, scheduled=size, timestamp=now_ms(), node=node, **kw
    )
