"""provider_bounce_rate: per provider, from cumulative per-provider counters."""

from __future__ import annotations

from alerter_timeline import Timeline, rule


def pbr(**kw: object) -> object:
    return rule("pbr", "provider_bounce_rate", ">", 10, timeWindow=30_000, minVolume=50, **kw)


def test_only_the_bad_provider_fires_then_resolves() -> None:
    tl = Timeline([pbr()])
    d_g = d_y = f_y = 0.0
    for i in range(12):
        spike = 3 <= i < 6
        d_g += 100
        d_y += 100
        f_y += 60 if spike else 1
        tl.providers(counters={"gmail": (d_g, 1, 0), "yahoo": (d_y, f_y, 0)})
        tl.advance(5)
    assert [(tr.alert.labels["provider"]) for _, tr in tl.fired()] == ["yahoo"]
    assert tl.times("firing") == [15.0]
    assert [(tr.alert.labels["provider"]) for _, tr in tl.resolved()] == ["yahoo"]
    assert tl.resolved()[0][1].alert.id == tl.fired()[0][1].alert.id


def test_scope_selects_providers() -> None:
    tl = Timeline([pbr(scope={"provider": "gm*"})])
    tl.providers(counters={"gmail": (0, 0, 0), "yahoo": (0, 0, 0)})
    tl.advance(5)
    tl.providers(counters={"gmail": (100, 100, 0), "yahoo": (100, 100, 0)})
    assert [tr.alert.labels["provider"] for _, tr in tl.fired()] == ["gmail"]


def test_reset_of_provider_counters_does_not_fire() -> None:
    tl = Timeline([pbr()])
    tl.providers(counters={"gmail": (50_000, 500, 0)})
    tl.advance(5)
    tl.providers(counters={"gmail": (100, 1, 0)}, reset=True)
    tl.advance(5)
    tl.providers(counters={"gmail": (200, 2, 0)})
    assert tl.fired() == []


def test_a_provider_that_disappears_resolves_after_grace() -> None:
    tl = Timeline([pbr()], grace=20)
    tl.providers(counters={"yahoo": (0, 0, 0)})
    tl.advance(5)
    tl.providers(counters={"yahoo": (100, 100, 0)})
    for _ in range(6):
        tl.advance(5)
        tl.providers(counters={"gmail": (1, 0, 0)})
    assert tl.times("firing") == [5.0]
    assert tl.times("resolved") == [30.0]
