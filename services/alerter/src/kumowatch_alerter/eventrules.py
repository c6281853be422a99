"""Event rules over KumoMTA log records: counts and ratios per window, judged on every record.

Each (rule, node, group) series keeps per-second buckets of (matching, denominator) counts, so
memory is bounded by the window length, not by the record rate. ``event_ratio`` is
``100 × records matching both match and of / records matching of`` (``of`` absent: every record
in scope), judged only once the denominator reaches ``minVolume``.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from kumowatch_alerter.compiled import CompiledRule
from kumowatch_alerter.scope import compile_glob, parse_ready_site, parse_scheduled
from kumowatch_common.events import EventMatch, KumoLogEvent


def record_labels(event: KumoLogEvent) -> dict[str, str]:
    """Labels of one record: node, type, classification, queue, campaign, tenant, domain, provider."""
    rec = event.record
    labels: dict[str, str] = {"node": event.node, "type": rec.type}
    if rec.bounce_classification:
        labels["classification"] = rec.bounce_classification
    if rec.queue:
        labels["queue"] = rec.queue
        parts = parse_scheduled(rec.queue)
        for key, value in (
            ("campaign", parts.campaign),
            ("tenant", parts.tenant),
            ("domain", parts.domain),
        ):
            if value:
                labels[key] = value
    provider = rec.provider_name or (parse_ready_site(rec.site) if rec.site else None)
    if provider:
        labels["provider"] = provider
    return labels


def matches(match: EventMatch | None, labels: dict[str, str]) -> bool:
    """Does a record (by its labels) satisfy an ``EventMatch``? None matches everything."""
    if match is None:
        return True
    if match.types and labels.get("type", "").lower() not in {t.lower() for t in match.types}:
        return False
    if match.bounceClassifications and labels.get("classification", "").lower() not in {
        c.lower() for c in match.bounceClassifications
    }:
        return False
    for name in ("domain", "provider", "tenant"):
        pattern = getattr(match, name)
        if pattern is not None:
            value = labels.get(name)
            if not value or compile_glob(pattern).match(value) is None:
                return False
    return True


class EventSeries:
    """Per-second buckets ``[second, matched, of]`` over one window, with running totals."""

    __slots__ = ("buckets", "matched", "of")

    def __init__(self) -> None:
        self.buckets: deque[list[int]] = deque()
        self.matched = 0
        self.of = 0

    def add(self, second: int, matched: int, of: int) -> None:
        if self.buckets and self.buckets[-1][0] >= second:
            bucket = self.buckets[-1]  # same second, or slightly out of order: count it now
        else:
            bucket = [second, 0, 0]
            self.buckets.append(bucket)
        bucket[1] += matched
        bucket[2] += of
        self.matched += matched
        self.of += of

    def prune(self, start_second: int) -> None:
        """Drop buckets before ``start_second``."""
        while self.buckets and self.buckets[0][0] < start_second:
            _, m, o = self.buckets.popleft()
            self.matched -= m
            self.of -= o

    def value(self, cr: CompiledRule) -> float | None:
        """The rule's value, or None when it cannot be judged (ratio below minVolume)."""
        if cr.type == "event_count":
            return float(self.matched)
        if self.of <= 0 or self.of < cr.min_volume:
            return None
        return 100.0 * self.matched / self.of


def classify(cr: CompiledRule, labels: dict[str, str]) -> tuple[int, int] | None:
    """(matched, of) contributions of one record to a rule, or None if it does not count."""
    cond = cr.rule.condition
    if cr.scope.restricts_series and not cr.scope.labels_ok(labels):
        return None
    if cr.type == "event_count":
        return (1, 0) if matches(cond.match, labels) else None
    of = matches(cond.of, labels)
    if not of:
        return None
    return (1 if matches(cond.match, labels) else 0, 1)


def group_key(cr: CompiledRule, labels: dict[str, Any]) -> str | None:
    """The series key of a record within its node ("" for per-node rules)."""
    if cr.group is None:
        return ""
    value = labels.get(cr.group)
    return str(value) if value else None
