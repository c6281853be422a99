"""Alert history in memory: the newest ``limit`` alerts, newest first, acknowledgements merged.

Versions of one alert arrive from the ALERTS stream (replayed at start, then live) and from the
alert-state bucket, in no guaranteed order; a version replaces the stored one only when it is at
least as far along its lifecycle (pending → firing → resolved) and not older. Acknowledgements
come from the acks bucket and are merged when an alert is rendered; each record caches its JSON so
listing 100k alerts stays cheap.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

import orjson

from kumowatch_common.events import Acknowledgement, Alert, AlertRule

_STATUS_RANK: Final = {"pending": 0, "firing": 1, "resolved": 2}


@dataclass(slots=True)
class AlertRecord:
    """One alert's latest version, the rule it was decided with, and its acknowledgement."""

    alert: Alert
    rule: AlertRule | None = None
    ack: Acknowledgement | None = None
    _json: bytes | None = field(default=None, repr=False)

    @property
    def acknowledged(self) -> bool:
        return self.alert.acknowledged or self.ack is not None

    def merged(self) -> Alert:
        """The alert with its acknowledgement fields filled in."""
        ack = self.ack
        if ack is None:
            return self.alert
        return self.alert.model_copy(
            update={
                "acknowledged": True,
                "acknowledgedBy": ack.by,
                "acknowledgedAt": ack.at,
                "ackNote": ack.note,
            }
        )

    def json(self) -> bytes:
        """The merged alert as JSON (cached until the record changes)."""
        if self._json is None:
            self._json = orjson.dumps(self.merged().model_dump(mode="json", by_alias=True))
        return self._json


def _rank(alert: Alert) -> tuple[int, int]:
    return _STATUS_RANK.get(alert.status, 0), alert.timestamp


class AlertIndex:
    """Alerts by id, plus an order by ``(startsAt, id)`` for newest-first listing."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._by_id: dict[str, AlertRecord] = {}
        self._order: list[tuple[int, str]] = []
        self._acks: dict[str, Acknowledgement] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, alert_id: str) -> AlertRecord | None:
        return self._by_id.get(alert_id)

    def upsert(self, alert: Alert, rule: AlertRule | None = None) -> AlertRecord | None:
        """Store a version; the record when it changed, None when the version was stale."""
        rec = self._by_id.get(alert.id)
        if rec is None:
            rec = AlertRecord(alert=alert, rule=rule, ack=self._acks.get(alert.id))
            self._by_id[alert.id] = rec
            key = (alert.startsAt, alert.id)
            if not self._order or key >= self._order[-1]:
                self._order.append(key)
            else:
                bisect.insort(self._order, key)
            self._evict()
            return rec
        if _rank(alert) < _rank(rec.alert):
            if rule is not None and rec.rule is None:
                rec.rule = rule
            return None
        rec.alert = alert
        if rule is not None:
            rec.rule = rule
        rec._json = None
        return rec

    def set_ack(self, ack: Acknowledgement) -> AlertRecord | None:
        """Record an acknowledgement (kept even when the alert is not known yet)."""
        self._acks[ack.alertId] = ack
        rec = self._by_id.get(ack.alertId)
        if rec is not None:
            rec.ack = ack
            rec._json = None
        return rec

    def drop_ack(self, alert_id: str) -> None:
        """An acknowledgement expired or was removed."""
        self._acks.pop(alert_id, None)
        rec = self._by_id.get(alert_id)
        if rec is not None and rec.ack is not None:
            rec.ack = None
            rec._json = None

    def newest_first(self) -> Iterator[AlertRecord]:
        """Every record, newest ``startsAt`` first."""
        by_id = self._by_id
        for _, alert_id in reversed(self._order):
            rec = by_id.get(alert_id)
            if rec is not None:
                yield rec

    def query(
        self,
        *,
        acknowledged: bool | None = None,
        status: str | None = None,
        rule_id: str | None = None,
        severity: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[AlertRecord]:
        """A page of records matching every given filter, newest first."""
        out: list[AlertRecord] = []
        skipped = 0
        for rec in self.newest_first():
            a = rec.alert
            if acknowledged is not None and rec.acknowledged != acknowledged:
                continue
            if status is not None and a.status != status:
                continue
            if rule_id is not None and a.ruleId != rule_id:
                continue
            if severity is not None and a.severity != severity:
                continue
            if skipped < offset:
                skipped += 1
                continue
            out.append(rec)
            if len(out) >= limit:
                break
        return out

    def _evict(self) -> None:
        excess = len(self._by_id) - self.limit
        if excess <= 0:
            return
        # Evict in batches (1% of the limit) so that steady inserts cost O(1) amortised; never
        # evict an alert that is still active.
        target = max(excess, self.limit // 100)
        keep: list[tuple[int, str]] = []
        removed = 0
        for i, key in enumerate(self._order):
            if removed >= target:
                keep.extend(self._order[i:])
                break
            rec = self._by_id.get(key[1])
            if rec is not None and rec.alert.status != "resolved":
                keep.append(key)
                continue
            self._by_id.pop(key[1], None)
            self._acks.pop(key[1], None)
            removed += 1
        self._order = keep
