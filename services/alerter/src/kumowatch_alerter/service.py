"""The alerter service: rules from KV, owned nodes' feeds, timer ticks, transitions published."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client import Gauge

from kumowatch_alerter.config import Settings
from kumowatch_alerter.engine import Engine
from kumowatch_alerter.nodes import Discovery, FeedMetrics, NodeFeed, read_alerts
from kumowatch_alerter.publisher import Publisher
from kumowatch_alerter.rulestore import RuleStore
from kumowatch_common import lifecycle, streams
from kumowatch_common.clock import Clock, SystemClock
from kumowatch_common.events import AlertRule
from kumowatch_common.leases import LeaseManager

log = logging.getLogger(__name__)

LEASE_GROUP = "alerter"


class Alerter:
    """Wires the engine to NATS for one replica."""

    def __init__(self, rt: lifecycle.Runtime, settings: Settings, clock: Clock) -> None:
        self.rt = rt
        self.settings = settings
        self.clock = clock
        self.engine = Engine(
            clock,
            nodata_seconds=settings.alerter_nodata_seconds,
            grace_seconds=settings.alerter_series_grace_seconds,
            auto_nodes=False,
        )
        self.publisher = Publisher(
            rt.js,
            rt.bucket(streams.BUCKET_ALERT_STATE),
            rt.bucket(streams.BUCKET_PENDING),
            rt.registry,
        )
        self.store = RuleStore(
            rt.bucket(streams.BUCKET_RULES), settings.max_window_ms, self._on_rules, rt.registry
        )
        self.metrics = FeedMetrics(rt.registry)
        self.discovery = Discovery(rt.nc, rt.js)
        self.leases = LeaseManager(
            rt.bucket(streams.BUCKET_LEASES),
            LEASE_GROUP,
            rt.instance,
            settings.lease_ttl_seconds,
            items=lambda: sorted(self.discovery.nodes),
            on_change=self._on_owned,
        )
        self.feeds: dict[str, NodeFeed] = {}
        self._reconcile_lock = asyncio.Lock()
        self._alerts_gauge = Gauge(
            "kumowatch_alerter_alerts",
            "series pending or firing on this replica",
            ["status"],
            registry=rt.registry,
        )
        self._series_gauge = Gauge(
            "kumowatch_alerter_series", "series with state or window data", registry=rt.registry
        )

    def _on_rules(self, rules: list[AlertRule]) -> None:
        self.publisher.submit(self.engine.set_rules(rules))
        log.info("rules applied", extra={"enabled": len(self.engine.rules)})

    async def _on_owned(self, owned: frozenset[str]) -> None:
        await self.reconcile(owned)

    async def reconcile(self, owned: frozenset[str]) -> None:
        """Start feeds for newly owned nodes, stop those no longer owned."""
        async with self._reconcile_lock:
            for node in [n for n in self.feeds if n not in owned]:
                feed = self.feeds.pop(node)
                await feed.stop()
                self.engine.drop_node(node)
                log.info("node released", extra={"node": node})
            acquired = [n for n in sorted(owned) if n not in self.feeds]
            if acquired:
                alerts = await read_alerts(self.rt.bucket(streams.BUCKET_ALERT_STATE))
                alerts += await read_alerts(self.rt.bucket(streams.BUCKET_PENDING))
                for node in acquired:
                    feed = NodeFeed(
                        node, self.rt.js, self.engine, self.publisher, self.metrics, self.clock
                    )
                    try:
                        await feed.start(
                            alerts, int(self.settings.alerter_republish_seconds * 1000)
                        )
                    except Exception as exc:
                        await feed.stop()
                        self.engine.drop_node(node)
                        log.warning("node start failed", extra={"node": node, "error": repr(exc)})
                        continue
                    self.feeds[node] = feed
            self.metrics.owned.set(len(self.feeds))

    async def run(self, stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.publisher.run(stop, grace=self.settings.shutdown_grace_seconds / 2))
            tg.create_task(self.store.run(stop))
            tg.create_task(self._run_nodes(stop))

    async def _run_nodes(self, stop: asyncio.Event) -> None:
        loaded = asyncio.create_task(self.store.loaded.wait())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({loaded, stopper}, return_when=asyncio.FIRST_COMPLETED)
        loaded.cancel()
        stopper.cancel()
        if stop.is_set():
            return
        alerts = await read_alerts(self.rt.bucket(streams.BUCKET_ALERT_STATE))
        await self.discovery.start(alerts)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.leases.run(stop))
                tg.create_task(self._ticks(stop))
        finally:
            await self.discovery.stop()
            await self.reconcile(frozenset())

    async def _ticks(self, stop: asyncio.Event) -> None:
        interval = self.settings.alerter_eval_interval
        rounds = 0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if stop.is_set():
                return
            self.publisher.submit(self.engine.tick())
            rounds += 1
            if rounds % 5 == 0:  # retry nodes whose start failed; refresh gauges
                if self.leases.owned != frozenset(self.feeds):
                    await self.reconcile(self.leases.owned)
                self._gauges()

    def _gauges(self) -> None:
        pending = firing = 0
        for _, _, _, st in self.engine.active():
            if st.status == "firing":
                firing += 1
            else:
                pending += 1
        self._alerts_gauge.labels("firing").set(firing)
        self._alerts_gauge.labels("pending").set(pending)
        self._series_gauge.set(self.engine.series_count())
        self.metrics.live.set(sum(1 for f in self.feeds.values() if f.live.is_set()))


async def serve(settings: Settings, stop: asyncio.Event, *, clock: Clock | None = None) -> None:
    """Run one alerter replica until ``stop`` is set."""
    clock = clock or SystemClock()
    async with lifecycle.runtime("alerter", settings, settings.alerter_port, stop) as rt:
        alerter = Alerter(rt, settings, clock)
        rt.readiness.add(
            "rules",
            lambda: (
                alerter.store.loaded.is_set(),
                None if alerter.store.loaded.is_set() else "loading",
            ),
        )
        rt.mark_started()
        await alerter.run(stop)
