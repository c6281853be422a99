"""Every NATS subject kumowatch publishes: the public API other programs subscribe to.

Subjects are versioned (``v1``) and tokenised so that wildcards select what a consumer needs:

- ``kumomta.v1.<node>.metrics|queues|providers|status|states``: snapshots from the poller
- ``kumomta.v1.<node>.events.<type>``: one KumoMTA log record (``Delivery``, ``Bounce``, ...)
- ``alerts.v1.<rule_id>.<state>``: alert transitions (firing, resolved, acknowledged, silenced)
- ``notifications.v1.<channel>.<outcome>``: one notification attempt's outcome
"""

from __future__ import annotations

import re
from typing import Final, Literal

TOKEN_RE: Final = re.compile(r"^[A-Za-z0-9_-]+$")

SnapshotKind = Literal["metrics", "queues", "providers", "status", "states"]
SNAPSHOT_KINDS: Final[tuple[SnapshotKind, ...]] = (
    "metrics",
    "queues",
    "providers",
    "status",
    "states",
)

KUMOMTA_ROOT: Final = "kumomta.v1"
ALERTS_ROOT: Final = "alerts.v1"
NOTIFICATIONS_ROOT: Final = "notifications.v1"

#: Request/reply: ask a notifier replica to send a test notification (queue group).
NOTIFIER_TEST: Final = "kumowatch.v1.notifier.test"

#: Wildcards for consumers.
ALL_SNAPSHOTS: Final = f"{KUMOMTA_ROOT}.*.*"
ALL_EVENTS: Final = f"{KUMOMTA_ROOT}.*.events.>"
ALL_ALERTS: Final = f"{ALERTS_ROOT}.>"
ALL_NOTIFICATIONS: Final = f"{NOTIFICATIONS_ROOT}.>"


class InvalidTokenError(ValueError):
    """A name that cannot be used as one NATS subject token."""

    def __init__(self, what: str, value: str) -> None:
        super().__init__(
            f"invalid {what} {value!r}: use only letters, digits, '_' and '-' (it becomes a NATS "
            "subject token)"
        )
        self.what = what
        self.value = value


def validate_token(value: str, what: str = "name") -> str:
    """Return ``value`` if it is a valid subject token, else raise :class:`InvalidTokenError`."""
    if not TOKEN_RE.match(value):
        raise InvalidTokenError(what, value)
    return value


def sanitize_token(value: str) -> str:
    """Map an arbitrary string (e.g. a log record type) onto a valid token."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", value)
    return cleaned or "_"


def snapshot(node: str, kind: SnapshotKind) -> str:
    """``kumomta.v1.<node>.<kind>``."""
    return f"{KUMOMTA_ROOT}.{validate_token(node, 'node name')}.{kind}"


def node_snapshots(node: str) -> str:
    """Wildcard for every snapshot of one node."""
    return f"{KUMOMTA_ROOT}.{validate_token(node, 'node name')}.*"


def all_of_kind(kind: SnapshotKind) -> str:
    """Wildcard for one snapshot kind across nodes, e.g. ``kumomta.v1.*.metrics``."""
    return f"{KUMOMTA_ROOT}.*.{kind}"


def event(node: str, record_type: str) -> str:
    """``kumomta.v1.<node>.events.<type>``; odd record types are sanitised, never rejected."""
    return (
        f"{KUMOMTA_ROOT}.{validate_token(node, 'node name')}.events.{sanitize_token(record_type)}"
    )


def node_events(node: str) -> str:
    """Wildcard for every log event of one node."""
    return f"{KUMOMTA_ROOT}.{validate_token(node, 'node name')}.events.>"


AlertState = Literal["firing", "resolved", "acknowledged", "silenced"]


def alert(rule_id: str, state: AlertState) -> str:
    """``alerts.v1.<rule_id>.<state>``."""
    return f"{ALERTS_ROOT}.{validate_token(rule_id, 'rule id')}.{state}"


NotificationOutcomeName = Literal[
    "sent", "retry", "failed", "dead_letter", "suppressed", "silenced"
]


def notification(channel: str, outcome: NotificationOutcomeName) -> str:
    """``notifications.v1.<channel>.<outcome>``."""
    return f"{NOTIFICATIONS_ROOT}.{validate_token(channel, 'channel')}.{outcome}"


def parse_node(subject: str) -> str | None:
    """The node token of a ``kumomta.v1.<node>...`` subject, or None."""
    parts = subject.split(".")
    if len(parts) >= 4 and parts[0] == "kumomta" and parts[1] == "v1":
        return parts[2]
    return None
