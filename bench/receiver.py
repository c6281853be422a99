"""A webhook receiver for benchmarks and fault tests: records every POST with its arrival time.

It understands both payloads it is sent: kumowatch's (``event: "kumomta.alert"`` with ``alert``
and ``rule``, idempotency key in ``X-Kumowatch-Idempotency-Key``) and Alertmanager's (``version``
"4", ``alerts[]`` with labels). ``fail_for(seconds)`` makes it answer 500, as a channel that is
down, and it counts those attempts apart from the deliveries it accepted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

import orjson
from aiohttp import web

IDEMPOTENCY_HEADER: Final = "X-Kumowatch-Idempotency-Key"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One POST the receiver accepted (answered 200)."""

    at: float
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get(IDEMPOTENCY_HEADER)

    @property
    def kumowatch(self) -> dict[str, Any] | None:
        """The kumowatch alert of this delivery (``ruleId``, ``status``, ``labels``), or None."""
        alert = self.body.get("alert")
        if str(self.body.get("event", "")).startswith("kumomta.alert") and isinstance(alert, dict):
            return alert
        return None

    @property
    def rule_id(self) -> str | None:
        """The rule of a kumowatch notification (``rule.id``, else ``alert.ruleId``)."""
        alert = self.kumowatch
        if alert is None:
            return None
        rule = self.body.get("rule")
        if isinstance(rule, dict) and rule.get("id") is not None:
            return str(rule["id"])
        return str(alert["ruleId"]) if alert.get("ruleId") is not None else None

    @property
    def labels(self) -> dict[str, str]:
        labels = self.body.get("labels")
        return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}

    @property
    def status(self) -> str | None:
        """``firing`` or ``resolved`` for either payload."""
        alert = self.kumowatch
        if alert is not None:
            return str(self.body.get("status") or alert.get("status"))
        status = self.body.get("status")
        return str(status) if status is not None else None

    def am_alerts(self) -> list[dict[str, Any]]:
        """The alerts of an Alertmanager payload (empty for kumowatch's)."""
        alerts = self.body.get("alerts")
        return [a for a in alerts if isinstance(a, dict)] if isinstance(alerts, list) else []


Predicate = Callable[[Delivery], bool]


class WebhookReceiver:
    """``async with WebhookReceiver() as rx: rx.url("/kw")``; any path is accepted."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.deliveries: list[Delivery] = []
        self.rejected = 0
        self._fail_until = 0.0
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def fail_for(self, seconds: float) -> None:
        """Answer 500 to every POST for the next ``seconds``."""
        self._fail_until = time.monotonic() + seconds

    def recover(self) -> None:
        self._fail_until = 0.0

    @property
    def failing(self) -> bool:
        return time.monotonic() < self._fail_until

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        at = time.time()
        if self.failing:
            self.rejected += 1
            return web.Response(status=500, text="down for the test")
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            return web.Response(status=400, text="not JSON")
        if not isinstance(body, dict):
            body = {"items": body}
        delivery = Delivery(at, request.path, dict(request.headers), body)
        async with self._changed:
            self.deliveries.append(delivery)
            self._changed.notify_all()
        return web.Response(status=200, text="ok")

    async def start(self) -> WebhookReceiver:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if self.port == 0 and isinstance(server, asyncio.base_events.Server):
            self.port = int(server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> WebhookReceiver:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def matching(self, predicate: Predicate, since: int = 0) -> list[Delivery]:
        return [d for d in self.deliveries[since:] if predicate(d)]

    async def wait_for(
        self, predicate: Predicate, timeout: float, since: int = 0, count: int = 1
    ) -> list[Delivery]:
        """The first ``count`` deliveries from index ``since`` matching ``predicate``.

        Returns what matched so far (possibly fewer) when ``timeout`` passes.
        """
        deadline = time.monotonic() + timeout

        def ready() -> bool:
            return len(self.matching(predicate, since)) >= count

        async with self._changed:
            while not ready():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    break
        return self.matching(predicate, since)[:count]


def kumowatch_alert(
    rule_id: str, status: str = "firing", labels: dict[str, str] | None = None
) -> Predicate:
    """Matches a kumowatch notification of ``rule_id`` in ``status`` (with ``labels``)."""
    want = labels or {}

    def match(d: Delivery) -> bool:
        if d.rule_id != rule_id or d.status != status:
            return False
        got = d.labels
        return all(got.get(k) == v for k, v in want.items())

    return match


def am_alert(labels: dict[str, str], status: str = "firing") -> Predicate:
    """Matches an Alertmanager notification holding an alert with ``labels`` in ``status``."""

    def match(d: Delivery) -> bool:
        for alert in d.am_alerts():
            got = alert.get("labels") or {}
            if alert.get("status") == status and all(got.get(k) == v for k, v in labels.items()):
                return True
        return False

    return match
