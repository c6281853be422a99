"""Per-second rates from cumulative counters, with resets handled as PromQL's ``rate()`` does.

Each series keeps its last ``(monotonic time, value)``. The rate is the delta over the elapsed
time. A first sample, or a counter that went down (KumoMTA restarted, a pruned queue series came
back at 0), starts a new baseline: the rate for that interval is 0, never negative, never a spike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    """The outcome of one observation."""

    delta: float
    per_sec: float
    elapsed: float
    reset: bool = False

    @property
    def baseline(self) -> bool:
        """True when this sample only set a baseline (first sample or reset)."""
        return self.elapsed == 0.0


NO_RATE = Rate(0.0, 0.0, 0.0)
RESET = Rate(0.0, 0.0, 0.0, reset=True)


class CounterRates:
    """Baselines of the counter series of one node."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, float]] = {}

    def observe(self, key: str, value: float, at: float) -> Rate:
        """Record ``value`` of series ``key`` at monotonic time ``at``; its rate since the last."""
        prev = self._last.get(key)
        if value != value:  # NaN: keep the old baseline, report nothing
            return NO_RATE
        self._last[key] = (at, value)
        if prev is None:
            return NO_RATE
        prev_at, prev_value = prev
        if value < prev_value:
            return RESET
        elapsed = at - prev_at
        if elapsed <= 0:
            return NO_RATE
        delta = value - prev_value
        return Rate(delta, delta / elapsed, elapsed)

    def clear(self) -> None:
        """Forget every baseline (the node restarted)."""
        self._last.clear()

    def forget_except(self, keys: Iterable[str]) -> None:
        """Drop baselines of series that disappeared (pruned), so they restart cleanly."""
        keep = set(keys)
        for key in [k for k in self._last if k not in keep]:
            del self._last[key]

    def __len__(self) -> int:
        return len(self._last)


def ratio(part: float, whole: float) -> float | None:
    """``part / whole`` in percent, or None when nothing happened."""
    if whole <= 0:
        return None
    return 100.0 * part / whole
