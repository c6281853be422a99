"""Throttle windows (shared through the real KV bucket, manual clock) and silence matching."""

from __future__ import annotations

import asyncio
import time

import nats
import pytest
from notifier_kit import Outcomes, running, settings, uid
from prometheus_client import CollectorRegistry

from kumowatch_common import streams
from kumowatch_common.clock import ManualClock
from kumowatch_common.events import Matcher, Silence
from kumowatch_notifier.bench import make_event, publish
from kumowatch_notifier.metrics import Metrics
from kumowatch_notifier.notification import Notification
from kumowatch_notifier.receiver import Receiver
from kumowatch_notifier.silences import SilenceIndex, alert_labels, matcher_matches, silence_matches
from kumowatch_notifier.throttle import Throttler


@pytest.fixture
def nats_server(fresh_nats):
    """A server of this test's own: no other test's alert events reach its notifier."""
    return fresh_nats


@pytest.fixture
async def nc(fresh_nats):
    client = await nats.connect(fresh_nats.url)
    await streams.provision(client.jetstream(), streams.Retention())
    yield client
    await client.drain()


def notif(rule: str, period: int = 60_000, max_alerts: int = 3, **kw) -> Notification:
    return Notification(make_event(rule, throttle=(period, max_alerts), **kw), "firing")


async def throttlers(nc, clock, count: int = 1) -> list[Throttler]:
    kv = await nc.jetstream().key_value(streams.BUCKET_THROTTLE)
    return [
        Throttler(kv, clock, f"replica-{i}", Metrics.create(CollectorRegistry()))
        for i in range(count)
    ]


async def test_window_semantics_match_the_seed(nc) -> None:
    clock = ManualClock(start=time.time())
    (t,) = await throttlers(nc, clock)
    rule = uid("win")
    results = [(await t.admit(notif(rule))).allowed for _ in range(5)]
    assert results == [True, True, True, False, False]
    clock.advance(30)  # inside the 60 s window: still blocked
    assert not (await t.admit(notif(rule))).allowed
    clock.advance(31)  # now − windowStart > period: a new window
    d = await t.admit(notif(rule))
    assert d.allowed
    assert d.note is not None
    assert d.note.suppressed == 3
    assert d.note.text().startswith("3 notifications suppressed since ")
    # The note is given once.
    assert (await t.admit(notif(rule))).note is None


async def test_rules_without_throttle_are_never_throttled(nc) -> None:
    (t,) = await throttlers(nc, ManualClock(start=time.time()))
    n = Notification(make_event(uid("free")), "firing")
    assert all([(await t.admit(n)).allowed for _ in range(10)])


async def test_a_redelivered_notification_is_not_counted_twice(nc) -> None:
    (t,) = await throttlers(nc, ManualClock(start=time.time()))
    rule = uid("redeliver")
    first = notif(rule, max_alerts=2)
    assert (await t.admit(first)).allowed
    assert (await t.admit(first)).allowed  # the same event again
    assert (await t.admit(notif(rule, max_alerts=2))).allowed
    assert not (await t.admit(notif(rule, max_alerts=2))).allowed


async def test_two_replicas_share_one_budget_under_contention(nc) -> None:
    clock = ManualClock(start=time.time())
    a, b = await throttlers(nc, clock, 2)
    rule = uid("storm")
    events = [notif(rule, max_alerts=3) for _ in range(50)]
    decisions = await asyncio.gather(*((a if i % 2 else b).admit(n) for i, n in enumerate(events)))
    assert sum(d.allowed for d in decisions) == 3


async def test_exactly_one_replica_claims_the_summary(nc) -> None:
    clock = ManualClock(start=time.time())
    a, b = await throttlers(nc, clock, 2)
    rule = uid("claim")
    for _ in range(6):
        await a.admit(notif(rule, period=1000, max_alerts=2))
    for t in (a, b):
        t._known["throttle." + rule] = 0  # what the bucket watch records
    assert await a.claim_due() == []  # window still open
    clock.advance(1.5)
    claims = await asyncio.gather(a.claim_due(), b.claim_due())
    summaries = [n for c in claims for n in c]
    assert len(summaries) == 1
    (s,) = summaries
    assert s.kind == "summary"
    assert s.note is not None
    assert s.note.suppressed == 4
    assert s.alert.id.startswith(f"throttle-summary-{rule}-")
    # Claimed but not finished: nobody else sends it; once finished, nothing is due.
    assert await a.claim_due() == []
    assert await b.claim_due() == []
    winner = a if claims[0] else b
    await winner.finish(s)
    assert await a.claim_due() == []


async def test_a_dead_claimers_summary_is_taken_over(nc) -> None:
    clock = ManualClock(start=time.time())
    a, b = await throttlers(nc, clock, 2)
    a.claim_timeout_ms = b.claim_timeout_ms = 5000
    rule = uid("takeover")
    for _ in range(3):
        await a.admit(notif(rule, period=1000, max_alerts=1))
    a._known["throttle." + rule] = b._known["throttle." + rule] = 0
    clock.advance(2)
    (first,) = await a.claim_due()  # a claims, then "dies"
    assert await b.claim_due() == []
    clock.advance(6)
    (second,) = await b.claim_due()
    assert second.alert.id == first.alert.id  # same idempotency keys: receivers can dedupe


