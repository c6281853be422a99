"""queue_depth: per queue, for/keepFiringFor, scope globs, aggregation, grace, chunks."""

from __future__ import annotations

from alerter_timeline import Timeline, rule

Q = "campaign:tenant@gmail.com"


def test_fires_once_per_queue_and_names_the_series() -> None:
    tl = Timeline([rule("qd", "queue_depth", ">", 10000)])
    tl.queues(sizes={Q: 5000, "other@yahoo.com": 100})
    assert tl.fired() == []
    tl.advance(5)
    tl.queues(sizes={Q: 12345, "other@yahoo.com": 100})
    tl.advance(5)
    tl.queues(sizes={Q: 13000, "other@yahoo.com": 100})
    fired = tl.fired("qd")
    assert [t for t, _ in fired] == [5.0]
    alert = fired[0][1].alert
    assert alert.message == (
        "Queue depth of campaign:tenant@gmail.com on node mta1 (12,345) exceeded threshold (10,000)"
    )
    assert alert.value == 12345
    assert alert.labels == {
        "node": "mta1",
        "queue": Q,
        "kind": "scheduled",
        "campaign": "campaign",
        "tenant": "tenant",
        "domain": "gmail.com",
    }
    assert alert.status == "firing"
    assert alert.startsAt == tl.ms - 5000


def test_resolves_when_the_queue_drains_with_the_same_alert_id() -> None:
    tl = Timeline([rule("qd", "queue_depth", ">", 100)])
    tl.queues(sizes={Q: 500})
    tl.advance(5)
    tl.queues(sizes={Q: 50})
    [(t_res, res)] = tl.resolved("qd")
    [(_, fire)] = tl.fired("qd")
    assert t_res == 5.0
    assert res.alert.id == fire.alert.id
    assert res.alert.status == "resolved"
    assert res.alert.endsAt == tl.ms
    assert res.alert.value == 50


def test_each_queue_is_its_own_series() -> None:
    tl = Timeline([rule("qd", "queue_depth", ">", 100)])
    tl.queues(sizes={"a@gmail.com": 500, "b@yahoo.com": 700, "c@aol.com": 1})
    ids = {tr.alert.labels["queue"]: tr.alert.id for _, tr in tl.fired()}
    assert set(ids) == {"a@gmail.com", "b@yahoo.com"}
    assert len(set(ids.values())) == 2


def test_for_keeps_it_pending_until_the_duration_has_held() -> None:
    tl = Timeline([rule("qd", "queue_depth", ">", 100, **{"for": 10_000})])
    for _ in range(4):
        tl.queues(sizes={Q: 500})
        tl.advance(5)
    assert tl.times("firing") == [10.0]


def test_pending_that_clears_never_fires() -> None:
    tl = Timeline([rule("qd", "queue_depth", ">", 100, **{"for": 10_000})])
    tl.queues(sizes={Q: 500})
    tl.advance(5)
    tl.queues(sizes={Q: 10})
    tl.advance(20)
    tl.queues(sizes={Q: 10})
    assert tl.log == []


def test_keep_firing_for_holds_the_alert_after_the_condition_clears() -> None:
    tl = Timeline([rule("qd", "queue_depth", ">", 100, keepFiringFor=15_000)])
    tl.queues(sizes={Q: 500})
    for _ in range(5):
        tl.advance(5)
        tl.queues(sizes={Q: 10})
    assert tl.times("firing") == [0.0]
    assert tl.times("resolved") == [20.0]


def test_keep_firing_for_rearms_when_the_condition_returns() -> None:
    tl = Timeline([rule("qd", "queue_depth", ">", 100, keepFiringFor=15_000)])
    tl.queues(sizes={Q: 500})
    tl.advance(5)
    tl.queues(sizes={Q: 10})
    tl.advance(5)
    tl.queues(sizes={Q: 500})
    tl.advance(10)
    tl.queues(sizes={Q: 10})
    tl.advance(10)
    assert tl.times("resolved") == []
    tl.advance(10)
    assert tl.times("resolved") == [35.0]
    assert len(tl.fired()) == 1


