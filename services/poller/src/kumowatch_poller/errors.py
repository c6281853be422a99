"""Errors of the poller.

Hierarchy::

    PollerError
    ├── FetchError            a KumoMTA endpoint could not be read (``kind``: refused, timeout,
    │                         http, garbage); ``status`` is the HTTP status when there was one
    ├── MetricsParseError     a metrics body held nothing usable
    ├── PublishError          JetStream did not acknowledge every message (``failed`` of ``total``)
    └── IngestError           a log-hook request was refused (``status`` is the HTTP answer)
        ├── BadRequestError   invalid body or record (``record`` index, ``field`` path)
        ├── BodyTooLargeError the body exceeded INGEST_MAX_BODY_BYTES
        └── UnavailableError  NATS could not take the records; the sender should retry
"""

from __future__ import annotations

from typing import Literal

FetchKind = Literal["refused", "timeout", "http", "garbage"]


class PollerError(Exception):
    """Base of every poller error."""


class FetchError(PollerError):
    """A KumoMTA endpoint did not give a usable answer."""

    def __init__(self, path: str, kind: FetchKind, detail: str, status: int | None = None) -> None:
        super().__init__(f"{path}: {detail}")
        self.path = path
        self.kind: FetchKind = kind
        self.detail = detail
        self.status = status


class MetricsParseError(PollerError):
    """A metrics body had no parseable series."""


class PublishError(PollerError):
    """Some messages of a batch were not acknowledged by JetStream."""

    def __init__(self, failed: int, total: int, cause: str) -> None:
        super().__init__(f"{failed} of {total} publishes failed: {cause}")
        self.failed = failed
        self.total = total
        self.cause = cause


class IngestError(PollerError):
    """A log-hook request that is answered with ``status``."""

    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequestError(IngestError):
    """The body or one record is invalid; nothing of the request is published."""

    status = 400

    def __init__(self, message: str, record: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.record = record
        self.field = field


class BodyTooLargeError(IngestError):
    """The (decompressed) body is larger than the limit."""

    status = 413


class UnavailableError(IngestError):
    """NATS is unreachable or did not acknowledge; KumoMTA retries and dedup makes that safe."""

    status = 503
