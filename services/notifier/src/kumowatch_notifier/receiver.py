"""A real HTTP receiver for webhook and Slack deliveries: for tests, benchmarks and demos.

It records every request (headers, body, arrival time) and answers from a script: a list of
responses used in order, then a default. A response is a status with optional headers, or
``HANG`` (hold the request until released or the receiver stops).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from aiohttp import web

from kumowatch_common.health import bound_port

HANG: Final = -1


@dataclass(frozen=True, slots=True)
class Reply:
    """What to answer: ``status`` (or ``HANG``) and headers."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Received:
    """One request as it arrived."""

    path: str
    headers: Mapping[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return orjson.loads(self.body)


class Receiver:
    """``async with Receiver() as rx: rx.url`` → records POSTs to any path."""

    def __init__(self, default: Reply | None = None, host: str = "127.0.0.1") -> None:
        self.default = default or Reply()
        self.script: list[Reply] = []
        self.requests: list[Received] = []
        self.host = host
        self.port = 0
        self.release = asyncio.Event()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = bound_port(self._runner) or 0
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        rec = Received(request.path, dict(request.headers), body, time.time())
        reply = self.script.pop(0) if self.script else self.default
        async with self._changed:
            self.requests.append(rec)
            self._changed.notify_all()
        if reply.status == HANG:
            await self.release.wait()
            return web.Response(status=200)
        return web.Response(status=reply.status, headers=dict(reply.headers), text="")

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until at least ``count`` requests arrived; return them all."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.requests) >= count), timeout
            )
        return list(self.requests)
