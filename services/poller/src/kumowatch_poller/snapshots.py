"""Turn one parsed scrape into the ``metrics``, ``queues`` and ``providers`` payloads of a node.

Node rates come from the pinned ``smtp_client`` aggregates (never pruned); received is
``esmtp_listener`` + ``http_listener``. Queue payloads are built as bytes directly (a node may have
a million queues) in chunks of at most ``QUEUES_PER_CHUNK`` queues and ``MAX_CHUNK_BYTES`` bytes;
their shape is ``events.QueuesSnapshot``, which the tests check.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import orjson

from kumowatch_common.events import SCHEMA_VERSION, MetricsUpdate, ProvidersSnapshot, ProviderStats
from kumowatch_poller.metricset import MetricSet
from kumowatch_poller.names import parse_scheduled, ready_from_service
from kumowatch_poller.rates import CounterRates, Rate, ratio
from kumowatch_poller.states import SuspensionIndex

AGGREGATE: Final = "smtp_client"
RECEIVERS: Final = ("esmtp_listener", "http_listener")
QUEUES_PER_CHUNK: Final = 2000
MAX_CHUNK_BYTES: Final = 900_000
_COUNTERS: Final = {
    "delivered": "total_messages_delivered",
    "bounced": "total_messages_fail",
    "deferred": "total_messages_transfail",
}
_PROVIDER_COUNTERS: Final = {
    "delivered": "total_messages_delivered_by_provider",
    "failed": "total_messages_fail_by_provider",
    "transfailed": "total_messages_transfail_by_provider",
}


@dataclass(frozen=True, slots=True)
class Scrape:
    """One successful metrics read of a node."""

    metrics: MetricSet
    at: float
    timestamp: int
    seq: int
    online_since: str | None = None


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _num(value: float | None) -> float:
    return value if value is not None and math.isfinite(value) else 0.0


class NodeSnapshots:
    """Counter baselines of one node and the builders of its snapshots."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.rates = CounterRates()
        self.provider_rates = CounterRates()
        self.online_since: str | None = None

    def restarted(self, online_since: str | None) -> bool:
        """Note machine-info's ``online_since``; True (and baselines dropped) when it changed."""
        if online_since is None:
            return False
        changed = self.online_since is not None and online_since != self.online_since
        self.online_since = online_since
        if changed:
            self.rates.clear()
            self.provider_rates.clear()
        return changed

    def metrics(self, scrape: Scrape, restarted: bool = False) -> MetricsUpdate:
        """The node's aggregates and rates for this scrape."""
        ms = scrape.metrics
        totals = {k: _num(ms.value(name, AGGREGATE)) for k, name in _COUNTERS.items()}
        totals["received"] = sum(_num(ms.value("total_messages_received", k)) for k in RECEIVERS)
        rates = {k: self.rates.observe(k, v, scrape.at) for k, v in totals.items()}
        reset = restarted or any(r.reset for r in rates.values())
        if reset:
            self.provider_rates.clear()
            rates = dict.fromkeys(rates, Rate(0.0, 0.0, 0.0, reset=True))
        d, b, t = rates["delivered"].delta, rates["bounced"].delta, rates["deferred"].delta
        elapsed = max(r.elapsed for r in rates.values())
        return MetricsUpdate(
            node=self.node,
            delivered=totals["delivered"],
            bounced=totals["bounced"],
            deferred=totals["deferred"],
            received=totals["received"],
            throughput=rates["delivered"].per_sec,
            timestamp=scrape.timestamp,
            deliveredPerSec=rates["delivered"].per_sec,
            bouncedPerSec=rates["bounced"].per_sec,
            deferredPerSec=rates["deferred"].per_sec,
            receivedPerSec=rates["received"].per_sec,
            bounceRatio=ratio(b, d + b),
            deferralRatio=ratio(t, d + b + t),
            intervalSeconds=elapsed,
            counterReset=reset,
            onlineSince=scrape.online_since or self.online_since,
            seq=scrape.seq,
            **_gauges(ms),
        )

    def providers(self, scrape: Scrape, reset: bool = False) -> ProvidersSnapshot:
        """Per-provider cumulative counters, rates and queued/connection gauges."""
        ms = scrape.metrics
        names: set[str] = set(ms.family("queued_count_by_provider"))
        names.update(ms.family("connection_count_by_provider"))
        for family in _PROVIDER_COUNTERS.values():
            names.update(ms.family(family))
        stats: list[ProviderStats] = []
        seen: list[str] = []
        any_reset = reset
        for provider in sorted(names):
            values: dict[str, float] = {}
            per_sec: dict[str, float] = {}
            deltas: dict[str, float] = {}
            for kind, family in _PROVIDER_COUNTERS.items():
                raw = ms.value(family, provider)
                values[kind] = _num(raw)
                if raw is None:
                    per_sec[kind] = deltas[kind] = 0.0
                    continue
                key = f"{kind}\x1f{provider}"
                seen.append(key)
                rate = self.provider_rates.observe(key, values[kind], scrape.at)
                any_reset = any_reset or rate.reset
                per_sec[kind], deltas[kind] = rate.per_sec, rate.delta
            stats.append(
                ProviderStats(
                    provider=provider,
                    delivered=values["delivered"],
                    failed=values["failed"],
                    transfailed=values["transfailed"],
                    deliveredPerSec=0.0 if reset else per_sec["delivered"],
                    failedPerSec=0.0 if reset else per_sec["failed"],
                    transfailedPerSec=0.0 if reset else per_sec["transfailed"],
                    bounceRatio=None
                    if reset
                    else ratio(deltas["failed"], deltas["delivered"] + deltas["failed"]),
                    queued=_num(ms.value("queued_count_by_provider", provider)),
                    connections=_num(ms.value("connection_count_by_provider", provider)),
                )
            )
        self.provider_rates.forget_except(seen)
        return ProvidersSnapshot(
            node=self.node,
            seq=scrape.seq,
            timestamp=scrape.timestamp,
            counterReset=any_reset,
            providers=stats,
        )


