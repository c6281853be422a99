"""Helpers for the simulator tests: a webhook receiver and metrics parsing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from kumowatch_sim import SimCluster

Metrics = dict[str, list[tuple[dict[str, str], float]]]


@dataclass
class Receiver:
    """A webhook endpoint that records every POST body."""

    url: str = ""
    bodies: list[Any] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    fail_first: int = 0
    fail_status: int = 500
    calls: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def records(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for body in self.bodies:
            out.extend(body if isinstance(body, list) else [body])
        return out

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


def parse_metrics(text: str) -> Metrics:
    """Family name -> [(labels, value)] for plain samples (histogram parts keep their names)."""
    out: Metrics = {}
    for family in text_string_to_metric_families(text):
        out.setdefault(family.name, [])
        for sample in family.samples:
            name = family.name if family.type in {"counter", "gauge"} else sample.name
            out.setdefault(name, []).append((sample.labels, sample.value))
    return out


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    for got, val in metrics.get(name, []):
        if got == labels:
            return val
    return None


async def get_metrics(http: aiohttp.ClientSession, url: str) -> Metrics:
    async with http.get(url + "/metrics") as resp:
        assert resp.status == 200
        return parse_metrics(await resp.text())


#: The ``start_cluster`` fixture: ``await start_cluster(**SimConfig fields)``.
StartCluster = Callable[..., Awaitable[SimCluster]]
