"""REST: live state (queues, nodes, metrics, providers), silences, notifications, health, docs."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from importlib import resources
from typing import Final

from aiohttp import web

from kumowatch_common import streams, subjects
from kumowatch_common.clock import now_ms
from kumowatch_common.events import (
    ConnectionStatus,
    MetricsUpdate,
    NotificationOutcome,
    NotificationTestReply,
    NotificationTestRequest,
    ProvidersSnapshot,
    Silence,
    StatesSnapshot,
)
from kumowatch_gateway import globs
from kumowatch_gateway.errors import BadRequest, FieldProblem, NotFound
from kumowatch_gateway.http import Route, json_response, parse_body, parse_query, principal
from kumowatch_gateway.keys import BACKEND, CLOCK, META, MODEL, SYNC
from kumowatch_gateway.models import (
    ErrorResponse,
    HealthResponse,
    KumoHealth,
    Me,
    NatsHealth,
    NodeQuery,
    NotificationsQuery,
    ProvidersQuery,
    QueuesPage,
    QueuesQuery,
    SilenceCreate,
    SilenceResponse,
    SilencesQuery,
    TestNotificationRequest,
    TestNotificationResult,
)
from kumowatch_gateway.readmodel import QueueQuery

SILENCE_NOT_FOUND: Final = "Silence not found"
_FALLBACK_INDEX: Final = (
    "<!doctype html><html><head><meta charset='utf-8'><title>kumowatch</title></head>"
    "<body><h1>kumowatch gateway</h1><p>API: <a href='/api/openapi.json'>/api/openapi.json</a>"
    "</p></body></html>"
)


# --------------------------------------------------------------------------- live state


async def list_queues(request: web.Request) -> web.Response:
    q = parse_query(request, QueuesQuery)
    total, items = request.app[MODEL].queue_page(QueueQuery(**q.model_dump()))
    return json_response(QueuesPage(total=total, items=items))


async def list_nodes(request: web.Request) -> web.Response:
    q = parse_query(request, NodeQuery)
    return json_response([s for s in request.app[MODEL].statuses() if globs.match(q.node, s.node)])


async def list_metrics(request: web.Request) -> web.Response:
    q = parse_query(request, NodeQuery)
    model = request.app[MODEL]
    return json_response(
        [
            v.metrics
            for name, v in sorted(model.nodes.items())
            if v.metrics is not None and globs.match(q.node, name)
        ]
    )


async def list_providers(request: web.Request) -> web.Response:
    q = parse_query(request, ProvidersQuery)
    out = []
    for name, v in sorted(request.app[MODEL].nodes.items()):
        if v.providers is None or not globs.match(q.node, name):
            continue
        snap = v.providers
        if q.provider is not None:
            kept = [p for p in snap.providers if globs.match(q.provider, p.provider)]
            snap = snap.model_copy(update={"providers": kept})
        out.append(snap)
    return json_response(out)


async def list_states(request: web.Request) -> web.Response:
    q = parse_query(request, NodeQuery)
    return json_response(
        [
            v.states
            for name, v in sorted(request.app[MODEL].nodes.items())
            if v.states is not None and globs.match(q.node, name)
        ]
    )


# --------------------------------------------------------------------------- silences


def _active(s: Silence, now: int) -> bool:
    return s.startsAt <= now < s.endsAt


async def list_silences(request: web.Request) -> web.Response:
    q = parse_query(request, SilencesQuery)
    now = now_ms(request.app[CLOCK])
    items = sorted(request.app[MODEL].silences.values(), key=lambda s: s.createdAt, reverse=True)
    if q.active is not None:
        items = [s for s in items if _active(s, now) == q.active]
    return json_response(items)


async def create_silence(request: web.Request) -> web.Response:
    body = await parse_body(request, SilenceCreate)
    now = now_ms(request.app[CLOCK])
    starts = body.startsAt if body.startsAt is not None else now
    ends = body.endsAt if body.endsAt is not None else starts + (body.durationMs or 0)
    if ends <= max(starts, now):
        field = "endsAt" if body.endsAt is not None else "durationMs"
        raise BadRequest(
            "Invalid silence", [FieldProblem(field, "the silence must end after it starts and now")]
        )
    silence = Silence(
        id=uuid.uuid4().hex,
        matchers=body.matchers,
        startsAt=starts,
        endsAt=ends,
        createdBy=principal(request).username,
        comment=body.comment,
        createdAt=now,
    )
    await request.app[BACKEND].put(streams.BUCKET_SILENCES, silence.id, silence)
    request.app[MODEL].apply_silence(silence)
    return json_response(SilenceResponse(success=True, silence=silence), status=201)


async def expire_silence(request: web.Request) -> web.Response:
    silence_id = request.match_info["id"]
    if not subjects.TOKEN_RE.match(silence_id):
        raise NotFound(SILENCE_NOT_FOUND)
    now = now_ms(request.app[CLOCK])
    try:
        silence, _ = await request.app[BACKEND].modify(
            streams.BUCKET_SILENCES,
            silence_id,
            Silence,
            lambda s: s.model_copy(update={"endsAt": min(s.endsAt, now)}),
        )
    except NotFound:
        raise NotFound(SILENCE_NOT_FOUND) from None
    request.app[MODEL].apply_silence(silence)
    return json_response(SilenceResponse(success=True, silence=silence))


# --------------------------------------------------------------------------- notifications


async def list_notifications(request: web.Request) -> web.Response:
    q = parse_query(request, NotificationsQuery)
    return json_response(
        request.app[MODEL].notification_page(
            outcome=q.outcome, alert_id=q.alertId, channel=q.channel, limit=q.limit
        )
    )


async def list_dead_letters(request: web.Request) -> web.Response:
    q = parse_query(request, NotificationsQuery)
    return json_response(
        request.app[MODEL].notification_page(
            outcome="dead_letter", alert_id=q.alertId, channel=q.channel, limit=q.limit
        )
    )


async def test_notification(request: web.Request) -> web.Response:
    """Ask a notifier replica to send a test notification on one channel."""
    body = await parse_body(request, TestNotificationRequest)
    req = NotificationTestRequest(
        channel=body.channel, target=body.target, requestedBy=principal(request).username
    )
    raw = await request.app[BACKEND].request(subjects.NOTIFIER_TEST, req)
    reply = NotificationTestReply.from_bytes(raw)
    return json_response(
        TestNotificationResult(
            success=reply.ok,
            channel=reply.channel,
            ok=reply.ok,
            error=reply.error,
            statusCode=reply.statusCode,
        )
    )


# --------------------------------------------------------------------------- health, me, docs


async def health(request: web.Request) -> web.Response:
    """The seed's ``{status, timestamp, uptime}``, now telling the truth about NATS and KumoMTA."""
    app = request.app
    statuses = app[MODEL].statuses()
    counts = {
        k: sum(1 for s in statuses if s.kumoMtaStatus == k) for k in ("healthy", "degraded", "down")
    }
    nats_ok = app[BACKEND].connected
    degraded = not nats_ok or counts["down"] > 0 or counts["degraded"] > 0
    body = HealthResponse(
        status="degraded" if degraded else "healthy",
        timestamp=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        uptime=round(time.monotonic() - app[META].started_monotonic, 3),
        instance=app[META].instance,
        nats=NatsHealth(connected=nats_ok, synced=app[SYNC].synced),
        kumomta=KumoHealth(nodes=statuses, **counts),
    )
    return json_response(body)


