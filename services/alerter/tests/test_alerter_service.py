"""The service on a real nats-server: transitions published once, state in KV, restart safe."""

from __future__ import annotations

import nats
from alerter_nats import (
    AlertLog,
    FakePoller,
    bucket_alerts,
    provision,
    put_rules,
    running,
    settings,
)
from alerter_timeline import rule

from kumowatch_common import streams
from kumowatch_common.events import Alert

Q = "promo:acme@gmail.com"


async def state_alerts(nc: nats.NATS) -> list[Alert]:
    return await bucket_alerts(nc, streams.BUCKET_ALERT_STATE)


async def test_fires_once_keeps_state_and_survives_restart_without_duplicates(fresh_nats) -> None:
    nc = await nats.connect(fresh_nats.url)
    await provision(nc)
    await put_rules(nc, [rule("depth", "queue_depth", ">", 100)])
    alerts = await AlertLog().start(nc)
    poller = FakePoller(nc, "svc-a", {Q: 500, "x@yahoo.com": 1}).start()
    cfg = settings(fresh_nats.url, instance_id="alerter-one")
    async with running(cfg):
        await alerts.wait_for(lambda: len(alerts.of("depth", "firing")) == 1)
        [fired] = alerts.of("depth", "firing")
        assert fired.alert.labels["queue"] == Q
        assert fired.alert.message == (
            f"Queue depth of {Q} on node svc-a (500) exceeded threshold (100)"
        )
        assert fired.rule.id == "depth"
        assert [a.id for a in await state_alerts(nc)] == [fired.alert.id]

    # Restarted (state restored from KV, windows replayed): still firing, never twice.
    async with running(settings(fresh_nats.url, instance_id="alerter-two")):
        poller.sizes[Q] = 5
        await alerts.wait_for(lambda: len(alerts.of("depth", "resolved")) == 1)
    [resolved] = alerts.of("depth", "resolved")
    assert resolved.alert.id == fired.alert.id
    assert len(alerts.of("depth", "firing")) == 1
    assert await state_alerts(nc) == []
    await poller.stop()
    await alerts.stop()
    await nc.drain()


async def test_rule_added_live_is_evaluated(fresh_nats) -> None:
    nc = await nats.connect(fresh_nats.url)
    await provision(nc)
    await put_rules(nc, [])
    alerts = await AlertLog().start(nc)
    poller = FakePoller(nc, "svc-b", {Q: 50}).start()
    async with running(settings(fresh_nats.url)):
        await put_rules(nc, [rule("late", "queue_depth", ">", 10)])
        await alerts.wait_for(lambda: len(alerts.of("late", "firing")) == 1)
        kv = await nc.jetstream().key_value(streams.BUCKET_RULES)
        await kv.delete("late")
        await alerts.wait_for(lambda: len(alerts.of("late", "resolved")) == 1)
    await poller.stop()
    await alerts.stop()
    await nc.drain()


async def test_node_down_fires_unreachable(fresh_nats) -> None:
    from kumowatch_common import rules as common_rules

    nc = await nats.connect(fresh_nats.url)
    await provision(nc)
    [unreach] = [
        r for r in common_rules.default_rules() if r.id == common_rules.UNREACHABLE_RULE_ID
    ]
    await put_rules(nc, [unreach])
    alerts = await AlertLog().start(nc)
    poller = FakePoller(nc, "svc-c", {}).start()
    async with running(settings(fresh_nats.url)):
        await alerts.wait_for(lambda: bool(poller._seq > 5))
        poller.state = "down"
        await alerts.wait_for(lambda: len(alerts.of(unreach.id, "firing")) == 1)
        assert alerts.of(unreach.id)[0].alert.message.startswith(
            "KumoMTA node svc-c is unreachable"
        )
        poller.state = "healthy"
        await alerts.wait_for(lambda: len(alerts.of(unreach.id, "resolved")) == 1)
    await poller.stop()
    await alerts.stop()
    await nc.drain()
