"""Rule changes, restored alerts, deterministic ids, windows (counter increase)."""

from __future__ import annotations

from alerter_timeline import Timeline, rule

from kumowatch_alerter.statemachine import alert_id, fingerprint
from kumowatch_alerter.windows import increase

Q = "t@gmail.com"


def test_increase_handles_resets_like_promql() -> None:
    assert increase([10, 15, 25], [False, False, False]) == 15
    assert increase([100, 120, 5, 20], [False, False, False, False]) == 20 + 5 + 15
    assert increase([100, 120, 130], [False, False, True]) == 20 + 130


def test_alert_ids_are_deterministic() -> None:
    labels = {"node": "mta1", "queue": Q}
    assert alert_id("r", labels, 1) == alert_id("r", dict(reversed(labels.items())), 1)
    assert alert_id("r", labels, 1) != alert_id("r", labels, 2)
    assert len(alert_id("r", labels, 1)) == 32
    assert fingerprint("r", labels) == fingerprint("r", dict(labels))


def test_deleting_a_rule_resolves_its_alerts() -> None:
    tl = Timeline([rule("qd", "queue_depth", ">", 10)])
    tl.queues(sizes={Q: 50})
    out = tl.set_rules([])
    assert [tr.event for tr in out] == ["resolved"]
    assert out[0].alert.message.startswith("Resolved: rule 'qd' was changed")


def test_disabling_a_rule_resolves_and_reenabling_fires_again() -> None:
    r = rule("qd", "queue_depth", ">", 10)
    tl = Timeline([r])
    tl.queues(sizes={Q: 50})
    tl.set_rules([r.model_copy(update={"enabled": False})])
    tl.advance(5)
    tl.queues(sizes={Q: 50})
    tl.set_rules([r])
    tl.queues(sizes={Q: 50})
    assert [tr.event for _, tr in tl.log] == ["firing", "resolved", "firing"]


def test_editing_a_rule_keeps_its_alert_until_the_new_condition_clears_it() -> None:
    r = rule("qd", "queue_depth", ">", 10)
    tl = Timeline([r])
    tl.queues(sizes={Q: 50})
    tl.set_rules([r.model_copy(update={"name": "renamed"})])
    tl.queues(sizes={Q: 50})
    assert len(tl.log) == 1
    cond = r.condition.model_copy(update={"threshold": 100})
    tl.set_rules([r.model_copy(update={"condition": cond})])
    tl.queues(sizes={Q: 50})
    assert [tr.event for _, tr in tl.log] == ["firing", "resolved"]


def test_restored_alert_does_not_fire_again_and_resolves_with_its_id() -> None:
    r = rule("qd", "queue_depth", ">", 10)
    first = Timeline([r])
    first.queues(sizes={Q: 50})
    [(_, fired)] = first.fired()
    second = Timeline([r])
    second.engine.add_node("mta1", live=True)
    assert second.engine.restore([fired.alert]) == []
    second.queues(sizes={Q: 60})
    assert second.fired() == []
    second.queues(sizes={Q: 1})
    [(_, res)] = second.resolved()
    assert res.alert.id == fired.alert.id


def test_restored_alert_of_a_deleted_rule_resolves() -> None:
    r = rule("gone", "queue_depth", ">", 10)
    first = Timeline([r])
    first.queues(sizes={Q: 50})
    [(_, fired)] = first.fired()
    second = Timeline([])
    second.engine.add_node("mta1", live=True)
    [tr] = second.engine.restore([fired.alert])
    assert tr.event == "resolved"
    assert tr.alert.id == fired.alert.id


def test_replayed_data_fills_windows_without_firing() -> None:
    r = rule("br", "bounce_rate", ">", 5, timeWindow=60_000)
    tl = Timeline([r])
    tl.engine.add_node("mta1", live=False)
    tl.metrics(delivered=0, bounced=0)
    tl.advance(10)
    tl.metrics(delivered=100, bounced=50)
    assert tl.log == []
    tl.engine.go_live("mta1")
    tl.advance(10)
    tl.metrics(delivered=200, bounced=60)  # window: 160 / 60 → 27% over the replayed samples
    assert tl.times("firing") == [20.0]


def test_dropping_a_node_forgets_without_resolving() -> None:
    tl = Timeline([rule("qd", "queue_depth", ">", 10)])
    tl.queues(sizes={Q: 50})
    tl.engine.drop_node("mta1")
    tl.advance(120)
    assert tl.resolved() == []
    assert tl.engine.firing() == []
