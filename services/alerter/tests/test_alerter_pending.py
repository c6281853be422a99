"""`for` survives a restart: pending series are kept in the pending bucket and resumed."""

from __future__ import annotations

import time

import nats
from alerter_nats import (
    AlertLog,
    FakePoller,
    bucket_alerts,
    provision,
    put_rules,
    running,
    settings,
)
from alerter_timeline import START, Timeline, rule

from kumowatch_common import streams
from kumowatch_common.events import Alert
from kumowatch_common.testing import eventually

Q = "promo:acme@gmail.com"


def test_a_series_starting_its_for_is_kept_and_dropped_when_it_clears() -> None:
    tl = Timeline([rule("qd", "queue_depth", ">", 100, **{"for": 10_000})])
    tl.queues(sizes={Q: 500, "small@yahoo.com": 5})
    [(t, pend)] = tl.internal
    assert (t, pend.event, pend.alert.status) == (0.0, "pending", "pending")
    assert pend.alert.labels["queue"] == Q
    assert pend.alert.startsAt == int(START * 1000)
    tl.advance(4)
    tl.queues(sizes={Q: 10, "small@yahoo.com": 5})
    assert [(t, tr.event, tr.alert.id) for t, tr in tl.internal[1:]] == [
        (4.0, "dropped", pend.alert.id)
    ]
    assert tl.log == []


def test_a_rule_without_for_keeps_nothing() -> None:
    tl = Timeline([rule("qd", "queue_depth", ">", 100)])
    tl.queues(sizes={Q: 500})
    assert tl.internal == []
    assert [tr.event for _, tr in tl.log] == ["firing"]


def test_a_restored_pending_series_fires_when_its_for_ends_not_a_for_after_the_restart() -> None:
    r = rule("qd", "queue_depth", ">", 100, **{"for": 10_000})
    first = Timeline([r])
    first.queues(sizes={Q: 500})
    first.advance(6)
    first.queues(sizes={Q: 600})
    [(_, pend)] = first.internal

    # Another replica takes the node over at t=6 with what the bucket holds.
    second = Timeline([r])
    second.clock.advance(6)
    second.engine.add_node("mta1", live=True)
    assert second.engine.restore([pend.alert]) == []
    second.queues(sizes={Q: 600})
    assert second.log == []
    second.advance(4)  # the evaluation timer fires it
    [(t, fired)] = second.fired("qd")
    assert t == 10.0  # 10 s after it started pending on the first replica
    assert fired.alert.value == 600


def test_a_restored_pending_series_whose_condition_cleared_is_dropped() -> None:
    r = rule("qd", "queue_depth", ">", 100, **{"for": 10_000})
    first = Timeline([r])
    first.queues(sizes={Q: 500})
    [(_, pend)] = first.internal
    second = Timeline([r])
    second.engine.add_node("mta1", live=True)
    second.engine.restore([pend.alert])
    second.queues(sizes={Q: 50})
    assert [tr.event for _, tr in second.internal] == ["dropped"]
    second.advance(30)
    second.queues(sizes={Q: 50})
    assert second.log == []


def test_a_pending_entry_of_a_gone_or_changed_rule_is_dropped_on_restore() -> None:
    r = rule("qd", "queue_depth", ">", 100, **{"for": 10_000})
    first = Timeline([r])
    first.queues(sizes={Q: 500})
    [(_, pend)] = first.internal
    for rules in ([], [rule("qd", "queue_depth", ">", 100)]):  # gone; no `for` any more
        other = Timeline(rules)
        other.engine.add_node("mta1", live=True)
        assert [tr.event for tr in other.engine.restore([pend.alert])] == ["dropped"]


def test_an_entry_left_beside_a_firing_alert_is_dropped_and_the_alert_kept() -> None:
    r = rule("qd", "queue_depth", ">", 100, **{"for": 2_000})
    first = Timeline([r])
    first.queues(sizes={Q: 500})
    first.advance(2)
    first.queues(sizes={Q: 500})
    [(_, pend)] = first.internal
    [(_, fired)] = first.fired("qd")
    # A crash between the firing's publish and the pending key's deletion left both.
    second = Timeline([r])
    second.engine.add_node("mta1", live=True)
    out = second.engine.restore([pend.alert, fired.alert])
    assert [(tr.event, tr.alert.status) for tr in out] == [("dropped", "pending")]
    assert [a.id for a in second.engine.firing()] == [fired.alert.id]


async def _pending(nc: nats.NATS) -> list[Alert]:
    return await bucket_alerts(nc, streams.BUCKET_PENDING)


async def test_for_continues_across_an_alerter_restart(fresh_nats) -> None:
    for_ms = 8_000
    nc = await nats.connect(fresh_nats.url)
    await provision(nc)
    await put_rules(nc, [rule("slow", "queue_depth", ">", 100, **{"for": for_ms})])
    alerts = await AlertLog().start(nc)
    poller = FakePoller(nc, "svc-p", {Q: 500}).start()
    async with running(settings(fresh_nats.url, instance_id="alerter-one")):
        [pend] = await eventually(lambda: _pending(nc), timeout=10, what="a pending entry")
        assert pend.ruleId == "slow"
        assert pend.labels["queue"] == Q
    assert alerts.of("slow") == []  # stopped well before the `for` ended
    restarted_ms = int(time.time() * 1000)
    async with running(settings(fresh_nats.url, instance_id="alerter-two")):
        await alerts.wait_for(lambda: len(alerts.of("slow", "firing")) == 1, timeout=30)
        [fired] = alerts.of("slow", "firing")
        # From when the series started pending on the first alerter, not a `for` after restart.
        assert fired.alert.startsAt >= pend.startsAt + for_ms
        assert fired.alert.startsAt < restarted_ms + for_ms
        await eventually(lambda: _none(nc), timeout=10, what="pending entry removed on firing")
    await poller.stop()
    await alerts.stop()
    await nc.drain()


async def _none(nc: nats.NATS) -> bool:
    return await _pending(nc) == []
