"""KumoMTA's own HTTP endpoints, with kumod's formats."""

from __future__ import annotations

import gzip
import hashlib
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kumowatch_sim.admin import (
    BounceV1Request,
    DeleteRequest,
    SuspendReadyQueueV1Request,
    SuspendV1Request,
)
from kumowatch_sim.errors import BadRequestError
from kumowatch_sim.humantime import rfc3339
from kumowatch_sim.metrics import render_json, render_text

if TYPE_CHECKING:
    from kumowatch_sim.node import SimNode

M = TypeVar("M", bound=BaseModel)


class InjectRecipient(BaseModel):
    """One recipient of an injection."""

    model_config = ConfigDict(extra="ignore")

    email: str
    name: str | None = None
    substitutions: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class InjectV1Request(BaseModel):
    """Body of ``POST /api/inject/v1`` (the fields the simulator uses)."""

    model_config = ConfigDict(extra="ignore")

    envelope_sender: str
    recipients: list[InjectRecipient] = Field(min_length=1)
    content: str | dict[str, Any]
    substitutions: dict[str, Any] | None = None
    template_dialect: str | None = None


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def parse_body(request: web.Request, model: type[M]) -> M:
    """Decode a JSON body into ``model``; a bad body raises BadRequestError."""
    raw = await request.read()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"Failed to parse the request body as JSON: {exc}") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise BadRequestError(
            f"Failed to deserialize the JSON body into the target type: {problems}"
        ) from exc


@web.middleware
async def bad_request_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except BadRequestError as exc:
        return web.Response(status=400, text=str(exc))
    return response


