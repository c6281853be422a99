"""/metrics and /metrics.json use KumoMTA's names, label forms and JSON shapes."""

from __future__ import annotations

import json
import re

import aiohttp
import pytest
from sim_helpers import StartCluster, parse_metrics, value

# kumomta-api.md §2.3: queue, delivery and health metrics and their label names.
EXPECTED: dict[str, tuple[str, ...]] = {
    "scheduled_count": ("queue",),
    "scheduled_count_total": (),
    "scheduled_queue_count": (),
    "scheduled_by_domain": ("domain",),
    "scheduled_by_tenant": ("tenant",),
    "scheduled_by_tenant_campaign": ("tenant", "campaign"),
    "ready_count": ("service",),
    "queued_count_by_provider": ("provider",),
    "queued_count_by_provider_and_pool": ("provider", "pool"),
    "connection_count": ("service",),
    "connection_count_by_provider": ("provider",),
    "connection_count_by_provider_and_pool": ("provider", "pool"),
    "total_connection_count": ("service",),
    "total_connections_denied": ("service",),
    "total_messages_delivered": ("service",),
    "total_messages_transfail": ("service",),
    "total_messages_fail": ("service",),
    "total_messages_delivered_by_provider": ("provider",),
    "total_messages_transfail_by_provider": ("provider",),
    "total_messages_fail_by_provider": ("provider",),
    "total_messages_delivered_by_provider_and_source": ("provider", "source", "pool"),
    "total_messages_transfail_by_provider_and_source": ("provider", "source", "pool"),
    "total_messages_fail_by_provider_and_source": ("provider", "source", "pool"),
    "total_messages_received": ("service",),
    "disk_free_bytes": ("name",),
    "disk_free_percent": ("name",),
    "disk_free_inodes": ("name",),
    "disk_free_inodes_percent": ("name",),
    "memory_usage": (),
    "memory_limit": (),
    "memory_low_thresh": (),
    "memory_over_limit_count": (),
    "message_count": (),
    "log_hook_backlog_count": ("logger",),
    "thread_pool_size": ("pool",),
    "thread_pool_parked": ("pool",),
    "lua_load_count": (),
    "lua_spare_count": (),
}
READY_Q = re.compile(r"^smtp_client:ip-\d->[^@]+@smtp_client$")
SCHED_Q = re.compile(r"^[^:@]+:[^:@]+@[^@]+$")


async def _busy_node(start_cluster: StartCluster, receiver_url: str | None = None, **kw: object):
    sim = await start_cluster(log_hook_url=receiver_url, **kw)
    node = sim.nodes[0]
    node.model.advance(20)
    # Keep some messages queued so every gauge has series.
    node.apply({"deliveries": False})
    node.model.advance(2)
    return node


async def test_metrics_text_parses_and_has_every_documented_family(
    start_cluster: StartCluster, http: aiohttp.ClientSession, receiver
) -> None:
    node = await _busy_node(start_cluster, receiver.url)
    async with http.get(node.url + "/metrics") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        text = await resp.text()
    metrics = parse_metrics(text)
    for name, labels in EXPECTED.items():
        assert f"# TYPE {name} " in text, name
        series = metrics[name]
        assert series, f"{name} has no series"
        for got, _ in series:
            assert tuple(got) == labels, (name, got)
    hist = [line for line in text.splitlines() if line.startswith("deliver_message_latency")]
    assert 'deliver_message_latency_rollup_bucket{service="smtp_client", le="+Inf"}' in text
    assert any(line.startswith("deliver_message_latency_rollup_count") for line in hist)
    assert value(metrics, "log_hook_backlog_count", logger="webhook") is not None
    assert node.hook is not None
    assert await node.hook.wait_idle(10)


