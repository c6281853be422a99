"""event_count / event_ratio over log records: fire on the deciding record, slide, group."""

from __future__ import annotations

from alerter_timeline import Timeline, rule


def spam_blocks(**kw: object) -> object:
    return rule(
        "spam",
        "event_count",
        ">=",
        3,
        timeWindow=60_000,
        match={"types": ["Bounce"], "bounceClassifications": ["SpamBlock"]},
        name="Spam blocks",
        **kw,
    )


def test_fires_on_the_deciding_record() -> None:
    tl = Timeline([spam_blocks()])
    assert tl.event(bounce_classification="SpamBlock", queue="a@gmail.com") == []
    tl.advance(1)
    tl.event(bounce_classification="Uncategorized", queue="a@gmail.com")
    tl.event("mta1", "Delivery", queue="a@gmail.com")
    assert tl.event(bounce_classification="SpamBlock", queue="a@gmail.com") == []
    deciding = tl.event(bounce_classification="SpamBlock", queue="a@gmail.com")
    assert [tr.event for tr in deciding] == ["firing"]
    assert deciding[0].alert.message == (
        "Spam blocks on node mta1 (3) over 1m reached or exceeded threshold (3)"
    )


def test_resolves_when_records_leave_the_window() -> None:
    tl = Timeline([spam_blocks()])
    for _ in range(3):
        tl.event(bounce_classification="SpamBlock")
    tl.advance(59)
    assert tl.resolved() == []
    tl.advance(5)
    assert tl.times("resolved") == [61.0]


def test_group_by_domain_and_match_globs() -> None:
    tl = Timeline([spam_blocks(groupBy="domain", scope={"domain": "*.com"})])
    for domain in ("gmail.com", "gmail.com", "gmail.com", "yahoo.com", "x.org", "x.org", "x.org"):
        tl.event(bounce_classification="SpamBlock", queue=f"t@{domain}")
    [(_, tr)] = tl.fired()
    assert tr.alert.labels == {"node": "mta1", "domain": "gmail.com"}
    assert "for domain gmail.com" in tr.alert.message


def test_match_by_provider() -> None:
    tl = Timeline(
        [
            rule(
                "p",
                "event_count",
                ">",
                1,
                timeWindow=60_000,
                match={"types": ["TransientFailure"], "provider": "yah*"},
            )
        ]
    )
    for _ in range(2):
        tl.event(rtype="TransientFailure", provider_name="yahoo")
        tl.event(rtype="TransientFailure", site="src->mx.gmail.com@smtp_client")
    assert len(tl.fired()) == 1


def test_event_ratio_with_min_volume() -> None:
    r = rule(
        "ratio",
        "event_ratio",
        ">",
        20,
        timeWindow=60_000,
        minVolume=10,
        match={"types": ["Bounce"]},
        of={"types": ["Bounce", "Delivery"]},
    )
    tl = Timeline([r])
    for _ in range(3):
        tl.event(rtype="Bounce")
    for _ in range(6):
        tl.event(rtype="Delivery")
    assert tl.fired() == []  # 3 / 9 = 33% but only 9 records
    tl.event(rtype="Reception")  # not in `of`
    assert tl.fired() == []
    out = tl.event(rtype="Delivery")
    assert [tr.event for tr in out] == ["firing"]
    assert out[0].alert.value == 30.0


def test_for_delays_event_alerts_to_the_tick() -> None:
    tl = Timeline([spam_blocks(**{"for": 5_000})])
    for _ in range(3):
        tl.event(bounce_classification="SpamBlock")
    assert tl.fired() == []
    tl.advance(6)
    assert tl.times("firing") == [5.0]
