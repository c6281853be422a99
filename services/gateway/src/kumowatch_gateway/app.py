"""The aiohttp application factory: routes, middlewares, WebSocket, and one cleanup context per
resource the app owns (the hub's slow-client sweeper; the WebSocket clients are closed on
shutdown so the server does not wait for them).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from importlib import resources
from pathlib import Path
from typing import Final

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry

from kumowatch_common.clock import Clock, SystemClock
from kumowatch_gateway import openapi, routes_alerts, routes_ops, ws
from kumowatch_gateway.auth import Verifier
from kumowatch_gateway.backend import Backend
from kumowatch_gateway.config import Settings
from kumowatch_gateway.http import (
    CORS_ORIGINS,
    VERIFIER,
    Handler,
    Route,
    add_routes,
    cors_middleware,
    error_middleware,
    json_response,
    metrics_middleware,
)
from kumowatch_gateway.hub import Hub
from kumowatch_gateway.keys import BACKEND, CLOCK, HUB, META, MODEL, SETTINGS, SYNC, Meta, Sync
from kumowatch_gateway.readmodel import ReadModel

VERSION: Final = "0.1.0"
OPENAPI: Final = web.AppKey("openapi", bytes)


def routes() -> list[Route]:
    """Every REST route (the OpenAPI document describes exactly these)."""
    return [*routes_ops.ROUTES, *routes_alerts.ROUTES]


def create_app(
    settings: Settings,
    *,
    model: ReadModel | None = None,
    backend: Backend | None = None,
    verifier: Verifier | None = None,
    hub: Hub | None = None,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
    instance: str = "gateway",
) -> web.Application:
    """The gateway app; NATS is attached later with ``app[BACKEND].bind(...)``."""
    origins = settings.cors_origins()
    registry = registry if registry is not None else CollectorRegistry()
    app = web.Application(
        middlewares=[
            metrics_middleware(registry),
            cors_middleware(origins),
            error_middleware,
            _readiness_gate,
        ],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[CORS_ORIGINS] = origins
    app[MODEL] = model or ReadModel(
        alert_limit=settings.alert_history_limit,
        notification_limit=settings.notification_history_limit,
    )
    app[BACKEND] = backend or Backend(settings.nats_request_timeout_seconds)
    app[VERIFIER] = verifier or Verifier.from_settings(settings)
    app[HUB] = hub or Hub(slow_after=settings.ws_slow_client_seconds, registry=registry)
    app[CLOCK] = clock or SystemClock()
    app[SYNC] = Sync()
    app[META] = Meta(instance=instance, started_monotonic=time.monotonic())
    table = routes()
    app[OPENAPI] = orjson.dumps(openapi.build(table, title="kumowatch gateway", version=VERSION))
    add_routes(app, table)
    app.router.add_get("/api/openapi.json", _openapi)
    app.router.add_get("/ws", ws.handle)
    app.router.add_get("/", routes_ops.index)
    static = Path(str(resources.files("kumowatch_gateway").joinpath("static")))
    if static.is_dir():
        app.router.add_static("/static/", static, follow_symlinks=False)
    app.cleanup_ctx.append(_sweeper(app[HUB]))
    app.on_shutdown.append(_close_clients)
    return app


@web.middleware
async def _readiness_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Not ready until NATS is bound and the read model has caught up.

    ``lifecycle.runtime`` serves ``/readyz`` before the gateway can register its own check, so
    this gate closes the gap between "NATS connected" and "read model replayed".
    """
    if request.path == "/readyz":
        sync = request.app[SYNC]
        if not request.app[BACKEND].bound or not sync.synced:
            detail = "replaying " + ",".join(sorted(sync.pending)) if sync.pending else "starting"
            return json_response(
                {"status": "not ready", "checks": {"read_model": {"ok": False, "detail": detail}}},
                status=503,
            )
    return await handler(request)


async def _openapi(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI])


def _sweeper(hub: Hub) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(_: web.Application) -> AsyncIterator[None]:
        import asyncio
        import contextlib

        task = asyncio.create_task(hub.sweep(), name="ws-sweeper")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx


async def _close_clients(app: web.Application) -> None:
    await app[HUB].close_all(message="server shutting down")
