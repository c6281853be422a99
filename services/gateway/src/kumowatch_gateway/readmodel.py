"""The gateway's read model: the latest of everything, rebuilt from NATS at start, kept in memory.

The gateway is stateless: every replica builds this from the subjects, streams and buckets and
answers reads from it. ``apply_*`` methods return what changed (or None for a stale or repeated
value) so the caller decides what to push to WebSocket clients.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from kumowatch_common.events import (
    AlertRule,
    ConnectionStatus,
    MetricsUpdate,
    NotificationOutcome,
    ProvidersSnapshot,
    QueuesSnapshot,
    QueueUpdate,
    Silence,
    StatesSnapshot,
)
from kumowatch_gateway import globs
from kumowatch_gateway.alertindex import AlertIndex

RuleAction = Literal["created", "updated", "deleted"]
QueueKey = tuple[str, str]


@dataclass(slots=True)
class _Pending:
    seq: int
    chunks: int
    timestamp: int
    parts: dict[int, list[QueueUpdate]] = field(default_factory=dict)


@dataclass(slots=True)
class NodeView:
    """What is known about one KumoMTA node."""

    name: str
    status: ConnectionStatus | None = None
    metrics: MetricsUpdate | None = None
    providers: ProvidersSnapshot | None = None
    states: StatesSnapshot | None = None
    queues: dict[QueueKey, QueueUpdate] = field(default_factory=dict)
    queues_seq: int = -1
    queues_timestamp: int = 0
    pending: _Pending | None = None


@dataclass(frozen=True, slots=True)
class RuleEntry:
    rule: AlertRule
    revision: int


@dataclass(frozen=True, slots=True)
class QueueQuery:
    """Filters, order and page of ``GET /api/queues``."""

    node: str | None = None
    kind: str | None = None
    queue: str | None = None
    tenant: str | None = None
    domain: str | None = None
    provider: str | None = None
    sort: Literal["size", "name"] = "size"
    order: Literal["asc", "desc"] | None = None
    offset: int = 0
    limit: int = 100


def _newer(current: int | None, incoming: int) -> bool:
    return current is None or incoming >= current


class ReadModel:
    """Latest snapshots per node, rules, alerts, silences and notification outcomes."""

    def __init__(self, *, alert_limit: int = 100_000, notification_limit: int = 10_000) -> None:
        self.nodes: dict[str, NodeView] = {}
        self.rules: dict[str, RuleEntry] = {}
        self._rule_tombstones: dict[str, int] = {}
        self.alerts = AlertIndex(alert_limit)
        self.silences: dict[str, Silence] = {}
        self.notifications: deque[NotificationOutcome] = deque(maxlen=notification_limit)

    # ------------------------------------------------------------------ nodes

    def node(self, name: str) -> NodeView:
        view = self.nodes.get(name)
        if view is None:
            view = self.nodes[name] = NodeView(name)
        return view

    def apply_status(self, status: ConnectionStatus) -> ConnectionStatus | None:
        """Store; the status when it differs in substance from the previous one."""
        view = self.node(status.node)
        prev = view.status
        if prev is not None and status.timestamp < prev.timestamp:
            return None
        view.status = status
        if prev is not None and (prev.connected, prev.kumoMtaStatus, prev.reason) == (
            status.connected,
            status.kumoMtaStatus,
            status.reason,
        ):
            return None
        return status

    def apply_metrics(self, metrics: MetricsUpdate) -> bool:
        view = self.node(metrics.node)
        if not _newer(view.metrics.timestamp if view.metrics else None, metrics.timestamp):
            return False
        view.metrics = metrics
        return True

    def apply_providers(self, snap: ProvidersSnapshot) -> bool:
        view = self.node(snap.node)
        if not _newer(view.providers.timestamp if view.providers else None, snap.timestamp):
            return False
        view.providers = snap
        return True

    def apply_states(self, snap: StatesSnapshot) -> bool:
        view = self.node(snap.node)
        if not _newer(view.states.timestamp if view.states else None, snap.timestamp):
            return False
        view.states = snap
        return True

    def apply_queues(self, chunk: QueuesSnapshot) -> list[QueueUpdate] | None:
        """Assemble chunks of one ``seq``; on the last one, the queues that changed or vanished.

        A vanished queue (KumoMTA pruned it) is reported once with size 0.
        """
        view = self.node(chunk.node)
        if chunk.timestamp < view.queues_timestamp:
            return None
        p = view.pending
        if p is None or p.seq != chunk.seq or p.chunks != chunk.chunks:
            p = view.pending = _Pending(chunk.seq, max(1, chunk.chunks), chunk.timestamp)
        p.parts[chunk.chunk] = chunk.queues
        if len(p.parts) < p.chunks:
            return None
        view.pending = None
        fresh: dict[QueueKey, QueueUpdate] = {}
        for part in p.parts.values():
            for q in part:
                fresh[(q.kind, q.queueName)] = q
        changed = [
            q
            for key, q in fresh.items()
            if (old := view.queues.get(key)) is None
            or (old.size, old.ready, old.scheduled, old.suspended)
            != (q.size, q.ready, q.scheduled, q.suspended)
        ]
        for key, old in view.queues.items():
            if key not in fresh and old.size != 0:
                changed.append(
                    old.model_copy(
                        update={"size": 0, "ready": 0, "scheduled": 0, "timestamp": p.timestamp}
                    )
                )
        view.queues = fresh
        view.queues_seq = p.seq
        view.queues_timestamp = p.timestamp
        return changed

    def queue_page(self, q: QueueQuery) -> tuple[int, list[QueueUpdate]]:
        """(total matching, one page) of current queues."""
        matched = [
            item
            for view in self.nodes.values()
            if globs.match(q.node, view.name)
            for item in view.queues.values()
            if (q.kind is None or item.kind == q.kind)
            and globs.match(q.queue, item.queueName)
            and globs.match(q.tenant, item.tenant)
            and globs.match(q.domain, item.domain)
            and globs.match(q.provider, item.provider)
        ]
        descending = (q.order or ("desc" if q.sort == "size" else "asc")) == "desc"
        if q.sort == "size":
            matched.sort(key=lambda i: (i.size, i.queueName, i.node), reverse=descending)
        else:
            matched.sort(key=lambda i: (i.queueName, i.node), reverse=descending)
        return len(matched), matched[q.offset : q.offset + q.limit]

    def statuses(self) -> list[ConnectionStatus]:
        return [v.status for _, v in sorted(self.nodes.items()) if v.status is not None]

    # ------------------------------------------------------------------ rules

    def apply_rule(self, rule: AlertRule, revision: int) -> RuleAction | None:
        """Store a rule version; the action, or None when this revision is already known."""
        cur = self.rules.get(rule.id)
        if cur is not None and revision <= cur.revision:
            return None
        if cur is None and revision <= self._rule_tombstones.get(rule.id, 0):
            return None
        self._rule_tombstones.pop(rule.id, None)
        self.rules[rule.id] = RuleEntry(rule, revision)
        return "created" if cur is None else "updated"

    def remove_rule(self, rule_id: str, revision: int) -> AlertRule | None:
        """Forget a rule; the removed rule, or None when it was not known."""
        cur = self.rules.get(rule_id)
        if cur is None or revision < cur.revision:
            return None
        del self.rules[rule_id]
        self._rule_tombstones[rule_id] = max(revision, cur.revision)
        return cur.rule

    def rule_list(self) -> list[AlertRule]:
        return [e.rule for e in self.rules.values()]

    # ------------------------------------------------------------------ silences, notifications

    def apply_silence(self, silence: Silence) -> None:
        self.silences[silence.id] = silence

    def remove_silence(self, silence_id: str) -> None:
        self.silences.pop(silence_id, None)

    def add_notification(self, outcome: NotificationOutcome) -> None:
        self.notifications.append(outcome)

    def notification_page(
        self,
        *,
        outcome: str | None = None,
        alert_id: str | None = None,
        channel: str | None = None,
        limit: int = 100,
    ) -> list[NotificationOutcome]:
        """Newest first."""
        out: list[NotificationOutcome] = []
        for n in reversed(self.notifications):
            if outcome is not None and n.outcome != outcome:
                continue
            if alert_id is not None and n.alertId != alert_id:
                continue
            if channel is not None and n.channel != channel:
                continue
            out.append(n)
            if len(out) >= limit:
                break
        return out

    def node_names(self) -> Iterable[str]:
        return sorted(self.nodes)
