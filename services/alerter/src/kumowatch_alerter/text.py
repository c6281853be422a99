"""Alert messages: they name the series, report the deciding value, and use the operator's verb.

"Queue depth of campaign:tenant@gmail.com on node mta1 (12,345) exceeded threshold (10,000)";
"Delivery rate on node mta1 (42.0 msg/s) over 1m fell below threshold (100 msg/s)".
"""

from __future__ import annotations

from typing import Final

from kumowatch_alerter.compiled import CompiledRule

FIRED_VERB: Final = {
    ">": "exceeded",
    "<": "fell below",
    ">=": "reached or exceeded",
    "<=": "fell to or below",
    "==": "equals",
    "!=": "differs from",
}
_PERCENT: Final = frozenset(
    {"bounce_rate", "deferral_rate", "provider_bounce_rate", "system_health", "event_ratio"}
)


def duration(ms: int) -> str:
    """``300000`` -> ``5m``; ``90000`` -> ``1m30s``."""
    seconds = ms // 1000
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or f"{ms}ms"


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def value_text(cr: CompiledRule, value: float) -> str:
    """The value with its unit, as in the messages."""
    if cr.type in _PERCENT:
        return f"{value:,.2f}%"
    if cr.type == "delivery_rate":
        return f"{value:,.1f} msg/s"
    return _number(value)


def threshold_text(cr: CompiledRule) -> str:
    t = cr.threshold
    if cr.type in _PERCENT:
        return f"{t:g}%"
    if cr.type == "delivery_rate":
        return f"{_number(t)} msg/s"
    return _number(t)


def subject(cr: CompiledRule, labels: dict[str, str]) -> str:
    """What the alert is about, naming the series."""
    node = labels.get("node", "?")
    match cr.family:
        case "queue":
            what = "Ready queue depth" if cr.metric == "ready" else "Queue depth"
            agg = f" ({cr.aggregation})" if cr.aggregation and cr.window_ms else ""
            return f"{what}{agg} of {labels.get('queue', '?')} on node {node}"
        case "provider":
            what = "Deferral rate" if cr.type == "deferral_rate" else "Bounce rate"
            return f"{what} of provider {labels.get('provider', '?')} on node {node}"
        case "event":
            extra = f" for {cr.group} {labels.get(cr.group, '?')}" if cr.group else ""
            return f"{cr.rule.name} on node {node}{extra}"
        case _:
            pass
    if cr.type == "system_health":
        if cr.metric == "disk_free_percent":
            return f"Disk free on node {node}"
        if cr.metric == "memory_ratio":
            return f"Memory use (of limit) on node {node}"
        return f"System health degraded on node {node}: deferred ratio"
    names = {
        "bounce_rate": "Bounce rate",
        "deferral_rate": "Deferral rate",
        "delivery_rate": "Delivery rate",
    }
    return f"{names.get(cr.type, cr.rule.name)} on node {node}"


def _window(cr: CompiledRule) -> str:
    return f" over {duration(cr.window_ms)}" if cr.window_ms else ""


def firing(cr: CompiledRule, labels: dict[str, str], value: float, reason: str | None) -> str:
    """The message of a firing alert."""
    node = labels.get("node", "?")
    if cr.family == "liveness":
        return f"KumoMTA node {node} is unreachable: {reason or 'no data'}"
    if cr.family == "suspension":
        return (
            f"Queue {labels.get('queue', '?')} on node {node} is suspended by KumoMTA: "
            f"{reason or 'no reason given'}"
        )
    return (
        f"{subject(cr, labels)} ({value_text(cr, value)}){_window(cr)} "
        f"{FIRED_VERB[cr.op]} threshold ({threshold_text(cr)})"
    )


def resolved(cr: CompiledRule, labels: dict[str, str], value: float, why: str) -> str:
    """The message of a resolved alert; ``why`` is ``cleared``, ``missing`` or ``rule``."""
    node = labels.get("node", "?")
    if why == "rule":
        return f"Resolved: rule {cr.rule.name!r} was changed, disabled or deleted"
    if cr.family == "liveness":
        return f"Resolved: KumoMTA node {node} is reachable again"
    if cr.family == "suspension":
        return f"Resolved: queue {labels.get('queue', '?')} on node {node} is no longer suspended"
    if why == "missing":
        return f"Resolved: {subject(cr, labels)} is no longer reported"
    return (
        f"Resolved: {subject(cr, labels)} is {value_text(cr, value)}{_window(cr)} "
        f"(threshold {cr.op} {threshold_text(cr)})"
    )
