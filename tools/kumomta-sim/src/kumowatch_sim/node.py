"""One simulated kumod: its traffic model, HTTP listener, log hook and clock ticker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

from aiohttp import web

from kumowatch_sim.api import KumoApi, bad_request_middleware
from kumowatch_sim.config import SimConfig
from kumowatch_sim.control import Control
from kumowatch_sim.faults import FaultKind
from kumowatch_sim.hook import LogHookSender
from kumowatch_sim.knobs import SetRequest
from kumowatch_sim.metrics import MetricsCache
from kumowatch_sim.model import TrafficModel
from kumowatch_sim.scenario import Scenario, resolve_scenario
from kumowatch_sim.truth import truth

log = logging.getLogger(__name__)

MAX_TICK_CATCHUP = 5.0


class SimNode:
    """A kumod stand-in. Create through :class:`~kumowatch_sim.cluster.SimCluster`, or directly
    and then ``await node.start()`` / ``await node.stop()``."""

    def __init__(self, config: SimConfig, index: int, scenario: Scenario | None = None) -> None:
        self.config = config
        self.index = index
        self.name = f"mta{index + 1}"
        self.hostname = f"{self.name}.sim.local"
        self.port = 0 if config.port == 0 else config.port + index
        self.model = TrafficModel(
            name=self.name,
            index=index,
            seed=config.seed,
            rate=config.rate,
            step=min(config.tick, 1.0),
            prune_after=config.prune_after,
        )
        self.metrics_cache = MetricsCache()
        self.gzip_cache: dict[tuple[str, str], tuple[bytes, bytes]] = {}
        self.hook: LogHookSender | None = None
        if config.log_hook_url:
            self.hook = LogHookSender(
                config.log_hook_url,
                mode=config.log_hook_mode,
                batch_size=config.log_hook_batch_size,
                headers=dict(config.log_hook_headers),
                queue_size=config.log_hook_queue_size,
                timeout=config.log_hook_timeout,
                concurrency=config.log_hook_concurrency,
                backoff=config.log_hook_backoff,
                max_backoff=config.log_hook_max_backoff,
            )
            self.model.sink = self.hook.submit
        self._garbage = random.Random(f"garbage:{config.seed}:{index}")
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._listen_lock = asyncio.Lock()
        self._initial = scenario

    # ------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8000``."""
        return f"http://{self.config.host}:{self.port}"

    @property
    def listening(self) -> bool:
        return self._site is not None

    def build_app(self) -> web.Application:
        """The aiohttp application serving KumoMTA's endpoints and ``/_sim/``."""
        app = web.Application(
            middlewares=[self._fault_middleware, bad_request_middleware],
            client_max_size=2 * 1024 * 1024,
        )
        app.add_routes(KumoApi(self).routes())
        app.add_routes(Control(self).routes())
        return app

    async def start(self) -> None:
        """Load the scenario, start listening, the log hook and the ticker."""
        scenario = self._initial or resolve_scenario(
            self.config.scenario, dict(self.config.scenario_params)
        )
        self._load(scenario)
        self._runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        if self.hook is not None:
            await self.hook.start()
        await self.reconcile()
        if self.config.run_ticker:
            self._ticker = asyncio.create_task(self._tick_loop(), name=f"{self.name}-ticker")

    async def stop(self) -> None:
        """Stop the ticker, flush the log hook briefly, and close the listener. Idempotent."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self.hook is not None:
            await self.hook.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    async def reconcile(self) -> None:
        """Open or close the listener to match the current fault (``refuse`` closes it)."""
        async with self._listen_lock:
            refusing = self.model.fault.current(self.model.now) == "refuse"
            if refusing and self._site is not None:
                await self._site.stop()
                self._site = None
            elif not refusing and self._site is None and self._runner is not None:
                site = web.TCPSite(self._runner, self.config.host, self.port, reuse_address=True)
                await site.start()
                self._site = site
                if self.port == 0:
                    server = site._server
                    assert isinstance(server, asyncio.base_events.Server)
                    self.port = server.sockets[0].getsockname()[1]

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(self.config.tick)
            now = loop.time()
            self.model.advance(min(now - last, MAX_TICK_CATCHUP))
            last = now
            try:
                await self.reconcile()
            except OSError:
                log.exception("%s: cannot reopen listener on port %s", self.name, self.port)

    # ------------------------------------------------------------ controls

    def _load(self, scenario: Scenario) -> None:
        if scenario.nodes is not None and self.name not in scenario.nodes:
            scenario = Scenario(name=scenario.name, description="not targeted at this node")
        if self.config.queues is not None:
            scenario = scenario.model_copy(update={"queues": self.config.queues})
        self.model.load_scenario(scenario)

    def load_scenario(self, spec: str | Scenario, params: dict[str, Any] | None = None) -> Scenario:
        """Switch to a scenario (built-in name, file path or Scenario) from now on."""
        scenario = resolve_scenario(spec, params)
        self._load(scenario)
        return scenario

    async def set_fault(
        self, kind: FaultKind, seconds: float | None = None, delay: float | None = None
    ) -> None:
        """Inject an HTTP fault (``none`` clears it) for ``seconds`` of node time."""
        self.model.fault.set(kind, self.model.now, seconds, delay)
        await self.reconcile()

    def apply(self, settings: SetRequest | dict[str, Any]) -> None:
        """Change traffic knobs, as ``POST /_sim/set`` does."""
        req = settings if isinstance(settings, SetRequest) else SetRequest.model_validate(settings)
        self.model.apply_set(req)

    def restart(self, *, keep_spool: bool = False) -> None:
        """Emulate a kumod restart (counters reset, new online_since)."""
        self.model.restart(keep_spool=keep_spool)
        self.metrics_cache.clear()

    def backlog(self) -> dict[str, int] | None:
        """``log_hook_backlog_count`` series, when a hook is configured."""
        return None if self.hook is None else {self.hook.name: self.hook.backlog()}

    def truth(self, *, include_queues: bool = True) -> dict[str, Any]:
        """Ground truth: totals, queue depths, rates, hook stats."""
        out = truth(self.model, include_queues=include_queues)
        out["url"] = self.url
        out["listening"] = self.listening
        out["log_hook"] = None if self.hook is None else self.hook.as_json()
        return out

    # ------------------------------------------------------------ faults

    def garbage(self) -> bytes:
        return bytes(self._garbage.getrandbits(8) for _ in range(self._garbage.randint(16, 512)))

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse
        if request.path.startswith("/_sim/"):
            response = await handler(request)
            return response
        kind = self.model.fault.current(self.model.now)
        if kind == "slow":
            await asyncio.sleep(self.model.fault.delay)
        elif kind == "503":
            reason = "load shedding" if request.path.startswith("/api/check-liveness") else ""
            return web.Response(status=503, text=reason or "Service Unavailable")
        elif kind == "garbage":
            return web.Response(body=self.garbage(), content_type="application/octet-stream")
        elif kind == "refuse":
            # A kept-alive connection outlives the closed listener; drop it on the floor.
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()
        response = await handler(request)
        return response
