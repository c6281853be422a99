"""Log records: body forms, validation errors naming the record, dedup ids, the status summary."""

from __future__ import annotations

import orjson
import pytest
from poller_samples import sample

from kumowatch_common.events import KumoLogEvent, KumoLogRecord
from kumowatch_poller.errors import BadRequestError
from kumowatch_poller.logrecords import (
    check,
    dedup_id,
    encode,
    resolve_node,
    split_body,
    summary,
    validate,
)


def delivery() -> dict:
    return orjson.loads(sample("04_log_record_delivery.jsonc"))


def bounce() -> dict:
    return orjson.loads(sample("05_log_record_bounce.jsonc"))


def test_single_array_and_ndjson_bodies() -> None:
    one = orjson.dumps(delivery())
    assert len(split_body(one)) == 1
    assert len(split_body(orjson.dumps([delivery(), bounce()]))) == 2
    nd = one + b"\n\n" + orjson.dumps(bounce()) + b"\n"
    assert [d["type"] for d in split_body(nd)] == ["Delivery", "Bounce"]


def test_bad_bodies_name_the_record() -> None:
    with pytest.raises(BadRequestError, match="empty"):
        split_body(b"  ")
    with pytest.raises(BadRequestError) as info:
        split_body(orjson.dumps(delivery()) + b"\n{not json\n")
    assert info.value.record == 1
    with pytest.raises(BadRequestError) as info:
        validate([delivery(), {"type": "Bounce"}])
    assert info.value.record == 1
    assert info.value.field in {"id", "timestamp"}
    with pytest.raises(BadRequestError) as info:
        validate([delivery(), 5])
    assert info.value.record == 1


def test_unknown_fields_are_kept() -> None:
    rec = validate([delivery()])[0]
    dumped = rec.model_dump()
    assert dumped["bogus"] is None
    assert dumped["tls_cipher"] == "TLS_AES_256_GCM_SHA384"


def test_dedup_id_ignores_key_order_but_not_content() -> None:
    a = delivery()
    b = dict(reversed(list(a.items())))
    assert dedup_id(a) == dedup_id(b)
    b["num_attempts"] = 1
    assert dedup_id(a) != dedup_id(b)


def test_node_resolution() -> None:
    rec = KumoLogRecord.model_validate(delivery())
    assert resolve_node(rec, "edge", {}) == "edge"
    assert resolve_node(rec, None, {rec.nodeid or "": "mta1"}) == "mta1"
    assert resolve_node(rec, None, {}) == rec.nodeid
    bare = KumoLogRecord(type="Delivery", id="x", timestamp=1)
    assert resolve_node(bare, None, {}) == "unknown"


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("Delivery", "delivered"),
        ("Bounce", "bounced"),
        ("AdminBounce", "bounced"),
        ("OOB", "bounced"),
        ("Expiration", "failed"),
        ("TransientFailure", "deferred"),
        ("Reception", "queued"),
        ("XferOut", "queued"),
    ],
)
def test_message_status_summary(kind: str, status: str) -> None:
    doc = bounce() | {"type": kind}
    s = summary(KumoLogRecord.model_validate(doc))
    assert (s.status, s.messageId, s.queue, s.details) == (
        status,
        "ID",
        "target.example.com",
        "no thanks",
    )
    assert s.timestamp == 1057056757000


def test_encoded_event_carries_the_record_as_received_and_its_dedup_id() -> None:
    doc = delivery() | {"size": "1047"}  # coerced by the model, kept as received
    facts = check([doc])[0]
    msg_id, payload = encode(doc, facts, "mta1", 1_700_000_000_000)
    assert msg_id == dedup_id(doc) == dedup_id(dict(reversed(list(doc.items()))))
    assert orjson.loads(payload)["record"] == doc
    event = KumoLogEvent.from_bytes(payload)
    assert (event.node, event.receivedAt, event.dedupId) == ("mta1", 1_700_000_000_000, msg_id)
    assert event.status == summary(KumoLogRecord.model_validate(doc))
    assert event.record.model_dump()["tls_cipher"] == "TLS_AES_256_GCM_SHA384"
