"""Admin-API state: scheduled-queue suspensions, ready-queue suspensions and admin bounces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from kumowatch_sim.errors import BadRequestError
from kumowatch_sim.humantime import format_duration, parse_duration, parse_rfc3339, rfc3339
from kumowatch_sim.state import SchedQueue

DEFAULT_DURATION: Final = 300.0


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    duration: str | None = None
    expires: str | None = None

    def expiry(self, now: float) -> float:
        """When the entry expires: ``expires`` wins over ``duration``; default 5 minutes."""
        if self.expires is not None:
            return parse_rfc3339(self.expires)
        if self.duration is not None:
            return now + parse_duration(self.duration)
        return now + DEFAULT_DURATION


class SuspendV1Request(_Request):
    """Body of ``POST /api/admin/suspend/v1``."""

    reason: str
    campaign: str | None = None
    tenant: str | None = None
    domain: str | None = None
    queue_names: list[str] = Field(default_factory=list)


class SuspendReadyQueueV1Request(_Request):
    """Body of ``POST /api/admin/suspend-ready-q/v1``."""

    name: str
    reason: str


class BounceV1Request(_Request):
    """Body of ``POST /api/admin/bounce/v1``."""

    reason: str
    campaign: str | None = None
    tenant: str | None = None
    domain: str | None = None
    routing_domain: str | None = None
    queue_names: list[str] = Field(default_factory=list)
    suppress_logging: bool = False


class DeleteRequest(BaseModel):
    """Body of the admin DELETE calls."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str


def _matches(
    queue: SchedQueue,
    queue_names: tuple[str, ...],
    campaign: str | None,
    tenant: str | None,
    domain: str | None,
    routing_domain: str | None = None,
) -> bool:
    if queue_names:
        return queue.name in queue_names
    if campaign is not None and queue.campaign != campaign:
        return False
    if tenant is not None and queue.tenant != tenant:
        return False
    if domain is not None and queue.domain.name != domain:
        return False
    # Simulated queues never carry a routing domain.
    return routing_domain is None


@dataclass(slots=True)
class Suspension:
    """An active scheduled-queue suspension."""

    id: str
    reason: str
    campaign: str | None
    tenant: str | None
    domain: str | None
    queue_names: tuple[str, ...]
    expires: float

    def matches(self, queue: SchedQueue) -> bool:
        return _matches(queue, self.queue_names, self.campaign, self.tenant, self.domain)

    def as_json(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "reason": self.reason,
            "duration": format_duration(self.expires - now),
            "campaign": self.campaign,
            "tenant": self.tenant,
            "domain": self.domain,
        }


@dataclass(slots=True)
class ReadySuspension:
    """An active ready-queue suspension."""

    id: str
    name: str
    reason: str
    expires: float

    def as_json(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "reason": self.reason,
            "duration": format_duration(self.expires - now),
            "expires": rfc3339(self.expires),
        }


@dataclass(slots=True)
class Bounce:
    """An active admin bounce; ``bounced`` counts messages per scheduled queue."""

    id: str
    reason: str
    campaign: str | None
    tenant: str | None
    domain: str | None
    routing_domain: str | None
    queue_names: tuple[str, ...]
    expires: float
    suppress_logging: bool
    bounced: dict[str, int] = field(default_factory=dict)

    def matches(self, queue: SchedQueue) -> bool:
        return _matches(
            queue, self.queue_names, self.campaign, self.tenant, self.domain, self.routing_domain
        )

    def as_json(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "reason": self.reason,
            "duration": format_duration(self.expires - now),
            "campaign": self.campaign,
            "tenant": self.tenant,
            "domain": self.domain,
            "routing_domain": self.routing_domain,
            "bounced": dict(self.bounced),
            "total_bounced": sum(self.bounced.values()),
        }


class AdminState:
    """Holds admin entries and expires them on the node's clock."""

    def __init__(self) -> None:
        self.suspensions: dict[str, Suspension] = {}
        self.ready_suspensions: dict[str, ReadySuspension] = {}
        self.bounces: dict[str, Bounce] = {}

    def expire(self, now: float) -> None:
        for table in (self.suspensions, self.ready_suspensions, self.bounces):
            for key in [k for k, v in table.items() if v.expires <= now]:
                del table[key]

    def clear(self) -> None:
        self.suspensions.clear()
        self.ready_suspensions.clear()
        self.bounces.clear()

    def add_suspension(self, entry_id: str, req: SuspendV1Request, now: float) -> Suspension:
        entry = Suspension(
            entry_id,
            req.reason,
            req.campaign,
            req.tenant,
            req.domain,
            tuple(req.queue_names),
            _future(req.expiry(now), now),
        )
        self.suspensions[entry_id] = entry
        return entry

    def add_ready_suspension(
        self, entry_id: str, req: SuspendReadyQueueV1Request, now: float
    ) -> ReadySuspension:
        entry = ReadySuspension(entry_id, req.name, req.reason, _future(req.expiry(now), now))
        self.ready_suspensions[entry_id] = entry
        return entry

    def add_bounce(self, entry_id: str, req: BounceV1Request, now: float) -> Bounce:
        entry = Bounce(
            entry_id,
            req.reason,
            req.campaign,
            req.tenant,
            req.domain,
            req.routing_domain,
            tuple(req.queue_names),
            _future(req.expiry(now), now),
            req.suppress_logging,
        )
        self.bounces[entry_id] = entry
        return entry

    def is_suspended(self, queue: SchedQueue) -> bool:
        return any(s.matches(queue) for s in self.suspensions.values())

    def ready_suspended_names(self) -> set[str]:
        return {s.name for s in self.ready_suspensions.values()}

    def bounce_for(self, queue: SchedQueue) -> Bounce | None:
        for entry in self.bounces.values():
            if entry.matches(queue):
                return entry
        return None


def _future(expires: float, now: float) -> float:
    if expires <= now:
        raise BadRequestError("the entry would already have expired")
    return expires
