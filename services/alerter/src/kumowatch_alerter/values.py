"""Window values of node-level and provider-level rules, from counter deltas and gauges."""

from __future__ import annotations

from collections import deque
from typing import Final

from kumowatch_alerter.compiled import CompiledRule
from kumowatch_alerter.windows import (
    MetricSample,
    ProviderSample,
    aggregate,
    counter_increase,
    in_window,
)

DELIVERED: Final = 1
BOUNCED: Final = 2
DEFERRED: Final = 3
RECEIVED: Final = 4
P_DELIVERED: Final = 1
P_FAILED: Final = 2
P_TRANSFAILED: Final = 3


def _ratio(part: float, whole: float, min_volume: float) -> float | None:
    if whole <= 0 or whole < min_volume:
        return None
    return 100.0 * part / whole


def node_value(cr: CompiledRule, samples: deque[MetricSample]) -> float | None:
    """The value of a node-level rule now, or None when it cannot be judged."""
    if not samples:
        return None
    if cr.type == "system_health" and cr.metric in ("disk_free_percent", "memory_ratio"):
        window = in_window(samples, cr.window_ms) if cr.window_ms else [samples[-1]]
        disk = cr.metric == "disk_free_percent"
        gauges = [g for s in window if (g := s.disk_free if disk else s.memory) is not None]
        return aggregate(gauges, cr.aggregation) if gauges else None
    window = in_window(samples, cr.window_ms)
    if len(window) < 2:
        return None
    delivered = counter_increase(window, DELIVERED)
    bounced = counter_increase(window, BOUNCED)
    if cr.type == "bounce_rate":
        return _ratio(bounced, delivered + bounced, cr.min_volume)
    if cr.type in ("deferral_rate", "system_health"):
        deferred = counter_increase(window, DEFERRED)
        return _ratio(deferred, delivered + bounced + deferred, cr.min_volume)
    if cr.type == "delivery_rate":
        return _delivery_rate(cr, window, delivered)
    return None


def _delivery_rate(cr: CompiledRule, window: list[MetricSample], delivered: float) -> float | None:
    # Judged only while there is work to deliver: messages queued now, or received in the window
    # (at least minVolume of them when set); an idle node delivering nothing is fine.
    work = window[-1].queued + counter_increase(window, RECEIVED)
    if work <= 0 or work < cr.min_volume:
        return None
    if cr.aggregation:
        return aggregate([s.throughput for s in window[1:]], cr.aggregation)
    span = (window[-1].t - window[0].t) / 1000.0
    return delivered / span if span > 0 else None


def provider_value(cr: CompiledRule, samples: deque[ProviderSample]) -> float | None:
    """The value of a provider-level rule now, or None when it cannot be judged."""
    window = in_window(samples, cr.window_ms)
    if len(window) < 2:
        return None
    delivered = counter_increase(window, P_DELIVERED)
    failed = counter_increase(window, P_FAILED)
    if cr.type == "deferral_rate":
        transfailed = counter_increase(window, P_TRANSFAILED)
        return _ratio(transfailed, delivered + failed + transfailed, cr.min_volume)
    return _ratio(failed, delivered + failed, cr.min_volume)
