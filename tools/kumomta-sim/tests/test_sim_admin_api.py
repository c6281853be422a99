"""Admin endpoints keep KumoMTA's shapes and change what the node does."""

from __future__ import annotations

import aiohttp
from sim_helpers import Receiver, StartCluster, get_metrics, value

from kumowatch_sim import LogRecord


def in_domain(queue: str, domain: str) -> bool:
    return queue == domain or queue.endswith("@" + domain)


GMAIL_RQ = "ip-1->(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com@smtp_client"


async def test_suspend_list_is_an_array_with_humantime_durations(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = (await start_cluster()).nodes[0]
    url = node.url + "/api/admin/suspend/v1"
    async with http.post(url, json={"reason": "maint", "domain": "gmail.com"}) as resp:
        assert resp.status == 200
        entry_id = (await resp.json())["id"]
    node.model.advance(0.25)
    async with http.get(url) as resp:
        entries = await resp.json()
    assert isinstance(entries, list)
    assert len(entries) == 1
    entry = entries[0]
    assert set(entry) == {"id", "reason", "duration", "campaign", "tenant", "domain"}
    assert entry["id"] == entry_id
    assert entry["domain"] == "gmail.com"
    assert entry["duration"] == "4m 59s 750ms"
    async with http.delete(url, json={"id": entry_id}) as resp:
        assert resp.status == 200
        assert await resp.text() == f"removed {entry_id}"
    async with http.delete(url, json={"id": entry_id}) as resp:
        assert resp.status == 404


async def test_admin_entries_expire_after_their_duration(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = (await start_cluster()).nodes[0]
    for path, body in (
        ("suspend/v1", {"reason": "r", "tenant": "acme", "duration": "30s"}),
        ("suspend-ready-q/v1", {"name": GMAIL_RQ, "reason": "r", "duration": "1m"}),
        ("bounce/v1", {"reason": "r", "domain": "nowhere.example", "duration": "1h"}),
    ):
        async with http.post(f"{node.url}/api/admin/{path}", json=body) as resp:
            assert resp.status == 200, await resp.text()
    async with http.get(node.url + "/api/admin/suspend-ready-q/v1") as resp:
        (entry,) = await resp.json()
    assert set(entry) == {"id", "name", "reason", "duration", "expires"}
    assert entry["duration"] == "1m"
    assert entry["expires"].endswith("Z")
    node.model.advance(61)
    async with http.get(node.url + "/api/admin/suspend/v1") as resp:
        assert await resp.json() == []
    async with http.get(node.url + "/api/admin/suspend-ready-q/v1") as resp:
        assert await resp.json() == []
    async with http.get(node.url + "/api/admin/bounce/v1") as resp:
        (bounce,) = await resp.json()
    assert bounce["duration"].startswith("58m 59s")


async def test_bad_admin_bodies_get_400_with_a_reason(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = (await start_cluster()).nodes[0]
    cases = [
        ("suspend/v1", b"{not json"),
        ("suspend/v1", b'{"domain": "gmail.com"}'),
        ("bounce/v1", b'{"reason": "x", "duration": "5 fortnights"}'),
        ("suspend-ready-q/v1", b'{"reason": "x"}'),
    ]
    for path, body in cases:
        async with http.post(f"{node.url}/api/admin/{path}", data=body) as resp:
            assert resp.status == 400, (path, body)
            assert await resp.text()


async def test_scheduled_suspension_stops_deliveries_and_the_queue_grows(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = (await start_cluster()).nodes[0]
    node.model.advance(5)
    for domain in ("gmail.com", "googlemail.com"):
        async with http.post(
            node.url + "/api/admin/suspend/v1", json={"reason": "pause", "domain": domain}
        ) as resp:
            assert resp.status == 200
    before = node.truth()["totals"]["by_provider"]["gmail"]["delivered"]
    node.model.advance(1)  # drain what was already in the ready queue
    settled = node.truth()["totals"]["by_provider"]["gmail"]["delivered"]
    node.model.advance(20)
    after = node.truth()
    assert after["totals"]["by_provider"]["gmail"]["delivered"] == settled >= before
    gmail_queued = sum(n for q, n in after["scheduled"].items() if in_domain(q, "gmail.com"))
    assert gmail_queued > 100
    metrics = await get_metrics(http, node.url)
    assert value(metrics, "scheduled_by_domain", domain="gmail.com") == gmail_queued


async def test_ready_queue_suspension_stops_only_that_ready_queue(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = (await start_cluster()).nodes[0]
    async with http.post(
        node.url + "/api/admin/suspend-ready-q/v1", json={"name": GMAIL_RQ, "reason": "x"}
    ) as resp:
        assert resp.status == 200
    node.model.advance(20)
    truth = node.truth()
    assert truth["ready"][GMAIL_RQ] > 50
    metrics = await get_metrics(http, node.url)
    service = "smtp_client:" + GMAIL_RQ
    assert value(metrics, "total_messages_delivered", service=service) == 0
    other = service.replace("ip-1", "ip-2")
    assert (value(metrics, "total_messages_delivered", service=other) or 0) > 0


async def test_admin_bounce_empties_matching_queues_and_logs_admin_bounce(
    start_cluster: StartCluster, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    node = (await start_cluster(log_hook_url=receiver.url, log_hook_mode="batch")).nodes[0]
    node.apply({"throttle": {"yahoo": 0}})
    node.model.advance(20)
    queued = sum(n for q, n in node.truth()["scheduled"].items() if in_domain(q, "yahoo.com"))
    queued += sum(n for q, n in node.truth()["ready"].items() if "yahoodns" in q and "am0" in q)
    assert queued > 0
    async with http.post(
        node.url + "/api/admin/bounce/v1", json={"reason": "cleanup", "domain": "yahoo.com"}
    ) as resp:
        assert await resp.json() == {
            "id": (await resp.json())["id"],
            "bounced": {},
            "total_bounced": 0,
        }
    truth = node.truth()
    assert not any(n for q, n in truth["scheduled"].items() if in_domain(q, "yahoo.com"))
    assert truth["totals"]["admin_bounced"] == queued
    async with http.get(node.url + "/api/admin/bounce/v1") as resp:
        (entry,) = await resp.json()
    assert entry["total_bounced"] == queued
    assert entry["domain"] == "yahoo.com"
    assert all(in_domain(q, "yahoo.com") for q in entry["bounced"])
    # While active, newly arriving matching messages bounce at once.
    node.model.advance(10)
    truth = node.truth()
    assert truth["totals"]["admin_bounced"] > queued
    assert not any(n for q, n in truth["scheduled"].items() if in_domain(q, "yahoo.com"))
    assert await node.hook.wait_idle(10)
    bounces = [LogRecord.model_validate(r) for r in receiver.records if r["type"] == "AdminBounce"]
    assert len(bounces) == truth["totals"]["admin_bounced"]
    assert all(b.queue.endswith("yahoo.com") and b.response.code == 551 for b in bounces)


async def test_admin_bounce_with_suppress_logging_logs_nothing(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = (await start_cluster()).nodes[0]
    node.apply({"deliveries": False})
    node.model.advance(5)
    async with http.post(
        node.url + "/api/admin/bounce/v1",
        json={"reason": "quiet", "tenant": "acme", "suppress_logging": True},
    ) as resp:
        assert resp.status == 200
    truth = node.truth()
    assert truth["totals"]["admin_bounced"] > 0
    assert "AdminBounce" not in truth["records"]


async def test_ready_q_states_lists_throttled_queues_and_skips_named_ones(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = (await start_cluster()).nodes[0]
    node.apply({"throttle": {"gmail": 0.5}})
    node.model.advance(3)
    url = node.url + "/api/admin/ready-q-states/v1"
    async with http.get(url) as resp:
        states = (await resp.json())["states_by_ready_queue"]
    assert GMAIL_RQ in states
    state = states[GMAIL_RQ]["connection_rate_throttled"]
    assert set(state) == {"context", "since"}
    assert state["since"].endswith("Z")
    assert all("gmail" in name for name in states)
    async with http.get(url, params={"queues": GMAIL_RQ}) as resp:
        skipped = (await resp.json())["states_by_ready_queue"]
    assert GMAIL_RQ not in skipped
    assert len(skipped) == len(states) - 1


async def test_inject_counts_as_http_reception_and_enters_the_traffic(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = (await start_cluster(rate=0)).nodes[0]
    body = {
        "envelope_sender": "app@sender.example",
        "recipients": [
            {"email": "a@gmail.com"},
            {"email": "b@example.com", "metadata": {"tenant": "globex", "campaign": "digest"}},
            {"email": "not-an-address"},
        ],
        "content": {"subject": "hi", "text_body": "hello", "headers": {"X-Tenant": "acme"}},
    }
    async with http.post(node.url + "/api/inject/v1", json=body) as resp:
        assert resp.status == 200
        result = await resp.json()
    assert result["success_count"] == 2
    assert result["fail_count"] == 1
    assert result["failed_recipients"] == ["not-an-address"]
    truth = node.truth()
    assert set(truth["scheduled"]) == {"acme@gmail.com", "digest:globex@example.com"}
    metrics = await get_metrics(http, node.url)
    assert value(metrics, "total_messages_received", service="http_listener") == 2
    node.model.advance(3)
    assert node.truth()["totals"]["delivered"] + node.truth()["totals"]["fail"] >= 1
    async with http.post(node.url + "/api/inject/v1", json={"recipients": []}) as resp:
        assert resp.status == 400


async def test_machine_info_and_liveness(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    sim = await start_cluster(nodes=2)
    infos = []
    for node in sim.nodes:
        async with http.get(node.url + "/api/machine-info") as resp:
            infos.append(await resp.json())
        async with http.get(node.url + "/api/check-liveness/v1") as resp:
            assert resp.status == 200
            assert await resp.text() == "OK"
    assert [i["hostname"] for i in infos] == ["mta1.sim.local", "mta2.sim.local"]
    assert infos[0]["node_id"] != infos[1]["node_id"]
    assert infos[0]["process_kind"] == "kumod"
    assert infos[0]["version"] == "2026.06.23-f3af1cd0"
    node = sim.nodes[0]
    node.apply({"disk_free_percent": 2})
    async with http.get(node.url + "/api/check-liveness/v1") as resp:
        assert resp.status == 503
        assert await resp.text() == "storage is too full"
    node.apply({"disk_free_percent": 60, "liveness": "load shedding"})
    async with http.get(node.url + "/api/check-liveness/v1") as resp:
        assert resp.status == 503
        assert await resp.text() == "load shedding"
    node.model.advance(2)
    metrics = await get_metrics(http, node.url)
    assert (value(metrics, "total_connections_denied", service="esmtp_listener") or 0) > 0
