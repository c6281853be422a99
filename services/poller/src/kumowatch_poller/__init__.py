"""kumowatch poller: the KumoMTA bridge (polled snapshots and log-hook ingest onto NATS)."""

from kumowatch_poller.config import Node, Settings, parse_nodes
from kumowatch_poller.jsonmetrics import parse_json
from kumowatch_poller.metricset import WANTED, MetricSet
from kumowatch_poller.promtext import parse_text
from kumowatch_poller.service import serve

__all__ = [
    "WANTED",
    "MetricSet",
    "Node",
    "Settings",
    "parse_json",
    "parse_nodes",
    "parse_text",
    "serve",
]