def test_scope_globs_select_queues() -> None:
    tl = Timeline(
        [
            rule("gmail", "queue_depth", ">", 10, scope={"domain": "gmail.*"}),
            rule("tenant", "queue_depth", ">", 10, scope={"tenant": "acme*"}),
            rule("glob", "queue_depth", ">", 10, scope={"queue": "promo:*"}),
            rule("prov", "queue_depth", ">", 10, scope={"provider": "yahoo"}),
            rule("other-node", "queue_depth", ">", 10, scope={"node": "mta9*"}),
        ]
    )
    tl.queues(
        sizes={"promo:acme-eu@gmail.com": 50, "news:bob@GMAIL.COM": 50, "acme@aol.com": 50},
    )
    got = {(tr.alert.ruleId, tr.alert.labels["queue"]) for _, tr in tl.fired()}
    assert got == {
        ("gmail", "promo:acme-eu@gmail.com"),
        ("gmail", "news:bob@GMAIL.COM"),
        ("tenant", "promo:acme-eu@gmail.com"),
        ("tenant", "acme@aol.com"),
        ("glob", "promo:acme-eu@gmail.com"),
    }


def test_provider_scope_uses_the_queue_provider_label() -> None:
    tl = Timeline([rule("prov", "queue_depth", ">", 10, scope={"provider": "yahoo*"})])
    tl.queues(sizes={"x@yahoo.com": 50}, provider="yahoo")
    tl.queues(sizes={"y@gmail.com": 50}, provider="google")
    assert [tr.alert.labels["provider"] for _, tr in tl.fired()] == ["yahoo"]


def test_ready_queue_metric_judges_ready_queues_only() -> None:
    ready = "unspecified->(alt1|alt2)?.gmail-smtp-in.l.google.com@smtp_client"
    tl = Timeline([rule("rq", "queue_depth", ">=", 100, metric="ready")])
    tl.queues(sizes={Q: 5000})
    tl.queues(sizes={ready: 100}, kind="ready")
    [(_, tr)] = tl.fired()
    assert tr.alert.labels["queue"] == ready
    assert tr.alert.labels["site"] == "(alt1|alt2)?.gmail-smtp-in.l.google.com"
    assert "Ready queue depth of" in tr.alert.message
    assert "reached or exceeded" in tr.alert.message


def test_avg_aggregation_ignores_a_single_spike() -> None:
    tl = Timeline([rule("avg", "queue_depth", ">", 1000, timeWindow=20_000, aggregation="avg")])
    for size in (100, 100, 100, 100, 3000, 100, 100, 100, 100):
        tl.queues(sizes={Q: size})
        tl.advance(5)
    assert tl.fired() == []
    for _ in range(3):
        tl.queues(sizes={Q: 3000})
        tl.advance(5)
    [(t, tr)] = tl.fired()
    assert t == 50.0  # the second sustained sample: (3 x 100 + 2 x 3000) / 5
    assert tr.alert.value == (3 * 100 + 2 * 3000) / 5
    assert "Queue depth (avg) of" in tr.alert.message
    assert "over 20s" in tr.alert.message


def test_max_aggregation_fires_on_the_spike_and_clears_when_it_leaves_the_window() -> None:
    tl = Timeline([rule("max", "queue_depth", ">", 1000, timeWindow=10_000, aggregation="max")])
    for size in (100, 5000, 100, 100, 100):
        tl.queues(sizes={Q: size})
        tl.advance(5)
    assert tl.times("firing") == [5.0]
    assert tl.times("resolved") == [20.0]


def test_a_firing_queue_that_disappears_resolves_after_the_grace_period() -> None:
    tl = Timeline([rule("qd", "queue_depth", ">", 100)], grace=30)
    tl.queues(sizes={Q: 500})
    for _ in range(8):
        tl.advance(5)
        tl.metrics()  # the node is alive
        tl.queues(sizes={"other@x.com": 1})
    assert tl.times("resolved") == [35.0]
    [(_, tr)] = tl.resolved()
    assert tr.alert.message.endswith("is no longer reported")


def test_chunks_are_assembled_before_judging() -> None:
    tl = Timeline([rule("qd", "queue_depth", ">", 100)])
    sizes = {f"t{i}@d{i}.com": (500 if i % 7 == 0 else 1) for i in range(50)}
    tl.queues(sizes=sizes, chunks=4)
    assert len(tl.fired()) == len([s for s in sizes.values() if s > 100])
    tl.queues(sizes=sizes, chunks=4)
    assert tl.resolved() == []
