"""The JetStream publisher: acks in order, a bounded window, every failure a PublishError."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest

from kumowatch_common import streams, subjects
from kumowatch_common.testing import eventually
from kumowatch_poller.errors import PublishError
from kumowatch_poller.publisher import Outgoing, Publisher


def messages(node: str, n: int) -> list[Outgoing]:
    run = uuid.uuid4().hex
    subject = subjects.event(node, "Delivery")
    return [Outgoing(subject, orjson.dumps({"i": i}), f"{run}:{i}") for i in range(n)]


async def stored(nc: Any, node: str) -> int:
    info = await nc.jetstream().stream_info(
        streams.STREAM_EVENTS, subjects_filter=f"kumomta.v1.{node}.events.>"
    )
    return sum((info.state.subjects or {}).values())


async def test_batch_is_acked_in_order_and_a_retry_is_flagged_duplicate(nc: Any) -> None:
    node = f"p-{uuid.uuid4().hex[:8]}"
    batch = messages(node, 300)
    publisher = Publisher(nc)
    acks = await publisher.publish(batch)
    assert [a.stream for a in acks] == [streams.STREAM_EVENTS] * 300
    seqs = [a.seq for a in acks]
    assert seqs == sorted(seqs)
    assert not any(a.duplicate for a in acks)
    again = await publisher.publish(batch)
    assert all(a.duplicate for a in again)
    assert await stored(nc, node) == 300
    assert publisher.in_flight == 0


async def test_concurrent_batches_share_a_bounded_window(nc: Any) -> None:
    node = f"p-{uuid.uuid4().hex[:8]}"
    publisher = Publisher(nc, window=7)
    seen: list[int] = []
    publish = nc.publish

    async def watched(*args: Any, **kwargs: Any) -> None:
        seen.append(publisher.in_flight)
        await publish(*args, **kwargs)

    nc.publish = watched
    try:
        batches = [messages(node, 40) for _ in range(5)]
        results = await asyncio.gather(*(publisher.publish(b) for b in batches))
    finally:
        del nc.publish
    assert [len(r) for r in results] == [40] * 5
    assert len(seen) == 200
    assert max(seen) <= 7  # the count includes the message about to be sent
    assert await stored(nc, node) == 200


async def test_a_subject_without_a_stream_fails_the_batch(nc: Any) -> None:
    batch = [Outgoing(f"nostream.{uuid.uuid4().hex}", b"x", uuid.uuid4().hex)]
    publisher = Publisher(nc, timeout=5)
    with pytest.raises(PublishError) as info:
        await publisher.publish(batch)
    assert (info.value.failed, info.value.total) == (1, 1)
    assert "no response from stream" in info.value.cause
    assert publisher.in_flight == 0


@pytest.mark.parametrize(
    ("reply", "cause"),
    [
        (b'{"error": {"code": 503, "err_code": 10077, "description": "full"}}', "full"),
        (b"not json", "unreadable ack"),
        (b'{"seq": 5}', "unreadable ack"),
    ],
)
async def test_an_error_or_garbage_answer_fails_the_batch(
    nc: Any, reply: bytes, cause: str
) -> None:
    subject = f"fake.{uuid.uuid4().hex}"

    async def answer(msg: Any) -> None:
        await nc.publish(msg.reply, reply)

    sub = await nc.subscribe(subject, cb=answer)
    try:
        publisher = Publisher(nc, timeout=5)
        batch = [Outgoing(subject, b"x", "a"), Outgoing(subject, b"y", "b")]
        with pytest.raises(PublishError) as info:
            await publisher.publish(batch)
        assert (info.value.failed, info.value.total) == (2, 2)
        assert cause in info.value.cause
    finally:
        await sub.unsubscribe()


async def test_missing_acks_time_out_and_are_forgotten(nc: Any) -> None:
    subject = f"silent.{uuid.uuid4().hex}"
    sub = await nc.subscribe(subject)  # a responder that never answers
    try:
        publisher = Publisher(nc, timeout=0.3)
        with pytest.raises(PublishError) as info:
            await publisher.publish([Outgoing(subject, b"x", "a"), Outgoing(subject, b"y", "b")])
        assert (info.value.failed, info.value.total, info.value.cause) == (2, 2, "no ack in time")
        assert publisher.in_flight == 0
    finally:
        await sub.unsubscribe()


async def test_a_cancelled_batch_leaves_nothing_in_flight(nc: Any) -> None:
    subject = f"silent.{uuid.uuid4().hex}"
    sub = await nc.subscribe(subject)
    try:
        publisher = Publisher(nc, timeout=30)
        task = asyncio.create_task(publisher.publish([Outgoing(subject, b"x", "a")] * 3))
        await eventually(lambda: publisher.in_flight == 3, 5, "three messages in flight")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert publisher.in_flight == 0
    finally:
        await sub.unsubscribe()