class KumoApi:
    """Handlers for one node; ``node.model`` is the state they read and change."""

    def __init__(self, node: SimNode) -> None:
        self.node = node

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/metrics", self.metrics),
            web.get("/metrics.json", self.metrics_json),
            web.get("/api/check-liveness/v1", self.liveness),
            web.get("/api/machine-info", self.machine_info),
            web.get("/api/admin/suspend/v1", self.suspend_list),
            web.post("/api/admin/suspend/v1", self.suspend_add),
            web.delete("/api/admin/suspend/v1", self.suspend_delete),
            web.get("/api/admin/suspend-ready-q/v1", self.ready_suspend_list),
            web.post("/api/admin/suspend-ready-q/v1", self.ready_suspend_add),
            web.delete("/api/admin/suspend-ready-q/v1", self.ready_suspend_delete),
            web.get("/api/admin/bounce/v1", self.bounce_list),
            web.post("/api/admin/bounce/v1", self.bounce_add),
            web.delete("/api/admin/bounce/v1", self.bounce_delete),
            web.get("/api/admin/ready-q-states/v1", self.ready_q_states),
            web.get("/api/admin/inspect-sched-q/v1", self.inspect_sched_q),
            web.post("/api/inject/v1", self.inject),
        ]

    # ------------------------------------------------------------ metrics

    def _encoded(self, request: web.Request, kind: str, body: bytes, ctype: str) -> web.Response:
        node = self.node
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            key = (kind, request.query.get("prefix", ""))
            zipped = node.gzip_cache.get(key)
            if zipped is None or zipped[0] is not body:
                zipped = (body, gzip.compress(body, compresslevel=1))
                node.gzip_cache[key] = zipped
            resp = web.Response(body=zipped[1], content_type=ctype, charset="utf-8")
            resp.headers["Content-Encoding"] = "gzip"
            return resp
        return web.Response(body=body, content_type=ctype, charset="utf-8")

    async def metrics(self, request: web.Request) -> web.Response:
        node, model = self.node, self.node.model
        prefix = request.query.get("prefix", "")
        body = node.metrics_cache.get(
            ("text", prefix),
            model.version,
            lambda: render_text(
                model, backlog=node.backlog(), prefix=prefix, quirks=node.config.quirks
            ),
        )
        return self._encoded(request, "text", body, "text/plain")

    async def metrics_json(self, request: web.Request) -> web.Response:
        node, model = self.node, self.node.model
        body = node.metrics_cache.get(
            ("json", ""),
            model.version,
            lambda: render_json(model, backlog=node.backlog(), quirks=node.config.quirks),
        )
        return self._encoded(request, "json", body, "application/json")

    # ------------------------------------------------------------ health and identity

    async def liveness(self, request: web.Request) -> web.Response:
        reason = self.node.model.liveness()
        if reason is None:
            return web.Response(text="OK")
        return web.Response(status=503, text=reason)

    async def machine_info(self, request: web.Request) -> web.Response:
        node, model = self.node, self.node.model
        digest = hashlib.sha256(model.node_id.encode()).hexdigest()
        mac = ":".join(["02", *[digest[i : i + 2] for i in range(0, 10, 2)]])
        return json_response(
            {
                "node_id": model.node_id,
                "hostname": node.hostname,
                "mac_address": mac,
                "num_cores": 16,
                "kernel_version": "6.8.0-60-generic",
                "platform": "linux",
                "distribution": "ubuntu",
                "os_version": "Linux (Ubuntu 24.04)",
                "total_memory_bytes": 34_359_738_368,
                "container_runtime": None,
                "cpu_brand": "Simulated CPU @ 3.00GHz",
                "fingerprint": digest,
                "online_since": rfc3339(model.online_since),
                "process_kind": "kumod",
                "version": node.config.version,
            }
        )

    # ------------------------------------------------------------ admin: suspensions

    async def suspend_list(self, request: web.Request) -> web.Response:
        model = self.node.model
        model.admin.expire(model.now)
        return json_response([s.as_json(model.now) for s in model.admin.suspensions.values()])

    async def suspend_add(self, request: web.Request) -> web.Response:
        req = await parse_body(request, SuspendV1Request)
        model = self.node.model
        entry = model.admin.add_suspension(model.new_uuid(), req, model.now)
        model.version += 1
        return json_response({"id": entry.id})

    async def suspend_delete(self, request: web.Request) -> web.Response:
        return await self._delete(request, self.node.model.admin.suspensions)

    async def ready_suspend_list(self, request: web.Request) -> web.Response:
        model = self.node.model
        model.admin.expire(model.now)
        entries = model.admin.ready_suspensions.values()
        return json_response([s.as_json(model.now) for s in entries])

    async def ready_suspend_add(self, request: web.Request) -> web.Response:
        req = await parse_body(request, SuspendReadyQueueV1Request)
        model = self.node.model
        entry = model.admin.add_ready_suspension(model.new_uuid(), req, model.now)
        model.version += 1
        return json_response({"id": entry.id})

    async def ready_suspend_delete(self, request: web.Request) -> web.Response:
        return await self._delete(request, self.node.model.admin.ready_suspensions)

    # ------------------------------------------------------------ admin: bounces

    async def bounce_list(self, request: web.Request) -> web.Response:
        model = self.node.model
        model.admin.expire(model.now)
        return json_response([b.as_json(model.now) for b in model.admin.bounces.values()])

    async def bounce_add(self, request: web.Request) -> web.Response:
        req = await parse_body(request, BounceV1Request)
        entry = self.node.model.admin_bounce(req)
        # The response's counts are deprecated upstream and always empty.
        return json_response({"id": entry.id, "bounced": {}, "total_bounced": 0})

    async def bounce_delete(self, request: web.Request) -> web.Response:
        return await self._delete(request, self.node.model.admin.bounces)

    async def _delete(self, request: web.Request, table: dict[str, Any]) -> web.Response:
        req = await parse_body(request, DeleteRequest)
        if table.pop(req.id, None) is None:
            return web.Response(status=404, text=f"no such entry {req.id}")
        self.node.model.version += 1
        return web.Response(text=f"removed {req.id}")

    # ------------------------------------------------------------ admin: queues

    async def ready_q_states(self, request: web.Request) -> web.Response:
        # Upstream quirk: queues named in the filter are skipped, not selected.
        skip = {
            name
            for value in request.query.getall("queues", [])
            for name in value.split(",")
            if name
        }
        states = {
            name: state
            for name, state in self.node.model.ready_states().items()
            if name not in skip
        }
        return json_response({"states_by_ready_queue": states})

    async def inspect_sched_q(self, request: web.Request) -> web.Response:
        model = self.node.model
        name = request.query.get("queue_name", "")
        q = model.sched.get(name)
        if q is None:
            return web.Response(status=404, text="no such queue")
        limit = int(request.query.get("limit", "0") or 0)
        sample = [
            {"id": m.id, "message": {"sender": m.sender, "recipient": m.recipient, "meta": {}}}
            for m in list(q.due)[: limit or None]
        ]
        return json_response(
            {
                "queue_name": q.name,
                "messages": sample,
                "num_scheduled": q.count,
                "queue_config": {"retry_interval": "20s", "max_age": "1week"},
                "delayed_metric": q.count,
                "now": rfc3339(model.now),
                "last_changed": rfc3339(model.now),
            }
        )

    # ------------------------------------------------------------ injection

    async def inject(self, request: web.Request) -> web.Response:
        req = await parse_body(request, InjectV1Request)
        model = self.node.model
        headers: dict[str, Any] = {}
        if isinstance(req.content, dict):
            raw_headers = req.content.get("headers") or {}
            if isinstance(raw_headers, dict):
                headers = {str(k).lower(): v for k, v in raw_headers.items()}
        size = len(req.content) if isinstance(req.content, str) else len(orjson.dumps(req.content))
        ok, failed, errors = 0, [], []
        for rcpt in req.recipients:
            local, at, domain = rcpt.email.rpartition("@")
            if not at or not local or not domain or "." not in domain:
                failed.append(rcpt.email)
                errors.append(f"{rcpt.email}: invalid recipient address")
                continue
            meta = rcpt.metadata or {}
            if isinstance(meta.get("queue"), str):
                q = model.queue_by_name(meta["queue"])
            else:
                tenant = meta.get("tenant") or headers.get("x-tenant")
                campaign = meta.get("campaign") or headers.get("x-campaign")
                q = model.queue(
                    str(campaign) if campaign else None,
                    str(tenant) if tenant else None,
                    domain.lower(),
                )
            model.receive(q, http=True, sender=req.envelope_sender, recipient=rcpt.email, size=size)
            ok += 1
        model.version += 1
        return json_response(
            {
                "success_count": ok,
                "fail_count": len(failed),
                "failed_recipients": failed,
                "errors": errors,
            }
        )
