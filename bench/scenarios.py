"""Detection scenarios: the change made on the simulator, the same rule for both products, and
the theoretical crossing time (when the windowed value first passes the threshold).

The crossing times follow from the rates set: a bounce ratio stepping from ``r0`` to ``r1`` at
constant volume makes the ratio over a window ``W`` equal ``r0 + (r1 - r0) * t / W`` for
``t < W``, crossing ``θ`` at ``t = W (θ - r0) / (r1 - r0)``; a suspended queue filling at ``q``
messages/s crosses ``N`` at ``t = N / q``. Whatever either product takes beyond that is its
detection overhead.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol

from bench.promstack import PromRule
from bench.sim import SimProcess
from kumowatch_common.events import AlertRule

BASE_BOUNCE_RATIO = 0.02  # the simulator's default bounce ratio


class Scenario(Protocol):
    """What a detection trial needs from a scenario."""

    key: str
    node: str

    @property
    def title(self) -> str: ...

    @property
    def crossing(self) -> float: ...

    @property
    def drain(self) -> float: ...

    def kumowatch_rule(self, rule_id: str) -> AlertRule: ...

    def prom_rule(self) -> PromRule: ...

    async def prepare(self, sim: SimProcess) -> None: ...

    async def start(self, sim: SimProcess, trial: int) -> float:
        """Make trial ``trial``'s change; returns its wall-clock time (epoch s)."""
        ...

    @property
    def labels(self) -> dict[str, str]:
        """Labels identifying the current trial's alert (the same in both products)."""
        ...

    async def reset(self, sim: SimProcess) -> None: ...

    async def settle(self, sim: SimProcess, timeout: float) -> None:
        """Wait until the simulator is back at its steady state after ``reset``."""
        ...


# High-volume providers, taken in turn so that every trial is a new alert (and a new
# Alertmanager group) in both products without reconfiguring either. The glob matches exactly
# these four among the simulator's providers (the long tail is named ``mx.<domain>``).
PROVIDERS = ("gmail", "yahoo", "outlook", "icloud")
PROVIDER_GLOB = "[gyoi]*"


@dataclass
class BounceSpike:
    """One provider's bounce ratio steps from 2% to ``spike``; rule: ratio > θ% over ``window``."""

    node: str
    window: float = 20.0
    spike: float = 0.5
    threshold: float = 10.0
    rate: float = 200.0
    key: str = "bounce"
    provider: str = PROVIDERS[0]

    @property
    def labels(self) -> dict[str, str]:
        return {"node": self.node, "provider": self.provider}

    @property
    def title(self) -> str:
        return (
            f"bounce spike: one provider {BASE_BOUNCE_RATIO:.0%}→{self.spike:.0%}, "
            f"rule >{self.threshold:g}% over {self.window:g} s"
        )

    @property
    def crossing(self) -> float:
        theta = self.threshold / 100.0
        return self.window * (theta - BASE_BOUNCE_RATIO) / (self.spike - BASE_BOUNCE_RATIO)

    @property
    def drain(self) -> float:
        # The whole window must be clean again before the next trial starts.
        return self.window + 2.0

    def kumowatch_rule(self, rule_id: str) -> AlertRule:
        return AlertRule.model_validate(
            {
                "id": rule_id,
                "name": "Bench bounce spike",
                "severity": "warning",
                "condition": {
                    "type": "provider_bounce_rate",
                    "operator": ">",
                    "threshold": self.threshold,
                    "timeWindow": int(self.window * 1000),
                    "groupBy": "provider",
                },
                "channels": ["webhook"],
                "scope": {"node": self.node, "provider": PROVIDER_GLOB},
                "minVolume": 20,
            }
        )

    def prom_rule(self) -> PromRule:
        sel = f'{{node="{self.node}",provider=~"{"|".join(PROVIDERS)}"}}'
        w = f"[{int(self.window)}s]"
        fail = f"increase(total_messages_fail_by_provider{sel}{w})"
        ok = f"increase(total_messages_delivered_by_provider{sel}{w})"
        return PromRule(
            name="BenchBounceSpike",
            expr=f"100 * {fail} / ({fail} + {ok}) > {self.threshold:g}",
            labels={"severity": "warning"},
        )

    async def prepare(self, sim: SimProcess) -> None:
        # No transient failures at these providers: the ratio is then exactly fail / (fail + ok).
        await sim.set(self.node, rate=self.rate, transfail_ratio=dict.fromkeys(PROVIDERS, 0.0))

    async def start(self, sim: SimProcess, trial: int) -> float:
        self.provider = PROVIDERS[trial % len(PROVIDERS)]
        t0 = time.time()
        await sim.set(self.node, bounce_ratio={self.provider: self.spike})
        return t0

    async def reset(self, sim: SimProcess) -> None:
        await sim.set(self.node, bounce_ratio={self.provider: None})

    async def settle(self, sim: SimProcess, timeout: float) -> None:
        return None


@dataclass
class QueueOverThreshold:
    """An admin suspension of a scheduled queue receiving ``rate`` msg/s; rule: size > N."""

    node: str
    rate: float = 100.0
    threshold: float = 300.0
    key: str = "queue"
    queue: str = "bench-t0:acme@gmail.com"
    _suspension: str | None = None

    @property
    def labels(self) -> dict[str, str]:
        return {"node": self.node, "queue": self.queue}

    @property
    def title(self) -> str:
        return (
            f"queue over threshold: a suspended queue filling at {self.rate:g}/s, "
            f"rule size >{self.threshold:g}"
        )

    @property
    def crossing(self) -> float:
        return self.threshold / self.rate

    @property
    def drain(self) -> float:
        return 3.0

    def kumowatch_rule(self, rule_id: str) -> AlertRule:
        return AlertRule.model_validate(
            {
                "id": rule_id,
                "name": "Bench queue over threshold",
                "severity": "warning",
                "condition": {"type": "queue_depth", "operator": ">", "threshold": self.threshold},
                "channels": ["webhook"],
                "scope": {"node": self.node, "queue": "bench-t*"},
            }
        )

    def prom_rule(self) -> PromRule:
        return PromRule(
            name="BenchQueueOverThreshold",
            expr=f'scheduled_count{{node="{self.node}",queue=~"bench-t.*"}} > {self.threshold:g}',
            labels={"severity": "warning"},
        )

    async def prepare(self, sim: SimProcess) -> None:
        return None

    async def start(self, sim: SimProcess, trial: int) -> float:
        # A new queue per trial: a new alert (and Alertmanager group) in both products.
        self.queue = f"bench-t{trial}-{time.monotonic_ns() % 10**6}:acme@gmail.com"
        self._suspension = await sim.suspend(self.node, [self.queue], "bench trial", "10m")
        t0 = time.time()
        await sim.set(self.node, queue_rate={self.queue: self.rate})
        return t0

    async def reset(self, sim: SimProcess) -> None:
        await sim.set(self.node, queue_rate={self.queue: None})
        if self._suspension is not None:
            await sim.unsuspend(self.node, self._suspension)
            self._suspension = None

    async def settle(self, sim: SimProcess, timeout: float) -> None:
        # A queue that grew for long drains at the provider's delivery rate: wait until empty.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            truth = await sim.truth(self.node, queues=True)
            if truth.get("scheduled", {}).get(self.queue, 0) == 0:
                return
            await asyncio.sleep(0.5)
