"""Outcome records: one ``NotificationOutcome`` per attempt or decision, on NOTIFICATIONS.

Subject ``notifications.v1.<channel>.<outcome>``, ``Nats-Msg-Id`` =
``<idempotencyKey>:<attempt>:<outcome>`` so a replayed attempt is recorded once. A dead letter is a
:class:`DeadLetter`: the outcome fields plus ``payload``, the full ``AlertEvent``, so it can be
replayed by republishing ``payload`` to ALERTS.
"""

from __future__ import annotations

import asyncio
import logging

from nats.js import JetStreamContext

from kumowatch_common import subjects
from kumowatch_common.clock import Clock, now_ms
from kumowatch_common.events import Channel, NotificationOutcome, OutcomeKind
from kumowatch_notifier.errors import RetryableHandlerError
from kumowatch_notifier.metrics import Metrics
from kumowatch_notifier.notification import Notification

log = logging.getLogger(__name__)


class DeadLetter(NotificationOutcome):
    """A ``dead_letter`` outcome; ``payload`` (from the common contract) holds the alert event."""


class Recorder:
    """Publishes outcome records and counts them."""

    def __init__(self, js: JetStreamContext, clock: Clock, metrics: Metrics) -> None:
        self.js = js
        self.clock = clock
        self.metrics = metrics

    async def record(
        self,
        n: Notification,
        channel: Channel,
        outcome: OutcomeKind,
        attempt: int = 1,
        *,
        target: str | None = None,
        status_code: int | None = None,
        error: str | None = None,
        retryable: bool | None = None,
        duration_ms: float | None = None,
        suppressed: int = 0,
        required: bool = True,
    ) -> None:
        """Publish one outcome; ``required`` ones raise ``RetryableHandlerError`` if NATS fails."""
        key = n.idempotency_key(channel)
        rid = f"{key}:{attempt}:{outcome}"
        fields = {
            "id": rid,
            "alertId": n.alert.id,
            "ruleId": n.rule.id,
            "event": n.event.event,
            "channel": channel,
            "outcome": outcome,
            "attempt": attempt,
            "timestamp": now_ms(self.clock),
            "idempotencyKey": key,
            "target": target,
            "statusCode": status_code,
            "error": error,
            "retryable": retryable,
            "durationMs": None if duration_ms is None else round(duration_ms, 2),
            "suppressedCount": suppressed if suppressed else (n.note.suppressed if n.note else 0),
        }
        record: NotificationOutcome
        if outcome == "dead_letter":
            record = DeadLetter(**fields, payload=n.event)
        else:
            record = NotificationOutcome(**fields)
        self.metrics.outcomes.labels(channel, outcome).inc()
        await self._publish(
            subjects.notification(channel, outcome), record.to_bytes(), rid, required
        )

    async def _publish(self, subject: str, data: bytes, msg_id: str, required: bool) -> None:
        delay = 0.2
        for attempt in range(4):
            try:
                await self.js.publish(subject, data, headers={"Nats-Msg-Id": msg_id})
                return
            except Exception as exc:
                if attempt == 3:
                    if required:
                        raise RetryableHandlerError(
                            f"could not record outcome: {type(exc).__name__}", delay=2.0
                        ) from exc
                    log.warning(
                        "outcome not recorded", extra={"subject": subject, "error": repr(exc)}
                    )
                    return
                await asyncio.sleep(delay)
                delay *= 2
