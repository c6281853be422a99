"""The benchmark functions run (small sizes; the figures themselves are not asserted)."""

from __future__ import annotations

from kumowatch_alerter import bench


def test_evaluation_rate_reports_its_figures() -> None:
    out = bench.evaluation_rate(queues=2000, rounds=1)
    assert out["queues"] == 2000
    assert out["rules_total"] == 15
    assert out["series_rules_per_s"] > 0


def test_memory_for_series_counts_series() -> None:
    out = bench.memory_for_series(n=2000, per_node=1000, samples=2)
    assert out["nodes"] == 2
    assert out["series"] >= 2000
