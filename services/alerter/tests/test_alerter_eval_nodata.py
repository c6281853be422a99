"""Liveness / NoData: the built-in "KumoMTA unreachable" rule; other series freeze meanwhile."""

from __future__ import annotations

from alerter_timeline import Timeline, rule

from kumowatch_common import rules as common_rules


def unreachable_rule() -> object:
    [r] = [r for r in common_rules.default_rules() if r.id == common_rules.UNREACHABLE_RULE_ID]
    return r


def test_status_down_fires_unreachable_with_the_reason_then_resolves() -> None:
    tl = Timeline([unreachable_rule()], nodata=30)
    tl.status(state="healthy")
    tl.advance(5)
    tl.status(state="down", reason="connection refused")
    [(t, tr)] = tl.fired()
    assert t == 5.0
    assert tr.alert.message == "KumoMTA node mta1 is unreachable: connection refused"
    assert tr.alert.ruleName == "KumoMTA unreachable"
    assert tr.alert.severity == "critical"
    tl.advance(5)
    tl.status(state="down", reason="connection refused")
    tl.advance(5)
    tl.status(state="healthy")
    assert tl.times("resolved") == [15.0]
    assert len(tl.fired()) == 1


def test_a_node_that_stops_reporting_fires_after_nodata_seconds() -> None:
    tl = Timeline([unreachable_rule()], nodata=30)
    tl.status()
    tl.metrics()
    tl.advance(45)
    [(t, tr)] = tl.fired()
    assert t == 31.0
    assert tr.alert.message == "KumoMTA node mta1 is unreachable: no data for 31s"
    tl.metrics()
    assert tl.times("resolved") == [45.0]


def test_degraded_is_not_unreachable() -> None:
    tl = Timeline([unreachable_rule()], nodata=30)
    for _ in range(5):
        tl.status(state="degraded", reason="slow")
        tl.advance(5)
    assert tl.log == []


def test_other_series_freeze_while_the_node_is_unreachable() -> None:
    tl = Timeline([unreachable_rule(), rule("qd", "queue_depth", ">", 10)], nodata=30, grace=20)
    tl.status()
    tl.queues(sizes={"a@b.com": 50})
    tl.advance(5)
    tl.status(state="down", reason="timeout")
    tl.advance(120)
    assert tl.times("resolved") == []  # the queue alert is neither refreshed nor resolved
    tl.status()
    tl.queues(sizes={"a@b.com": 5})
    assert [tr.alert.ruleId for _, tr in tl.resolved()] == [common_rules.UNREACHABLE_RULE_ID, "qd"]


def test_each_node_has_its_own_unreachable_alert() -> None:
    tl = Timeline([unreachable_rule()], nodata=30)
    tl.status("mta1")
    tl.status("mta2", state="down", reason="refused")
    tl.status("mta3", state="down", reason="refused")
    assert sorted(tr.alert.labels["node"] for _, tr in tl.fired()) == ["mta2", "mta3"]
