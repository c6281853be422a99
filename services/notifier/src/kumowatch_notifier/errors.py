"""Errors of the notifier.

::

    NotifierError
    ├── ChannelError                 one delivery attempt failed (channel, status_code, retry_after)
    │   ├── RetryableChannelError    429, 5xx, timeouts, connection errors, SMTP 4xx
    │   └── PermanentChannelError    other 4xx, SMTP 5xx, bad target
    │       └── ChannelNotConfiguredError   no target for the channel
    └── HandlerError                 what the consumer does with a message
        ├── RetryableHandlerError    nak with a delay (e.g. NATS unavailable while recording)
        └── PermanentHandlerError    term, log, count (e.g. an undecodable payload)
"""

from __future__ import annotations


class NotifierError(Exception):
    """Base of every notifier error."""


class ChannelError(NotifierError):
    """One delivery attempt failed; ``retryable`` says whether another attempt may succeed."""

    retryable: bool = False

    def __init__(
        self,
        channel: str,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.channel = channel
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after


class RetryableChannelError(ChannelError):
    """A transient failure: retry with backoff (or after ``retry_after`` seconds)."""

    retryable = True


class PermanentChannelError(ChannelError):
    """Retrying will not help."""


class ChannelNotConfiguredError(PermanentChannelError):
    """The rule asks for a channel that has no target here."""

    def __init__(self, channel: str) -> None:
        super().__init__(channel, "channel not configured")


class HandlerError(NotifierError):
    """Raised by an event handler to say how the message must be settled."""


class RetryableHandlerError(HandlerError):
    """Nak the message with ``delay`` seconds; another attempt (maybe elsewhere) follows."""

    def __init__(self, message: str, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentHandlerError(HandlerError):
    """Terminate the message: it can never be handled."""
