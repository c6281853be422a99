from __future__ import annotations

import nats

from kumowatch_common import streams
from kumowatch_common.testing import NatsServer


async def test_provision_creates_every_stream_and_bucket_and_is_idempotent(
    fresh_nats: NatsServer,
) -> None:
    nc = await nats.connect(fresh_nats.url)
    js = nc.jetstream()
    buckets = await streams.provision(js, streams.Retention())
    names = {s.config.name for s in await js.streams_info()}
    for stream in (
        streams.STREAM_SNAPSHOTS,
        streams.STREAM_EVENTS,
        streams.STREAM_ALERTS,
        streams.STREAM_NOTIFICATIONS,
    ):
        assert stream in names
    assert set(buckets) == {
        streams.BUCKET_RULES,
        streams.BUCKET_ALERT_STATE,
        streams.BUCKET_PENDING,
        streams.BUCKET_ACKS,
        streams.BUCKET_THROTTLE,
        streams.BUCKET_SILENCES,
        streams.BUCKET_LEASES,
    }
    await js.publish("kumomta.v1.mta1.metrics", b"{}")
    await buckets[streams.BUCKET_RULES].put("r1", b"{}")
    # A second provisioning with other limits updates and keeps the data.
    await streams.provision(js, streams.Retention(snapshots_max_age=7200.0))
    info = await js.stream_info(streams.STREAM_SNAPSHOTS)
    assert info.config.max_age == 7200.0
    assert info.state.messages == 1
    entry = await (await js.key_value(streams.BUCKET_RULES)).get("r1")
    assert entry.value == b"{}"
    await nc.close()


async def test_provision_can_shrink_a_bucket_ttl_below_its_dedup_window(
    fresh_nats: NatsServer,
) -> None:
    nc = await nats.connect(fresh_nats.url)
    js = nc.jetstream()
    await streams.provision(js, streams.Retention(lease_ttl=300.0))
    await streams.provision(js, streams.Retention(lease_ttl=3.0))
    info = await js.stream_info(f"KV_{streams.BUCKET_LEASES}")
    assert info.config.max_age == 3.0
    await nc.close()
