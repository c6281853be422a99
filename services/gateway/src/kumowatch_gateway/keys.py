"""Typed application keys shared by the app factory, the routes and the WebSocket handler."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from aiohttp import web

from kumowatch_common.clock import Clock
from kumowatch_gateway.backend import Backend
from kumowatch_gateway.config import Settings
from kumowatch_gateway.hub import Hub
from kumowatch_gateway.readmodel import ReadModel


@dataclass(slots=True)
class Sync:
    """Which feeds have caught up with NATS since start (readiness waits for all)."""

    pending: set[str] = field(
        default_factory=lambda: {
            "rules",
            "alert_state",
            "acks",
            "silences",
            "alerts",
            "notifications",
            "snapshots",
        }
    )

    def done(self, name: str) -> None:
        self.pending.discard(name)

    @property
    def synced(self) -> bool:
        return not self.pending


@dataclass(slots=True)
class Meta:
    """Facts about this process for /health."""

    instance: str
    started_monotonic: float


SETTINGS: Final = web.AppKey("settings", Settings)
MODEL: Final = web.AppKey("model", ReadModel)
HUB: Final = web.AppKey("hub", Hub)
BACKEND: Final = web.AppKey("backend", Backend)
CLOCK: Final = web.AppKey("clock", Clock)
SYNC: Final = web.AppKey("sync", Sync)
META: Final = web.AppKey("meta", Meta)
