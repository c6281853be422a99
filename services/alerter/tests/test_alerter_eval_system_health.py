"""system_health: deferred ratio (default), disk free, memory against limit."""

from __future__ import annotations

from alerter_timeline import Timeline, rule

from kumowatch_common import rules as common_rules


def test_default_rule_fires_on_the_last_interval_deferred_ratio() -> None:
    [health] = [r for r in common_rules.default_rules() if r.id == "system-health-degraded"]
    tl = Timeline([health])
    tl.metrics(delivered=1_000_000, bounced=0, deferred=1_000)
    tl.advance(5)
    tl.metrics(delivered=1_000_800, bounced=0, deferred=1_200)  # 200 / 1000 = 20%
    [(t, tr)] = tl.fired()
    assert t == 5.0
    assert tr.alert.value == 20.0
    assert tr.alert.message == (
        "System health degraded on node mta1: deferred ratio (20.00%) exceeded threshold (10%)"
    )
    assert tr.alert.severity == "error"


def test_deferred_ratio_respects_min_volume() -> None:
    [health] = [r for r in common_rules.default_rules() if r.id == "system-health-degraded"]
    tl = Timeline([health])
    tl.metrics(delivered=0, deferred=0)
    tl.advance(5)
    tl.metrics(delivered=40, deferred=50)  # 55% of 90 messages: below minVolume 100
    assert tl.fired() == []


def test_deferred_ratio_no_alert_on_counter_reset() -> None:
    [health] = [r for r in common_rules.default_rules() if r.id == "system-health-degraded"]
    tl = Timeline([health])
    tl.metrics(delivered=1_000_000, deferred=100_000)
    tl.advance(5)
    tl.metrics(delivered=900, deferred=10, counterReset=True)
    tl.advance(5)
    tl.metrics(delivered=1_900, deferred=20)
    assert tl.fired() == []


def test_disk_free_below_threshold_with_avg_aggregation() -> None:
    tl = Timeline(
        [
            rule(
                "disk",
                "system_health",
                "<",
                10,
                metric="disk_free_percent",
                timeWindow=10_000,
                aggregation="avg",
            )
        ]
    )
    for free in (30, 8, 6, 5, 40, 40, 40):
        tl.metrics(diskFreePercent=free)
        tl.advance(5)
    # samples of [t-10s, t]: t=10 → (30+8+6)/3 = 14.7; t=15 → 6.3 (fires); t=20 → 17 (resolves)
    assert tl.times("firing") == [15.0]
    assert tl.times("resolved") == [20.0]
    assert tl.fired()[0][1].alert.message.startswith("Disk free on node mta1 (")


def test_memory_ratio_against_limit() -> None:
    tl = Timeline([rule("mem", "system_health", ">", 90, metric="memory_ratio")])
    tl.metrics(memoryRatio=50)
    tl.advance(5)
    tl.metrics(memoryRatio=95)
    tl.advance(5)
    tl.metrics(memoryRatio=None)
    assert tl.times("firing") == [5.0]
    assert "Memory use (of limit) on node mta1 (95.00%) exceeded threshold (90%)" in (
        tl.fired()[0][1].alert.message
    )
