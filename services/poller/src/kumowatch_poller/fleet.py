"""The nodes this replica polls: one task per leased node, started and cancelled as leases move."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import aiohttp

from kumowatch_common.clock import Clock
from kumowatch_poller.client import KumoClient
from kumowatch_poller.config import Node, Settings
from kumowatch_poller.node import NodePoller, PollConfig
from kumowatch_poller.publisher import Publisher
from kumowatch_poller.telemetry import PollerMetrics

log = logging.getLogger(__name__)


class Fleet:
    """Owns the poll task of every node this replica holds a lease on."""

    def __init__(
        self,
        nodes: Mapping[str, Node],
        settings: Settings,
        session: aiohttp.ClientSession,
        publisher: Publisher,
        tasks: asyncio.TaskGroup,
        stop: asyncio.Event,
        *,
        clock: Clock,
        metrics: PollerMetrics,
        node_ids: dict[str, str],
    ) -> None:
        self.nodes = nodes
        self.settings = settings
        self.session = session
        self.publisher = publisher
        self.tasks = tasks
        self.stop = stop
        self.clock = clock
        self.metrics = metrics
        self.node_ids = node_ids
        self.config = PollConfig(
            interval=settings.kumomta_poll_interval,
            state_interval=settings.kumomta_state_interval,
            metrics_format=settings.kumomta_metrics_format,
        )
        self.running: dict[str, tuple[NodePoller, asyncio.Task[None]]] = {}

    @property
    def polled(self) -> frozenset[str]:
        """Names of the nodes being polled now."""
        return frozenset(self.running)

    def assign(self, owned: frozenset[str]) -> None:
        """Start pollers for newly owned nodes, cancel those of nodes no longer owned."""
        for name in sorted(set(self.running) - owned):
            _, task = self.running.pop(name)
            task.cancel()
            log.info("stopped polling", extra={"node": name})
        for name in sorted(owned - set(self.running)):
            node = self.nodes.get(name)
            if node is None:
                continue
            client = KumoClient(
                self.session, node, self.settings.request_timeout, self.settings.kumomta_api_token
            )
            poller = NodePoller(
                node,
                client,
                self.publisher,
                self.config,
                clock=self.clock,
                metrics=self.metrics,
                node_ids=self.node_ids,
            )
            task = self.tasks.create_task(poller.run(self.stop), name=f"poll-{name}")
            self.running[name] = (poller, task)
            log.info("polling", extra={"node": name, "url": node.url})
        self.metrics.owned_nodes.set(len(self.running))

    def close(self) -> None:
        """Cancel every poller."""
        self.assign(frozenset())
