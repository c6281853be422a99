"""Notification throttling per rule, shared by every replica through the throttle bucket.

The seed's window semantics: at most ``maxAlerts`` notifications per ``period`` ms, in a fixed
window opened by the first notification; a window is stale once ``now - windowStart > period``.
Every notification of the rule (firing and resolved) counts. State lives under
``throttle.<rule id>`` and changes only by compare-and-set (``create`` / ``update(last=rev)``,
retried on conflict), so N replicas share one budget.

A suppressed notification is counted in the state (``suppressed``, ``suppressedSince``, and the
last suppressed event). The next notification sent for the rule carries the note "N notifications
suppressed since <time>". If a window closes with suppressions and nothing new came, one replica
claims a summary (``pending``, by CAS) and sends it; a claim older than ``claim_timeout`` (its
replica died) may be taken over, so the summary is sent at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass

from nats.js.errors import KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field

from kumowatch_common.clock import Clock, now_ms
from kumowatch_common.events import AlertEvent
from kumowatch_common.kvwatch import watch_forever
from kumowatch_notifier.errors import RetryableHandlerError
from kumowatch_notifier.metrics import Metrics
from kumowatch_notifier.notification import Notification, ThrottleNote

log = logging.getLogger(__name__)

PREFIX = "throttle."
MAX_SENT_KEYS = 50
MAX_CAS_TRIES = 200


class PendingSummary(BaseModel):
    """A claimed summary: who sends it, for which suppressions."""

    model_config = ConfigDict(extra="forbid")
    count: int
    since: int
    claimedBy: str
    claimedAt: int
    event: AlertEvent


class ThrottleState(BaseModel):
    """The value of ``throttle.<rule id>``."""

    model_config = ConfigDict(extra="forbid")
    windowStart: int = 0
    period: int = 0
    count: int = 0
    sent: list[str] = Field(default_factory=list, description="event keys sent in this window")
    suppressed: int = 0
    suppressedSince: int | None = None
    last: AlertEvent | None = Field(default=None, description="last suppressed event")
    pending: PendingSummary | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether to send, and the note to add when earlier notifications were suppressed."""

    allowed: bool
    note: ThrottleNote | None = None
    suppressed: int = 0


