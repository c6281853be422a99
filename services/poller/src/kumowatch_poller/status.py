"""A node's health verdict: ``healthy``, ``degraded`` or ``down``, with a reason people can act on.

- ``down``: ``/metrics`` could not be read (connection refused, timeout, HTTP error).
- ``degraded``: metrics came but liveness answered 503 (KumoMTA's reason is passed on), liveness or
  machine-info failed, the metrics body was garbage, or disk or memory is critical.
- ``healthy``: otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from kumowatch_common.events import KumoStatus, MetricsUpdate
from kumowatch_poller.errors import FetchError

DISK_CRITICAL_PERCENT: Final = 5.0
MEMORY_CRITICAL_PERCENT: Final = 95.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """The status to publish."""

    status: KumoStatus
    reason: str | None

    @property
    def connected(self) -> bool:
        return self.status != "down"


@dataclass(slots=True)
class Observation:
    """What one poll saw. ``None`` errors mean the probe succeeded (or is not supported)."""

    metrics_error: FetchError | None = None
    liveness_reason: str | None = None  # KumoMTA's text when liveness answered 503
    probe_errors: list[str] = field(default_factory=list)
    metrics: MetricsUpdate | None = None


def describe(err: FetchError) -> str:
    """A short, stable reason for a failed read."""
    if err.kind == "http" and err.status in (401, 403):
        return (
            f"{err.path}: HTTP {err.status} (is the poller in KumoMTA's trusted_hosts, or allowed "
            "by its ACL?)"
        )
    if err.kind == "http":
        return f"{err.path}: HTTP {err.status}"
    if err.kind == "timeout":
        return f"{err.path}: timed out"
    if err.kind == "refused":
        return f"{err.path}: unreachable ({err.detail})"
    return f"{err.path}: unparseable answer"


def health_problems(m: MetricsUpdate) -> list[str]:
    """Critical resource levels reported by the node's own gauges."""
    out: list[str] = []
    if m.diskFreePercent is not None and m.diskFreePercent < DISK_CRITICAL_PERCENT:
        low = min(m.diskFree, key=lambda k: m.diskFree[k]) if m.diskFree else "spool"
        out.append(f"disk critical: {m.diskFreePercent:g}% free on {low}")
    if m.memoryRatio is not None and m.memoryRatio >= MEMORY_CRITICAL_PERCENT:
        out.append(f"memory critical: {m.memoryRatio:.0f}% of the limit")
    return out


def evaluate(obs: Observation) -> Verdict:
    """Combine one poll's observations into a verdict."""
    reasons: list[str] = []
    if obs.liveness_reason is not None:
        reasons.append(f"liveness: {obs.liveness_reason}")
    if obs.metrics_error is not None:
        first = describe(obs.metrics_error)
        if obs.metrics_error.kind == "garbage":
            return Verdict("degraded", "; ".join([first, *reasons]))
        return Verdict("down", "; ".join([first, *reasons]))
    reasons.extend(obs.probe_errors)
    if obs.metrics is not None:
        reasons.extend(health_problems(obs.metrics))
    if reasons:
        return Verdict("degraded", "; ".join(reasons))
    return Verdict("healthy", None)
