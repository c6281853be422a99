"""deferral_rate: deferred / (delivered + bounced + deferred) over a window, per node or provider."""

from __future__ import annotations

from alerter_timeline import Timeline, rule


def test_node_deferral_rate_fires_and_resolves() -> None:
    tl = Timeline([rule("dfr", "deferral_rate", ">", 20, timeWindow=20_000, minVolume=100)])
    d = f = 0.0
    for bad in (False, True, True, False, False, False, False):
        tl.metrics(delivered=d, deferred=f)
        d += 100
        f += 100 if bad else 1
        tl.advance(10)
    # deltas per 10 s: deferred 1, 100, 100, 1, 1, ...; delivered 100 each
    assert tl.times("firing") == [20.0]  # 101 / 301 over [0, 20]
    assert tl.times("resolved") == [50.0]  # 2 / 202 over [30, 50]
    assert "Deferral rate on node mta1 (33.55%) over 20s exceeded threshold (20%)" in (
        tl.fired()[0][1].alert.message
    )


def test_provider_deferral_rate_uses_transient_failures() -> None:
    tl = Timeline([rule("dfp", "deferral_rate", ">", 20, timeWindow=20_000, groupBy="provider")])
    tl.providers(counters={"gmail": (0, 0, 0), "yahoo": (0, 0, 0)})
    tl.advance(10)
    tl.providers(counters={"gmail": (100, 0, 90), "yahoo": (100, 0, 1)})
    [(_, tr)] = tl.fired()
    assert tr.alert.labels["provider"] == "gmail"
    assert tr.alert.message.startswith("Deferral rate of provider gmail on node mta1 (47.37%)")


def test_counter_reset_gives_no_alert() -> None:
    tl = Timeline([rule("dfr", "deferral_rate", ">", 20, timeWindow=60_000)])
    tl.metrics(delivered=10_000, deferred=5_000)
    tl.advance(10)
    tl.metrics(delivered=10_100, deferred=5_001)
    tl.advance(10)
    tl.metrics(delivered=100, deferred=1, counterReset=True)
    tl.advance(10)
    tl.metrics(delivered=200, deferred=2)
    assert tl.fired() == []