async def test_label_pairs_use_comma_space_and_kumomta_value_forms(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = await _busy_node(start_cluster)
    async with http.get(node.url + "/metrics") as resp:
        text = await resp.text()
    assert re.search(
        r'^total_messages_delivered_by_provider_and_source\{provider="gmail", source="ip-\d", '
        r'pool="pool1"\} \d+$',
        text,
        re.M,
    )
    metrics = parse_metrics(text)
    services = {labels["service"] for labels, _ in metrics["ready_count"]}
    assert "smtp_client" in services
    per_queue = services - {"smtp_client"}
    assert per_queue
    assert all(READY_Q.match(s) for s in per_queue)
    assert "smtp_client:ip-1->(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com@smtp_client" in (
        services | {labels["service"] for labels, _ in metrics["total_messages_delivered"]}
    )
    queues = {labels["queue"] for labels, _ in metrics["scheduled_count"]}
    assert any(SCHED_Q.match(q) for q in queues)
    assert "newsletter:acme@gmail.com" in queues or any(q.endswith("@gmail.com") for q in queues)
    received = {labels["service"] for labels, _ in metrics["total_messages_received"]}
    assert {"esmtp_listener", "http_listener"} <= received
    assert value(metrics, "total_connections_denied", service="esmtp_listener") == 0
    names = {labels["name"] for labels, _ in metrics["disk_free_percent"]}
    assert names == {"data spool", "meta spool", "log dir /var/log/kumomta"}


async def test_gauges_are_consistent_with_each_other(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = await _busy_node(start_cluster)
    async with http.get(node.url + "/metrics") as resp:
        metrics = parse_metrics(await resp.text())
    total = value(metrics, "scheduled_count_total")
    assert total == sum(v for _, v in metrics["scheduled_count"])
    assert total == node.truth()["scheduled_total"]
    assert value(metrics, "scheduled_queue_count") == len(metrics["scheduled_count"])
    ready = metrics["ready_count"]
    agg = value(metrics, "ready_count", service="smtp_client")
    assert agg == sum(v for labels, v in ready if ":" in labels["service"])
    queued = sum(v for _, v in metrics["queued_count_by_provider"])
    assert queued == total + agg
    assert value(metrics, "message_count") == total + agg


async def test_metrics_json_is_strict_json_with_kumomta_shapes(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = await _busy_node(start_cluster)
    async with http.get(node.url + "/metrics.json") as resp:
        assert resp.content_type == "application/json"
        data = json.loads(await resp.text())
    assert isinstance(data["scheduled_count_total"]["value"], float)
    assert data["scheduled_count_total"]["type"] == "gauge"
    one = data["scheduled_count"]["value"]
    assert list(one) == ["queue"]
    assert all(isinstance(v, float) for v in one["queue"].values())
    two = data["total_messages_delivered_by_provider_and_source"]["value"]
    assert isinstance(two, list)
    assert set(two[0]) == {"provider", "source", "pool", "@"}
    hist = data["deliver_message_latency_rollup"]["value"]["service"]["smtp_client"]
    assert set(hist) == {"count", "sum", "avg", "bucket"}
    assert hist["bucket"][0][0] == 0.005
    # No log hook configured: the family exists without series.
    assert data["log_hook_backlog_count"]["value"] is None
    assert data["total_messages_delivered"]["help"].startswith("total number")


async def test_trailing_comma_quirk_breaks_strict_json_parsing(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = await _busy_node(start_cluster, quirks=frozenset({"trailing-comma"}))
    async with http.get(node.url + "/metrics.json") as resp:
        body = await resp.text()
    assert ",}" in body
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    tolerant = json.loads(re.sub(r",\s*([}\]])", r"\1", body))
    assert "ready_count" in tolerant


async def test_unescaped_labels_quirk_emits_quotes_raw(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    sim = await start_cluster(quirks=frozenset({"unescaped-labels"}))
    plain = await start_cluster()
    body = {
        "envelope_sender": "a@sender.example",
        "recipients": [
            {"email": "x@gmail.com", "metadata": {"tenant": "acme", "campaign": 'say "hi"'}}
        ],
        "content": "Subject: hi\r\n\r\nhello",
    }
    for node in (sim.nodes[0], plain.nodes[0]):
        async with http.post(node.url + "/api/inject/v1", json=body) as resp:
            assert resp.status == 200
    async with http.get(sim.nodes[0].url + "/metrics") as resp:
        raw = await resp.text()
    async with http.get(plain.nodes[0].url + "/metrics") as resp:
        escaped = await resp.text()
    assert 'queue="say "hi":acme@gmail.com"' in raw
    assert 'queue="say \\"hi\\":acme@gmail.com"' in escaped
    metrics = parse_metrics(escaped)
    assert value(metrics, "scheduled_count", queue='say "hi":acme@gmail.com') == 1
    async with http.get(plain.nodes[0].url + "/metrics.json") as resp:
        data = json.loads(await resp.text())
    assert data["scheduled_count"]["value"]["queue"]['say "hi":acme@gmail.com'] == 1.0
    async with http.get(sim.nodes[0].url + "/metrics.json") as resp:
        with pytest.raises(json.JSONDecodeError):
            json.loads(await resp.text())


async def test_prefix_query_prepends_to_every_name(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = await _busy_node(start_cluster)
    async with http.get(node.url + "/metrics", params={"prefix": "kumo_"}) as resp:
        metrics = parse_metrics(await resp.text())
    assert metrics
    assert all(name.startswith("kumo_") for name in metrics)


async def test_gzip_is_served_when_asked(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = await _busy_node(start_cluster)
    async with http.get(node.url + "/metrics", headers={"Accept-Encoding": "gzip"}) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        assert "scheduled_count_total" in await resp.text()
