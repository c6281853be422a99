"""KumoMTA log records as kumowatch events: validation, the node they belong to, the status summary.

The summary is the seed's ``message:status`` shape. Record types map to statuses as: Delivery ->
delivered; Bounce, AdminBounce, OOB -> bounced; Expiration, Rejection -> failed; TransientFailure,
Delayed -> deferred; Feedback -> delivered (a complaint about a delivered message); Reception and
everything else (rebinds, transfers, unknown types) -> queued.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final, Literal

import orjson
from pydantic import ValidationError

from kumowatch_common import subjects
from kumowatch_common.events import SCHEMA_VERSION, KumoLogEvent, KumoLogRecord, MessageStatus
from kumowatch_poller import recordcheck
from kumowatch_poller.errors import BadRequestError
from kumowatch_poller.recordcheck import Facts

UNKNOWN_NODE: Final = "unknown"
StatusName = Literal["queued", "delivered", "bounced", "deferred", "failed"]
STATUS_BY_TYPE: Final[Mapping[str, StatusName]] = {
    "Delivery": "delivered",
    "Bounce": "bounced",
    "AdminBounce": "bounced",
    "OOB": "bounced",
    "Expiration": "failed",
    "Rejection": "failed",
    "TransientFailure": "deferred",
    "Delayed": "deferred",
    "Feedback": "delivered",
    "Reception": "queued",
}


def split_body(body: bytes) -> list[Any]:
    """One JSON object, a JSON array of objects, or NDJSON (one object per line)."""
    stripped = body.strip()
    if not stripped:
        raise BadRequestError("empty body: send one JSON record, a JSON array or NDJSON")
    if stripped[:1] == b"[":
        try:
            doc = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            raise BadRequestError(f"invalid JSON array: {exc}") from None
        return list(doc)
    try:
        return [orjson.loads(stripped)]
    except orjson.JSONDecodeError:
        pass
    out: list[Any] = []
    for line in stripped.split(b"\n"):
        if not line.strip():
            continue
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise BadRequestError(f"record is not JSON: {exc}", record=len(out)) from None
    return out


def validate(docs: list[Any]) -> list[KumoLogRecord]:
    """Every document as a record, or BadRequestError naming the first bad one and its field."""
    return [_model(index, doc) for index, doc in enumerate(docs)]


def check(docs: list[Any]) -> list[Facts]:
    """What :func:`validate` accepts and refuses, as the facts the ingest reads (the hot path).

    Records valid as they stand skip the model (see :mod:`kumowatch_poller.recordcheck`); the
    model decides the rest, so coercions and errors are exactly :func:`validate`'s.
    """
    out: list[Facts] = []
    for index, doc in enumerate(docs):
        facts = recordcheck.fast(doc) if type(doc) is dict else None
        out.append(facts if facts is not None else Facts.of(_model(index, doc)))
    return out


def _model(index: int, doc: Any) -> KumoLogRecord:
    if not isinstance(doc, dict):
        raise BadRequestError("record is not a JSON object", record=index)
    try:
        return KumoLogRecord.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = _field_path(doc, err["loc"])
        raise BadRequestError(f"{field}: {err['msg']}", record=index, field=field) from None


def _field_path(doc: Any, loc: tuple[int | str, ...]) -> str | None:
    # pydantic adds union member tags ("int", "list[str]") to loc: keep only the record's own path.
    parts: list[str] = []
    current = doc
    for key in loc:
        found, current = _child(current, key)
        if not found:
            if not parts:
                parts.append(str(key))  # a missing required field
            break
        parts.append(str(key))
    return ".".join(parts) or None


def _child(node: Any, key: int | str) -> tuple[bool, Any]:
    if isinstance(node, dict) and key in node:
        return True, node[key]
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return True, node[key]
    return False, None


def canonical(doc: Mapping[str, Any]) -> bytes:
    """The record as received, encoded with sorted keys: the same bytes for the same record."""
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def dedup_id(doc: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the record as received: a retry gets the same id."""
    return _digest(canonical(doc))


def _digest(encoded: bytes) -> str:
    return hashlib.sha256(encoded).hexdigest()


def resolve_node(
    record: KumoLogRecord | Facts, explicit: str | None, node_ids: Mapping[str, str]
) -> str:
    """``?node=`` if given, else the polled node with this nodeid, else the nodeid, else unknown."""
    if explicit is not None:
        return explicit
    nodeid = record.nodeid
    if nodeid:
        known = node_ids.get(nodeid)
        if known is not None:
            return known
        if subjects.TOKEN_RE.match(nodeid):
            return nodeid
    return UNKNOWN_NODE


def summary_fields(record: KumoLogRecord | Facts) -> dict[str, Any]:
    """The fields of the seed's ``message:status`` summary of one record."""
    response = record.response or {}
    content = response.get("content")
    return {
        "schema_version": SCHEMA_VERSION,
        "messageId": record.id,
        "status": STATUS_BY_TYPE.get(record.type, "queued"),
        "queue": record.queue or "",
        "timestamp": int(float(record.timestamp) * 1000),
        "details": content if isinstance(content, str) else None,
    }


def summary(record: KumoLogRecord) -> MessageStatus:
    """The seed's ``message:status`` summary of one record."""
    return MessageStatus.model_validate(summary_fields(record))


def event(record: KumoLogRecord, node: str, received_at: int) -> KumoLogEvent:
    """The ``kumomta.v1.<node>.events.<type>`` payload as a model."""
    _, payload = encode(record.model_dump(mode="json"), record, node, received_at)
    return KumoLogEvent.from_bytes(payload)


def encode(
    doc: Mapping[str, Any], record: KumoLogRecord | Facts, node: str, received_at: int
) -> tuple[str, bytes]:
    """The ``Nats-Msg-Id`` and the encoded ``KumoLogEvent``, without a model round trip.

    ``doc`` is the record exactly as received, already validated as ``record``. Its canonical
    JSON is encoded once: hashed for the id and embedded as the event's ``record``.
    """
    encoded = canonical(doc)
    msg_id = _digest(encoded)
    payload = orjson.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "node": node,
            "receivedAt": received_at,
            "record": orjson.Fragment(encoded),
            "status": summary_fields(record),
            "dedupId": msg_id,
        }
    )
    return msg_id, payload
