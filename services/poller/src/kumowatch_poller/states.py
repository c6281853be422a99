"""KumoMTA's admin lists (suspensions, admin bounces, ready-queue states) as ``StatesSnapshot``.

The lists come from ``/api/admin/suspend/v1``, ``/api/admin/suspend-ready-q/v1``,
``/api/admin/bounce/v1`` and ``/api/admin/ready-q-states/v1`` (called without a filter: KumoMTA's
filter is inverted). Malformed entries are skipped, not fatal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kumowatch_common.events import AdminBounceEntry, ReadyQueueState, StatesSnapshot, Suspension
from kumowatch_poller.names import ScheduledName


def _opt(entry: dict[str, Any], key: str) -> str | None:
    value = entry.get(key)
    return None if value is None else str(value)


def _entries(doc: Any) -> Iterable[dict[str, Any]]:
    # The OpenAPI says "object", the handler returns an array; take both.
    if isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list):
        return []
    return [e for e in doc if isinstance(e, dict) and e.get("id") is not None]


def suspensions(scheduled: Any, ready: Any) -> list[Suspension]:
    """Both suspension lists as contracts."""
    out = [
        Suspension(
            kind="scheduled",
            id=str(e["id"]),
            reason=str(e.get("reason") or ""),
            duration=_opt(e, "duration"),
            campaign=_opt(e, "campaign"),
            tenant=_opt(e, "tenant"),
            domain=_opt(e, "domain"),
            expires=_opt(e, "expires"),
        )
        for e in _entries(scheduled)
    ]
    out.extend(
        Suspension(
            kind="ready",
            id=str(e["id"]),
            reason=str(e.get("reason") or ""),
            duration=_opt(e, "duration"),
            name=_opt(e, "name"),
            expires=_opt(e, "expires"),
        )
        for e in _entries(ready)
    )
    return out


def bounces(doc: Any) -> list[AdminBounceEntry]:
    """The admin bounce list as contracts."""
    out: list[AdminBounceEntry] = []
    for e in _entries(doc):
        bounced = e.get("bounced")
        counts = (
            {str(k): float(v) for k, v in bounced.items() if isinstance(v, int | float)}
            if isinstance(bounced, dict)
            else {}
        )
        total = e.get("total_bounced")
        out.append(
            AdminBounceEntry(
                id=str(e["id"]),
                reason=str(e.get("reason") or ""),
                duration=_opt(e, "duration"),
                campaign=_opt(e, "campaign"),
                tenant=_opt(e, "tenant"),
                domain=_opt(e, "domain"),
                routingDomain=_opt(e, "routing_domain"),
                bounced=counts,
                totalBounced=float(total) if isinstance(total, int | float) else 0.0,
            )
        )
    return out


def ready_queue_states(doc: Any) -> list[ReadyQueueState]:
    """``{"states_by_ready_queue": {queue: {state: {context, since}}}}`` flattened."""
    by_queue = doc.get("states_by_ready_queue") if isinstance(doc, dict) else None
    if not isinstance(by_queue, dict):
        return []
    out: list[ReadyQueueState] = []
    for queue, states in sorted(by_queue.items()):
        if not isinstance(states, dict):
            continue
        for state, detail in sorted(states.items()):
            info = detail if isinstance(detail, dict) else {}
            out.append(
                ReadyQueueState(
                    queueName=str(queue),
                    state=str(state),
                    context=_opt(info, "context"),
                    since=_opt(info, "since"),
                )
            )
    return out


@dataclass(slots=True)
class SuspensionIndex:
    """Answers "is this queue suspended?" from the latest suspension lists."""

    scheduled: list[Suspension] = field(default_factory=list)
    ready: frozenset[str] = frozenset()

    @classmethod
    def of(cls, items: Iterable[Suspension]) -> SuspensionIndex:
        items = list(items)
        return cls(
            scheduled=[s for s in items if s.kind == "scheduled"],
            ready=frozenset(s.name for s in items if s.kind == "ready" and s.name),
        )

    def scheduled_suspended(self, queue: ScheduledName) -> bool:
        """A scheduled suspension matches when each criterion it sets equals the queue's part."""
        for s in self.scheduled:
            if (
                (s.campaign is None or s.campaign == queue.campaign)
                and (s.tenant is None or s.tenant == queue.tenant)
                and (s.domain is None or s.domain == queue.domain)
            ):
                return True
        return False

    def ready_suspended(self, name: str) -> bool:
        """A ready queue is suspended when a suspend-ready-q entry names it."""
        return name in self.ready


def snapshot(
    node: str,
    timestamp: int,
    scheduled: Any,
    ready: Any,
    bounce_list: Any,
    rq_states: Any,
) -> StatesSnapshot:
    """The ``states`` payload of a node from the four raw admin answers."""
    return StatesSnapshot(
        node=node,
        timestamp=timestamp,
        suspensions=suspensions(scheduled, ready),
        bounces=bounces(bounce_list),
        readyQueueStates=ready_queue_states(rq_states),
    )
