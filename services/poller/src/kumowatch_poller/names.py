"""KumoMTA queue names, taken apart (``reference/kumomta-api.md`` section 4).

A scheduled queue is ``[campaign:][tenant]@domain[!routing_domain]`` (or just ``domain``); a ready
queue is ``source->site@protocol``, and its metrics carry it as ``service="<proto>:<name>"``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ScheduledName:
    """The parts of a scheduled queue name; absent parts are None."""

    campaign: str | None
    tenant: str | None
    domain: str | None
    routing_domain: str | None


@dataclass(frozen=True, slots=True)
class ReadyName:
    """The parts of a ready queue name."""

    name: str
    source: str | None
    site: str | None
    protocol: str | None


def parse_scheduled(queue: str) -> ScheduledName:
    """Split at the first ``@``; before it ``campaign:tenant`` or ``tenant``; ``!`` starts routing."""
    campaign = tenant = None
    head, at, rest = queue.partition("@")
    if not at:
        rest = queue
    elif ":" in head:
        campaign_part, _, tenant_part = head.partition(":")
        campaign, tenant = campaign_part or None, tenant_part or None
    else:
        tenant = head or None
    domain, bang, routing = rest.partition("!")
    return ScheduledName(campaign, tenant, domain or None, routing or None if bang else None)


def ready_from_service(service: str) -> ReadyName | None:
    """The ready queue of a per-queue ``service`` label, or None for an aggregate (no ``:``)."""
    proto, colon, name = service.partition(":")
    if not colon or not proto:
        return None
    return parse_ready(name)


def parse_ready(name: str) -> ReadyName:
    """``source->site@protocol``; older KumoMTA omits ``@protocol``."""
    source, arrow, rest = name.partition("->")
    if not arrow:
        return ReadyName(name, None, name or None, None)
    site, at, protocol = rest.partition("@")
    return ReadyName(name, source or None, site or None, protocol or None if at else None)
