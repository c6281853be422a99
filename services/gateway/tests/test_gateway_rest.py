"""REST contract: the seed's endpoints with its paths, bodies and field names, plus the additions."""

from __future__ import annotations

import asyncio
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
    queue,
    rule,
    status,
    uid,
    wait_until,
)
from nats.aio.client import Client
from nats.aio.msg import Msg

from kumowatch_common import events, streams, subjects
from kumowatch_common.clock import now_ms
from kumowatch_common.testing import free_port
from kumowatch_gateway.http import error_middleware

SEED_RULE_FIELDS = {
    "id", "name", "description", "enabled", "severity", "condition", "channels", "throttle",
}  # fmt: skip
SEED_ALERT_FIELDS = {
    "id", "ruleId", "ruleName", "severity", "message", "value", "threshold", "timestamp",
    "acknowledged",
}  # fmt: skip


async def _json(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    roles: tuple[str, ...] = ("admin",),
    expect: int = 200,
    **kw: Any,
) -> Any:
    async with http.request(method, url, headers=auth(*roles), **kw) as r:
        assert r.content_type == "application/json", await r.text()
        body = await r.json()
        assert r.status == expect, body
        return body


async def _publish_alert(
    http: aiohttp.ClientSession, gw: Gateway, nc: Client, ev: events.AlertEvent
) -> None:
    await nc.jetstream().publish(subjects.alert(ev.rule.id, ev.event), ev.to_bytes())

    async def seen() -> bool:
        async with http.get(f"{gw.url}/api/alerts/{ev.alert.id}", headers=auth()) as r:
            return r.status == 200 and (await r.json())["alert"]["status"] == ev.alert.status

    await wait_until(seen)


# --------------------------------------------------------------------------- health, errors


async def test_health_has_the_seed_fields_and_tells_the_truth(
    http: aiohttp.ClientSession, gw: Gateway, gw_nc: Client
) -> None:
    async with http.get(f"{gw.url}/health") as r:
        body = await r.json()
    assert {"status", "timestamp", "uptime"} <= body.keys()
    assert body["nats"]["connected"] is True
    node = uid("down")
    await gw_nc.publish(subjects.snapshot(node, "status"), status(node, "down").to_bytes())

    async def degraded() -> bool:
        async with http.get(f"{gw.url}/health") as r:
            doc = await r.json()
        return doc["status"] == "degraded" and any(
            n["node"] == node for n in doc["kumomta"]["nodes"]
        )

    await wait_until(degraded)
    await gw_nc.publish(subjects.snapshot(node, "status"), status(node, "healthy").to_bytes())


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/health"])
async def test_probes_need_no_token(http: aiohttp.ClientSession, gw: Gateway, path: str) -> None:
    async with http.get(gw.url + path) as r:
        assert r.status == 200


async def test_unknown_routes_and_methods_are_json(
    http: aiohttp.ClientSession, gw: Gateway
) -> None:
    body = await _json(http, "GET", f"{gw.url}/api/nope", expect=404)
    assert body == {"success": False, "message": "Not found"}
    async with http.get(f"{gw.url}/nope/deeper") as r:
        assert r.status == 404
        assert (await r.json())["success"] is False
    async with http.put(f"{gw.url}/health") as r:
        assert r.status == 405
        assert r.content_type == "application/json"
        assert "GET" in r.headers["Allow"]


async def test_malformed_json_and_oversized_bodies(
    http: aiohttp.ClientSession, gw: Gateway
) -> None:
    async with http.post(f"{gw.url}/api/alerts/rules", data=b"{nope", headers=auth("admin")) as r:
        body = await r.json()
        assert r.status == 400
        assert body["errors"][0]["field"] == "(body)"
    big = b'{"id": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    async with http.post(f"{gw.url}/api/alerts/rules", data=big, headers=auth("admin")) as r:
        assert r.status == 413
        assert (await r.json()) == {"success": False, "message": "Request body too large"}


async def test_cors_preflight_and_headers(http: aiohttp.ClientSession, gw: Gateway) -> None:
    pre = {"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"}
    async with http.options(f"{gw.url}/api/alerts/rules", headers=pre) as r:
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
        assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
    async with http.options(
        f"{gw.url}/api/alerts/rules", headers={**pre, "Origin": "http://evil.example"}
    ) as r:
        assert r.status == 403
    async with http.get(f"{gw.url}/health", headers={"Origin": "http://dash.example"}) as r:
        assert r.headers["Access-Control-Allow-Origin"] == "http://dash.example"


