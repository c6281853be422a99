"""KumoMTA log records (``JsonLogRecord``): the pydantic model and the builder the sim uses."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from kumowatch_sim.humantime import rfc3339

RecordType = Literal[
    "Reception",
    "Delivery",
    "Bounce",
    "TransientFailure",
    "Expiration",
    "AdminBounce",
    "OOB",
    "Feedback",
    "Rejection",
    "AdminRebind",
    "DeferredInjectionRebind",
    "Delayed",
    "XferOut",
    "XferIn",
]

_RFC3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnhancedCode(_Strict):
    """An RFC 3463 enhanced status code."""

    class_: int = Field(alias="class")
    subject: int
    detail: int


class Response(_Strict):
    """The SMTP response that produced the record."""

    code: int
    enhanced_code: EnhancedCode | None
    content: str
    command: str | None


class PeerAddress(_Strict):
    """The remote host: MX on delivery, EHLO name on reception."""

    name: str
    addr: str
    is_secure: bool | None = None


class SourceAddress(_Strict):
    """The local egress address used for a delivery."""

    address: str
    protocol: str | None = None
    server: str | None = None


class LogRecord(_Strict):
    """One KumoMTA JSON log record as POSTed by a log hook."""

    type: RecordType
    id: str = Field(pattern=r"^[0-9a-f]{32}$")
    sender: str
    recipient: str | list[str]
    queue: str
    site: str
    size: int = Field(ge=0)
    response: Response
    peer_address: PeerAddress | None
    timestamp: int
    event_time: str = Field(pattern=_RFC3339)
    created: int
    created_time: str = Field(pattern=_RFC3339)
    num_attempts: int = Field(ge=0)
    bounce_classification: str
    egress_pool: str | None
    egress_source: str | None
    source_address: SourceAddress | None
    feedback_report: dict[str, Any] | None
    meta: dict[str, Any]
    headers: dict[str, Any]
    delivery_protocol: str | None
    reception_protocol: str | None
    nodeid: UUID
    tls_cipher: str | None = None
    tls_protocol_version: str | None = None
    tls_peer_subject_name: list[str] | None = None
    provider_name: str | None = None
    session_id: UUID | None = None


def response(
    code: int, enhanced: tuple[int, int, int] | None, content: str, command: str | None
) -> dict[str, Any]:
    """Build a ``response`` object."""
    return {
        "code": code,
        "enhanced_code": (
            None
            if enhanced is None
            else {"class": enhanced[0], "subject": enhanced[1], "detail": enhanced[2]}
        ),
        "content": content,
        "command": command,
    }


def build_record(
    *,
    kind: str,
    msg_id: str,
    sender: str,
    recipient: str,
    queue: str,
    site: str,
    size: int,
    resp: dict[str, Any],
    peer: dict[str, Any] | None,
    now: float,
    created: float,
    num_attempts: int,
    classification: str,
    egress_pool: str | None,
    egress_source: str | None,
    source_address: dict[str, Any] | None,
    meta: dict[str, Any],
    delivery_protocol: str | None,
    reception_protocol: str | None,
    nodeid: str,
    provider_name: str | None,
    session_id: str | None,
) -> dict[str, Any]:
    """Assemble a record dict in ``JsonLogRecord`` field order."""
    record: dict[str, Any] = {
        "type": kind,
        "id": msg_id,
        "sender": sender,
        "recipient": recipient,
        "queue": queue,
        "site": site,
        "size": size,
        "response": resp,
        "peer_address": peer,
        "timestamp": int(now),
        "event_time": rfc3339(now),
        "created": int(created),
        "created_time": rfc3339(created),
        "num_attempts": num_attempts,
        "bounce_classification": classification,
        "egress_pool": egress_pool,
        "egress_source": egress_source,
        "source_address": source_address,
        "feedback_report": None,
        "meta": meta,
        "headers": {},
        "delivery_protocol": delivery_protocol,
        "reception_protocol": reception_protocol,
        "nodeid": nodeid,
    }
    if provider_name is not None:
        record["provider_name"] = provider_name
    if session_id is not None:
        record["session_id"] = session_id
    return record
