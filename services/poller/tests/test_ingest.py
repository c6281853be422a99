"""The log-hook ingest: body forms, validation, dedup of retries, limits, auth, NATS outages."""

from __future__ import annotations

import asyncio
import gzip
import uuid
import zlib

import aiohttp
import nats
import orjson
import pytest
from ingest_helpers import endpoint
from poller_samples import sample

from kumowatch_common.events import KumoLogEvent
from kumowatch_poller.logrecords import dedup_id


def delivery(**over) -> dict:
    return orjson.loads(sample("04_log_record_delivery.jsonc")) | over


def bounce(**over) -> dict:
    return orjson.loads(sample("05_log_record_bounce.jsonc")) | over


def batch(n: int) -> list[dict]:
    """Records unique to the call: the dedup window spans the whole stream, not one subject."""
    run = uuid.uuid4().hex[:16]
    return [delivery(id=f"{run}{i:016x}", timestamp=1_700_000_000 + i) for i in range(n)]


def unique_node() -> str:
    return f"i-{uuid.uuid4().hex[:10]}"


async def post(url: str, body: bytes, node: str | None = None, **headers: str):
    params = {"node": node} if node else {}
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=body, params=params, headers=headers) as resp,
    ):
        return resp.status, await resp.json(), resp.headers


async def test_single_record_is_stored_with_summary_and_dedup_id(nats_server) -> None:
    node = unique_node()
    record = delivery(id=uuid.uuid4().hex)
    async with endpoint(nats_server.url) as ep:
        sub = await ep.nc.subscribe(f"kumomta.v1.{node}.events.>")
        status, body, _ = await post(ep.url, orjson.dumps(record), node)
        assert (status, body) == (200, {"accepted": 1, "duplicates": 0})
        assert await ep.stored(node) == {f"kumomta.v1.{node}.events.Delivery": 1}
        msg = await sub.next_msg(timeout=5)
        event = KumoLogEvent.from_bytes(msg.data)
        assert event.node == node
        assert event.dedupId == msg.headers["Nats-Msg-Id"] == dedup_id(record)
        assert event.status.status == "delivered"
        assert event.status.messageId == record["id"]
        assert event.status.details == "OK ids=8a5475ccbbc611eda12250ebf67f93bd"
        assert event.record.model_dump()["tls_protocol_version"] == "TLSv1.3"


async def test_array_ndjson_gzip_and_deflate_are_accepted(nats_server) -> None:
    node = unique_node()
    records = batch(30)
    async with endpoint(nats_server.url) as ep:
        assert (await post(ep.url, orjson.dumps(records[:10]), node))[1]["accepted"] == 10
        nd = b"\n".join(orjson.dumps(r) for r in records[10:20]) + b"\n"
        assert (await post(ep.url, nd, node))[1]["accepted"] == 10
        gz = gzip.compress(orjson.dumps(records[20:25]))
        got = await post(ep.url, gz, node, **{"Content-Encoding": "gzip"})
        assert got[:2] == (200, {"accepted": 5, "duplicates": 0})
        zz = zlib.compress(orjson.dumps(records[25:]))
        got = await post(ep.url, zz, node, **{"Content-Encoding": "deflate"})
        assert got[:2] == (200, {"accepted": 5, "duplicates": 0})
        assert await ep.count(node) == 30


@pytest.mark.parametrize(
    ("body", "record", "field"),
    [
        (b"{not json", 0, None),
        (b"[1, 2", None, None),
        (orjson.dumps([delivery(), delivery(id=None)]), 1, "id"),
        (orjson.dumps([delivery(), {"type": "Bounce", "id": "x"}]), 1, "timestamp"),
        (orjson.dumps([delivery(), delivery(), "text"]), 2, None),
        (orjson.dumps(delivery()) + b"\n" + b"garbage\n", 1, None),
        (orjson.dumps(delivery(timestamp="yesterday")), 0, "timestamp"),
        (b"", None, None),
    ],
)
async def test_garbage_gets_400_naming_the_record_and_nothing_is_published(
    nats_server, body, record, field
) -> None:
    node = unique_node()
    async with endpoint(nats_server.url) as ep:
        status, answer, _ = await post(ep.url, body, node)
        assert status == 400
        assert answer["record"] == record
        assert answer["field"] == field
        assert answer["error"]
        assert await ep.count(node) == 0


async def test_retried_batch_is_stored_once(nats_server) -> None:
    node = unique_node()
    records = batch(50)
    async with endpoint(nats_server.url) as ep:
        first = await post(ep.url, orjson.dumps(records), node)
        assert first[:2] == (200, {"accepted": 50, "duplicates": 0})
        again = await post(ep.url, orjson.dumps(list(reversed(records))), node)
        assert again[:2] == (200, {"accepted": 50, "duplicates": 50})
        one = await post(ep.url, orjson.dumps(records[7]), node)
        assert one[1] == {"accepted": 1, "duplicates": 1}
        assert await ep.count(node) == 50


