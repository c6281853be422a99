"""Ground truth of a node, for tests and other tools to compare observations against."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kumowatch_sim.model import TrafficModel


@dataclass(slots=True)
class Totals:
    """Cumulative outcome counts (since the last restart, or over the node's lifetime)."""

    received: int = 0
    delivered: int = 0
    transfail: int = 0
    fail: int = 0
    expired: int = 0
    admin_bounced: int = 0
    by_provider: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, outcome: str, provider: str) -> None:
        if outcome == "delivered":
            self.delivered += 1
        elif outcome == "transfail":
            self.transfail += 1
        else:
            self.fail += 1
        per = self.by_provider.get(provider)
        if per is None:
            per = self.by_provider[provider] = {"delivered": 0, "transfail": 0, "fail": 0}
        per[outcome] += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "delivered": self.delivered,
            "transfail": self.transfail,
            "fail": self.fail,
            "expired": self.expired,
            "admin_bounced": self.admin_bounced,
            "by_provider": {k: dict(v) for k, v in sorted(self.by_provider.items())},
        }


def truth(model: TrafficModel, *, include_queues: bool = True) -> dict[str, Any]:
    """A JSON-ready snapshot of what the node really did and holds."""
    out: dict[str, Any] = {
        "node": model.name,
        "node_id": model.node_id,
        "now": model.now,
        "online_since": model.online_since,
        "restarts": model.restarts,
        "scenario": None if model.scenario is None else model.scenario.name,
        "totals": model.totals.as_json(),
        "lifetime": model.lifetime.as_json(),
        "received": dict(model.received),
        "scheduled_total": model.sched_total,
        "ready_total": model.ready_total,
        "scheduled_queue_count": len(model.sched),
        "ready_queue_count": len(model.ready),
        "records": dict(model.record_counts),
        "rates": model.recent_rate(10.0),
        "liveness": model.liveness(),
        "fault": model.fault.as_json(model.now),
        "knobs": {
            "rate": model.knobs.rate,
            "bounce_ratio": model.knobs.bounce_ratio,
            "transfail_ratio": model.knobs.transfail_ratio,
            "provider_bounce": dict(model.knobs.provider_bounce),
            "provider_transfail": dict(model.knobs.provider_transfail),
            "throttle": dict(model.knobs.throttle),
            "queue_rate": dict(model.knobs.queue_rate),
            "deliveries": model.knobs.deliveries,
            "prune_after": model.prune_after,
        },
    }
    if include_queues:
        out["scheduled"] = {name: q.count for name, q in model.sched.items()}
        out["ready"] = {name: len(rq.messages) for name, rq in model.ready.items()}
    return out
