"""NATS restarts under a running gateway: it reconnects, its feeds resume, clients stay."""

from __future__ import annotations

import aiohttp
import nats
import orjson
import pytest
from gateway_support import Gateway, alert_event, auth, metrics, next_event, settings, uid

from kumowatch_common import subjects
from kumowatch_common.testing import NatsServer, free_port


@pytest.mark.faults
async def test_feeds_resume_after_nats_restarts(
    fresh_nats: NatsServer, http: aiohttp.ClientSession
) -> None:
    port = free_port()
    gateway = await Gateway(port, settings(fresh_nats.url, port)).start(http)
    try:
        async with http.ws_connect(f"{gateway.url}/ws", headers=auth()) as ws:
            await next_event(ws, "connection:status")
            node = uid("f")
            await ws.send_str(
                orjson.dumps({"event": "subscribe:metrics", "data": {"node": node}}).decode()
            )
            fresh_nats.restart()
            nc = await nats.connect(fresh_nats.url)
            try:
                rid = uid("fault")
                ev = alert_event(rid)
                # The ALERTS consumer is recreated after missed heartbeats; the stream keeps
                # the event until then.
                await nc.jetstream().publish(subjects.alert(rid, "firing"), ev.to_bytes())
                fired = await next_event(ws, "alert:triggered", timeout=40)
                assert fired["id"] == ev.alert.id
                await nc.publish(subjects.snapshot(node, "metrics"), metrics(node, 5).to_bytes())
                assert (await next_event(ws, "metrics:update", timeout=10))["delivered"] == 5
            finally:
                await nc.drain()
    finally:
        await gateway.close()
