"""Row functions per service issue (poller 4, alerter 5, notifier 6, gateway 7, simulator).

Each calls the service's ``kumowatch_<svc>.bench`` module through :func:`bench.rows.call` and
turns its result into table rows with the issue's target or peer beside the figure.
"""

from __future__ import annotations

from bench.report import Row
from bench.rows import Context, RowFn, call, describe, fmt, guarded, pick


async def simulator_rows(ctx: Context) -> list[Row]:
    queues = 20_000 if ctx.quick else 100_000
    took = await call(ctx, "kumowatch_sim.bench", "metrics_render_seconds", queues=queues)
    value = pick(took)
    return [
        Row(
            f"Simulator /metrics render, {queues:,} queues",
            "kumowatch_sim (test tool)",
            fmt(None if value is None else value * 1000, "ms", 1),
            "context: the body the poller parses each interval",
        )
    ]


async def poller_rows(ctx: Context) -> list[Row]:
    series = 200_000 if ctx.quick else 1_000_000
    parse = await call(ctx, "kumowatch_poller.bench", "parse_rate", series=series)
    ours = pick(parse, "ours_series_per_s", "series_per_s", "kumowatch_series_per_s", "ours")
    peer = pick(parse, "prometheus_client_series_per_s", "peer_series_per_s", "prometheus_client")
    rows = [
        Row(
            f"Poller: parse + publish a {series:,}-series /metrics body",
            "one process",
            fmt(ours, "series/s"),
            f"prometheus-client text parser {fmt(peer, 'series/s')}; target ≥ 5× it",
            _times(ours, peer, 5.0),
            describe(parse),
        )
    ]
    ingest = await call(ctx, "kumowatch_poller.bench", "ingest_rate")
    ours = pick(ingest, "ours_records_per_s", "records_per_s", "ingest_records_per_s", "ours")
    peer = pick(ingest, "bare_records_per_s", "jetstream_records_per_s", "peer_records_per_s")
    rows.append(
        Row(
            "Poller: log-hook ingest with JetStream acks",
            "HTTP batches, one process",
            fmt(ours, "records/s"),
            f"bare nats-py JetStream publish loop {fmt(peer, 'records/s')}; target ≥ 80% of it",
            _share(ours, peer, 0.8),
            describe(ingest),
        )
    )
    return rows


async def alerter_rows(ctx: Context) -> list[Row]:
    queues = 100_000
    ev = await call(ctx, "kumowatch_alerter.bench", "evaluation_time", queues=queues)
    ms = pick(ev, "evaluation_ms", "full_evaluation_ms", "ms", "p50_ms")
    if ms is None and (s := pick(ev, "seconds", "evaluation_s")) is not None:
        ms = s * 1000
    rate = pick(ev, "series_rules_per_s", "evaluations_per_s", "series_x_rules_per_s")
    rows = [
        Row(
            f"Alerter: evaluate a {queues:,}-queue snapshot, default + 10 scoped rules",
            "one core",
            f"{fmt(ms, 'ms', 1)} per full evaluation ({fmt(rate, 'series×rules/s')})",
            "target < 250 ms",
            _below(ms, 250.0),
            describe(ev),
        )
    ]
    series = 200_000 if ctx.quick else 1_000_000
    mem = await call(ctx, "kumowatch_alerter.bench", "memory_with_series", series=series)
    mib = pick(mem, "rss_mib", "mib", "resident_mib")
    if mib is None and (kib := pick(mem, "rss_kib")) is not None:
        mib = kib / 1024
    if mib is None and (b := pick(mem, "rss_bytes", "bytes")) is not None:
        mib = b / 2**20
    rows.append(
        Row(
            f"Alerter: resident memory with {series:,} series tracked",
            "one process",
            fmt(mib, "MiB"),
            "reported for sizing (no fixed limit in issue 5)",
            "",
            describe(mem),
        )
    )
    return rows


async def notifier_rows(ctx: Context) -> list[Row]:
    alerts = 600 if ctx.quick else 3000
    rows = []
    for replicas in (1, 2):
        r = await call(
            ctx, "kumowatch_notifier.bench", "throughput", alerts=alerts, replicas=replicas
        )
        rows.append(
            Row(
                f"Notifier: webhook notifications, {replicas} replica(s)",
                f"{alerts} alert events, local receiver",
                f"{fmt(pick(r, 'notifications_per_s_per_replica'), '/s per replica')} "
                f"({fmt(pick(r, 'notifications_per_s'), '/s total')})",
                "seed: one HTTP call per alert, no retries (no figure); Alertmanager: batched per group",
                "",
                f"event→webhook p50 {fmt(pick(r, 'latency_p50_ms'), 'ms', 1)}, "
                f"p99 {fmt(pick(r, 'latency_p99_ms'), 'ms', 1)}",
            )
        )
    return rows


