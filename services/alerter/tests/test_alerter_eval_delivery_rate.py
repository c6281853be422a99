"""delivery_rate: msg/s over a window, judged only while there is work to deliver."""

from __future__ import annotations

from alerter_timeline import Timeline, rule

from kumowatch_common import rules as common_rules


def low(**kw: object) -> object:
    return rule("dr", "delivery_rate", "<", 100, timeWindow=30_000, **kw)


def test_fires_when_throughput_is_low_while_messages_wait() -> None:
    tl = Timeline([low()])
    delivered = 0.0
    for _ in range(4):
        tl.metrics(delivered=delivered, scheduledTotal=5000)
        delivered += 420  # 42 msg/s over 10 s
        tl.advance(10)
    [(t, tr)] = tl.fired()
    assert t == 10.0
    assert tr.alert.message == (
        "Delivery rate on node mta1 (42.0 msg/s) over 30s fell below threshold (100 msg/s)"
    )


def test_idle_node_never_fires() -> None:
    tl = Timeline([low()])
    for _ in range(20):
        tl.metrics(delivered=7, throughput=0)
        tl.advance(10)
    assert tl.log == []


def test_default_rules_on_an_idle_node_give_no_alert() -> None:
    tl = Timeline(common_rules.default_rules(), nodata=30)
    for _ in range(30):
        tl.status()
        tl.metrics(delivered=7)
        tl.queues(sizes={})
        tl.advance(5)
    assert tl.log == []


def test_received_traffic_counts_as_work() -> None:
    tl = Timeline([low()])
    for i in range(3):
        tl.metrics(delivered=0, received=100 * i)
        tl.advance(10)
    assert tl.times("firing") == [10.0]


def test_going_idle_resolves_after_grace() -> None:
    tl = Timeline([low()], grace=20)
    tl.metrics(delivered=0, scheduledTotal=10)
    tl.advance(10)
    tl.metrics(delivered=10, scheduledTotal=10)
    assert tl.times("firing") == [10.0]
    for _ in range(5):
        tl.advance(10)
        tl.metrics(delivered=10, scheduledTotal=0)
    assert tl.times("resolved") == [40.0]
    assert tl.resolved()[0][1].alert.message.endswith("is no longer reported")


def test_min_volume_sets_how_much_work_is_needed() -> None:
    tl = Timeline([low(minVolume=1000)])
    for _ in range(4):
        tl.metrics(delivered=0, scheduledTotal=999)
        tl.advance(10)
    assert tl.fired() == []


def test_recovery_resolves() -> None:
    tl = Timeline([low()])
    delivered = 0.0
    for rate in (10, 10, 500, 500, 500, 500):
        tl.metrics(delivered=delivered, readyTotal=100)
        delivered += rate * 10
        tl.advance(10)
    assert tl.times("firing") == [10.0]
    # (10 + 500 + 500) x 10 / 30 s = 336 msg/s at t=30
    assert tl.times("resolved") == [30.0]


def test_aggregation_min_of_interval_throughputs() -> None:
    tl = Timeline([low(aggregation="min")])
    for thr in (500, 500, 50, 500):
        tl.metrics(delivered=0, throughput=thr, readyTotal=1)
        tl.advance(10)
    assert tl.times("firing") == [20.0]
    [(_, tr)] = tl.fired()
    assert tr.alert.value == 50


def test_the_verb_follows_the_operator() -> None:
    tl = Timeline([rule("hi", "delivery_rate", ">", 100, timeWindow=30_000)])
    tl.metrics(delivered=0, readyTotal=1)
    tl.advance(10)
    tl.metrics(delivered=5000, readyTotal=1)
    [(_, tr)] = tl.fired()
    assert "(500.0 msg/s) over 30s exceeded threshold (100 msg/s)" in tr.alert.message
