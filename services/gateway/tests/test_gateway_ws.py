"""``/ws`` with real aiohttp clients: auth variants, status on connect, subscriptions and filters,
alert and rule pushes, invalid frames, oversized frames, token expiry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from gateway_support import (
    Gateway,
    alert_event,
    auth,
    metrics,
    next_event,
    queue,
    rule,
    settings,
    status,
    sync,
    token,
    uid,
    wait_until,
)
from nats.aio.client import Client

from kumowatch_common import events, subjects
from kumowatch_common.clock import now_ms
from kumowatch_common.testing import NatsServer, free_port
from kumowatch_gateway.app import create_app

Ws = aiohttp.ClientWebSocketResponse


@pytest.fixture
async def ws(http: aiohttp.ClientSession, gw: Gateway) -> AsyncIterator[Ws]:
    async with http.ws_connect(f"{gw.url}/ws", headers=auth()) as sock:
        await next_event(sock, "connection:status")
        yield sock


async def _closed(sock: Ws, timeout: float = 5.0) -> int | None:
    """Read until the close frame; its code."""
    while True:
        msg = await sock.receive(timeout=timeout)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return sock.close_code
        if msg.type == aiohttp.WSMsgType.ERROR:
            return sock.close_code


async def _nothing_named(sock: Ws, name: str) -> None:
    """No ``name`` frame arrives before a ping round-trip."""
    await sock.send_str('{"event":"ping"}')
    while True:
        doc = orjson.loads((await sock.receive(timeout=5)).data)
        assert doc["event"] != name, doc
        if doc["event"] == "pong":
            return


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize("how", ["header", "query", "first-frame"])
async def test_auth_variants_get_connection_status(
    http: aiohttp.ClientSession, gw: Gateway, how: str
) -> None:
    tok = token()
    url = f"{gw.url}/ws" + (f"?token={tok}" if how == "query" else "")
    headers = {"Authorization": f"Bearer {tok}"} if how == "header" else {}
    async with http.ws_connect(url, headers=headers) as sock:
        if how == "first-frame":
            await sock.send_str(orjson.dumps({"event": "auth", "data": {"token": tok}}).decode())
        data = await next_event(sock, "connection:status")
        assert {"connected", "kumoMtaStatus", "timestamp"} <= data.keys()
        await sync(sock)


@pytest.mark.parametrize(
    "first",
    [
        '{"event":"ping"}',
        '{"event":"auth","data":{"token":"nope"}}',
        '{"event":"auth","data":{}}',
        "not json",
        None,  # nothing within the auth timeout
    ],
)
async def test_unauthenticated_sockets_get_error_and_4401(
    http: aiohttp.ClientSession, gw: Gateway, first: str | None
) -> None:
    async with http.ws_connect(f"{gw.url}/ws") as sock:
        if first is not None:
            await sock.send_str(first)
        err = await next_event(sock, "error")
        assert err["code"] == "unauthorized"
        assert await _closed(sock) == 4401


async def test_invalid_header_token_is_refused(http: aiohttp.ClientSession, gw: Gateway) -> None:
    async with http.ws_connect(f"{gw.url}/ws", headers=auth(ttl=-60)) as sock:
        err = await next_event(sock, "error")
        assert "expired" in err["message"]
        assert await _closed(sock) == 4401


async def test_origin_is_checked(http: aiohttp.ClientSession, gw: Gateway) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(f"{gw.url}/ws", headers={**auth(), "Origin": "http://evil.example"})
    assert info.value.status == 403
    async with http.ws_connect(
        f"{gw.url}/ws", headers={**auth(), "Origin": "http://localhost:5173"}
    ) as sock:
        await next_event(sock, "connection:status")


async def test_query_token_can_be_switched_off(http: aiohttp.ClientSession) -> None:
    port = free_port()
    app = create_app(settings("nats://127.0.0.1:1", port, ws_query_token=False))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        url = f"http://127.0.0.1:{port}/ws"
        async with http.ws_connect(f"{url}?token={token()}") as sock:
            assert (await next_event(sock, "error"))["code"] == "unauthorized"
            assert await _closed(sock) == 4401
        async with http.ws_connect(url, headers=auth()) as sock:
            data = await next_event(sock, "connection:status")
            assert data == {**data, "connected": False, "kumoMtaStatus": "down",
                            "reason": "no data yet"}  # fmt: skip
    finally:
        await runner.cleanup()


async def test_token_expiry_closes_the_socket(http: aiohttp.ClientSession, gw: Gateway) -> None:
    async with http.ws_connect(f"{gw.url}/ws", headers=auth(ttl=1.5)) as sock:
        err = await next_event(sock, "error", timeout=6)
        assert err["code"] == "token_expired"
        assert await _closed(sock) == 4401


# --------------------------------------------------------------------------- status on connect


async def test_new_gateway_sends_the_real_latest_status_and_queues(
    http: aiohttp.ClientSession, gw_nats: NatsServer, gw_nc: Client
) -> None:
    js = gw_nc.jetstream()
    node = uid("boot")
    await js.publish(subjects.snapshot(node, "status"), status(node, "healthy").to_bytes())
    await js.publish(
        subjects.snapshot(node, "status"), status(node, "degraded", reason="slow").to_bytes()
    )
    ts = now_ms()
    for seq, sizes in ((1, (1, 2)), (2, (30, 40))):
        for i, size in enumerate(sizes):
            chunk = events.QueuesSnapshot(
                node=node, seq=seq, chunk=i, chunks=2, timestamp=ts + seq,
                queues=[queue(node, f"c:t@d{i}.example", size)],
            )  # fmt: skip
            await js.publish(subjects.snapshot(node, "queues"), chunk.to_bytes())
    port = free_port()
    gateway = await Gateway(port, settings(gw_nats.url, port)).start(http)
    try:
        async with http.ws_connect(f"{gateway.url}/ws", headers=auth()) as sock:
            seen: dict[str, Any] = {}
            while node not in seen:
                data = await next_event(sock, "connection:status")
                seen[data.get("node", "")] = data
            assert seen[node]["kumoMtaStatus"] == "degraded"
            assert seen[node]["reason"] == "slow"
        async with http.get(f"{gateway.url}/api/queues?node={node}", headers=auth()) as r:
            page = await r.json()
        assert [q["size"] for q in page["items"]] == [40, 30]
    finally:
        await gateway.close()


async def test_status_changes_go_to_every_client(ws: Ws, gw_nc: Client) -> None:
    node = uid("st")
    await gw_nc.publish(subjects.snapshot(node, "status"), status(node, "down").to_bytes())
    data = await next_event(ws, "connection:status")
    while data["node"] != node:
        data = await next_event(ws, "connection:status")
    assert data["connected"] is False
    assert data["kumoMtaStatus"] == "down"


# --------------------------------------------------------------------------- subscriptions


async def test_metrics_subscription_with_node_filter(ws: Ws, gw_nc: Client) -> None:
    mine, other = uid("m"), uid("m")
    await ws.send_str(orjson.dumps({"event": "subscribe:metrics", "data": {"node": mine}}).decode())
    await sync(ws)
    await gw_nc.publish(subjects.snapshot(other, "metrics"), metrics(other, 1).to_bytes())
    await gw_nc.publish(subjects.snapshot(mine, "metrics"), metrics(mine, 7).to_bytes())
    data = await next_event(ws, "metrics:update")
    assert data["node"] == mine
    assert {"delivered", "bounced", "deferred", "throughput", "timestamp"} <= data.keys()
    assert data["delivered"] == 7
    await ws.send_str('{"event":"unsubscribe:metrics"}')
    await sync(ws)
    await gw_nc.publish(subjects.snapshot(mine, "metrics"), metrics(mine, 8).to_bytes())
    await gw_nc.flush()
    await _nothing_named(ws, "metrics:update")


async def test_subscribing_to_metrics_sends_the_latest_at_once(
    http: aiohttp.ClientSession, gw: Gateway, gw_nc: Client
) -> None:
    node = uid("late")
    await gw_nc.publish(subjects.snapshot(node, "metrics"), metrics(node, 99).to_bytes())

    async def known() -> bool:
        async with http.get(f"{gw.url}/api/metrics?node={node}", headers=auth()) as r:
            return len(await r.json()) == 1

    await wait_until(known)
    async with http.ws_connect(f"{gw.url}/ws", headers=auth()) as sock:
        await sock.send_str(orjson.dumps({"event": "subscribe:metrics",
                                          "data": {"node": node}}).decode())  # fmt: skip
        assert (await next_event(sock, "metrics:update"))["delivered"] == 99


async def test_queue_updates_with_queue_glob_and_provider(ws: Ws, gw_nc: Client) -> None:
    node = uid("q")
    sub = {"event": "subscribe:queues", "data": {"node": node, "queue": "*@gmail.com",
                                                 "provider": "goo*"}}  # fmt: skip
    await ws.send_str(orjson.dumps(sub).decode())
    await sync(ws)
    snap = events.QueuesSnapshot(
        node=node, seq=1, timestamp=now_ms(),
        queues=[
            queue(node, "c:t@yahoo.com", 10, provider="yahoo"),
            queue(node, "c:t@gmail.com", 20, provider="google"),
        ],
    )  # fmt: skip
    await gw_nc.publish(subjects.snapshot(node, "queues"), snap.to_bytes())
    data = await next_event(ws, "queue:update")
    assert data["queueName"] == "c:t@gmail.com"
    assert {"queueName", "size", "ready", "scheduled", "timestamp", "node"} <= data.keys()
    await _nothing_named(ws, "queue:update")
    # Unchanged queues are not sent again; a vanished queue is sent once with size 0.
    snap2 = snap.model_copy(update={"seq": 2, "timestamp": now_ms() + 1, "queues": []})
    await gw_nc.publish(subjects.snapshot(node, "queues"), snap2.to_bytes())
    gone = await next_event(ws, "queue:update")
    assert (gone["queueName"], gone["size"]) == ("c:t@gmail.com", 0)


async def test_message_status_from_log_events(ws: Ws, gw_nc: Client) -> None:
    node = uid("ev")
    await ws.send_str(orjson.dumps({"event": "subscribe:messages",
                                    "data": {"node": node}}).decode())  # fmt: skip
    await sync(ws)
    await gw_nc.publish(subjects.event(uid("elsewhere"), "Bounce"), _log_event("x").to_bytes())
    await gw_nc.publish(subjects.event(node, "Bounce"), _log_event(node).to_bytes())
    data = await next_event(ws, "message:status")
    assert data["node"] == node
    assert {"messageId", "status", "queue", "timestamp"} <= data.keys()
    assert data["status"] == "bounced"
    assert data["provider"] == "google"


def _log_event(node: str) -> events.KumoLogEvent:
    record = events.KumoLogRecord(type="Bounce", id="m1", queue="gmail.com", timestamp=1,
                                  provider_name="google")  # fmt: skip
    st = events.MessageStatus(messageId="m1", status="bounced", queue="gmail.com",
                              timestamp=now_ms(), details="550 no such user")  # fmt: skip
    return events.KumoLogEvent(node=node, receivedAt=now_ms(), record=record, status=st,
                               dedupId=uid("d"))  # fmt: skip


# --------------------------------------------------------------------------- alerts and rules


async def test_alert_lifecycle_and_rule_changes_are_pushed(
    ws: Ws, http: aiohttp.ClientSession, gw: Gateway, gw_nc: Client
) -> None:
    js = gw_nc.jetstream()
    rid = uid("push")
    ev = alert_event(rid)
    await js.publish(subjects.alert(rid, "firing"), ev.to_bytes())
    fired = await next_event(ws, "alert:triggered")
    assert {"id", "ruleId", "ruleName", "severity", "message", "value", "threshold",
            "timestamp", "acknowledged"} <= fired.keys()  # fmt: skip
    assert (fired["id"], fired["acknowledged"]) == (ev.alert.id, False)

    async with http.post(f"{gw.url}/api/alerts/{ev.alert.id}/acknowledge",
                         headers=auth("operator")) as r:  # fmt: skip
        assert r.status == 200
    acked = await next_event(ws, "alert:acknowledged")
    assert acked["id"] == ev.alert.id
    assert acked["acknowledgedBy"] == "tester"

    done = alert_event(rid, alert_id=ev.alert.id, event="resolved", status="resolved",
                       starts=ev.alert.startsAt)  # fmt: skip
    await js.publish(subjects.alert(rid, "resolved"), done.to_bytes())
    resolved = await next_event(ws, "alert:resolved")
    assert resolved["status"] == "resolved"
    assert resolved["acknowledged"] is True

    async with http.post(f"{gw.url}/api/alerts/rules", json=rule(rid),
                         headers=auth("admin")) as r:  # fmt: skip
        assert r.status == 200
    changed = await next_event(ws, "rule:changed")
    assert (changed["action"], changed["rule"]["id"]) == ("created", rid)
    async with http.delete(f"{gw.url}/api/alerts/rules/{rid}", headers=auth("admin")) as r:
        assert r.status == 200
    changed = await next_event(ws, "rule:changed")
    assert (changed["action"], changed["rule"]["id"]) == ("deleted", rid)


async def test_alert_filters_and_opt_out(ws: Ws, gw_nc: Client) -> None:
    js = gw_nc.jetstream()
    rid = uid("af")
    await ws.send_str(orjson.dumps({"event": "subscribe:alerts",
                                    "data": {"node": "mta-7"}}).decode())  # fmt: skip
    await sync(ws)
    await js.publish(subjects.alert(rid, "firing"),
                     alert_event(rid, labels={"node": "mta-1"}).to_bytes())  # fmt: skip
    wanted = alert_event(rid, labels={"node": "mta-7"})
    await js.publish(subjects.alert(rid, "firing"), wanted.to_bytes())
    assert (await next_event(ws, "alert:triggered"))["id"] == wanted.alert.id
    await ws.send_str('{"event":"unsubscribe:alerts"}')
    await sync(ws)
    await js.publish(subjects.alert(rid, "firing"),
                     alert_event(rid, labels={"node": "mta-7"}).to_bytes())  # fmt: skip
    await _nothing_named(ws, "alert:triggered")


# --------------------------------------------------------------------------- bad frames


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_frame"),
        ("[1, 2]", "invalid_frame"),
        ('{"event": 5}', "invalid_frame"),
        ('{"event": "ping", "data": 3}', "invalid_frame"),
        ('{"event": "dance"}', "unknown_event"),
        ('{"event": "subscribe:weather"}', "unknown_event"),
        ('{"event": "unsubscribe:weather"}', "unknown_event"),
        ('{"event": "subscribe:queues", "data": {"colour": "red"}}', "invalid_filter"),
        ('{"event": "auth", "data": {"token": "bad"}}', "unauthorized"),
    ],
)
async def test_invalid_frames_get_error_and_keep_the_connection(
    ws: Ws, frame: str, code: str
) -> None:
    await ws.send_str(frame)
    err = await next_event(ws, "error")
    assert err["code"] == code
    assert err["message"]
    await sync(ws)


async def test_binary_frames_get_error(ws: Ws) -> None:
    await ws.send_bytes(b"\x00\x01")
    assert (await next_event(ws, "error"))["code"] == "invalid_frame"
    await sync(ws)


async def test_oversized_frame_closes_the_socket(ws: Ws) -> None:
    await ws.send_str('{"event":"ping","data":{"pad":"' + "x" * (70 * 1024) + '"}}')
    assert await _closed(ws) == 1009
