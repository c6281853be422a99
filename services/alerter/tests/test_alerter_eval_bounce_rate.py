"""bounce_rate: window ratios from counter deltas, resets, minVolume, per provider."""

from __future__ import annotations

from alerter_timeline import Timeline, rule

WINDOW = 60_000


def bounce_rule(**kw: object) -> object:
    return rule("br", "bounce_rate", ">", 5, timeWindow=WINDOW, minVolume=100, **kw)


def feed(
    tl: Timeline, samples: list[tuple[float, float]], *, step: float = 10, **kw: object
) -> None:
    for delivered, bounced in samples:
        tl.metrics(delivered=delivered, bounced=bounced, **kw)
        tl.advance(step)


def test_fires_on_the_window_delta_not_the_lifetime_ratio() -> None:
    tl = Timeline([bounce_rule()])
    # Lifetime: 0.1% bounced. Last interval: 1000 delivered, 100 bounced (9.09%).
    feed(tl, [(1_000_000, 1_000), (1_000_000, 1_000)])
    assert tl.fired() == []
    feed(tl, [(1_001_000, 1_100)])
    [(t, tr)] = tl.fired("br")
    assert t == 20.0
    assert tr.alert.value == 100 * 100 / 1100
    assert tr.alert.message == "Bounce rate on node mta1 (9.09%) over 1m exceeded threshold (5%)"
    assert tr.alert.labels == {"node": "mta1"}


def test_high_lifetime_ratio_with_a_clean_window_does_not_fire() -> None:
    tl = Timeline([bounce_rule()])
    feed(tl, [(1000, 900), (2000, 900), (3000, 900), (4000, 901)])
    assert tl.fired() == []


def test_resolves_when_the_spike_leaves_the_window() -> None:
    tl = Timeline([bounce_rule()])
    feed(tl, [(0, 0), (1000, 200)])  # 16.7%
    feed(tl, [(1000 + 1000 * i, 200) for i in range(1, 8)])
    assert tl.times("firing") == [10.0]
    # The ratio dilutes as deliveries continue: 200 / (4000 + 200) = 4.76% at t=40.
    assert tl.times("resolved") == [40.0]


def test_no_alert_on_a_counter_reset() -> None:
    tl = Timeline([bounce_rule()])
    feed(tl, [(100_000, 1_000), (101_000, 1_010)])
    # KumoMTA restarted: counters start again from zero (flagged, then unflagged growth).
    tl.metrics(delivered=50, bounced=1, counterReset=True)
    tl.advance(10)
    feed(tl, [(1_050, 11), (2_050, 21)])
    assert tl.fired() == []


def test_an_unflagged_counter_drop_counts_as_a_reset() -> None:
    tl = Timeline([bounce_rule()])
    feed(tl, [(100_000, 50_000), (100_100, 50_000), (900, 0), (2_000, 10)])
    assert tl.fired() == []


def test_min_volume_is_respected() -> None:
    tl = Timeline([bounce_rule()])
    feed(tl, [(0, 0), (40, 40), (80, 50)])  # 50% bounced but only 130 messages... over 100
    assert tl.times("firing") == [20.0]
    tl2 = Timeline([bounce_rule()])
    feed(tl2, [(0, 0), (30, 30), (60, 39)])  # 39% of 99 messages: below minVolume
    assert tl2.fired() == []


def test_no_window_uses_the_last_interval() -> None:
    tl = Timeline([rule("br", "bounce_rate", ">", 5)])
    feed(tl, [(0, 0), (100, 10), (200, 10)])
    assert tl.times("firing") == [10.0]
    assert tl.times("resolved") == [20.0]


def test_group_by_provider_judges_each_provider() -> None:
    tl = Timeline(
        [rule("brp", "bounce_rate", ">", 5, timeWindow=WINDOW, groupBy="provider", minVolume=10)]
    )
    tl.providers(counters={"gmail": (0, 0, 0), "yahoo": (0, 0, 0)})
    tl.advance(10)
    tl.providers(counters={"gmail": (100, 1, 0), "yahoo": (100, 50, 0)})
    [(_, tr)] = tl.fired()
    assert tr.alert.labels == {"node": "mta1", "provider": "yahoo"}
    assert tr.alert.message.startswith("Bounce rate of provider yahoo on node mta1 (33.33%)")


def test_node_scope_glob() -> None:
    tl = Timeline([rule("br", "bounce_rate", ">", 5, scope={"node": "mta-eu-*"})])
    for node in ("mta-eu-1", "mta-us-1"):
        tl.metrics(node, delivered=0, bounced=0)
    tl.advance(10)
    for node in ("mta-eu-1", "mta-us-1"):
        tl.metrics(node, delivered=100, bounced=100)
    assert [tr.alert.labels["node"] for _, tr in tl.fired()] == ["mta-eu-1"]


def test_a_scope_the_series_cannot_carry_matches_nothing() -> None:
    tl = Timeline([rule("br", "bounce_rate", ">", 5, scope={"domain": "gmail.com"})])
    feed(tl, [(0, 0), (100, 100)])
    assert tl.fired() == []
