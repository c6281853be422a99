"""The parsed form of one KumoMTA metrics scrape, shared by the text and the JSON parser.

Each family maps a *series key* to its value: ``""`` for a series without labels, the label value
for a series with one label (almost every KumoMTA metric: ``service``, ``queue``, ``provider``,
``name``), and ``name=value`` pairs sorted by name and joined with ``\\x1f`` for two or more.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

#: What the poller reads; the parsers skip every other family without looking at its labels.
WANTED: Final = frozenset(
    {
        "total_messages_delivered",
        "total_messages_transfail",
        "total_messages_fail",
        "total_messages_received",
        "total_messages_delivered_by_provider",
        "total_messages_transfail_by_provider",
        "total_messages_fail_by_provider",
        "queued_count_by_provider",
        "connection_count_by_provider",
        "scheduled_count",
        "scheduled_count_total",
        "scheduled_queue_count",
        "ready_count",
        "connection_count",
        "total_connections_denied",
        "disk_free_percent",
        "memory_usage",
        "memory_limit",
        "message_count",
        "log_hook_backlog_count",
    }
)

LABEL_SEP: Final = "\x1f"


def label_key(pairs: Iterable[tuple[str, str]]) -> str:
    """The series key of a label set (see the module docstring)."""
    items = sorted(pairs)
    if not items:
        return ""
    if len(items) == 1:
        return items[0][1]
    return LABEL_SEP.join(f"{k}={v}" for k, v in items)


@dataclass(slots=True)
class MetricSet:
    """Families by name; ``series`` parsed, ``skipped`` (not wanted) and ``garbage`` line counts."""

    families: dict[str, dict[str, float]] = field(default_factory=dict)
    series: int = 0
    skipped: int = 0
    garbage: int = 0

    def family(self, name: str) -> dict[str, float]:
        """Every series of one family (empty when absent)."""
        return self.families.get(name) or {}

    def value(self, name: str, key: str = "") -> float | None:
        """One series' value, or None when the series is absent."""
        fam = self.families.get(name)
        if fam is None:
            return None
        return fam.get(key)

    def sum(self, name: str, keys: Iterable[str] | None = None) -> float:
        """Sum of some (or all) series of a family; absent series count 0."""
        fam = self.families.get(name)
        if not fam:
            return 0.0
        if keys is None:
            return float(sum(fam.values()))
        return float(sum(fam.get(k, 0.0) for k in keys))
