"""A promtool-style harness: feed snapshots at relative times, collect the transitions.

``tl = Timeline([rule(...)])``; ``tl.metrics("mta1", delivered=..., ...)`` publishes one sample
at the current time; ``tl.advance(5)`` moves the clock and ticks; ``tl.fired()``/``tl.resolved()``
list what happened, each with the relative time it happened at.
"""

from __future__ import annotations

from typing import Any

from kumowatch_alerter.engine import Engine
from kumowatch_alerter.statemachine import Transition
from kumowatch_common.clock import ManualClock
from kumowatch_common.events import (
    AlertRule,
    ConnectionStatus,
    KumoLogEvent,
    KumoLogRecord,
    MessageStatus,
    MetricsUpdate,
    ProvidersSnapshot,
    ProviderStats,
    QueuesSnapshot,
    QueueUpdate,
    StatesSnapshot,
    Suspension,
)

START = 1_700_000_000.0


def rule(rule_id: str, ctype: str, op: str, threshold: float, **kw: Any) -> AlertRule:
    """A rule with condition fields given flat (``timeWindow``, ``aggregation``, ``metric``...)."""
    cond_keys = {"timeWindow", "aggregation", "metric", "groupBy", "match", "of"}
    cond = {"type": ctype, "operator": op, "threshold": threshold}
    cond.update({k: v for k, v in kw.items() if k in cond_keys})
    raw = {"id": rule_id, "name": kw.pop("name", rule_id), "severity": "warning", "condition": cond}
    raw.update({k: v for k, v in kw.items() if k not in cond_keys})
    return AlertRule.model_validate(raw)


class Timeline:
    def __init__(
        self, rules: list[AlertRule], *, nodata: float = 3600.0, grace: float = 60.0
    ) -> None:
        self.clock = ManualClock(START)
        self.engine = Engine(self.clock, nodata_seconds=nodata, grace_seconds=grace)
        self.log: list[tuple[float, Transition]] = []
        self.internal: list[tuple[float, Transition]] = []
        self._seq = 0
        self.engine.set_rules(rules)

    # time
    @property
    def t(self) -> float:
        return round(self.clock.now() - START, 3)

    @property
    def ms(self) -> int:
        return int(self.clock.now() * 1000)

    def _record(self, transitions: list[Transition]) -> list[Transition]:
        """Published transitions go to ``log`` (and are returned); the pending bucket's
        (``pending``/``dropped``, never published) to ``internal``."""
        published = []
        for tr in transitions:
            if tr.event in ("pending", "dropped"):
                self.internal.append((self.t, tr))
            else:
                self.log.append((self.t, tr))
                published.append(tr)
        return published

    def advance(self, seconds: float, step: float = 1.0) -> None:
        """Move time forward, ticking every ``step`` seconds (as the service does)."""
        left = seconds
        while left > 1e-9:
            d = min(step, left)
            self.clock.advance(d)
            left -= d
            self._record(self.engine.tick())

    def set_rules(self, rules: list[AlertRule]) -> list[Transition]:
        return self._record(self.engine.set_rules(rules))

    # inputs
    def metrics(self, node: str = "mta1", **fields: Any) -> list[Transition]:
        fields.setdefault("delivered", 0)
        fields.setdefault("bounced", 0)
        fields.setdefault("deferred", 0)
        fields.setdefault("throughput", 0)
        m = MetricsUpdate(node=node, timestamp=self.ms, **fields)
        return self._record(self.engine.on_metrics(m))

    def queues(
        self,
        node: str = "mta1",
        sizes: dict[str, float] | None = None,
        *,
        kind: str = "scheduled",
        chunks: int = 1,
        **extra: Any,
    ) -> list[Transition]:
        self._seq += 1
        items = [
            QueueUpdate(queueName=name, size=size, timestamp=self.ms, node=node, kind=kind, **extra)  # type: ignore[arg-type]
            for name, size in (sizes or {}).items()
        ]
        out: list[Transition] = []
        per = max(1, -(-len(items) // chunks))
        for i in range(chunks):
            snap = QueuesSnapshot(
                node=node,
                seq=self._seq,
                chunk=i,
                chunks=chunks,
                timestamp=self.ms,
                totalQueues=len(items),
                queues=items[i * per : (i + 1) * per],
            )
            out += self._record(self.engine.on_queues(snap))
        return out

    def providers(
        self,
        node: str = "mta1",
        counters: dict[str, tuple[float, float, float]] | None = None,
        *,
        reset: bool = False,
    ) -> list[Transition]:
        stats = [
            ProviderStats(provider=p, delivered=d, failed=f, transfailed=tf)
            for p, (d, f, tf) in (counters or {}).items()
        ]
        snap = ProvidersSnapshot(node=node, timestamp=self.ms, counterReset=reset, providers=stats)
        return self._record(self.engine.on_providers(snap))

    def status(
        self, node: str = "mta1", state: str = "healthy", reason: str | None = None
    ) -> list[Transition]:
        s = ConnectionStatus(
            connected=state != "down",
            kumoMtaStatus=state,
            timestamp=self.ms,
            node=node,
            reason=reason,
        )  # type: ignore[arg-type]
        return self._record(self.engine.on_status(s))

    def states(
        self, node: str = "mta1", suspensions: list[dict[str, Any]] | None = None
    ) -> list[Transition]:
        snap = StatesSnapshot(
            node=node,
            timestamp=self.ms,
            suspensions=[Suspension.model_validate(s) for s in suspensions or []],
        )
        return self._record(self.engine.on_states(snap))

    def event(self, node: str = "mta1", rtype: str = "Bounce", **record: Any) -> list[Transition]:
        rec = KumoLogRecord(
            type=rtype, id=f"id{len(self.log)}", timestamp=int(self.clock.now()), **record
        )
        ev = KumoLogEvent(
            node=node,
            receivedAt=self.ms,
            record=rec,
            status=MessageStatus(
                messageId=rec.id, status="bounced", queue=rec.queue or "", timestamp=self.ms
            ),
            dedupId=rec.id,
        )
        return self._record(self.engine.on_event(ev))

    # results
    def fired(self, rule_id: str | None = None) -> list[tuple[float, Transition]]:
        return [
            (t, tr)
            for t, tr in self.log
            if tr.event == "firing" and rule_id in (None, tr.alert.ruleId)
        ]

    def resolved(self, rule_id: str | None = None) -> list[tuple[float, Transition]]:
        return [
            (t, tr)
            for t, tr in self.log
            if tr.event == "resolved" and rule_id in (None, tr.alert.ruleId)
        ]

    def times(self, event: str, rule_id: str | None = None) -> list[float]:
        return [t for t, tr in self.log if tr.event == event and rule_id in (None, tr.alert.ruleId)]
