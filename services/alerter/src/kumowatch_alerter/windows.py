"""Sample windows: counter increases (PromQL ``increase()`` style) and gauge aggregations.

A counter's increase over a window is the sum of the differences between consecutive samples in
it. When a sample is lower than the one before, or the poller flagged ``counterReset`` (KumoMTA
restarted), the counter started again from zero, so the new value itself is the increase since the
reset; this is what PromQL's ``increase()`` does (without its extrapolation to the window edges).
Never a sum of cumulative values, never a negative delta.

Windows of snapshot data end at the newest sample (not at the wall clock), so replayed data and
live data give the same values; a node that stops sending is handled by NoData instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import NamedTuple, TypeVar, cast


class MetricSample(NamedTuple):
    """The parts of one ``MetricsUpdate`` the rules read."""

    t: int
    delivered: float
    bounced: float
    deferred: float
    received: float
    reset: bool
    queued: float
    throughput: float
    disk_free: float | None
    memory: float | None


class ProviderSample(NamedTuple):
    """One provider's cumulative counters in one ``ProvidersSnapshot``."""

    t: int
    delivered: float
    failed: float
    transfailed: float
    reset: bool


S = TypeVar("S", MetricSample, ProviderSample)


def in_window(samples: deque[S], window_ms: int | None) -> list[S]:
    """The samples of the window ending at the newest one; the last interval when no window."""
    if not samples:
        return []
    if window_ms is None:
        return list(samples)[-2:]
    start = samples[-1].t - window_ms
    out: list[S] = []
    for sample in reversed(samples):
        if sample.t < start:
            break
        out.append(sample)
    out.reverse()
    return out


def increase(values: Sequence[float], resets: Sequence[bool]) -> float:
    """Increase of a counter over consecutive samples, resets handled (see module doc)."""
    total = 0.0
    for i in range(1, len(values)):
        cur, prev = values[i], values[i - 1]
        if resets[i] or cur < prev:
            total += cur
        else:
            total += cur - prev
    return total


def counter_increase(samples: Sequence[MetricSample | ProviderSample], field: int) -> float:
    """Increase of field ``field`` (tuple index) over ``samples``."""
    values = [cast(float, s[field]) for s in samples]
    resets = [s.reset for s in samples]
    return increase(values, resets)


def aggregate(values: Sequence[float], how: str | None) -> float:
    """avg/sum/max/min of gauge samples; the newest value when no aggregation."""
    if how is None or how == "last":
        return values[-1]
    if how == "avg":
        return sum(values) / len(values)
    if how == "sum":
        return float(sum(values))
    if how == "max":
        return max(values)
    return min(values)


def prune(samples: deque[S], keep_ms: int) -> None:
    """Drop samples older than ``keep_ms`` before the newest, keeping at least two."""
    if not samples:
        return
    start = samples[-1].t - keep_ms
    while len(samples) > 2 and samples[0].t < start:
        samples.popleft()


class GaugeWindow:
    """A gauge's recent samples for aggregation over a window (queue depth with ``aggregation``).

    Plain lists, not deques: a window holds a handful of samples (window / poll interval) and a
    deque costs ~600 bytes even when nearly empty, which matters at a million series.
    """

    __slots__ = ("total", "ts", "vs")

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.vs: list[float] = []
        self.total = 0.0

    def add(self, t: int, value: float, window_ms: int) -> None:
        ts, vs = self.ts, self.vs
        ts.append(t)
        vs.append(value)
        self.total += value
        start = t - window_ms
        if ts[0] < start:
            k = 1
            while ts[k] < start:
                k += 1
            self.total -= sum(vs[:k])
            del ts[:k], vs[:k]

    def value(self, how: str) -> float:
        if how == "avg":
            return self.total / len(self.vs)
        if how == "sum":
            return self.total
        if how == "max":
            return max(self.vs)
        if how == "min":
            return min(self.vs)
        return self.vs[-1]
