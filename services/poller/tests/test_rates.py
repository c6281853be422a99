"""Rates from counter deltas over injected monotonic time; resets start a new baseline."""

from __future__ import annotations

from kumowatch_common.clock import ManualClock
from kumowatch_common.events import QueuesSnapshot
from kumowatch_poller.metricset import MetricSet
from kumowatch_poller.rates import CounterRates, ratio
from kumowatch_poller.snapshots import NodeSnapshots, Scrape, queue_chunks, queue_items
from kumowatch_poller.states import SuspensionIndex


def metrics(delivered: float, fail: float, transfail: float, received: float = 0) -> MetricSet:
    return MetricSet(
        families={
            "total_messages_delivered": {"smtp_client": delivered, "smtp_client:a->b@smtp": 1},
            "total_messages_fail": {"smtp_client": fail},
            "total_messages_transfail": {"smtp_client": transfail},
            "total_messages_received": {
                "esmtp_listener": received,
                "http_listener": 1,
                "esmtp_listener:0.0.0.0:25": received,
            },
            "total_messages_delivered_by_provider": {"gmail": delivered / 2},
            "total_messages_fail_by_provider": {"gmail": fail},
            "queued_count_by_provider": {"gmail": 12, "yahoo": 3},
            "connection_count_by_provider": {"gmail": 2},
        }
    )


def scrape(ms: MetricSet, clock: ManualClock, seq: int, online: str | None = "t0") -> Scrape:
    return Scrape(ms, clock.monotonic(), int(clock.now() * 1000), seq, online)


def test_counter_rate_is_delta_over_elapsed_and_first_sample_is_baseline() -> None:
    rates = CounterRates()
    first = rates.observe("a", 100, 10.0)
    assert first.per_sec == 0
    assert not first.reset
    assert first.baseline
    r = rates.observe("a", 150, 15.0)
    assert r.per_sec == 10
    assert r.delta == 50
    assert r.elapsed == 5


def test_counter_going_down_resets_without_negative_rate_or_spike() -> None:
    rates = CounterRates()
    rates.observe("a", 1000, 0.0)
    r = rates.observe("a", 3, 5.0)
    assert r.reset
    assert r.per_sec == 0
    after = rates.observe("a", 53, 10.0)
    assert after.per_sec == 10
    assert not after.reset


def test_nan_keeps_the_baseline_and_zero_elapsed_gives_no_rate() -> None:
    rates = CounterRates()
    rates.observe("a", 10, 0.0)
    assert rates.observe("a", float("nan"), 1.0).per_sec == 0
    assert rates.observe("a", 20, 0.0).per_sec == 0


def test_ratio_is_percent_and_none_without_volume() -> None:
    assert ratio(1, 4) == 25
    assert ratio(0, 0) is None


def test_node_rates_and_ratios_over_the_interval() -> None:
    clock = ManualClock()
    snaps = NodeSnapshots("mta1")
    first = snaps.metrics(scrape(metrics(100, 10, 20, 500), clock, 1))
    assert first.deliveredPerSec == 0
    assert first.bounceRatio is None
    assert not first.counterReset
    assert first.delivered == 100
    assert first.received == 501
    clock.advance(5)
    m = snaps.metrics(scrape(metrics(150, 20, 60, 600), clock, 2))
    assert m.deliveredPerSec == 10
    assert m.throughput == 10
    assert m.bouncedPerSec == 2
    assert m.deferredPerSec == 8
    assert m.receivedPerSec == 20
    assert m.bounceRatio == 100 * 10 / 60
    assert m.deferralRatio == 100 * 40 / 100
    assert m.intervalSeconds == 5
    assert m.seq == 2
    assert not m.counterReset


def test_counter_reset_marks_the_update_and_zeroes_every_rate() -> None:
    clock = ManualClock()
    snaps = NodeSnapshots("mta1")
    snaps.metrics(scrape(metrics(1000, 10, 20), clock, 1))
    clock.advance(5)
    m = snaps.metrics(scrape(metrics(5, 11, 25), clock, 2))
    assert m.counterReset
    assert m.deliveredPerSec == m.bouncedPerSec == m.deferredPerSec == 0
    assert m.bounceRatio is None
    providers = snaps.providers(scrape(metrics(5, 11, 25), clock, 2), reset=m.counterReset)
    assert providers.counterReset
    clock.advance(5)
    m = snaps.metrics(scrape(metrics(55, 11, 25), clock, 3))
    assert not m.counterReset
    assert m.deliveredPerSec == 10


