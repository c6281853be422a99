"""``/healthz`` (alive), ``/readyz`` (able to do its job, with detail) and ``/metrics`` for a service.

``add_routes`` puts the three routes on any aiohttp app, so a service with its own HTTP API (the
gateway, the poller's ingest) serves them on the same port; ``serve`` starts a site for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

Check = Callable[[], tuple[bool, str | None]]


@dataclass(slots=True)
class Readiness:
    """Named readiness checks; not ready while stopping or while any check fails."""

    checks: dict[str, Check] = field(default_factory=dict)
    stopping: bool = False

    def add(self, name: str, check: Check) -> None:
        """Register (or replace) a check."""
        self.checks[name] = check

    def evaluate(self) -> tuple[bool, dict[str, dict[str, object]]]:
        """(ready, per-check detail)."""
        detail: dict[str, dict[str, object]] = {}
        ok_all = not self.stopping
        for name, check in self.checks.items():
            try:
                ok, why = check()
            except Exception as exc:
                ok, why = False, f"check failed: {type(exc).__name__}"
            detail[name] = {"ok": ok, **({"detail": why} if why else {})}
            ok_all = ok_all and ok
        if self.stopping:
            detail["shutdown"] = {"ok": False, "detail": "stopping"}
        return ok_all, detail


def add_routes(app: web.Application, registry: CollectorRegistry, readiness: Readiness) -> None:
    """Mount ``/healthz``, ``/readyz`` and ``/metrics`` on ``app``."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ok, detail = readiness.evaluate()
        return web.json_response(
            {"status": "ready" if ok else "not ready", "checks": detail}, status=200 if ok else 503
        )

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start ``app`` on host:port; the caller owns ``runner.cleanup()``."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    return runner


def bound_port(runner: web.AppRunner) -> int | None:
    """The TCP port a started runner listens on (useful after binding port 0)."""
    for addr in runner.addresses:
        if isinstance(addr, tuple) and len(addr) >= 2:
            return int(addr[1])
    return None
