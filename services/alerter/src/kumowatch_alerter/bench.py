"""Benchmarks for ``make bench``: evaluation rate on a 100k-queue snapshot, memory for 1M series.

``python -m kumowatch_alerter.bench`` prints both as JSON. The figures are wall time on whatever
runs them; nothing asserts on them.
"""

from __future__ import annotations

import gc
import json
import random
import time
from typing import Any

import orjson

from kumowatch_alerter.engine import Engine
from kumowatch_common import rules as common_rules
from kumowatch_common.clock import ManualClock
from kumowatch_common.events import AlertRule

TENANTS = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell"]
CAMPAIGNS = ["promo", "news", "welcome", "digest", "alert"]
BIG_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "aol.com", "icloud.com", "comcast.net"]
PROVIDERS = {
    "gmail.com": "gmail",
    "yahoo.com": "yahoo",
    "aol.com": "yahoo",
    "outlook.com": "outlook",
}


def scoped_rules() -> list[AlertRule]:
    """Ten scoped rules over every family, as an operator would add them."""
    raw: list[tuple[str, dict[str, Any], dict[str, str]]] = [
        (
            "q-gmail",
            {"type": "queue_depth", "operator": ">", "threshold": 5000},
            {"domain": "gmail.com"},
        ),
        (
            "q-acme",
            {"type": "queue_depth", "operator": ">", "threshold": 2000},
            {"tenant": "acme*"},
        ),
        (
            "q-promo",
            {"type": "queue_depth", "operator": ">", "threshold": 1000},
            {"queue": "promo:*"},
        ),
        (
            "q-ready-yahoo",
            {"type": "queue_depth", "operator": ">=", "threshold": 500, "metric": "ready"},
            {"provider": "yahoo"},
        ),
        (
            "q-net-avg",
            {
                "type": "queue_depth",
                "operator": ">",
                "threshold": 3000,
                "timeWindow": 60_000,
                "aggregation": "avg",
            },
            {"domain": "*.net"},
        ),
        (
            "br-bench",
            {"type": "bounce_rate", "operator": ">", "threshold": 10, "timeWindow": 300_000},
            {"node": "bench-*"},
        ),
        (
            "pbr-outlook",
            {
                "type": "provider_bounce_rate",
                "operator": ">",
                "threshold": 8,
                "timeWindow": 300_000,
            },
            {"provider": "outlook"},
        ),
        ("dfr", {"type": "deferral_rate", "operator": ">", "threshold": 30}, {"node": "bench-1"}),
        (
            "spam-gmail",
            {
                "type": "event_count",
                "operator": ">=",
                "threshold": 50,
                "timeWindow": 60_000,
                "match": {"types": ["Bounce"], "bounceClassifications": ["SpamBlock"]},
            },
            {"domain": "gmail.com"},
        ),
        (
            "susp-yahoo",
            {"type": "domain_suspension", "operator": ">", "threshold": 0},
            {"domain": "yahoo.com"},
        ),
    ]
    return [
        AlertRule.model_validate(
            {"id": rid, "name": rid, "severity": "warning", "condition": cond, "scope": scope}
        )
        for rid, cond, scope in raw
    ]


def _queue_names(n: int, rng: random.Random) -> list[tuple[str, str, str | None]]:
    out = []
    for i in range(n):
        if i % 20 == 19:  # 5% ready queues
            domain = rng.choice(BIG_DOMAINS)
            out.append((f"ip-{i % 3}->mx{i}.{domain}@smtp_client", "ready", PROVIDERS.get(domain)))
            continue
        domain = rng.choice(BIG_DOMAINS) if rng.random() < 0.3 else f"d{i}.example.net"
        name = f"{rng.choice(CAMPAIGNS)}:{rng.choice(TENANTS)}{i % 97}@{domain}"
        out.append((name, "scheduled", PROVIDERS.get(domain)))
    return out


def _snapshot(
    node: str, names: list[tuple[str, str, str | None]], seq: int, t: int, rng: random.Random
) -> list[bytes]:
    """The poller's chunks for one snapshot, as bytes on the wire (5000 queues per chunk)."""
    queues = []
    for name, kind, provider in names:
        size = (
            float(rng.randint(0, 100)) if rng.random() > 0.01 else float(rng.randint(1000, 20000))
        )
        q: dict[str, Any] = {
            "queueName": name,
            "size": size,
            "timestamp": t,
            "node": node,
            "kind": kind,
        }
        if provider:
            q["provider"] = provider
        queues.append(q)
    per = 5000
    chunks = (len(queues) + per - 1) // per
    return [
        orjson.dumps(
            {
                "node": node,
                "seq": seq,
                "chunk": i,
                "chunks": chunks,
                "timestamp": t,
                "totalQueues": len(queues),
                "queues": queues[i * per : (i + 1) * per],
            }
        )
        for i in range(chunks)
    ]