def test_changed_online_since_is_a_restart_even_when_counters_grew() -> None:
    clock = ManualClock()
    snaps = NodeSnapshots("mta1")
    assert not snaps.restarted("t0")
    snaps.metrics(scrape(metrics(100, 0, 0), clock, 1))
    clock.advance(5)
    assert snaps.restarted("t1")
    m = snaps.metrics(scrape(metrics(5000, 0, 0), clock, 2, online="t1"), restarted=True)
    assert m.counterReset
    assert m.deliveredPerSec == 0
    assert m.onlineSince == "t1"


def test_provider_rates_resets_and_gauges() -> None:
    clock = ManualClock()
    snaps = NodeSnapshots("mta1")
    snaps.providers(scrape(metrics(100, 10, 0), clock, 1))
    clock.advance(10)
    p = snaps.providers(scrape(metrics(200, 20, 0), clock, 2))
    by = {s.provider: s for s in p.providers}
    assert by["gmail"].deliveredPerSec == 5
    assert by["gmail"].failedPerSec == 1
    assert by["gmail"].delivered == 100
    assert by["gmail"].failed == 20
    assert by["gmail"].bounceRatio == 100 * 10 / 60
    assert by["gmail"].queued == 12
    assert by["gmail"].connections == 2
    assert by["yahoo"].queued == 3
    assert by["yahoo"].deliveredPerSec == 0
    assert not p.counterReset
    clock.advance(10)
    pruned = snaps.providers(scrape(metrics(0, 20, 0), clock, 3))
    assert pruned.counterReset
    assert {s.provider: s for s in pruned.providers}["gmail"].deliveredPerSec == 0


def test_health_gauges() -> None:
    clock = ManualClock()
    ms = metrics(1, 0, 0)
    ms.families.update(
        {
            "disk_free_percent": {"data spool": 60, "meta spool": 4},
            "memory_usage": {"": 50},
            "memory_limit": {"": 200},
            "scheduled_count": {"a@x": 2, "b@y": 3},
            "ready_count": {"smtp_client": 9, "smtp_client:s->x@smtp_client": 4},
            "connection_count": {"smtp_client": 7, "esmtp_listener": 2},
            "total_connections_denied": {"esmtp_listener": 6},
            "log_hook_backlog_count": {"webhook": 11},
        }
    )
    m = NodeSnapshots("n").metrics(scrape(ms, clock, 1))
    assert m.diskFreePercent == 4
    assert m.diskFree["data spool"] == 60
    assert m.memoryRatio == 25
    assert m.scheduledTotal == 5
    assert m.scheduledQueueCount == 2
    assert m.readyTotal == 4
    assert m.connectionsOut == 7
    assert m.connectionsIn == 2
    assert m.connectionsDenied == 6
    assert m.logHookBacklog == 11


def test_queue_chunks_validate_share_seq_and_stay_small() -> None:
    ms = MetricSet(
        families={
            "scheduled_count": {f"camp:tenant{i}@d{i}.example!rt": i for i in range(4500)},
            "ready_count": {"smtp_client:ip-1->mx.example.com@smtp_client": 4, "smtp_client": 9},
            "connection_count": {
                "smtp_client:ip-1->mx.example.com@smtp_client": 2,
                "smtp_client:ip-2->mx.example.org@smtp_client": 1,
            },
        }
    )
    index = SuspensionIndex.of([])
    items = queue_items(ms, "mta1", 1000, index)
    chunks = [QueuesSnapshot.from_bytes(c) for c in queue_chunks(items, "mta1", 77, 1000)]
    assert [c.chunk for c in chunks] == [0, 1, 2]
    assert {c.chunks for c in chunks} == {3}
    assert {c.seq for c in chunks} == {77}
    assert all(len(c.queues) <= 2000 for c in chunks)
    queues = [q for c in chunks for q in c.queues]
    assert len(queues) == chunks[0].totalQueues == 4502
    q = queues[7]
    assert (q.kind, q.campaign, q.tenant, q.domain, q.routingDomain) == (
        "scheduled",
        "camp",
        "tenant7",
        "d7.example",
        "rt",
    )
    assert q.size == q.scheduled == 7
    ready = {q.queueName: q for q in queues if q.kind == "ready"}
    r = ready["ip-1->mx.example.com@smtp_client"]
    assert (r.source, r.site, r.protocol, r.ready, r.connections, r.size) == (
        "ip-1",
        "mx.example.com",
        "smtp_client",
        4,
        2,
        4,
    )
    assert ready["ip-2->mx.example.org@smtp_client"].ready == 0


def test_no_queues_still_publish_one_empty_chunk() -> None:
    chunks = queue_chunks([], "mta1", 5, 1)
    snap = QueuesSnapshot.from_bytes(chunks[0])
    assert (snap.chunks, snap.totalQueues, snap.queues) == (1, 0, [])
