"""The poller service: lease KumoMTA nodes, poll the owned ones, and serve the log-hook ingest.

Every replica serves ``POST /ingest/kumomta/v1``; nodes are shared among replicas through leases
in ``kumowatch_leases`` (group ``poller``), so each node is polled by exactly one replica and a
dead replica's nodes move within one lease TTL.
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from kumowatch_common import lifecycle, streams
from kumowatch_common.clock import Clock, SystemClock
from kumowatch_common.leases import LeaseManager
from kumowatch_poller.config import Settings
from kumowatch_poller.fleet import Fleet
from kumowatch_poller.ingest import Ingest
from kumowatch_poller.publisher import Publisher
from kumowatch_poller.telemetry import PollerMetrics

SERVICE = "poller"


async def serve(settings: Settings, stop: asyncio.Event, *, clock: Clock | None = None) -> None:
    """Run until ``stop`` is set; then release the leases and finish."""
    clock = clock or SystemClock()
    registry = CollectorRegistry()
    metrics = PollerMetrics.create(registry)
    node_ids: dict[str, str] = {}
    ingest = Ingest(
        max_body=settings.ingest_max_body_bytes,
        token=settings.kumomta_ingest_token,
        node_ids=node_ids,
        metrics=metrics,
        clock=clock,
    )
    app = web.Application(client_max_size=settings.ingest_max_body_bytes)
    ingest.add_routes(app)
    nodes = {n.name: n for n in settings.nodes}
    async with lifecycle.runtime(
        SERVICE, settings, settings.poller_port, stop, app=app, registry=registry
    ) as rt:
        publisher = Publisher(rt.nc)
        ingest.publisher = publisher
        connector = aiohttp.TCPConnector(limit=max(10, 4 * len(nodes)))
        async with aiohttp.ClientSession(connector=connector) as session:
            async with asyncio.TaskGroup() as tasks:
                fleet = Fleet(
                    nodes,
                    settings,
                    session,
                    publisher,
                    tasks,
                    stop,
                    clock=clock,
                    metrics=metrics,
                    node_ids=node_ids,
                )
                leases = LeaseManager(
                    rt.bucket(streams.BUCKET_LEASES),
                    SERVICE,
                    rt.instance,
                    settings.lease_ttl_seconds,
                    items=lambda: list(nodes),
                    on_change=fleet.assign,
                )
                rt.readiness.add(
                    "leases",
                    lambda: (
                        leases.healthy,
                        None if leases.healthy else "lease bucket unreachable",
                    ),
                )
                rt.mark_started()
                try:
                    await leases.run(stop)
                finally:
                    fleet.close()
            ingest.publisher = None
