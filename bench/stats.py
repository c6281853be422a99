"""Small statistics helpers: nearest-rank percentiles and human formatting."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def seconds(value: float | None) -> str:
    """``1.23 s`` / ``850 ms``; a dash for missing values."""
    if value is None or math.isnan(value):
        return "–"
    if value < 1.0:
        return f"{value * 1000:.0f} ms"
    if value < 100:
        return f"{value:.2f} s"
    return f"{value:.0f} s"


def ratio(num: float | None, den: float | None) -> str:
    if num is None or den is None or math.isnan(num) or math.isnan(den) or den <= 0:
        return "–"
    return f"{num / den:.1f}×"


def mib(kib: int | None) -> str:
    return "–" if kib is None else f"{kib / 1024:.0f} MiB"
