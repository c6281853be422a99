from __future__ import annotations

import pytest

from kumowatch_common import subjects


def test_snapshot_subject_is_versioned_per_node() -> None:
    assert subjects.snapshot("mta1", "metrics") == "kumomta.v1.mta1.metrics"
    assert subjects.event("mta-2", "Bounce") == "kumomta.v1.mta-2.events.Bounce"
    assert subjects.alert("bounce-rate-high", "firing") == "alerts.v1.bounce-rate-high.firing"
    assert subjects.notification("webhook", "sent") == "notifications.v1.webhook.sent"


@pytest.mark.parametrize("bad", ["", "mta.1", "mta 1", "mta*", "mta>", "ünïcode"])
def test_node_name_that_is_not_a_token_is_rejected_with_a_clear_error(bad: str) -> None:
    with pytest.raises(subjects.InvalidTokenError, match="letters, digits"):
        subjects.snapshot(bad, "metrics")


def test_odd_record_type_is_sanitised_not_rejected() -> None:
    assert subjects.event("mta1", "Weird.Type*") == "kumomta.v1.mta1.events.Weird_Type_"


def test_parse_node_reads_the_node_token() -> None:
    assert subjects.parse_node("kumomta.v1.mta9.events.Delivery") == "mta9"
    assert subjects.parse_node("alerts.v1.x.firing") is None
