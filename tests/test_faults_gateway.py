"""Fault suite: ``kill -9`` of a gateway replica under a connected WebSocket client.

Two gateway processes on the fault stack's NATS. A client (as the built-in page does) follows
``alert:triggered`` pushes on one; that one is killed; the client reconnects to the other, reads
``GET /api/alerts`` once to catch up on what happened while it was away, and follows pushes again.
Incidents before the kill, at the kill (the probe, while the client is away) and after it: every
expected alert is seen by the client once, under one alert id, and the webhook receiver still
gets each once. Recovery: kill → the probe's alert in the client, through the other replica (the
client reconnects 0.5 s after losing the socket, the page's first backoff at most).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest

from bench.faults import running, summary
from kumowatch_common.testing import ServiceProcess, eventually, free_port
from kumowatch_gateway.auth import mint

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(300)]


@dataclass
class Watcher:
    """What one browser-like client has seen: alert ids per incident queue, with arrival times."""

    token: str
    seen: dict[str, set[str]] = field(default_factory=dict)
    arrivals: dict[str, float] = field(default_factory=dict)

    def add(self, alert: dict[str, Any], rule_id: str) -> None:
        queue = alert.get("labels", {}).get("queue")
        if alert.get("ruleId") != rule_id or not queue:
            return
        self.seen.setdefault(queue, set()).add(alert["id"])
        self.arrivals.setdefault(queue, time.time())

    async def follow(self, http: aiohttp.ClientSession, base: str, rule_id: str) -> None:
        """Catch up through REST, then follow pushes until the socket closes."""
        headers = {"Authorization": f"Bearer {self.token}"}
        async with http.ws_connect(f"{base.replace('http', 'ws', 1)}/ws", headers=headers) as ws:
            params = {"ruleId": rule_id, "limit": "1000"}
            async with http.get(f"{base}/api/alerts", params=params, headers=headers) as r:
                assert r.status == 200, await r.text()
                for alert in await r.json():
                    self.add(alert, rule_id)
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                doc = orjson.loads(msg.data)
                if doc.get("event") == "alert:triggered":
                    self.add(doc["data"], rule_id)


@contextlib.asynccontextmanager
async def gateways(nats_url: str, secret: str) -> AsyncIterator[list[ServiceProcess]]:
    procs = []
    for _ in range(2):
        port = free_port()
        env = {
            "PORT": str(port),
            "NATS_URL": nats_url,
            "JWT_SECRET": secret,
            "LOG_LEVEL": "WARNING",
        }
        procs.append(ServiceProcess("kumowatch_gateway", env, port=port).start())
    try:
        await asyncio.gather(*(asyncio.to_thread(p.wait_ready, 60) for p in procs))
        yield procs
    finally:
        for p in procs:
            p.stop(10.0)


async def _until(check: Callable[[], bool], timeout: float) -> bool:
    """``eventually`` that answers instead of failing, so the test can report what it saw."""
    try:
        return await eventually(check, timeout)
    except AssertionError:
        return False


async def test_kill_9_of_a_gateway_under_a_connected_client_loses_no_alert(
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = secrets.token_urlsafe(48)
    async with running() as h, gateways(h.kumo.nats_url, secret) as (first, second):
        watcher = Watcher(mint(secret, sub="fault-suite", roles=["viewer"], ttl_seconds=900))
        async with aiohttp.ClientSession() as http:
            on_first = asyncio.create_task(
                watcher.follow(http, f"http://127.0.0.1:{first.port}", h.rule_id)
            )
            await asyncio.sleep(1.0)  # connected and subscribed
            before = [await h.incident(), await h.incident()]
            assert await _until(lambda: set(before) <= set(watcher.seen), 45), watcher.seen

            killed_at = time.time()
            first.kill()
            with contextlib.suppress(aiohttp.ClientError, ConnectionError):
                await asyncio.wait_for(on_first, 10)
            probe = await h.incident()  # while the client is away
            await asyncio.sleep(0.5)  # the page's first reconnect delay (at most)
            on_second = asyncio.create_task(
                watcher.follow(http, f"http://127.0.0.1:{second.port}", h.rule_id)
            )
            await _until(lambda: probe in watcher.seen, 30)
            after = [await h.incident()]
            expected = [*before, probe, *after]
            got_all = await _until(lambda: set(expected) <= set(watcher.seen), 60)
            await h.wait_delivered(expected, 30)
            await h.quiet()
            on_second.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                await on_second

        v = h.verdict()
        doubled = [q for q, ids in watcher.seen.items() if len(ids) > 1]
        arrived = watcher.arrivals.get(probe)
        recovery = None if arrived is None else arrived - killed_at
        with capsys.disabled():
            print(
                "\n"
                + summary(
                    "kill-9-gateway",
                    v,
                    recovery,
                    client_seen=len(watcher.seen),
                    client_duplicates=len(doubled),
                )
            )
        assert got_all, f"client missed {sorted(set(expected) - set(watcher.seen))}"
        assert doubled == [], watcher.seen
        assert set(watcher.seen) == set(expected)
        assert v.ok, v
