"""The benchmark functions run end to end (small sizes; no timing assertions)."""

from __future__ import annotations

from kumowatch_notifier import bench


async def test_throughput_and_latency_report_their_figures(fresh_nats) -> None:
    burst = await bench.throughput(fresh_nats.url, alerts=30, replicas=1)
    assert burst["alerts"] == 30
    assert burst["notifications_per_s"] > 0
    assert burst["burst_latency_p99_ms"] >= burst["burst_latency_p50_ms"] > 0
    steady = await bench.latency(fresh_nats.url, alerts=10, rate=100)
    assert steady["latency_p99_ms"] >= steady["latency_p50_ms"] > 0
