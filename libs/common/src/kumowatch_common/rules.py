"""Rule defaults and validation shared by the alerter (which evaluates) and the gateway (which edits).

``DEFAULT_RULES`` are the seed's four rules, with its ids, thresholds, channels and throttles, and
the built-in ``kumomta-unreachable`` NoData rule. ``validate_rule`` checks what a pydantic model
cannot know alone (windows against the snapshot retention, what each condition type needs) and
returns one error per field, so the gateway can answer 400 naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from kumowatch_common.events import AlertRule
from kumowatch_common.subjects import TOKEN_RE

RATIO_TYPES: Final = frozenset(
    {"bounce_rate", "system_health", "deferral_rate", "provider_bounce_rate", "event_ratio"}
)
WINDOWED_TYPES: Final = frozenset(
    {
        "bounce_rate",
        "delivery_rate",
        "deferral_rate",
        "provider_bounce_rate",
        "event_count",
        "event_ratio",
    }
)
SYSTEM_HEALTH_METRICS: Final = frozenset(
    {"deferred_ratio", "disk_free_percent", "memory_ratio", "liveness"}
)
QUEUE_KINDS: Final = frozenset({"scheduled", "ready"})
UNREACHABLE_RULE_ID: Final = "kumomta-unreachable"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field (dotted path, e.g. ``condition.timeWindow``)."""

    field: str
    message: str


def _default_rules_raw() -> list[dict[str, Any]]:
    return [
        {
            "id": "queue-depth-critical",
            "name": "Critical Queue Depth",
            "description": "Alert when queue depth exceeds critical threshold",
            "enabled": True,
            "severity": "critical",
            "condition": {"type": "queue_depth", "operator": ">", "threshold": 10000},
            "channels": ["email", "slack"],
            "throttle": {"period": 300000, "maxAlerts": 3},
        },
        {
            "id": "bounce-rate-high",
            "name": "High Bounce Rate",
            "description": "Alert when bounce rate exceeds 5%",
            "enabled": True,
            "severity": "warning",
            "condition": {
                "type": "bounce_rate",
                "operator": ">",
                "threshold": 5,
                "timeWindow": 300000,
            },
            "channels": ["slack", "webhook"],
            "throttle": {"period": 600000, "maxAlerts": 2},
            "minVolume": 100,
        },
        {
            "id": "delivery-rate-low",
            "name": "Low Delivery Rate",
            "description": "Alert when delivery throughput drops below 100 msg/s",
            "enabled": True,
            "severity": "warning",
            "condition": {
                "type": "delivery_rate",
                "operator": "<",
                "threshold": 100,
                "timeWindow": 60000,
            },
            "channels": ["slack"],
            "throttle": {"period": 300000, "maxAlerts": 5},
        },
        {
            "id": "system-health-degraded",
            "name": "System Health Degraded",
            "description": "Alert when deferred message ratio exceeds 10%",
            "enabled": True,
            "severity": "error",
            "condition": {"type": "system_health", "operator": ">", "threshold": 10},
            "channels": ["email", "slack"],
            "throttle": {"period": 600000, "maxAlerts": 3},
            "minVolume": 100,
        },
        {
            "id": UNREACHABLE_RULE_ID,
            "name": "KumoMTA unreachable",
            "description": "A KumoMTA node stopped answering the poller (NoData)",
            "enabled": True,
            "severity": "critical",
            "condition": {
                "type": "system_health",
                "operator": "==",
                "threshold": 1,
                "metric": "liveness",
            },
            "channels": ["email", "slack", "webhook"],
            "throttle": {"period": 300000, "maxAlerts": 3},
            "for": 0,
            "builtin": True,
        },
    ]


def default_rules() -> list[AlertRule]:
    """Fresh copies of the default rules."""
    return [AlertRule.model_validate(raw) for raw in _default_rules_raw()]


def parse_rule(data: Any, max_window_ms: int) -> tuple[AlertRule | None, list[FieldError]]:
    """Validate raw JSON into a rule: (rule, []) or (None, errors naming each field)."""
    try:
        rule = AlertRule.model_validate(data)
    except ValidationError as exc:
        return None, [
            FieldError(".".join(str(p) for p in err["loc"]) or "(body)", err["msg"])
            for err in exc.errors()
        ]
    errors = validate_rule(rule, max_window_ms)
    return (None, errors) if errors else (rule, [])


def validate_rule(rule: AlertRule, max_window_ms: int) -> list[FieldError]:
    """Cross-field checks; empty when the rule is usable."""
    errors: list[FieldError] = []
    cond = rule.condition
    if not TOKEN_RE.match(rule.id) or len(rule.id) > 100:
        errors.append(FieldError("id", "use 1-100 letters, digits, '_' or '-'"))
    if cond.timeWindow is not None and cond.timeWindow > max_window_ms:
        errors.append(
            FieldError(
                "condition.timeWindow",
                f"{cond.timeWindow} ms is longer than the snapshot retention ({max_window_ms} ms)",
            )
        )
    if cond.type in ("event_count", "event_ratio") and cond.match is None:
        errors.append(FieldError("condition.match", f"required for {cond.type}"))
    if cond.type in ("event_count", "event_ratio") and not cond.timeWindow:
        errors.append(FieldError("condition.timeWindow", f"required for {cond.type}"))
    if cond.type == "system_health" and cond.metric and cond.metric not in SYSTEM_HEALTH_METRICS:
        errors.append(
            FieldError("condition.metric", f"one of {', '.join(sorted(SYSTEM_HEALTH_METRICS))}")
        )
    if cond.type == "queue_depth" and cond.metric and cond.metric not in QUEUE_KINDS:
        errors.append(FieldError("condition.metric", "one of ready, scheduled"))
    if (
        cond.type in RATIO_TYPES
        and cond.metric not in ("disk_free_percent", "liveness")
        and not (0 <= cond.threshold <= 100)
    ):
        errors.append(FieldError("condition.threshold", "a percentage between 0 and 100"))
    if cond.aggregation is not None and cond.type not in (
        "queue_depth",
        "delivery_rate",
        "system_health",
    ):
        errors.append(FieldError("condition.aggregation", f"not applicable to {cond.type}"))
    if rule.throttle is not None and rule.throttle.period > 7 * 24 * 3600 * 1000:
        errors.append(FieldError("throttle.period", "at most 7 days"))
    return errors