def _engine(clock: ManualClock) -> Engine:
    engine = Engine(clock, nodata_seconds=3600, grace_seconds=60)
    engine.set_rules([*common_rules.default_rules(), *scoped_rules()])
    return engine


def evaluation_rate(queues: int = 100_000, rounds: int = 3) -> dict[str, Any]:
    """Judge a ``queues``-queue snapshot with the default rules plus 10 scoped ones.

    Returns the wall time of one full evaluation (decode excluded and included), cold (first
    snapshot: scope caches and windows built) and warm (steady state, the best of ``rounds``),
    and series × rules per second for the queue-family rules.
    """
    rng = random.Random(7)
    clock = ManualClock()
    engine = _engine(clock)
    node = "bench-1"
    names = _queue_names(queues, rng)
    queue_rules = len(engine.family("queue")) + len(engine.family("suspension"))
    timings: list[tuple[float, float, float, float]] = []
    fired = 0
    for seq in range(1, rounds + 2):
        wire = _snapshot(node, names, seq, int(clock.now() * 1000), rng)
        t0, c0 = time.perf_counter(), time.process_time()
        decoded = [orjson.loads(b) for b in wire]
        t1, c1 = time.perf_counter(), time.process_time()
        for chunk in decoded:
            fired += len(engine.on_queues(chunk))
        t2, c2 = time.perf_counter(), time.process_time()
        timings.append((t1 - t0, t2 - t1, c1 - c0, c2 - c1))
        clock.advance(5)
    cold_eval = timings[0][1]
    warm = min(timings[1:], key=lambda t: t[3])
    return {
        "queues": queues,
        "rules_total": len(engine.rules),
        "queue_rules": queue_rules,
        "cold_eval_ms": round(cold_eval * 1000, 1),
        "warm_eval_ms": round(warm[1] * 1000, 1),
        "warm_decode_ms": round(warm[0] * 1000, 1),
        "warm_total_ms": round((warm[0] + warm[1]) * 1000, 1),
        "warm_eval_cpu_ms": round(warm[3] * 1000, 1),
        "warm_decode_cpu_ms": round(warm[2] * 1000, 1),
        "series_rules_per_s": round(queues * queue_rules / warm[3]),
        "transitions": fired,
    }


def _rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def memory_for_series(
    n: int = 1_000_000, per_node: int = 100_000, samples: int = 3
) -> dict[str, Any]:
    """Resident memory with ``n`` queue series tracked (``n / per_node`` nodes).

    Every series has a queue-table entry and a 60 s gauge window (``samples`` samples) of an
    aggregated queue_depth rule; the default rules are loaded too.
    """
    rng = random.Random(11)
    clock = ManualClock()
    engine = Engine(clock, nodata_seconds=3600, grace_seconds=60)
    rule = AlertRule.model_validate(
        {
            "id": "avg-depth",
            "name": "avg",
            "severity": "warning",
            "condition": {
                "type": "queue_depth",
                "operator": ">",
                "threshold": 1e9,
                "timeWindow": 60_000,
                "aggregation": "avg",
            },
        }
    )
    engine.set_rules([*common_rules.default_rules(), rule])
    gc.collect()
    before = _rss_bytes()
    nodes = max(1, n // per_node)
    names: list[tuple[str, str, str | None]] = [
        (f"{rng.choice(CAMPAIGNS)}:{rng.choice(TENANTS)}@d{i}.example.net", "scheduled", None)
        for i in range(per_node)
    ]
    started = time.perf_counter()
    for s in range(samples):
        for k in range(nodes):
            for chunk in _snapshot(f"bench-{k}", names, s + 1, int(clock.now() * 1000), rng):
                engine.on_queues(orjson.loads(chunk))
        clock.advance(5)
    elapsed = time.perf_counter() - started
    gc.collect()
    after = _rss_bytes()
    series = engine.series_count()
    return {
        "series": series,
        "nodes": nodes,
        "samples_per_series": samples,
        "rss_before_mb": round(before / 2**20, 1),
        "rss_after_mb": round(after / 2**20, 1),
        "rss_delta_mb": round((after - before) / 2**20, 1),
        "bytes_per_series": round((after - before) / max(1, series)),
        "ingest_s": round(elapsed, 1),
    }


def main() -> None:
    print(
        json.dumps(
            {"evaluation_rate": evaluation_rate(), "memory_for_series": memory_for_series()},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