async def test_index_links_to_the_api_document(http: aiohttp.ClientSession, gw: Gateway) -> None:
    async with http.get(f"{gw.url}/") as r:
        assert r.status == 200
        assert "/api/openapi.json" in await r.text() or r.content_type == "text/html"


# --------------------------------------------------------------------------- rules


async def test_rule_lifecycle_with_seed_shapes(http: aiohttp.ClientSession, gw: Gateway) -> None:
    rid = uid("custom-rule")
    url = f"{gw.url}/api/alerts/rules"
    created = await _json(http, "POST", url, json=rule(rid))
    assert created["success"] is True
    assert created["rule"].keys() >= SEED_RULE_FIELDS
    assert created["rule"]["throttle"] == {"period": 300000, "maxAlerts": 3}
    listed = await _json(http, "GET", url, roles=())
    assert isinstance(listed, list)
    mine = next(r for r in listed if r["id"] == rid)
    assert mine.keys() >= SEED_RULE_FIELDS
    one = await _json(http, "GET", f"{url}/{rid}", roles=())
    assert one["condition"] == {**one["condition"], "type": "queue_depth", "operator": ">",
                                "threshold": 5000}  # fmt: skip

    toggled = await _json(http, "PATCH", f"{url}/{rid}/toggle", json={"enabled": True})
    assert toggled["success"] is True
    assert toggled["message"] == "Rule enabled"
    toggled = await _json(http, "PATCH", f"{url}/{rid}/toggle", json={"enabled": False})
    assert toggled["message"] == "Rule disabled"
    assert (await _json(http, "GET", f"{url}/{rid}"))["enabled"] is False

    patched = await _json(http, "PATCH", f"{url}/{rid}", json={"condition": {"threshold": 9000}})
    assert patched["rule"]["condition"]["threshold"] == 9000
    assert patched["rule"]["condition"]["type"] == "queue_depth"
    replaced = await _json(http, "PUT", f"{url}/{rid}", json=rule(rid, name="Replaced"))
    assert replaced["rule"]["name"] == "Replaced"
    assert replaced["rule"]["createdAt"] == created["rule"]["createdAt"]

    again = await _json(http, "POST", url, json=rule(rid, name="Upserted"))
    assert again["rule"]["name"] == "Upserted"

    removed = await _json(http, "DELETE", f"{url}/{rid}")
    assert removed == {"success": True, "message": "Rule removed"}
    gone = await _json(http, "DELETE", f"{url}/{rid}", expect=404)
    assert gone == {"success": False, "message": "Rule not found"}
    await _json(http, "GET", f"{url}/{rid}", expect=404)
    await _json(http, "PATCH", f"{url}/{rid}/toggle", json={"enabled": True}, expect=404)
    await _json(http, "PUT", f"{url}/{rid}", json=rule(rid), expect=404)


async def test_rule_is_stored_in_the_rules_bucket(
    http: aiohttp.ClientSession, gw: Gateway, gw_nc: Client
) -> None:
    rid = uid("stored")
    await _json(http, "POST", f"{gw.url}/api/alerts/rules", json=rule(rid))
    kv = await gw_nc.jetstream().key_value(streams.BUCKET_RULES)
    stored = events.AlertRule.from_bytes((await kv.get(rid)).value)
    assert stored.name == "Custom Alert"
    await kv.delete(rid)
    await wait_until(lambda: _absent(http, gw, rid))


async def _absent(http: aiohttp.ClientSession, gw: Gateway, rid: str) -> bool:
    async with http.get(f"{gw.url}/api/alerts/rules/{rid}", headers=auth()) as r:
        return r.status == 404


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"condition": {"type": "queue_depth", "operator": ">", "threshold": 1,
                        "timeWindow": 10**10}}, "condition.timeWindow"),
        ({"condition": {"type": "nope", "operator": ">", "threshold": 1}}, "condition.type"),
        ({"severity": "loud"}, "severity"),
        ({"id": "bad id!"}, "id"),
        ({"channels": ["pager"]}, "channels.0"),
        ({"throttle": {"period": 0, "maxAlerts": 1}}, "throttle.period"),
        ({"name": ""}, "name"),
    ],
)  # fmt: skip
async def test_invalid_rules_are_400_naming_the_field(
    http: aiohttp.ClientSession, gw: Gateway, patch: dict[str, Any], field: str
) -> None:
    body = await _json(
        http, "POST", f"{gw.url}/api/alerts/rules", json={**rule(uid("bad")), **patch}, expect=400
    )
    assert body["success"] is False
    assert body["message"] == "Invalid rule configuration"
    assert field in [e["field"] for e in body["errors"]], body


