"""The notifier's Prometheus metrics, ``kumowatch_notifier_*``, on the runtime's registry."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True, slots=True)
class Metrics:
    """Every metric the notifier exports."""

    outcomes: Counter
    attempt_seconds: Histogram
    events: Counter
    inflight: Gauge
    silences: Gauge
    throttle_conflicts: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> Metrics:
        p = "kumowatch_notifier"
        return cls(
            outcomes=Counter(
                f"{p}_notifications_total",
                "notification outcomes by channel and outcome",
                ["channel", "outcome"],
                registry=registry,
            ),
            attempt_seconds=Histogram(
                f"{p}_attempt_duration_seconds",
                "duration of one delivery attempt",
                ["channel"],
                buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
                registry=registry,
            ),
            events=Counter(
                f"{p}_events_total",
                "alert events settled, by result (ack, nak, term)",
                ["result"],
                registry=registry,
            ),
            inflight=Gauge(f"{p}_inflight_events", "alert events being handled", registry=registry),
            silences=Gauge(f"{p}_silences_active", "active silences", registry=registry),
            throttle_conflicts=Counter(
                f"{p}_throttle_conflicts_total",
                "compare-and-set conflicts on the throttle bucket",
                registry=registry,
            ),
        )
