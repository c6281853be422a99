"""Rules prepared for evaluation: family, series key, comparison, scope, timings in ms."""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from kumowatch_alerter.scope import ScopeMatcher
from kumowatch_common.events import AlertRule

log = logging.getLogger(__name__)

Family = Literal["queue", "node", "provider", "liveness", "suspension", "event"]

OPERATORS: Final[dict[str, Callable[[float, float], bool]]] = {
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}

#: The series label (besides ``node``) that identifies a series within a node, per family.
_KEY_LABEL: Final[dict[str, str | None]] = {
    "queue": "queue",
    "node": None,
    "provider": "provider",
    "liveness": None,
    "suspension": "queue",
    "event": None,
}
_ALLOWED_SCOPE: Final[dict[str, frozenset[str]]] = {
    "queue": frozenset({"queue", "tenant", "domain", "provider"}),
    "node": frozenset(),
    "provider": frozenset({"provider"}),
    "liveness": frozenset(),
    "suspension": frozenset({"queue", "tenant", "domain", "provider"}),
    "event": frozenset({"queue", "tenant", "domain", "provider"}),
}


def family_of(rule: AlertRule) -> Family:
    """Which data a rule is evaluated on."""
    cond = rule.condition
    match cond.type:
        case "queue_depth":
            return "queue"
        case "provider_bounce_rate":
            return "provider"
        case "bounce_rate" | "deferral_rate":
            return "provider" if cond.groupBy == "provider" else "node"
        case "system_health":
            return "liveness" if cond.metric == "liveness" else "node"
        case "domain_suspension":
            return "suspension"
        case "event_count" | "event_ratio":
            return "event"
        case _:
            return "node"


@dataclass(slots=True)
class CompiledRule:
    """One enabled rule, ready for the hot loops."""

    rule: AlertRule
    id: str
    type: str
    family: Family
    op: str
    threshold: float
    compare: Callable[[float, float], bool]
    window_ms: int | None
    aggregation: str | None
    metric: str
    group: str | None
    for_ms: int
    keep_ms: int
    min_volume: float
    scope: ScopeMatcher
    #: False when the scope names a label this family's series never carry.
    satisfiable: bool

    @classmethod
    def of(cls, rule: AlertRule) -> CompiledRule:
        cond = rule.condition
        family = family_of(rule)
        scope = ScopeMatcher.of(rule.scope)
        satisfiable = scope.only(_ALLOWED_SCOPE[family])
        if not satisfiable:
            log.warning(
                "rule scope names a label its series do not carry; it matches nothing",
                extra={"rule": rule.id, "family": family},
            )
        if cond.type == "queue_depth":
            metric = cond.metric or "scheduled"
        elif cond.type == "system_health":
            metric = cond.metric or "deferred_ratio"
        else:
            metric = cond.metric or ""
        group = cond.groupBy if family == "event" and cond.groupBy != "node" else None
        return cls(
            rule=rule,
            id=rule.id,
            type=cond.type,
            family=family,
            op=cond.operator,
            threshold=float(cond.threshold),
            compare=OPERATORS[cond.operator],
            window_ms=cond.timeWindow or None,
            aggregation=cond.aggregation,
            metric=metric,
            group=group,
            for_ms=rule.for_,
            keep_ms=rule.keepFiringFor,
            min_volume=rule.minVolume,
            scope=scope,
            satisfiable=satisfiable,
        )

    @property
    def key_label(self) -> str | None:
        """The label naming the series within a node (None: one series per node)."""
        if self.family == "event":
            return self.group
        return _KEY_LABEL[self.family]

    def key_of(self, labels: dict[str, str]) -> str | None:
        """The series key of an alert's labels (for restoring), or None if they do not fit."""
        name = self.key_label
        if name is None:
            return ""
        value = labels.get(name)
        if value is None:
            return None
        if self.family == "suspension":
            return f"{labels.get('kind', 'scheduled')}|{value}"
        return value

    def same_series_shape(self, other: CompiledRule) -> bool:
        """True when alerts of ``other`` can be carried over to this rule after an edit."""
        return (self.family, self.key_label, self.metric) == (
            other.family,
            other.key_label,
            other.metric,
        )
