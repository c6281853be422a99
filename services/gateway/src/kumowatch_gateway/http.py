"""REST plumbing: the route table (also the source of the OpenAPI document), JSON in and out,
authentication per route, and the middlewares that make every error a JSON answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import BaseModel, ValidationError

from kumowatch_gateway.auth import Access, Principal, Verifier
from kumowatch_gateway.errors import (
    ApiError,
    AuthError,
    BadRequest,
    FieldProblem,
    Forbidden,
    Unauthorized,
)

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)

PRINCIPAL: Final = web.RequestKey("principal", Principal)
VERIFIER: Final = web.AppKey("verifier", Verifier)
CORS_ORIGINS: Final = web.AppKey("cors_origins", frozenset)


@dataclass(frozen=True, slots=True)
class Route:
    """One REST operation: how it is served, who may call it, and what it takes and returns."""

    method: str
    path: str
    handler: Handler
    access: Access
    summary: str
    tag: str
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_required: bool = True
    responses: Mapping[int, Any] = field(default_factory=dict)
    operation_id: str = ""


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON answer encoded with orjson (pydantic models are dumped by alias)."""
    body = data if isinstance(data, bytes) else orjson.dumps(_plain(data))
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def _plain(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json", by_alias=True)
    if isinstance(data, list):
        return [_plain(d) for d in data]
    return data


def problems(exc: ValidationError, prefix: str = "") -> list[FieldProblem]:
    """Pydantic errors as field problems (dotted paths)."""
    out = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"])
        name = f"{prefix}.{path}" if prefix and path else (prefix or path or "(body)")
        out.append(FieldProblem(name, err["msg"]))
    return out


def parse_query(request: web.Request, model: type[M]) -> M:
    """Validate the query string; empty values count as absent (the seed's ``acknowledged=``)."""
    raw = {k: v for k, v in request.query.items() if v != ""}
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise BadRequest("Invalid query parameters", problems(exc)) from None


async def read_json(request: web.Request, *, required: bool = True) -> Any:
    """The body as JSON (None when empty and not required)."""
    raw = await request.read()
    if not raw.strip():
        if required:
            raise BadRequest("Request body required", [FieldProblem("(body)", "a JSON object")])
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("Invalid JSON body", [FieldProblem("(body)", "not valid JSON")]) from None


async def parse_body(request: web.Request, model: type[M], *, required: bool = True) -> M:
    """Validate the JSON body with ``model``."""
    data = await read_json(request, required=required)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadRequest("Invalid request body", [FieldProblem("(body)", "a JSON object")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest("Invalid request body", problems(exc)) from None


def bearer(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def _guard(route: Route) -> Handler:
    if route.access == "public":
        return route.handler

    async def guarded(request: web.Request) -> web.StreamResponse:
        token = bearer(request)
        if token is None:
            raise Unauthorized("Authentication token required")
        try:
            who = await request.app[VERIFIER].verify(token)
        except AuthError as exc:
            raise Unauthorized(f"Invalid authentication token: {exc.reason}") from None
        if not who.allows(route.access):
            raise Forbidden(f"Requires the {_role_name(route.access)} role")
        request[PRINCIPAL] = who
        return await route.handler(request)

    return guarded


def _role_name(access: Access) -> str:
    return {"operate": "operator or admin", "admin": "admin"}.get(access, "viewer")


def add_routes(app: web.Application, routes: Sequence[Route]) -> None:
    """Register ``routes`` with their access checks."""
    for route in routes:
        app.router.add_route(
            route.method, route.path, _guard(route), name=route.operation_id or None
        )


# --------------------------------------------------------------------------- middlewares


def metrics_middleware(registry: CollectorRegistry) -> Middleware:
    """``kumowatch_gateway_http_requests_total`` and ``..._duration_seconds`` by route."""
    requests = Counter(
        "kumowatch_gateway_http_requests_total",
        "HTTP requests by method, route and status",
        ["method", "route", "status"],
        registry=registry,
    )
    duration = Histogram(
        "kumowatch_gateway_http_request_duration_seconds",
        "HTTP request handling time by route",
        ["route"],
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        registry=registry,
    )

    @web.middleware
    async def metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "(unmatched)"
        status = 500
        try:
            resp = await handler(request)
            status = resp.status
            return resp
        finally:
            if route != "/ws":
                requests.labels(request.method, route, str(status)).inc()
                duration.labels(route).observe(time.perf_counter() - started)

    return metrics


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as JSON ``{success: false, message}``; 500s logged once, without detail out."""
    try:
        return await handler(request)
    except ApiError as exc:
        return json_response(exc.body(), status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        message = _HTTP_MESSAGES.get(exc.status, exc.reason)
        return json_response(
            {"success": False, "message": message}, status=exc.status, headers=headers
        )
    except Exception:
        log.exception("request failed", extra={"method": request.method, "path": request.path})
        return json_response({"success": False, "message": "Internal server error"}, status=500)


_HTTP_MESSAGES: Final = {
    404: "Not found",
    405: "Method not allowed",
    413: "Request body too large",
}


def cors_middleware(allowed: frozenset[str]) -> Middleware:
    """CORS for the configured origins (credentials allowed), including preflight requests."""
    any_origin = "*" in allowed

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        ok = origin is not None and (any_origin or origin.rstrip("/") in allowed)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            if not ok:
                return json_response(
                    {"success": False, "message": "Origin not allowed"}, status=403
                )
            resp: web.StreamResponse = web.Response(status=204)
        else:
            resp = await handler(request)
        if ok and origin is not None and not resp.prepared:
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers["Access-Control-Allow-Credentials"] = "true"
            resp.headers["Vary"] = "Origin"
            if request.method == "OPTIONS":
                resp.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE"
                resp.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
                resp.headers["Access-Control-Max-Age"] = "600"
        return resp

    return cors


def origin_allowed(request: web.Request) -> bool:
    """True when there is no Origin header, it is the gateway's own origin (the built-in page),
    or it is one of the CORS origins."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    if urlsplit(origin).netloc == request.host:
        return True
    allowed = request.app[CORS_ORIGINS]
    return "*" in allowed or origin.rstrip("/") in allowed