# --------------------------------------------------------------------------- silences


@pytest.mark.parametrize(
    ("op", "value", "label", "expected"),
    [
        ("=", "mta1", "mta1", True),
        ("=", "mta1", "mta2", False),
        ("!=", "mta1", "mta2", True),
        ("=~", "mta[0-9]+", "mta12", True),
        ("=~", "mta", "mta12", False),  # anchored
        ("!~", "mta.*", "edge1", True),
        ("=~", "(", "x", False),  # invalid regex matches nothing
        ("=", "", None, True),  # a missing label is the empty string
        ("!=", "", None, False),
    ],
)
def test_matcher_semantics_are_alertmanagers(op, value, label, expected) -> None:
    labels = {} if label is None else {"node": label}
    assert matcher_matches(Matcher(name="node", op=op, value=value), labels) is expected


def test_silence_needs_every_matcher_and_its_active_window() -> None:
    ev = make_event("rule-x", name="Queue depth high", severity="critical")
    labels = alert_labels(ev)
    assert labels["alertname"] == "Queue depth high"
    assert labels["ruleId"] == "rule-x"
    assert labels["severity"] == "critical"
    s = Silence(
        id="s1",
        matchers=[
            Matcher(name="alertname", value="Queue depth high"),
            Matcher(name="node", value="mta1"),
        ],
        startsAt=1000,
        endsAt=2000,
        createdBy="ops",
        createdAt=1000,
    )
    assert silence_matches(s, labels, 1000)
    assert not silence_matches(s, labels, 999)
    assert not silence_matches(s, labels, 2000)
    assert not silence_matches(s, {**labels, "node": "mta2"}, 1500)


async def test_silence_changes_apply_from_the_bucket_watch(nc) -> None:
    kv = await nc.jetstream().key_value(streams.BUCKET_SILENCES)
    index = SilenceIndex(kv, ManualClock(start=time.time()), Metrics.create(CollectorRegistry()))
    stop = asyncio.Event()
    task = asyncio.create_task(index.run(stop))
    rule = uid("watched")
    ev = make_event(rule)
    now = int(time.time() * 1000)
    sid = uid("sil")
    silence = Silence(
        id=sid,
        matchers=[Matcher(name="ruleId", value=rule)],
        startsAt=now - 1000,
        endsAt=now + 60_000,
        createdBy="ops",
        createdAt=now,
    )

    async def until(pred) -> None:
        for _ in range(200):
            if pred():
                return
            await asyncio.sleep(0.01)
        raise TimeoutError

    try:
        await until(lambda: index.ready)
        assert index.muting(ev.model_copy()) == []
        await kv.put(sid, silence.to_bytes())
        await until(lambda: index.muting(ev) == [sid])
        await kv.delete(sid)
        await until(lambda: index.muting(ev) == [])
    finally:
        stop.set()
        await task


# --------------------------------------------------------------------------- through the service


async def test_throttled_storm_sends_max_then_one_summary(nats_server, nc) -> None:
    js = nc.jetstream()
    rule = uid("summary")
    out = await Outcomes(rule).start(nc)
    async with Receiver() as rx, running(settings(nats_server.url, webhook_url=rx.url)):
        for _ in range(8):
            await publish(js, make_event(rule, throttle=(800, 2)))
        reqs = await rx.wait_for(3)
        await out.wait_outcome("suppressed", 6)
    bodies = [r.json() for r in reqs]
    assert [b["event"] for b in bodies] == [
        "kumomta.alert",
        "kumomta.alert",
        "kumomta.alert.summary",
    ]
    assert bodies[2]["throttle"]["suppressed"] == 6
    assert "6 notifications suppressed since" in bodies[2]["throttle"]["text"]
    assert len(out.of("sent")) == 3
    await out.stop()


async def test_next_notification_after_the_window_carries_the_count(nats_server, nc) -> None:
    js = nc.jetstream()
    rule = uid("note")
    out = await Outcomes(rule).start(nc)
    cfg = settings(nats_server.url, notify_summary_interval_seconds=60)
    clock = ManualClock(start=time.time())
    async with Receiver() as rx, running(cfg.model_copy(update={"webhook_url": rx.url}), clock):
        for _ in range(3):
            await publish(js, make_event(rule, throttle=(300, 1)))
        await out.wait_outcome("suppressed", 2)
        clock.advance(0.5)  # the 300 ms window closes
        await publish(js, make_event(rule, throttle=(300, 1)))
        reqs = await rx.wait_for(2)
        sent = await out.wait_outcome("sent", 2)
    assert reqs[1].json()["throttle"]["suppressed"] == 2
    assert sent[1].suppressedCount == 2
    await out.stop()