class Throttler:
    """Admit notifications and claim summaries for one replica."""

    def __init__(
        self,
        kv: KeyValue,
        clock: Clock,
        instance: str,
        metrics: Metrics,
        claim_timeout: float = 600.0,
    ) -> None:
        self.kv = kv
        self.clock = clock
        self.instance = instance
        self.metrics = metrics
        self.claim_timeout_ms = int(claim_timeout * 1000)
        self._known: dict[str, int] = {}  # key -> latest revision seen by the watcher
        self.ready = False

    async def _get(self, key: str) -> tuple[int | None, ThrottleState | None]:
        try:
            entry = await self.kv.get(key)
        except NotFoundError:
            return None, None
        if not entry.value:
            return None, None
        try:
            return entry.revision, ThrottleState.model_validate_json(entry.value)
        except ValueError:
            log.warning("unreadable throttle state replaced", extra={"key": key})
            return entry.revision, None

    async def _put(self, key: str, state: ThrottleState, rev: int | None) -> bool:
        data = state.model_dump_json().encode()
        try:
            if rev is None:
                await self.kv.create(key, data)
            else:
                await self.kv.update(key, data, last=rev)
        except KeyWrongLastSequenceError:
            self.metrics.throttle_conflicts.inc()
            return False
        return True

    async def _backoff(self, tries: int) -> None:
        await asyncio.sleep(random.uniform(0, min(0.05, 0.002 * (tries + 1))))

    async def admit(self, n: Notification) -> Decision:
        """Count ``n`` against its rule's budget; CAS-retried until it sticks."""
        throttle = n.rule.throttle
        if throttle is None:
            return Decision(True)
        key = PREFIX + n.rule.id
        for tries in range(MAX_CAS_TRIES):
            rev, st = await self._get(key)
            decision, new = self._decide(n, st, throttle.period, throttle.maxAlerts)
            if new is None or await self._put(key, new, rev):
                return decision
            await self._backoff(tries)
        raise RetryableHandlerError("throttle state contended", delay=0.5)

    def _decide(
        self, n: Notification, st: ThrottleState | None, period: int, max_alerts: int
    ) -> tuple[Decision, ThrottleState | None]:
        now = now_ms(self.clock)
        ek = n.event_key
        stale = st is None or now - st.windowStart > period
        if st is not None and not stale and ek in st.sent:
            return Decision(True), None  # a redelivery of a notification already admitted
        note = None
        if st is not None and st.suppressed > 0:
            note = ThrottleNote(st.suppressed, st.suppressedSince or st.windowStart)
        if stale:
            new = ThrottleState(
                windowStart=now,
                period=period,
                count=1,
                sent=[ek],
                pending=st.pending if st is not None else None,
            )
            return Decision(True, note), new
        assert st is not None
        if st.count < max_alerts:
            new = st.model_copy(
                update={
                    "count": st.count + 1,
                    "period": period,
                    "sent": [*st.sent, ek][-MAX_SENT_KEYS:],
                    "suppressed": 0,
                    "suppressedSince": None,
                    "last": None,
                }
            )
            return Decision(True, note), new
        new = st.model_copy(
            update={
                "period": period,
                "suppressed": st.suppressed + 1,
                "suppressedSince": st.suppressedSince or now,
                "last": n.event,
            }
        )
        return Decision(False, suppressed=st.suppressed + 1), new

    # ------------------------------------------------------------------ summaries

    async def watch(self, stop: asyncio.Event) -> None:
        """Track which rules have throttle state, so any replica can send a summary."""
        await watch_forever(
            self.kv, stop, self._on_entry, what="throttle", keys=PREFIX + ">", meta_only=True,
            on_loaded=self._loaded,
        )  # fmt: skip

    def _loaded(self) -> None:
        self.ready = True

    def _on_entry(self, entry: KeyValue.Entry) -> None:
        if entry.operation in ("DEL", "PURGE"):
            self._known.pop(entry.key, None)
        else:
            self._known[entry.key] = entry.revision or 0

    async def claim_due(self) -> list[Notification]:
        """Claim every summary that is due and not claimed by a live replica."""
        out = []
        for key in list(self._known):
            try:
                n = await self._claim(key)
            except Exception as exc:
                log.warning("summary claim failed", extra={"key": key, "error": repr(exc)})
                continue
            if n is not None:
                out.append(n)
        return out

    async def _claim(self, key: str) -> Notification | None:
        for tries in range(20):
            rev, st = await self._get(key)
            if st is None:
                self._known.pop(key, None)  # expired by the bucket's TTL
                return None
            now = now_ms(self.clock)
            if st.pending is not None:
                if now - st.pending.claimedAt <= self.claim_timeout_ms:
                    return None
                pending = st.pending.model_copy(
                    update={"claimedBy": self.instance, "claimedAt": now}
                )
                new = st.model_copy(update={"pending": pending})
            elif st.suppressed > 0 and st.last is not None and now - st.windowStart > st.period:
                pending = PendingSummary(
                    count=st.suppressed,
                    since=st.suppressedSince or st.windowStart,
                    claimedBy=self.instance,
                    claimedAt=now,
                    event=st.last,
                )
                new = st.model_copy(
                    update={
                        "suppressed": 0,
                        "suppressedSince": None,
                        "last": None,
                        "pending": pending,
                    }
                )
            else:
                return None
            if await self._put(key, new, rev):
                return summary_notification(pending)
            await self._backoff(tries)
        return None

    async def finish(self, n: Notification) -> None:
        """Clear the claim of a summary this replica has delivered."""
        key = PREFIX + n.rule.id
        for tries in range(MAX_CAS_TRIES):
            rev, st = await self._get(key)
            if st is None or st.pending is None or st.pending.claimedBy != self.instance:
                return
            if await self._put(key, st.model_copy(update={"pending": None}), rev):
                return
            await self._backoff(tries)


def summary_notification(p: PendingSummary) -> Notification:
    """The summary of a closed window, with a deterministic id (same on every replica)."""
    note = ThrottleNote(p.count, p.since)
    alert = p.event.alert.model_copy(
        update={
            "id": f"throttle-summary-{p.event.rule.id}-{p.since}",
            "message": f"{note.text()} (last: {p.event.alert.message})",
            "status": "firing",
        }
    )
    event = AlertEvent(event="firing", alert=alert, rule=p.event.rule)
    return Notification(event, "summary", note)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
