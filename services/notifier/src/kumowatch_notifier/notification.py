"""What one notification is: an alert event to announce, plus throttle context.

A :class:`Notification` is built once per alert event (or per throttle summary, or per test
request) and rendered by every channel; its idempotency key per channel is the same on every
attempt and on every replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from kumowatch_common.events import Alert, AlertEvent, AlertRule

Kind = Literal["firing", "resolved", "summary", "test"]


@dataclass(frozen=True, slots=True)
class ThrottleNote:
    """``suppressed`` notifications for the rule were held back since ``since_ms``."""

    suppressed: int
    since_ms: int

    def text(self) -> str:
        """The line every channel adds."""
        noun = "notification" if self.suppressed == 1 else "notifications"
        return f"{self.suppressed} {noun} suppressed since {format_time(self.since_ms)}"


@dataclass(frozen=True, slots=True)
class Notification:
    """One thing to announce on the rule's channels."""

    event: AlertEvent
    kind: Kind
    note: ThrottleNote | None = None

    @property
    def alert(self) -> Alert:
        return self.event.alert

    @property
    def rule(self) -> AlertRule:
        return self.event.rule

    @property
    def event_key(self) -> str:
        """``<alert id>:<event>``: the ALERTS message id of the event announced."""
        return f"{self.alert.id}:{self.event.event}"

    def idempotency_key(self, channel: str) -> str:
        """Stable across retries and replicas: ``<alert id>:<event>:<channel>``."""
        return f"{self.event_key}:{channel}"

    @property
    def time_ms(self) -> int:
        """When the announced transition happened."""
        if self.kind == "resolved" and self.alert.endsAt is not None:
            return self.alert.endsAt
        return self.alert.timestamp


def format_time(ms: int) -> str:
    """Human time, UTC: ``2024-05-01 12:00:00 UTC``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_time(ms: int) -> str:
    """ISO 8601 with milliseconds, UTC (``...Z``), as JavaScript's ``toISOString``."""
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def condition_text(rule: AlertRule) -> str:
    """The seed's ``type op threshold``."""
    c = rule.condition
    return f"{c.type} {c.operator} {_num(c.threshold)}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def threshold_text(value: float) -> str:
    """A threshold as written in the rule (``500``, ``5.5``)."""
    return _num(value)
