"""The simulator's own control endpoints, under ``/_sim/`` (not part of KumoMTA)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from kumowatch_sim.api import json_response, parse_body
from kumowatch_sim.errors import BadRequestError, ScenarioError
from kumowatch_sim.faults import FaultKind
from kumowatch_sim.knobs import SetRequest
from kumowatch_sim.scenario import Scenario

if TYPE_CHECKING:
    from kumowatch_sim.node import SimNode

# A refuse fault stops the listener, so the control endpoint cannot lift it; bound it.
DEFAULT_REFUSE_SECONDS = 30.0


class ScenarioRequest(BaseModel):
    """``POST /_sim/scenario``: a built-in name or file path, or an inline scenario."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    params: dict[str, float | int | str] = Field(default_factory=dict)
    scenario: Scenario | None = None


class FaultRequest(BaseModel):
    """``POST /_sim/fault``."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    seconds: float | None = Field(default=None, gt=0)
    delay: float | None = Field(default=None, ge=0)


class RestartRequest(BaseModel):
    """``POST /_sim/restart``."""

    model_config = ConfigDict(extra="forbid")

    keep_spool: bool = False


class AdvanceRequest(BaseModel):
    """``POST /_sim/advance``."""

    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(gt=0, le=86_400)


class Control:
    """Handlers of the control endpoints of one node."""

    def __init__(self, node: SimNode) -> None:
        self.node = node

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/_sim/scenario", self.scenario),
            web.post("/_sim/fault", self.fault),
            web.post("/_sim/set", self.set),
            web.post("/_sim/restart", self.restart),
            web.post("/_sim/advance", self.advance),
            web.get("/_sim/truth", self.truth),
        ]

    async def _body(self, request: web.Request, model: type[Any]) -> Any:
        if not await request.read():
            return model()
        return await parse_body(request, model)

    async def scenario(self, request: web.Request) -> web.Response:
        req = await parse_body(request, ScenarioRequest)
        spec: str | Scenario | None = req.scenario or req.name
        if spec is None:
            raise BadRequestError("give a scenario 'name' or an inline 'scenario'")
        try:
            loaded = self.node.load_scenario(spec, req.params)
        except ScenarioError as exc:
            raise BadRequestError(str(exc)) from exc
        return json_response({"scenario": loaded.name, "steps": len(loaded.steps)})

    async def fault(self, request: web.Request) -> web.Response:
        req = await parse_body(request, FaultRequest)
        seconds = req.seconds
        if req.kind == "refuse" and seconds is None:
            seconds = DEFAULT_REFUSE_SECONDS
        # Answer first: a refuse fault closes the listener this request came in on.
        response = json_response({"kind": req.kind, "seconds": seconds, "delay": req.delay})
        await response.prepare(request)
        await response.write_eof()
        await self.node.set_fault(req.kind, seconds=seconds, delay=req.delay)
        return response

    async def set(self, request: web.Request) -> web.Response:
        req = await parse_body(request, SetRequest)
        self.node.model.apply_set(req)
        return json_response({"ok": True})

    async def restart(self, request: web.Request) -> web.Response:
        req: RestartRequest = await self._body(request, RestartRequest)
        self.node.restart(keep_spool=req.keep_spool)
        return json_response({"online_since": self.node.model.online_since})

    async def advance(self, request: web.Request) -> web.Response:
        req = await parse_body(request, AdvanceRequest)
        self.node.model.advance(req.seconds)
        await self.node.reconcile()
        return json_response({"now": self.node.model.now})

    async def truth(self, request: web.Request) -> web.Response:
        include = request.query.get("queues", "1") not in {"0", "false", "no"}
        return json_response(self.node.truth(include_queues=include))
