"""The service lifecycle: signals, one owner for every resource and task, bounded graceful stop.

A service's ``main()`` calls ``lifecycle.run("poller", serve)``, where ``serve(stop)`` is its
``async def`` that returns once ``stop`` is set and its work is finished. ``Runtime`` is the
shared bootstrap each ``serve`` enters: health site first (so probes answer while NATS is still
unreachable), then NATS (reconnecting forever), then the streams and buckets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from prometheus_client import CollectorRegistry

from kumowatch_common import health, streams
from kumowatch_common import nats as kw_nats
from kumowatch_common.settings import ServiceSettings

log = logging.getLogger(__name__)

Serve = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def run(service: str, serve: Serve, grace: float = 20.0) -> None:
    """Run ``serve`` until SIGTERM/SIGINT, then give it ``grace`` seconds to finish."""
    asyncio.run(_supervise(service, serve, grace))


async def _supervise(service: str, serve: Serve, grace: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(serve(stop), name=f"{service}-main")
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        log.info("stopping", extra={"grace_s": grace})
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=grace)
        except TimeoutError:
            log.error("graceful stop timed out; cancelling")
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    stopper.cancel()
    exc = task.exception() if not task.cancelled() else None
    if exc is not None:
        log.error("service failed", exc_info=exc)
        raise SystemExit(1)
    log.info("stopped")


def instance_id(settings: ServiceSettings, service: str) -> str:
    """This replica's id: ``INSTANCE_ID`` or ``<service>-<host>-<pid>`` (token-safe)."""
    raw = settings.instance_id or f"{service}-{socket.gethostname()}-{os.getpid()}"
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in raw)


@dataclass(slots=True)
class Runtime:
    """What every service gets from the bootstrap."""

    service: str
    settings: ServiceSettings
    registry: CollectorRegistry
    readiness: health.Readiness
    app: web.Application
    instance: str
    port: int = 0
    started: bool = False
    nc: Client = field(init=False)
    js: JetStreamContext = field(init=False)
    buckets: dict[str, KeyValue] = field(default_factory=dict)

    def mark_started(self) -> None:
        """Ready from now on (subject to the other checks): call once the service's own checks
        are registered and its consumers exist, so ``/readyz`` never says ready too early."""
        self.started = True

    def bucket(self, name: str) -> KeyValue:
        """A provisioned KV bucket by name (see ``streams.BUCKET_*``)."""
        return self.buckets[name]


@contextlib.asynccontextmanager
async def runtime(
    service: str,
    settings: ServiceSettings,
    port: int,
    stop: asyncio.Event,
    app: web.Application | None = None,
    registry: CollectorRegistry | None = None,
) -> AsyncIterator[Runtime]:
    """Health site, NATS connection, provisioned streams; all torn down in reverse order."""
    registry = registry or CollectorRegistry()
    readiness = health.Readiness()
    app = app if app is not None else web.Application()
    health.add_routes(app, registry, readiness)
    rt = Runtime(service, settings, registry, readiness, app, instance_id(settings, service))
    metrics = kw_nats.NatsMetrics.create(service, registry)
    async with contextlib.AsyncExitStack() as stack:
        runner = await health.serve(app, settings.http_host, port)
        stack.push_async_callback(runner.cleanup)
        rt.port = health.bound_port(runner) or port
        log.info("listening", extra={"host": settings.http_host, "port": rt.port})
        opts = kw_nats.NatsOptions(
            servers=[s.strip() for s in settings.nats_url.split(",") if s.strip()],
            name=f"kumowatch-{service}:{rt.instance}",
            user=settings.nats_user,
            password=settings.nats_password.get_secret_value() if settings.nats_password else None,
            token=settings.nats_token.get_secret_value() if settings.nats_token else None,
        )
        readiness.add("nats", lambda: _nats_ready(rt))
        readiness.add("startup", lambda: (rt.started, None if rt.started else "starting"))
        rt.nc = await kw_nats.connect(opts, metrics, stop)
        stack.push_async_callback(kw_nats.close, rt.nc)
        rt.js = kw_nats.jetstream(rt.nc)
        rt.buckets = await _provision_until_ok(rt, stop)
        stack.callback(_mark_stopping, readiness)
        yield rt


def _mark_stopping(readiness: health.Readiness) -> None:
    readiness.stopping = True


def _nats_ready(rt: Runtime) -> tuple[bool, str | None]:
    try:
        nc = rt.nc
    except AttributeError:
        return False, "connecting"
    if nc.is_connected:
        return True, None
    return False, "reconnecting" if nc.is_reconnecting else "disconnected"


async def _provision_until_ok(rt: Runtime, stop: asyncio.Event) -> dict[str, KeyValue]:
    delay = 0.5
    while True:
        try:
            return await streams.provision(rt.js, rt.settings.retention())
        except Exception as exc:
            if stop.is_set():
                raise
            log.warning("provisioning failed, retrying", extra={"error": repr(exc)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(5.0, delay * 2)
