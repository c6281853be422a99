"""Queue names, admin lists and the health verdict."""

from __future__ import annotations

import pytest

from kumowatch_common.events import MetricsUpdate
from kumowatch_poller import states
from kumowatch_poller.errors import FetchError
from kumowatch_poller.names import parse_ready, parse_scheduled, ready_from_service
from kumowatch_poller.states import SuspensionIndex
from kumowatch_poller.status import Observation, evaluate


@pytest.mark.parametrize(
    ("queue", "parts"),
    [
        ("campaign:tenant@domain", ("campaign", "tenant", "domain", None)),
        ("campaign:tenant@domain!rd", ("campaign", "tenant", "domain", "rd")),
        ("tenant@domain", (None, "tenant", "domain", None)),
        ("tenant@domain!rd", (None, "tenant", "domain", "rd")),
        ("campaign:@domain", ("campaign", None, "domain", None)),
        ("campaign:@domain!rd", ("campaign", None, "domain", "rd")),
        ("domain", (None, None, "domain", None)),
        ("domain!rd", (None, None, "domain", "rd")),
        ("webhook.log_hook", (None, None, "webhook.log_hook", None)),
    ],
)
def test_scheduled_queue_names(queue: str, parts: tuple[str | None, ...]) -> None:
    p = parse_scheduled(queue)
    assert (p.campaign, p.tenant, p.domain, p.routing_domain) == parts


def test_ready_queue_names_from_service_labels() -> None:
    r = ready_from_service(
        "smtp_client:unspecified->(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com@smtp_client"
    )
    assert r is not None
    assert (r.source, r.site, r.protocol) == (
        "unspecified",
        "(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com",
        "smtp_client",
    )
    lua = ready_from_service("lua:unspecified->webhook.log_hook@lua:make.webhook.log_hook")
    assert lua is not None
    assert lua.protocol == "lua:make.webhook.log_hook"
    mx = parse_ready("unspecified->mx_list:a:25,b:25@smtp_client")
    assert mx.site == "mx_list:a:25,b:25"
    old = ready_from_service("smtp_client:source1->loopback.dummy-mx.example.com")
    assert old is not None
    assert old.protocol is None
    assert old.site == "loopback.dummy-mx.example.com"
    assert ready_from_service("smtp_client") is None


def test_states_snapshot_from_admin_lists() -> None:
    snap = states.snapshot(
        "mta1",
        1,
        [{"id": "s1", "reason": "maint", "duration": "4m", "tenant": "acme"}, {"no": "id"}],
        [{"id": "r1", "name": "ip-1->mx.example.com@smtp_client", "reason": "slow"}],
        [{"id": "b1", "reason": "bad", "bounced": {"a@x": 2}, "total_bounced": 2, "domain": "x"}],
        {
            "states_by_ready_queue": {
                "ip-1->mx@smtp_client": {
                    "connection_limited": {"context": "limit 10", "since": "2026-01-01T00:00:00Z"}
                }
            }
        },
    )
    assert [(s.kind, s.id) for s in snap.suspensions] == [("scheduled", "s1"), ("ready", "r1")]
    assert snap.bounces[0].bounced == {"a@x": 2}
    assert snap.bounces[0].totalBounced == 2
    rq = snap.readyQueueStates[0]
    assert (rq.queueName, rq.state, rq.context) == (
        "ip-1->mx@smtp_client",
        "connection_limited",
        "limit 10",
    )
    index = SuspensionIndex.of(snap.suspensions)
    assert index.scheduled_suspended(parse_scheduled("camp:acme@example.com"))
    assert not index.scheduled_suspended(parse_scheduled("other@example.com"))
    assert index.ready_suspended("ip-1->mx.example.com@smtp_client")


def test_states_tolerate_objects_and_garbage() -> None:
    snap = states.snapshot("n", 1, {"id": "x", "reason": "r"}, "garbage", None, [1])
    assert [s.id for s in snap.suspensions] == ["x"]
    assert snap.bounces == []
    assert snap.readyQueueStates == []


def _metrics(**kw: float) -> MetricsUpdate:
    return MetricsUpdate(
        node="n", delivered=0, bounced=0, deferred=0, throughput=0, timestamp=0, **kw
    )


def test_verdicts() -> None:
    assert evaluate(Observation(metrics=_metrics())).status == "healthy"
    refused = FetchError("/metrics", "refused", "connection refused")
    down = evaluate(Observation(metrics_error=refused))
    assert down.status == "down"
    assert not down.connected
    assert "unreachable" in (down.reason or "")
    http = FetchError("/metrics", "http", "HTTP 503", 503)
    v = evaluate(Observation(metrics_error=http, liveness_reason="load shedding"))
    assert v.status == "down"
    assert v.reason == "/metrics: HTTP 503; liveness: load shedding"
    acl = evaluate(Observation(metrics_error=FetchError("/metrics", "http", "x", 401)))
    assert "trusted_hosts" in (acl.reason or "")
    garbage = evaluate(Observation(metrics_error=FetchError("/metrics", "garbage", "x")))
    assert garbage.status == "degraded"
    assert garbage.connected
    shedding = evaluate(Observation(metrics=_metrics(), liveness_reason="load shedding"))
    assert (shedding.status, shedding.reason) == ("degraded", "liveness: load shedding")
    probe = evaluate(Observation(metrics=_metrics(), probe_errors=["/api/machine-info: HTTP 500"]))
    assert probe.status == "degraded"
    disk = evaluate(Observation(metrics=_metrics(diskFreePercent=2)))
    assert disk.status == "degraded"
    assert "disk critical" in (disk.reason or "")
    mem = evaluate(Observation(metrics=_metrics(memoryRatio=99)))
    assert mem.status == "degraded"
    assert "memory critical" in (mem.reason or "")
