"""The benchmark functions run and report their figures (tiny sizes; no timing assertions)."""

from __future__ import annotations

from kumowatch_gateway import bench


async def test_alerts_list_benchmark_reports_percentiles() -> None:
    result = await bench.alerts_list_p99(alerts=500, requests=20)
    assert result["alerts"] == 500
    assert {"p50_ms", "p95_ms", "p99_ms", "max_ms"} <= result.keys()
