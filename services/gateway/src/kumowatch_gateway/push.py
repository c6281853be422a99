"""What the gateway pushes to WebSocket clients, built from the contracts it reads.

Event names and payload fields are the seed's (``queue:update``, ``metrics:update``,
``message:status``, ``connection:status``, ``alert:triggered``) with additive fields only (e.g.
``node``), plus ``alert:resolved``, ``alert:acknowledged`` and ``rule:changed``.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from kumowatch_common.events import (
    AlertEventKind,
    AlertRule,
    ConnectionStatus,
    KumoLogEvent,
    MetricsUpdate,
    QueueUpdate,
)
from kumowatch_gateway.alertindex import AlertRecord
from kumowatch_gateway.hub import Attrs, Hub, Topic
from kumowatch_gateway.readmodel import RuleAction

ALERT_EVENTS: Final[dict[AlertEventKind, str]] = {
    "firing": "alert:triggered",
    "resolved": "alert:resolved",
    "acknowledged": "alert:acknowledged",
}


def dump(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True)


def connection_status(hub: Hub, status: ConnectionStatus) -> None:
    """To every client: the node's status changed."""
    hub.publish(
        None, "connection:status", lambda: dump(status), key=f"connection:status|{status.node}"
    )


def metrics_update(hub: Hub, metrics: MetricsUpdate, raw: bytes | None = None) -> None:
    """To ``metrics`` subscribers; ``raw`` is the wire payload, reused as is."""
    hub.publish(
        Topic.METRICS,
        "metrics:update",
        (lambda: raw) if raw is not None else (lambda: dump(metrics)),
        key=f"metrics:update|{metrics.node}",
        attrs=Attrs(node=metrics.node),
    )


def queue_updates(hub: Hub, changes: list[QueueUpdate]) -> None:
    """One ``queue:update`` per changed queue, coalesced per node and queue."""
    if not hub.has_subscribers(Topic.QUEUES):
        return
    for q in changes:
        hub.publish(
            Topic.QUEUES,
            "queue:update",
            lambda q=q: dump(q),  # type: ignore[misc]
            key=f"queue:update|{q.node}|{q.kind}|{q.queueName}",
            attrs=Attrs(node=q.node, queue=q.queueName, provider=q.provider),
        )


def message_status(hub: Hub, event: KumoLogEvent) -> None:
    """The seed's MessageStatus plus node, record type and provider."""
    status = event.status
    provider = event.record.provider_name

    def data() -> Any:
        doc = status.model_dump(mode="json", exclude_none=True)
        doc.update(node=event.node, recordType=event.record.type)
        if provider:
            doc["provider"] = provider
        return doc

    hub.publish(
        Topic.MESSAGES,
        "message:status",
        data,
        attrs=Attrs(node=event.node, queue=status.queue, provider=provider),
    )


def alert_event(hub: Hub, kind: AlertEventKind, record: AlertRecord) -> None:
    """``alert:triggered|resolved|acknowledged`` to clients subscribed to alerts (all by default)."""
    name = ALERT_EVENTS.get(kind)
    if name is None:
        return
    labels = record.alert.labels
    hub.publish(
        Topic.ALERTS,
        name,
        record.json,
        attrs=Attrs(
            node=labels.get("node"), queue=labels.get("queue"), provider=labels.get("provider")
        ),
    )


def rule_changed(hub: Hub, rule: AlertRule, action: RuleAction) -> None:
    """To every client: ``{rule, action}``."""
    hub.publish(
        None,
        "rule:changed",
        lambda: b'{"rule":' + rule.to_bytes() + b',"action":' + orjson.dumps(action) + b"}",
    )
