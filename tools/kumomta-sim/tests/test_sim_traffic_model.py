"""The traffic model: monotonic counters, restarts, pruning, determinism, scenarios."""

from __future__ import annotations

import aiohttp
from sim_helpers import Metrics, StartCluster, get_metrics, value

from kumowatch_sim import TrafficModel

AGGREGATES = ("total_messages_delivered", "total_messages_transfail", "total_messages_fail")


def _counters(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for name, series in metrics.items():
        if name.startswith("total_"):
            for labels, val in series:
                out[(name, tuple(sorted(labels.items())))] = val
    return out


async def test_counters_only_grow_across_advances(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = (await start_cluster()).nodes[0]
    previous: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for _ in range(4):
        node.model.advance(5)
        current = _counters(await get_metrics(http, node.url))
        for key, val in previous.items():
            assert current.get(key, val) >= val, key
        previous = current
    metrics = await get_metrics(http, node.url)
    truth = node.truth()["totals"]
    assert value(metrics, "total_messages_delivered", service="smtp_client") == truth["delivered"]
    received = sum(
        value(metrics, "total_messages_received", service=s) or 0
        for s in ("esmtp_listener", "http_listener")
    )
    assert received == truth["received"]


async def test_restart_resets_counters_and_changes_online_since(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = (await start_cluster()).nodes[0]
    node.model.advance(10)
    async with http.get(node.url + "/api/machine-info") as resp:
        before = (await resp.json())["online_since"]
    async with http.post(node.url + "/_sim/restart") as resp:
        assert resp.status == 200
    node.model.advance(0.5)
    metrics = await get_metrics(http, node.url)
    assert (value(metrics, "total_messages_delivered", service="smtp_client") or 0) < 100
    assert node.truth()["restarts"] == 1
    assert node.truth()["lifetime"]["delivered"] > node.truth()["totals"]["delivered"]
    async with http.get(node.url + "/api/machine-info") as resp:
        assert (await resp.json())["online_since"] > before


async def test_idle_per_queue_series_are_pruned_but_aggregates_stay(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = (await start_cluster(prune_after=30)).nodes[0]
    node.apply({"transfail_ratio": 0})  # no retries pending once traffic stops
    node.model.advance(10)
    busy = await get_metrics(http, node.url)
    delivered = value(busy, "total_messages_delivered", service="smtp_client")
    assert delivered
    per_queue = [s for s, _ in busy["total_messages_delivered"] if s["service"] != "smtp_client"]
    assert per_queue
    assert sum(v for _, v in busy["total_messages_delivered"]) == 2 * delivered
    node.apply({"rate": 0})
    node.model.advance(45)
    idle = await get_metrics(http, node.url)
    assert [s for s, _ in idle["total_messages_delivered"]] == [{"service": "smtp_client"}]
    assert (value(idle, "total_messages_delivered", service="smtp_client") or 0) >= delivered
    assert idle["scheduled_count"] == []
    assert value(idle, "scheduled_count_total") == 0
    assert idle["total_messages_delivered_by_provider"] == []


async def test_aggregate_equals_sum_of_per_queue_series_including_pruned_history(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = (await start_cluster(prune_after=20)).nodes[0]
    seen: dict[str, float] = {}
    for _ in range(6):
        node.model.advance(8)
        if _ == 2:
            node.apply({"rate": 0})
        if _ == 4:
            node.apply({"rate": 50})
        metrics = await get_metrics(http, node.url)
        for labels, val in metrics["total_messages_delivered"]:
            service = labels["service"]
            if service != "smtp_client":
                # A pruned series comes back at 0: count each life separately.
                key = service
                while key in seen and val < seen[key]:
                    key += "'"
                seen[key] = val
    agg = value(metrics, "total_messages_delivered", service="smtp_client")
    assert agg == node.truth()["totals"]["delivered"]
    assert agg >= max(seen.values())


def test_same_seed_and_steps_give_the_same_traffic() -> None:
    a = TrafficModel(name="mta1", seed=3, start_time=1_700_000_000)
    b = TrafficModel(name="mta1", seed=3, start_time=1_700_000_000)
    c = TrafficModel(name="mta1", seed=4, start_time=1_700_000_000)
    for model in (a, b, c):
        model.advance(30)
    assert a.totals.as_json() == b.totals.as_json()
    assert a.node_id == b.node_id != c.node_id
    assert a.totals.as_json() != c.totals.as_json()


async def test_bounce_spike_raises_only_the_chosen_providers_fail_rate(
    start_cluster: StartCluster,
) -> None:
    node = (
        await start_cluster(
            scenario="bounce-spike", scenario_params={"spike_at": 10, "spike_for": 20}
        )
    ).nodes[0]
    node.model.advance(10)
    base = node.truth()["totals"]["by_provider"]
    node.model.advance(20)
    spike = node.truth()["totals"]["by_provider"]

    def ratio(provider: str) -> float:
        fail = spike[provider]["fail"] - base[provider]["fail"]
        done = sum(spike[provider].values()) - sum(base[provider].values())
        return fail / done

    assert ratio("gmail") > 0.3
    assert ratio("yahoo") < 0.1
    node.model.advance(20)
    after = node.truth()["totals"]["by_provider"]["gmail"]
    fail = after["fail"] - spike["gmail"]["fail"]
    assert fail / (sum(after.values()) - sum(spike["gmail"].values())) < 0.1


async def test_queue_buildup_grows_one_queue_past_ten_thousand(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = (await start_cluster(scenario="queue-buildup")).nodes[0]
    node.model.advance(60)
    metrics = await get_metrics(http, node.url)
    assert (value(metrics, "scheduled_count", queue="promo:acme@comcast.net") or 0) > 10_000
    async with http.get(node.url + "/api/admin/ready-q-states/v1") as resp:
        states = (await resp.json())["states_by_ready_queue"]
    assert any("comcast" in name for name in states)


async def test_delivery_stall_keeps_receiving_but_stops_delivering(
    start_cluster: StartCluster,
) -> None:
    node = (
        await start_cluster(scenario="delivery-stall", scenario_params={"at": 5, "duration": 20})
    ).nodes[0]
    node.model.advance(6)
    stalled = node.truth()["totals"]
    node.model.advance(15)
    later = node.truth()["totals"]
    assert later["delivered"] == stalled["delivered"]
    assert later["received"] > stalled["received"] + 500
    node.model.advance(10)
    assert node.truth()["totals"]["delivered"] > later["delivered"]


async def test_restart_scenario_resets_counters_at_its_time(start_cluster: StartCluster) -> None:
    node = (await start_cluster(scenario="restart", scenario_params={"at": 10})).nodes[0]
    node.model.advance(9.5)
    assert node.truth()["restarts"] == 0
    node.model.advance(1)
    truth = node.truth()
    assert truth["restarts"] == 1
    assert truth["totals"]["received"] < 50


async def test_ticker_advances_the_clock_in_real_time(start_cluster: StartCluster) -> None:
    import asyncio

    node = (await start_cluster(run_ticker=True, tick=0.05)).nodes[0]
    start = node.model.now
    async with asyncio.timeout(5):
        while node.truth()["totals"]["received"] < 5:
            await asyncio.sleep(0.05)
    assert node.model.now > start