async def me(request: web.Request) -> web.Response:
    return json_response(principal(request).public())


#: The page loads only its own files and talks only to its own origin (REST and /ws).
PAGE_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


async def index(request: web.Request) -> web.StreamResponse:
    """The dashboard page when the package ships one, else a pointer to the API document."""
    page = resources.files("kumowatch_gateway").joinpath("static/index.html")
    if page.is_file():
        resp = web.Response(body=page.read_bytes(), content_type="text/html", charset="utf-8")
        resp.headers["Content-Security-Policy"] = PAGE_CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        return resp
    return web.Response(text=_FALLBACK_INDEX, content_type="text/html")


ROUTES: list[Route] = [
    Route("GET", "/health", health, "public", "Service health (seed)", "health",
          responses={200: HealthResponse}),
    Route("GET", "/api/me", me, "read", "The caller's identity and roles", "auth",
          responses={200: Me}),
    Route("GET", "/api/queues", list_queues, "read", "Current queues: filter, sort, page",
          "state", query=QueuesQuery, responses={200: QueuesPage}),
    Route("GET", "/api/nodes", list_nodes, "read", "Connection status per KumoMTA node", "state",
          query=NodeQuery, responses={200: list[ConnectionStatus]}),
    Route("GET", "/api/metrics", list_metrics, "read", "Latest metrics per node", "state",
          query=NodeQuery, responses={200: list[MetricsUpdate]}),
    Route("GET", "/api/providers", list_providers, "read", "Latest provider stats per node",
          "state", query=ProvidersQuery, responses={200: list[ProvidersSnapshot]}),
    Route("GET", "/api/states", list_states, "read",
          "Suspensions, admin bounces and ready-queue states per node", "state",
          query=NodeQuery, responses={200: list[StatesSnapshot]}),
    Route("GET", "/api/silences", list_silences, "read", "List silences", "silences",
          query=SilencesQuery, responses={200: list[Silence]}),
    Route("POST", "/api/silences", create_silence, "operate", "Create a silence", "silences",
          body=SilenceCreate, responses={201: SilenceResponse}),
    Route("DELETE", "/api/silences/{id}", expire_silence, "operate", "Expire a silence now",
          "silences", responses={200: SilenceResponse}),
    Route("GET", "/api/notifications", list_notifications, "read",
          "Recent notification outcomes, newest first", "notifications",
          query=NotificationsQuery, responses={200: list[NotificationOutcome]}),
    Route("GET", "/api/notifications/dead-letters", list_dead_letters, "read",
          "Notifications that exhausted their retries", "notifications",
          query=NotificationsQuery, responses={200: list[NotificationOutcome]}),
    Route("POST", "/api/notifications/test", test_notification, "admin",
          "Send a test notification on one channel", "notifications",
          body=TestNotificationRequest,
          responses={200: TestNotificationResult, 504: ErrorResponse}),
]  # fmt: skip