async def test_toggle_needs_a_boolean(http: aiohttp.ClientSession, gw: Gateway) -> None:
    rid = uid("toggle")
    await _json(http, "POST", f"{gw.url}/api/alerts/rules", json=rule(rid))
    for bad in ({"enabled": "yes"}, {"enabled": 1}, {}):
        body = await _json(
            http, "PATCH", f"{gw.url}/api/alerts/rules/{rid}/toggle", json=bad, expect=400
        )
        assert body["errors"][0]["field"] == "enabled"
    await _json(http, "DELETE", f"{gw.url}/api/alerts/rules/{rid}")


# --------------------------------------------------------------------------- alerts


async def test_alerts_newest_first_with_seed_fields_and_filters(
    http: aiohttp.ClientSession, gw: Gateway, gw_nc: Client
) -> None:
    rid = uid("hist")
    base = now_ms() + 10_000_000  # newer than anything else in the session
    evs = [alert_event(rid, starts=base + i) for i in range(3)]
    for ev in evs:
        await _publish_alert(http, gw, gw_nc, ev)
    listed = await _json(http, "GET", f"{gw.url}/api/alerts?limit=3", roles=())
    assert [a["id"] for a in listed] == [e.alert.id for e in reversed(evs)]
    assert listed[0].keys() >= SEED_ALERT_FIELDS
    assert listed[0]["acknowledged"] is False
    await _json(
        http, "POST", f"{gw.url}/api/alerts/{evs[1].alert.id}/acknowledge", roles=("operator",)
    )
    unacked = await _json(http, "GET", f"{gw.url}/api/alerts?acknowledged=false&ruleId={rid}")
    assert [a["id"] for a in unacked] == [evs[2].alert.id, evs[0].alert.id]
    acked = await _json(http, "GET", f"{gw.url}/api/alerts?acknowledged=true&ruleId={rid}")
    assert [a["id"] for a in acked] == [evs[1].alert.id]
    both = await _json(http, "GET", f"{gw.url}/api/alerts?acknowledged=&ruleId={rid}&limit=2")
    assert len(both) == 2
    bad = await _json(http, "GET", f"{gw.url}/api/alerts?limit=lots", expect=400)
    assert bad["errors"][0]["field"] == "limit"
    bad = await _json(http, "GET", f"{gw.url}/api/alerts?acknowledged=maybe", expect=400)
    assert bad["errors"][0]["field"] == "acknowledged"


async def test_acknowledge_records_author_note_and_event(
    http: aiohttp.ClientSession, gw: Gateway, gw_nc: Client
) -> None:
    rid = uid("ack")
    ev = alert_event(rid)
    await _publish_alert(http, gw, gw_nc, ev)
    js = gw_nc.jetstream()
    got: asyncio.Queue[Msg] = asyncio.Queue()
    sub = await gw_nc.subscribe(subjects.alert(rid, "acknowledged"), cb=got.put)
    url = f"{gw.url}/api/alerts/{ev.alert.id}/acknowledge"
    body = await _json(http, "POST", url, roles=("operator",), json={"note": "looking"})
    assert body["success"] is True
    assert body["message"] == "Alert acknowledged"
    again = await _json(http, "POST", url, roles=("operator",))
    assert again["success"] is True

    kv = await js.key_value(streams.BUCKET_ACKS)
    ack = events.Acknowledgement.from_bytes((await kv.get(ev.alert.id)).value)
    assert (ack.by, ack.note) == ("tester", "looking")
    msg = await asyncio.wait_for(got.get(), 5)
    published = events.AlertEvent.from_bytes(msg.data)
    assert published.event == "acknowledged"
    assert published.alert.acknowledged
    assert published.alert.acknowledgedBy == "tester"
    assert msg.headers
    assert msg.headers["Nats-Msg-Id"] == f"{ev.alert.id}:ack"
    await sub.unsubscribe()

    detail = await _json(http, "GET", f"{gw.url}/api/alerts/{ev.alert.id}", roles=())
    a = detail["alert"]
    assert (a["acknowledged"], a["acknowledgedBy"], a["ackNote"]) == (True, "tester", "looking")
    assert a["acknowledgedAt"] == ack.at


async def test_unknown_alert_is_the_seed_404(http: aiohttp.ClientSession, gw: Gateway) -> None:
    body = await _json(
        http, "POST", f"{gw.url}/api/alerts/nope/acknowledge", roles=("operator",), expect=404
    )
    assert body == {"success": False, "message": "Alert not found"}
    await _json(http, "GET", f"{gw.url}/api/alerts/nope", expect=404)


