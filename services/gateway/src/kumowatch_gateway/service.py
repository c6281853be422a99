"""``serve()``: the gateway's lifecycle: HTTP first, then NATS, then the feeds, until stopped."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry

from kumowatch_common import lifecycle
from kumowatch_common.clock import Clock
from kumowatch_gateway.app import create_app
from kumowatch_gateway.config import Settings
from kumowatch_gateway.feeds import Feeds
from kumowatch_gateway.keys import BACKEND, HUB, META, MODEL, SYNC

log = logging.getLogger(__name__)


async def serve(settings: Settings, stop: asyncio.Event, *, clock: Clock | None = None) -> None:
    """Serve REST and WebSocket on ``PORT`` until ``stop`` is set."""
    registry = CollectorRegistry()
    instance = lifecycle.instance_id(settings, "gateway")
    app = create_app(settings, clock=clock, registry=registry, instance=instance)
    async with lifecycle.runtime(
        "gateway", settings, settings.port, stop, app=app, registry=registry
    ) as rt:
        app[META].instance = rt.instance
        app[BACKEND].bind(rt.nc, rt.js, rt.buckets)
        sync = app[SYNC]
        rt.readiness.add(
            "read_model",
            lambda: (
                sync.synced,
                None if sync.synced else "replaying " + ",".join(sorted(sync.pending)),
            ),
        )
        rt.mark_started()
        feeds = Feeds(
            rt.nc,
            rt.js,
            rt.buckets,
            app[MODEL],
            app[HUB],
            sync,
            alert_replay=settings.alert_history_limit * 3,
            notification_replay=settings.notification_history_limit,
            registry=registry,
        )
        async with asyncio.TaskGroup() as tg:
            tg.create_task(feeds.run(stop), name="gateway-feeds")
        log.info("gateway stopping")