async def test_oversized_bodies_get_413(nats_server) -> None:
    node = unique_node()
    async with endpoint(nats_server.url, max_body=4096) as ep:
        big = orjson.dumps(batch(40))
        assert len(big) > 4096
        assert (await post(ep.url, big, node))[0] == 413
        bomb = gzip.compress(b"[" + b" " * 100_000 + b"]")
        assert len(bomb) < 4096
        assert (await post(ep.url, bomb, node, **{"Content-Encoding": "gzip"}))[0] == 413
        assert await ep.count(node) == 0


async def test_bearer_token_is_required_when_set(nats_server) -> None:
    node = unique_node()
    body = orjson.dumps(delivery(id=uuid.uuid4().hex))
    async with endpoint(nats_server.url, token="s3cret-ingest") as ep:
        status, _, headers = await post(ep.url, body, node)
        assert status == 401
        assert headers["WWW-Authenticate"].startswith("Bearer")
        assert (await post(ep.url, body, node, Authorization="Bearer wrong"))[0] == 401
        assert (await post(ep.url, body, node, Authorization="Basic s3cret-ingest"))[0] == 401
        assert (await post(ep.url, body, node, Authorization="Bearer s3cret-ingest"))[0] == 200
        assert await ep.count(node) == 1


async def test_node_from_query_then_learned_nodeid_then_record(nats_server) -> None:
    node = unique_node()
    nodeid = str(uuid.uuid4())
    async with endpoint(nats_server.url, node_ids={nodeid: node}) as ep:
        status, _, _ = await post(ep.url, orjson.dumps(bounce(nodeid=nodeid, id="a")))
        assert status == 200
        assert await ep.stored(node) == {f"kumomta.v1.{node}.events.Bounce": 1}
        other = str(uuid.uuid4())
        await post(ep.url, orjson.dumps(bounce(nodeid=other, id="b")))
        assert await ep.count(other) == 1
        status, answer, _ = await post(ep.url, orjson.dumps(bounce()), "bad.node")
        assert status == 400
        assert answer["field"] == "node"


async def test_nats_down_gives_503_and_nothing_is_lost_once_it_returns(fresh_nats) -> None:
    node = unique_node()
    records = batch(20)
    async with endpoint(fresh_nats.url, publish_timeout=1.0) as ep:
        assert (await post(ep.url, orjson.dumps(records[:5]), node))[0] == 200
        fresh_nats.kill()
        status, answer, headers = await post(ep.url, orjson.dumps(records), node)
        assert status == 503
        assert "Retry-After" in headers
        assert answer["error"]
        fresh_nats.start()
        async with asyncio.timeout(15):
            while not ep.nc.is_connected:
                await asyncio.sleep(0.05)
        status, answer, _ = await post(ep.url, orjson.dumps(records), node)
        assert status == 200
        assert answer["accepted"] == 20
        assert await ep.count(node) == 20


async def test_simulator_batch_hook_through_a_nats_outage_stores_every_record_once(
    fresh_nats, start_cluster
) -> None:
    node = unique_node()
    async with endpoint(fresh_nats.url, publish_timeout=1.0) as ep:
        sim = await start_cluster(
            log_hook_url=f"{ep.url}?node={node}",
            log_hook_mode="batch",
            log_hook_batch_size=50,
            log_hook_max_backoff=0.3,
            rate=40,
        )
        mta = sim.nodes[0]
        assert mta.hook is not None
        mta.model.advance(5)
        assert await mta.hook.wait_idle(15)
        fresh_nats.kill()
        mta.model.advance(5)
        await asyncio.sleep(0.5)  # let some batches fail against the dead NATS
        fresh_nats.start()
        assert await mta.hook.wait_idle(30)
        stats = mta.hook.stats
        assert stats.failed == 0
        assert stats.dropped_overflow == 0
        assert stats.retries > 0
        assert stats.delivered == stats.submitted > 0
        assert await ep.count(node) == stats.submitted


async def test_a_second_client_sees_events_in_order(nats_server) -> None:
    node = unique_node()
    async with endpoint(nats_server.url) as ep:
        nc = await nats.connect(nats_server.url)
        try:
            sub = await nc.subscribe(f"kumomta.v1.{node}.events.>")
            await nc.flush()  # the server has the interest before the ingest publishes
            records = batch(3)
            status, answer, _ = await post(ep.url, orjson.dumps(records), node)
            assert (status, answer) == (200, {"accepted": 3, "duplicates": 0})
            ids = [
                KumoLogEvent.from_bytes((await sub.next_msg(5)).data).record.id for _ in range(3)
            ]
            assert ids == [r["id"] for r in records]
        finally:
            await nc.drain()