async def test_alert_detail_lists_its_notification_outcomes(
    http: aiohttp.ClientSession, gw: Gateway, gw_nc: Client
) -> None:
    rid = uid("notif")
    ev = alert_event(rid)
    await _publish_alert(http, gw, gw_nc, ev)
    js = gw_nc.jetstream()
    for outcome in ("retry", "dead_letter"):
        out = events.NotificationOutcome(
            id=uid("n"), alertId=ev.alert.id, ruleId=rid, event="firing", channel="slack",
            outcome=outcome, timestamp=now_ms(), idempotencyKey=f"{ev.alert.id}:slack",
        )  # fmt: skip
        await js.publish(subjects.notification("slack", outcome), out.to_bytes())

    async def two() -> bool:
        async with http.get(f"{gw.url}/api/alerts/{ev.alert.id}", headers=auth()) as r:
            return len((await r.json())["notifications"]) == 2

    await wait_until(two)
    dead = await _json(
        http, "GET", f"{gw.url}/api/notifications/dead-letters?alertId={ev.alert.id}"
    )
    assert [d["outcome"] for d in dead] == ["dead_letter"]
    recent = await _json(http, "GET", f"{gw.url}/api/notifications?outcome=retry&limit=5")
    assert any(n["alertId"] == ev.alert.id for n in recent)


async def test_resolved_event_updates_the_alert(
    http: aiohttp.ClientSession, gw: Gateway, gw_nc: Client
) -> None:
    rid = uid("res")
    ev = alert_event(rid)
    await _publish_alert(http, gw, gw_nc, ev)
    done = alert_event(rid, alert_id=ev.alert.id, event="resolved", status="resolved",
                       starts=ev.alert.startsAt)  # fmt: skip
    await _publish_alert(http, gw, gw_nc, done)
    resolved = await _json(http, "GET", f"{gw.url}/api/alerts?status=resolved&ruleId={rid}")
    assert [a["id"] for a in resolved] == [ev.alert.id]


# --------------------------------------------------------------------------- live state


async def test_queues_filter_sort_and_paginate(
    http: aiohttp.ClientSession, gw: Gateway, gw_nc: Client
) -> None:
    node = uid("qnode")
    qs = [
        queue(node, "c:t1@gmail.com", 50, tenant="t1", domain="gmail.com", provider="google"),
        queue(node, "c:t1@yahoo.com", 500, tenant="t1", domain="yahoo.com", provider="yahoo"),
        queue(node, "c:t2@gmail.com", 5, tenant="t2", domain="gmail.com", provider="google"),
    ]
    ts = now_ms()
    for i, q in enumerate(qs):
        chunk = events.QueuesSnapshot(node=node, seq=7, chunk=i, chunks=3, timestamp=ts,
                                      totalQueues=3, queues=[q])  # fmt: skip
        await gw_nc.publish(subjects.snapshot(node, "queues"), chunk.to_bytes())
    url = f"{gw.url}/api/queues?node={node}"

    async def three() -> bool:
        async with http.get(url, headers=auth()) as r:
            return (await r.json())["total"] == 3

    await wait_until(three)
    page = await _json(http, "GET", url)
    assert [q["size"] for q in page["items"]] == [500, 50, 5]
    assert {"queueName", "size", "ready", "scheduled", "timestamp", "node"} <= page["items"][
        0
    ].keys()
    page = await _json(http, "GET", f"{url}&sort=name&limit=2&offset=1")
    assert page["total"] == 3
    assert [q["queueName"] for q in page["items"]] == ["c:t1@yahoo.com", "c:t2@gmail.com"]
    page = await _json(http, "GET", f"{url}&queue=*gmail.com&tenant=t1")
    assert [q["queueName"] for q in page["items"]] == ["c:t1@gmail.com"]
    page = await _json(http, "GET", f"{url}&provider=google&order=asc")
    assert [q["size"] for q in page["items"]] == [5, 50]
    page = await _json(http, "GET", f"{url}&kind=ready")
    assert page == {"total": 0, "items": []}
    bad = await _json(http, "GET", f"{url}&sort=weight", expect=400)
    assert bad["errors"][0]["field"] == "sort"


