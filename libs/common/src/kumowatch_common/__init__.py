"""kumowatch_common: contracts, subjects, streams, NATS bootstrap, leases, health, lifecycle."""

from kumowatch_common import (
    clock,
    events,
    health,
    leases,
    lifecycle,
    log,
    settings,
    streams,
    subjects,
)

__all__ = [
    "clock",
    "events",
    "health",
    "leases",
    "lifecycle",
    "log",
    "settings",
    "streams",
    "subjects",
]
