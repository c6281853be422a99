"""Ordered consumers started by time keep delivering after the client re-creates them."""

from __future__ import annotations

import datetime as dt

import nats
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy, StreamConfig

from kumowatch_common.nats import subscribe_ordered
from kumowatch_common.testing import NatsServer, eventually


async def test_a_time_started_ordered_consumer_survives_the_loss_of_its_consumer(
    fresh_nats: NatsServer,
) -> None:
    nc = await nats.connect(fresh_nats.url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="ORDERED_T", subjects=["ordered.t.>"]))
    for i in range(3):
        await js.publish("ordered.t.x", str(i).encode())
    got: list[bytes] = []

    async def cb(msg: Msg) -> None:
        got.append(msg.data)

    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=start)
    sub = await subscribe_ordered(
        js, "ordered.t.>", stream="ORDERED_T", cb=cb, config=config, idle_heartbeat=0.5
    )
    await eventually(lambda: len(got) == 3, timeout=10)
    # What the death of the server holding an R1 ordered consumer looks like to the client:
    # the consumer is gone, heartbeats stop, the client re-creates it from the next sequence.
    await js.delete_consumer("ORDERED_T", (await sub.consumer_info()).name)
    for i in range(3, 6):
        await js.publish("ordered.t.x", str(i).encode())
    await eventually(lambda: len(got) == 6, timeout=15)
    assert got == [str(i).encode() for i in range(6)]
    await sub.unsubscribe()
    await nc.close()
