"""Tunable traffic parameters, and the ``set`` request that changes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


@dataclass(slots=True)
class Knobs:
    """Current traffic parameters of one node."""

    rate: float = 50.0
    bounce_ratio: float = 0.02
    transfail_ratio: float = 0.04
    provider_bounce: dict[str, float] = field(default_factory=dict)
    provider_transfail: dict[str, float] = field(default_factory=dict)
    throttle: dict[str, float] = field(default_factory=dict)
    queue_rate: dict[str, float] = field(default_factory=dict)
    deliveries: bool = True
    receptions: bool = True
    http_share: float = 0.05
    disk_free_percent: float = 60.0
    memory_usage: int | None = None
    liveness: str | None = None
    retry_interval: float = 20.0
    max_retry_interval: float = 300.0
    max_attempts: int = 6

    def bounce_for(self, provider: str) -> float:
        return self.provider_bounce.get(provider, self.bounce_ratio)

    def transfail_for(self, provider: str) -> float:
        return self.provider_transfail.get(provider, self.transfail_ratio)


Ratio01 = Annotated[float, Field(ge=0, le=1)]
Positive = Annotated[float, Field(ge=0)]


class SetRequest(BaseModel):
    """Fields accepted by ``POST /_sim/set`` and by a scenario step's ``set``.

    ``bounce_ratio`` / ``transfail_ratio`` take a number (the default for every provider) or a
    map of provider to ratio; a map value of ``null`` removes that provider's override.
    ``throttle`` maps a provider to a delivery-capacity multiplier (0 stops it).
    ``queue_rate`` adds messages/second into named scheduled queues.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: float | None = Field(default=None, ge=0)
    bounce_ratio: Ratio01 | dict[str, Ratio01 | None] | None = None
    transfail_ratio: Ratio01 | dict[str, Ratio01 | None] | None = None
    throttle: dict[str, Ratio01 | None] | None = None
    queue_rate: dict[str, Positive | None] | None = None
    deliveries: bool | None = None
    receptions: bool | None = None
    http_share: float | None = Field(default=None, ge=0, le=1)
    disk_free_percent: float | None = Field(default=None, ge=0, le=100)
    memory_usage: int | None = Field(default=None, ge=0)
    liveness: str | None = None
    retry_interval: float | None = Field(default=None, gt=0)
    max_attempts: int | None = Field(default=None, ge=1)
    prune_after: float | None = Field(default=None, gt=0)

    def apply(self, knobs: Knobs) -> None:
        """Apply the fields that were given; ``liveness: null`` clears a forced reason."""
        given = self.model_fields_set
        for name in (
            "rate",
            "deliveries",
            "receptions",
            "http_share",
            "disk_free_percent",
            "retry_interval",
            "max_attempts",
        ):
            value = getattr(self, name)
            if value is not None:
                setattr(knobs, name, value)
        if "memory_usage" in given:
            knobs.memory_usage = self.memory_usage
        if "liveness" in given:
            knobs.liveness = self.liveness or None
        _ratio(self.bounce_ratio, knobs, "bounce_ratio", knobs.provider_bounce)
        _ratio(self.transfail_ratio, knobs, "transfail_ratio", knobs.provider_transfail)
        _merge(self.throttle, knobs.throttle)
        _merge(self.queue_rate, knobs.queue_rate)


def _ratio(
    value: float | dict[str, float | None] | None,
    knobs: Knobs,
    attr: str,
    per_provider: dict[str, float],
) -> None:
    if value is None:
        return
    if isinstance(value, dict):
        _merge(value, per_provider)
    else:
        setattr(knobs, attr, float(value))


def _merge(update: dict[str, float | None] | None, target: dict[str, float]) -> None:
    if update is None:
        return
    for key, value in update.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = float(value)
