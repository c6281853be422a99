"""domain_suspension: fires per suspended queue while KumoMTA lists it, with KumoMTA's reason."""

from __future__ import annotations

from alerter_timeline import Timeline, rule


def susp(**kw: object) -> object:
    return rule("susp", "domain_suspension", ">", 0, **kw)


def test_scheduled_suspension_fires_per_matching_queue_with_the_reason() -> None:
    tl = Timeline([susp()])
    tl.queues(sizes={"promo:acme@gmail.com": 10, "news:acme@gmail.com": 3, "x@yahoo.com": 1})
    tl.states(
        suspensions=[
            {
                "kind": "scheduled",
                "id": "s1",
                "reason": "tsa: 421 rate limited",
                "domain": "gmail.com",
            }
        ]
    )
    got = sorted(tr.alert.labels["queue"] for _, tr in tl.fired())
    assert got == ["news:acme@gmail.com", "promo:acme@gmail.com"]
    msg = tl.fired()[0][1].alert.message
    assert msg.endswith("is suspended by KumoMTA: tsa: 421 rate limited")
    tl.advance(5)
    tl.states(
        suspensions=[
            {
                "kind": "scheduled",
                "id": "s1",
                "reason": "tsa: 421 rate limited",
                "domain": "gmail.com",
            }
        ]
    )
    assert len(tl.fired()) == 2
    tl.advance(5)
    tl.states(suspensions=[])
    assert len(tl.resolved()) == 2
    assert tl.resolved()[0][1].alert.message.endswith("is no longer suspended")


def test_a_suspension_without_queued_mail_still_fires() -> None:
    tl = Timeline([susp()])
    tl.states(
        suspensions=[
            {
                "kind": "scheduled",
                "id": "s1",
                "reason": "maintenance",
                "tenant": "acme",
                "domain": "aol.com",
            }
        ]
    )
    [(_, tr)] = tl.fired()
    assert tr.alert.labels["queue"] == "acme@aol.com"
    assert tr.alert.labels["tenant"] == "acme"


def test_ready_queue_suspension() -> None:
    name = "pool1->mx.example.net@smtp_client"
    tl = Timeline([susp()])
    tl.states(suspensions=[{"kind": "ready", "id": "r1", "reason": "bad ip", "name": name}])
    [(_, tr)] = tl.fired()
    assert tr.alert.labels == {
        "node": "mta1",
        "queue": name,
        "kind": "ready",
        "site": "mx.example.net",
    }


def test_scope_restricts_suspension_alerts() -> None:
    tl = Timeline([susp(scope={"domain": "yahoo.*"})])
    tl.queues(sizes={"a@gmail.com": 1, "b@yahoo.com": 1})
    tl.states(
        suspensions=[
            {"kind": "scheduled", "id": "s1", "reason": "r", "domain": "gmail.com"},
            {"kind": "scheduled", "id": "s2", "reason": "r", "domain": "yahoo.com"},
        ]
    )
    assert [tr.alert.labels["queue"] for _, tr in tl.fired()] == ["b@yahoo.com"]


def test_queue_state_flag_counts_as_suspended() -> None:
    tl = Timeline([susp()])
    tl.queues(sizes={"a@gmail.com": 1}, suspended=True)
    [(_, tr)] = tl.fired()
    assert tr.alert.labels["queue"] == "a@gmail.com"
