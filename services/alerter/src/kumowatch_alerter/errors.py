"""Alerter errors.

::

    AlerterError
    ├── RuleStoreError      the rules bucket could not be read or seeded
    └── PublishError        a transition could not be published (retried until it is)
"""

from __future__ import annotations


class AlerterError(Exception):
    """Base of every alerter error."""


class RuleStoreError(AlerterError):
    """The rules bucket could not be read or seeded."""


class PublishError(AlerterError):
    """A transition could not be published or recorded."""

    def __init__(self, alert_id: str, event: str, cause: str) -> None:
        super().__init__(f"publishing {event} of alert {alert_id} failed: {cause}")
        self.alert_id = alert_id
        self.event = event
        self.cause = cause
