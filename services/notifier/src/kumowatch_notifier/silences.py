"""Silences: Alertmanager-style matchers over an alert's labels, from the silences bucket.

Every replica watches the bucket, so a new, changed or deleted silence applies at once. An alert's
labels for matching are the rule's labels, the alert's labels, and ``alertname`` (the rule name),
``ruleId`` and ``severity``. A missing label matches as the empty string; regexes are anchored
(``re.fullmatch``), as in Alertmanager. A silence mutes while ``startsAt <= now < endsAt``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re

from nats.js.kv import KeyValue

from kumowatch_common.clock import Clock, now_ms
from kumowatch_common.events import AlertEvent, Matcher, Silence
from kumowatch_common.kvwatch import watch_forever
from kumowatch_notifier.metrics import Metrics

log = logging.getLogger(__name__)


def alert_labels(event: AlertEvent) -> dict[str, str]:
    """The label set silences match against."""
    return {
        **event.rule.labels,
        **event.alert.labels,
        "alertname": event.rule.name,
        "ruleId": event.rule.id,
        "severity": event.alert.severity,
    }


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def matcher_matches(m: Matcher, labels: dict[str, str]) -> bool:
    """One matcher; an invalid regex matches nothing (for ``=~``) or everything (``!~``)."""
    value = labels.get(m.name, "")
    if m.op == "=":
        return value == m.value
    if m.op == "!=":
        return value != m.value
    rx = _compile(m.value)
    hit = rx is not None and rx.fullmatch(value) is not None
    return hit if m.op == "=~" else not hit


def silence_matches(s: Silence, labels: dict[str, str], now: int) -> bool:
    """Active and every matcher matches."""
    return s.startsAt <= now < s.endsAt and all(matcher_matches(m, labels) for m in s.matchers)


class SilenceIndex:
    """The current silences, kept up to date by a bucket watch."""

    def __init__(self, kv: KeyValue, clock: Clock, metrics: Metrics) -> None:
        self.kv = kv
        self.clock = clock
        self.metrics = metrics
        self.silences: dict[str, Silence] = {}
        self.ready = False

    def muting(self, event: AlertEvent) -> list[str]:
        """Ids of the active silences that mute ``event`` (empty: not silenced)."""
        labels = alert_labels(event)
        now = now_ms(self.clock)
        return sorted(s.id for s in self.silences.values() if silence_matches(s, labels, now))

    def active_count(self) -> int:
        now = now_ms(self.clock)
        return sum(1 for s in self.silences.values() if s.startsAt <= now < s.endsAt)

    async def run(self, stop: asyncio.Event) -> None:
        """Watch the bucket until ``stop``; re-watch after errors."""
        await watch_forever(
            self.kv, stop, self._on_entry, what="silences", on_loaded=self._loaded,
            on_idle=self._count,
        )  # fmt: skip

    def _loaded(self) -> None:
        self.ready = True
        log.info("silences loaded", extra={"count": len(self.silences)})
        self._count()

    def _count(self) -> None:
        self.metrics.silences.set(self.active_count())

    def _on_entry(self, entry: KeyValue.Entry) -> None:
        if entry.operation in ("DEL", "PURGE") or not entry.value:
            self.silences.pop(entry.key, None)
        else:
            self._apply(entry.key, entry.value)
        self._count()

    def _apply(self, key: str, value: bytes) -> None:
        try:
            silence = Silence.from_bytes(value)
        except ValueError:
            log.warning("unreadable silence ignored", extra={"key": key})
            self.silences.pop(key, None)
            return
        self.silences[key] = silence