async def test_nodes_metrics_and_providers(
    http: aiohttp.ClientSession, gw: Gateway, gw_nc: Client
) -> None:
    node = uid("mnode")
    await gw_nc.publish(subjects.snapshot(node, "status"), status(node, "degraded",
                        reason="slow").to_bytes())  # fmt: skip
    await gw_nc.publish(subjects.snapshot(node, "metrics"), metrics(node, 42).to_bytes())
    prov = events.ProvidersSnapshot(
        node=node, timestamp=now_ms(),
        providers=[events.ProviderStats(provider="google", delivered=10),
                   events.ProviderStats(provider="yahoo", delivered=3)],
    )  # fmt: skip
    await gw_nc.publish(subjects.snapshot(node, "providers"), prov.to_bytes())

    async def all_there() -> bool:
        async with http.get(f"{gw.url}/api/providers?node={node}", headers=auth()) as r:
            return len(await r.json()) == 1

    await wait_until(all_there)
    nodes = await _json(http, "GET", f"{gw.url}/api/nodes?node={node}")
    assert nodes[0]["kumoMtaStatus"] == "degraded"
    assert nodes[0]["reason"] == "slow"
    assert {"connected", "kumoMtaStatus", "timestamp"} <= nodes[0].keys()
    m = await _json(http, "GET", f"{gw.url}/api/metrics?node={node}")
    assert m[0]["delivered"] == 42
    assert {"delivered", "bounced", "deferred", "throughput", "timestamp"} <= m[0].keys()
    p = await _json(http, "GET", f"{gw.url}/api/providers?node={node}&provider=goo*")
    assert [x["provider"] for x in p[0]["providers"]] == ["google"]


# --------------------------------------------------------------------------- silences


async def test_silences_create_list_expire(
    http: aiohttp.ClientSession, gw: Gateway, gw_nc: Client
) -> None:
    node = uid("snode")
    body = {"matchers": [{"name": "node", "value": node}], "durationMs": 3_600_000,
            "comment": "maintenance"}  # fmt: skip
    created = await _json(http, "POST", f"{gw.url}/api/silences", json=body,
                          roles=("operator",), expect=201)  # fmt: skip
    s = created["silence"]
    assert s["createdBy"] == "tester"
    assert s["endsAt"] - s["startsAt"] == 3_600_000
    kv = await gw_nc.jetstream().key_value(streams.BUCKET_SILENCES)
    assert events.Silence.from_bytes((await kv.get(s["id"])).value).comment == "maintenance"
    active = await _json(http, "GET", f"{gw.url}/api/silences?active=true", roles=())
    assert s["id"] in [x["id"] for x in active]
    expired = await _json(http, "DELETE", f"{gw.url}/api/silences/{s['id']}", roles=("operator",))
    assert expired["silence"]["endsAt"] <= now_ms()
    active = await _json(http, "GET", f"{gw.url}/api/silences?active=true")
    assert s["id"] not in [x["id"] for x in active]
    await _json(http, "DELETE", f"{gw.url}/api/silences/nope", roles=("operator",), expect=404)
    bad = await _json(http, "POST", f"{gw.url}/api/silences", json={"matchers": []},
                      roles=("operator",), expect=400)  # fmt: skip
    assert {"matchers"} <= {e["field"] for e in bad["errors"]}


# --------------------------------------------------------------------------- test notification


async def test_test_notification_needs_a_notifier(
    http: aiohttp.ClientSession, gw: Gateway, gw_nc: Client
) -> None:
    body = await _json(
        http, "POST", f"{gw.url}/api/notifications/test", json={"channel": "slack"}, expect=504
    )
    assert body == {"success": False, "message": "No notifier answered"}

    async def answer(msg: Msg) -> None:
        req = events.NotificationTestRequest.from_bytes(msg.data)
        reply = events.NotificationTestReply(channel=req.channel, ok=True, statusCode=200)
        await msg.respond(reply.to_bytes())

    sub = await gw_nc.subscribe(subjects.NOTIFIER_TEST, queue="notifier", cb=answer)
    await gw_nc.flush()
    try:
        ok = await _json(
            http, "POST", f"{gw.url}/api/notifications/test",
            json={"channel": "webhook", "target": "http://127.0.0.1:9/hook"},
        )  # fmt: skip
        assert ok == {"success": True, "channel": "webhook", "ok": True, "error": None,
                      "statusCode": 200}  # fmt: skip
        bad = await _json(http, "POST", f"{gw.url}/api/notifications/test",
                          json={"channel": "pager"}, expect=400)  # fmt: skip
        assert bad["errors"][0]["field"] == "channel"
    finally:
        await sub.unsubscribe()


async def test_unexpected_errors_are_500_json_without_detail(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async def boom(_: web.Request) -> web.Response:
        raise RuntimeError("internal detail 42")

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/boom", boom)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with http.get(f"http://127.0.0.1:{port}/boom") as r:
            assert r.status == 500
            text = await r.text()
        assert "internal detail" not in text
        assert "Traceback" not in text
        assert orjson.loads(text) == {"success": False, "message": "Internal server error"}
        assert caplog.text.count("request failed") == 1
    finally:
        await runner.cleanup()
