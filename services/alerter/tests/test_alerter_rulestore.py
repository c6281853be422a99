"""The rules bucket on a real nats-server: seeded once, edits and deletions kept, live, strict."""

from __future__ import annotations

import asyncio

import nats
import orjson
from alerter_nats import provision
from alerter_timeline import rule

from kumowatch_alerter.rulestore import SEEDED_KEY, RuleStore
from kumowatch_common import rules as common_rules
from kumowatch_common import streams
from kumowatch_common.events import AlertRule

MAX_WINDOW = 3_600_000


class Recorder:
    def __init__(self) -> None:
        self.sets: list[dict[str, AlertRule]] = []
        self.changed = asyncio.Event()

    def __call__(self, rules: list[AlertRule]) -> None:
        self.sets.append({r.id: r for r in rules})
        self.changed.set()

    async def until(self, pred, timeout: float = 10.0) -> dict[str, AlertRule]:
        async def wait() -> dict[str, AlertRule]:
            while not (self.sets and pred(self.sets[-1])):
                self.changed.clear()
                await self.changed.wait()
            return self.sets[-1]

        return await asyncio.wait_for(wait(), timeout)


async def run_store(kv, rec: Recorder):
    stop = asyncio.Event()
    store = RuleStore(kv, MAX_WINDOW, rec)
    task = asyncio.create_task(store.run(stop))
    await asyncio.wait_for(store.loaded.wait(), 10)
    return store, stop, task


async def test_defaults_seeded_once_and_user_changes_survive_restart(fresh_nats) -> None:
    nc = await nats.connect(fresh_nats.url)
    await provision(nc)
    kv = await nc.jetstream().key_value(streams.BUCKET_RULES)
    rec = Recorder()
    _store, stop, task = await run_store(kv, rec)
    ids = {r.id for r in common_rules.default_rules()}
    assert set(rec.sets[-1]) == ids
    assert (await kv.get(SEEDED_KEY)).value == b"1"
    stop.set()
    await task

    # The user deletes one default and raises another threshold.
    await kv.delete("delivery-rate-low")
    edited = common_rules.default_rules()[0].model_copy(update={"name": "Mine"})
    await kv.put(edited.id, edited.to_bytes())

    rec2 = Recorder()
    _, stop2, task2 = await run_store(kv, rec2)
    got = rec2.sets[-1]
    assert "delivery-rate-low" not in got
    assert got[edited.id].name == "Mine"
    assert set(got) == ids - {"delivery-rate-low"}
    stop2.set()
    await task2
    await nc.drain()


async def test_live_changes_are_applied(fresh_nats) -> None:
    nc = await nats.connect(fresh_nats.url)
    await provision(nc)
    kv = await nc.jetstream().key_value(streams.BUCKET_RULES)
    await kv.put(SEEDED_KEY, b"1")
    rec = Recorder()
    _, stop, task = await run_store(kv, rec)
    assert rec.sets[-1] == {}
    r = rule("live-one", "queue_depth", ">", 5)
    await kv.put(r.id, r.to_bytes())
    await rec.until(lambda s: "live-one" in s)
    changed = r.model_copy(update={"enabled": False})
    await kv.put(r.id, changed.to_bytes())
    got = await rec.until(lambda s: "live-one" in s and not s["live-one"].enabled)
    assert got["live-one"].enabled is False
    await kv.delete(r.id)
    await rec.until(lambda s: "live-one" not in s)
    stop.set()
    await task
    await nc.drain()


async def test_invalid_stored_rule_is_skipped_and_counted(fresh_nats) -> None:
    nc = await nats.connect(fresh_nats.url)
    await provision(nc)
    kv = await nc.jetstream().key_value(streams.BUCKET_RULES)
    await kv.put(SEEDED_KEY, b"1")
    good = rule("good", "queue_depth", ">", 5)
    await kv.put(good.id, good.to_bytes())
    await kv.put("garbage", b"{not json")
    too_long = orjson.loads(rule("too-long", "bounce_rate", ">", 5, timeWindow=60_000).to_bytes())
    too_long["condition"]["timeWindow"] = MAX_WINDOW * 2
    await kv.put("too-long", orjson.dumps(too_long))
    await kv.put(
        "unknown-type",
        orjson.dumps(
            {
                **orjson.loads(good.to_bytes()),
                "id": "unknown-type",
                "condition": {"type": "nope", "operator": ">", "threshold": 1},
            }
        ),
    )
    rec = Recorder()
    store, stop, task = await run_store(kv, rec)
    assert set(rec.sets[-1]) == {"good"}
    assert store.invalid_total._value.get() == 3
    # A later invalid edit of a valid rule leaves the last valid version in effect.
    await kv.put("good", b"[]")
    other = rule("other", "queue_depth", ">", 1)
    await kv.put(other.id, other.to_bytes())
    got = await rec.until(lambda s: "other" in s)
    assert got["good"] == good
    assert store.invalid_total._value.get() == 4
    stop.set()
    await task
    await nc.drain()
