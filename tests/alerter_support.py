"""Shared helpers for the alerter's cross-service tests: rules, alert log, process env, metrics."""

from __future__ import annotations

import contextlib
import re
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.js.api import DeliverPolicy

from kumowatch_common import streams, subjects
from kumowatch_common.events import AlertEvent, AlertRule
from kumowatch_common.testing import ServiceProcess, eventually, free_port

LEASE_TTL = 2.0


async def provision(nc: nats.NATS) -> None:
    # Processes and test use one lease TTL (common cannot shrink a bucket TTL on update).
    await streams.provision(nc.jetstream(), streams.Retention(lease_ttl=LEASE_TTL))


async def put_rules(nc: nats.NATS, rules: list[AlertRule]) -> None:
    kv = await nc.jetstream().key_value(streams.BUCKET_RULES)
    await kv.put("_seeded", b"1")
    for r in rules:
        await kv.put(r.id, r.to_bytes())


def alerter_process(nats_url: str, instance: str, **env: str) -> ServiceProcess:
    port = free_port()
    base = {
        "NATS_URL": nats_url,
        "ALERTER_PORT": str(port),
        "INSTANCE_ID": instance,
        "LEASE_TTL_SECONDS": str(LEASE_TTL),
        "ALERTER_EVAL_INTERVAL": "0.2",
        "ALERTER_NODATA_SECONDS": "5",
        "ALERTER_SERIES_GRACE_SECONDS": "5",
        "SHUTDOWN_GRACE_SECONDS": "3",
        "LOG_LEVEL": "INFO",
    }
    base.update(env)
    return ServiceProcess("kumowatch_alerter", base, port=port)


def metric(proc: ServiceProcess, name: str) -> float:
    """One unlabelled sample from a process's /metrics (0 when absent or unreachable)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{proc.port}/metrics", timeout=1) as r:
            text = r.read().decode()
    except OSError:
        return 0.0
    found = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


@dataclass
class AlertLog:
    """Every alert event that reached the ALERTS stream (after dedup)."""

    events: list[AlertEvent] = field(default_factory=list)
    _sub: Any = None

    async def start(self, nc: nats.NATS) -> AlertLog:
        async def on(msg: Any) -> None:
            self.events.append(AlertEvent.from_bytes(msg.data))

        self._sub = await nc.jetstream().subscribe(
            subjects.ALL_ALERTS, cb=on, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
        )
        return self

    def of(self, rule_id: str, event: str | None = None) -> list[AlertEvent]:
        return [
            e
            for e in self.events
            if e.alert.ruleId == rule_id and (event is None or e.event == event)
        ]

    def describe(self) -> list[tuple[str, str, dict[str, str]]]:
        return [(e.event, e.alert.ruleId, e.alert.labels) for e in self.events]

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()


def rule(rule_id: str, ctype: str, op: str, threshold: float, **kw: Any) -> AlertRule:
    cond_keys = {"timeWindow", "aggregation", "metric", "groupBy", "match", "of"}
    cond = {"type": ctype, "operator": op, "threshold": threshold}
    cond.update({k: v for k, v in kw.items() if k in cond_keys})
    raw = {"id": rule_id, "name": kw.pop("name", rule_id), "severity": "warning", "condition": cond}
    raw.update({k: v for k, v in kw.items() if k not in cond_keys})
    return AlertRule.model_validate(raw)


#: Poll a predicate until true (the shared helper, under the name these tests use).
until = eventually
