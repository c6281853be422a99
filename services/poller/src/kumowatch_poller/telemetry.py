"""The poller's own Prometheus metrics (``kumowatch_poller_*``) on the runtime's registry."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass(slots=True)
class PollerMetrics:
    """Counters and gauges of polling and ingest."""

    polls: Counter
    poll_seconds: Histogram
    polls_skipped: Counter
    series: Gauge
    garbage_lines: Counter
    counter_resets: Counter
    publish_failures: Counter
    owned_nodes: Gauge
    ingest_requests: Counter
    ingest_records: Counter
    ingest_seconds: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> PollerMetrics:
        p = "kumowatch_poller"
        return cls(
            polls=Counter(
                f"{p}_polls_total", "polls by outcome", ["node", "outcome"], registry=registry
            ),
            poll_seconds=Histogram(
                f"{p}_poll_duration_seconds",
                "time for one poll including publishing",
                ["node"],
                registry=registry,
            ),
            polls_skipped=Counter(
                f"{p}_polls_skipped_total",
                "ticks skipped because the previous poll was still running",
                ["node"],
                registry=registry,
            ),
            series=Gauge(
                f"{p}_series", "series read in the last scrape", ["node"], registry=registry
            ),
            garbage_lines=Counter(
                f"{p}_garbage_lines_total",
                "unparseable metrics lines or entries",
                ["node"],
                registry=registry,
            ),
            counter_resets=Counter(
                f"{p}_counter_resets_total",
                "new baselines after KumoMTA counter resets",
                ["node"],
                registry=registry,
            ),
            publish_failures=Counter(
                f"{p}_publish_failures_total",
                "JetStream publishes not acknowledged",
                ["kind"],
                registry=registry,
            ),
            owned_nodes=Gauge(
                f"{p}_owned_nodes", "nodes this replica polls (leases held)", registry=registry
            ),
            ingest_requests=Counter(
                f"{p}_ingest_requests_total",
                "log-hook requests by HTTP status",
                ["code"],
                registry=registry,
            ),
            ingest_records=Counter(
                f"{p}_ingest_records_total",
                "log records by outcome (accepted, duplicate, invalid)",
                ["outcome"],
                registry=registry,
            ),
            ingest_seconds=Histogram(
                f"{p}_ingest_duration_seconds",
                "log-hook request time including JetStream acks",
                registry=registry,
            ),
        )