def _gauges(ms: MetricSet) -> dict[str, Any]:
    disk = {k: v for k, v in ms.family("disk_free_percent").items() if math.isfinite(v)}
    usage = _finite(ms.value("memory_usage"))
    limit = _finite(ms.value("memory_limit"))
    sched_total = ms.value("scheduled_count_total")
    if sched_total is None:
        sched_total = ms.sum("scheduled_count")
    queue_count = ms.value("scheduled_queue_count")
    if queue_count is None:
        queue_count = float(len(ms.family("scheduled_count")))
    ready = ms.family("ready_count")
    per_queue = [v for k, v in ready.items() if ":" in k]
    conns = ms.family("connection_count")
    return {
        "scheduledTotal": _num(sched_total),
        "readyTotal": _num(sum(per_queue) if per_queue else sum(ready.values())),
        "scheduledQueueCount": _num(queue_count),
        "connectionsOut": _num(conns.get(AGGREGATE)),
        "connectionsIn": _num(conns.get("esmtp_listener")),
        "connectionsDenied": _num(ms.sum("total_connections_denied")),
        "diskFreePercent": min(disk.values()) if disk else None,
        "diskFree": disk,
        "memoryUsage": usage,
        "memoryLimit": limit,
        "memoryRatio": 100.0 * usage / limit if usage is not None and limit else None,
        "messageCount": _finite(ms.value("message_count")),
        "logHookBacklog": _num(ms.sum("log_hook_backlog_count")),
    }


def queue_items(
    ms: MetricSet, node: str, timestamp: int, suspensions: SuspensionIndex
) -> list[bytes]:
    """Every scheduled and ready queue as one encoded ``QueueUpdate`` each."""
    dumps = orjson.dumps
    items: list[bytes] = []
    for name, count in ms.family("scheduled_count").items():
        parts = parse_scheduled(name)
        doc: dict[str, Any] = {
            "queueName": name,
            "size": _num(count),
            "scheduled": _num(count),
            "timestamp": timestamp,
            "node": node,
            "kind": "scheduled",
        }
        if parts.tenant is not None:
            doc["tenant"] = parts.tenant
        if parts.campaign is not None:
            doc["campaign"] = parts.campaign
        if parts.domain is not None:
            doc["domain"] = parts.domain
        if parts.routing_domain is not None:
            doc["routingDomain"] = parts.routing_domain
        if suspensions.scheduled_suspended(parts):
            doc["suspended"] = True
        items.append(dumps(doc))
    ready = ms.family("ready_count")
    conns = ms.family("connection_count")
    for service in _ready_services(ready, conns):
        rq = ready_from_service(service)
        if rq is None:
            continue
        size = _num(ready.get(service))
        doc = {
            "queueName": rq.name,
            "size": size,
            "ready": size,
            "timestamp": timestamp,
            "node": node,
            "kind": "ready",
            "connections": _num(conns.get(service)),
        }
        if rq.source is not None:
            doc["source"] = rq.source
        if rq.site is not None:
            doc["site"] = rq.site
        if rq.protocol is not None:
            doc["protocol"] = rq.protocol
        if suspensions.ready_suspended(rq.name):
            doc["suspended"] = True
        items.append(dumps(doc))
    return items


def _ready_services(ready: dict[str, float], conns: dict[str, float]) -> Iterator[str]:
    yield from ready
    for service in conns:
        if service not in ready:
            yield service


def queue_chunks(items: list[bytes], node: str, seq: int, timestamp: int) -> list[bytes]:
    """``QueuesSnapshot`` payloads sharing ``seq``; always at least one (an empty list)."""
    groups: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for item in items:
        if current and (len(current) >= QUEUES_PER_CHUNK or size + len(item) > MAX_CHUNK_BYTES):
            groups.append(current)
            current, size = [], 0
        current.append(item)
        size += len(item) + 1
    groups.append(current)
    total = len(items)
    out: list[bytes] = []
    for index, group in enumerate(groups):
        head = orjson.dumps(
            {
                "schema_version": SCHEMA_VERSION,
                "node": node,
                "seq": seq,
                "chunk": index,
                "chunks": len(groups),
                "timestamp": timestamp,
                "totalQueues": total,
            }
        )
        out.append(head[:-1] + b',"queues":[' + b",".join(group) + b"]}")
    return out