async def gateway_rows(ctx: Context) -> list[Row]:
    rows = []
    for clients, rate, target in ((1000, 10.0, 50.0), (5000, 2.0, 250.0)):
        r = await call(
            ctx,
            "kumowatch_gateway.bench",
            "fanout",
            clients=clients,
            rate=rate,
            duration=5.0 if ctx.quick else 20.0,
        )
        p50 = pick(r, "p50_ms", "latency_p50_ms")
        p95 = pick(r, "p95_ms", "latency_p95_ms")
        p99 = pick(r, "p99_ms", "latency_p99_ms")
        rows.append(
            Row(
                f"Gateway: WebSocket fan-out, {clients:,} clients at {rate:g} msg/s",
                "one process",
                f"p50 {fmt(p50, 'ms', 1)} / p95 {fmt(p95, 'ms', 1)} / p99 {fmt(p99, 'ms', 1)}",
                f"target p95 < {target:g} ms; reference aiohttp figure p95 "
                + ("42 ms" if clients == 1000 else "362 ms"),
                _below(p95, target),
                describe(r),
            )
        )
    idle = await call(
        ctx, "kumowatch_gateway.bench", "idle_memory", clients=1000 if ctx.quick else 5000
    )
    kib = pick(idle, "kib_per_connection", "per_connection_kib")
    rows.append(
        Row(
            "Gateway: memory per idle WebSocket connection",
            "one process",
            fmt(kib, "KiB", 1),
            "reported for sizing",
            "",
            describe(idle),
        )
    )
    api = await call(ctx, "kumowatch_gateway.bench", "alerts_api", alerts=100_000)
    p99 = pick(api, "p99_ms", "latency_p99_ms")
    rows.append(
        Row(
            "Gateway: GET /api/alerts with 100,000 stored alerts",
            "one process",
            f"p99 {fmt(p99, 'ms', 1)}",
            "seed: in-memory array scan (no figure)",
            "",
            describe(api),
        )
    )
    return rows


def _times(ours: float | None, peer: float | None, want: float) -> str:
    if ours is None or peer is None or peer <= 0:
        return ""
    x = ours / peer
    return f"{x:.1f}× ({'meets' if x >= want else 'misses'} {want:g}×)"


def _share(ours: float | None, peer: float | None, want: float) -> str:
    if ours is None or peer is None or peer <= 0:
        return ""
    x = ours / peer
    return f"{x:.0%} ({'meets' if x >= want else 'misses'} {want:.0%})"


def _below(value: float | None, limit: float) -> str:
    if value is None:
        return ""
    return "meets" if value < limit else "misses"


ROWS: list[tuple[str, RowFn, list[tuple[str, str]]]] = [
    (
        "poller",
        poller_rows,
        [
            (
                "Poller: parse + publish a 1M-series /metrics body",
                "prometheus-client parser; target ≥ 5×",
            ),
            (
                "Poller: log-hook ingest with JetStream acks",
                "bare JetStream publish loop; target ≥ 80%",
            ),
        ],
    ),
    (
        "alerter",
        alerter_rows,
        [
            (
                "Alerter: evaluate a 100,000-queue snapshot, default + 10 scoped rules",
                "target < 250 ms",
            ),
            ("Alerter: resident memory with 1,000,000 series tracked", "reported for sizing"),
        ],
    ),
    (
        "notifier",
        notifier_rows,
        [
            (
                "Notifier: webhook notifications per replica, event→webhook p50/p99",
                "seed: no figure",
            ),
        ],
    ),
    (
        "gateway",
        gateway_rows,
        [
            ("Gateway: WebSocket fan-out 1,000 clients at 10 msg/s", "target p95 < 50 ms"),
            ("Gateway: WebSocket fan-out 5,000 clients at 2 msg/s", "target p95 < 250 ms"),
            ("Gateway: memory per idle WebSocket connection", "reported for sizing"),
            ("Gateway: GET /api/alerts with 100,000 stored alerts", "seed: no figure"),
        ],
    ),
    ("simulator", simulator_rows, [("Simulator /metrics render", "context")]),
]


async def all_rows(ctx: Context) -> list[Row]:
    out: list[Row] = []
    for name, fn, fallback in ROWS:
        out += await guarded(ctx, name, fn, fallback)
    return out
