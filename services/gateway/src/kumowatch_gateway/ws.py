"""``/ws``: the raw WebSocket, JSON text frames ``{"event", "data"}`` both ways.

Authentication: an ``Authorization: Bearer`` header, ``?token=`` (unless ``WS_QUERY_TOKEN`` is
false), or a first frame ``{"event":"auth","data":{"token":...}}`` within the auth timeout. A
socket that fails gets an ``error`` frame and close code 4401; so does one whose token expires
(a later ``auth`` frame with a fresh token extends it). On success the client receives one
``connection:status`` per known node. Client events: ``subscribe:queues|metrics|messages|alerts``
with optional filters ``{node, queue, provider}`` (globs), ``unsubscribe:*``, ``ping``.
Every client receives alert events unless it unsubscribes from alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Final

import orjson
from aiohttp import WSMsgType, web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kumowatch_common.clock import now_ms
from kumowatch_gateway import globs, push
from kumowatch_gateway.auth import Principal
from kumowatch_gateway.errors import AuthError, Forbidden
from kumowatch_gateway.http import VERIFIER, bearer, origin_allowed
from kumowatch_gateway.hub import CLOSE_UNAUTHORIZED, Client, Filter, Hub, Topic, frame
from kumowatch_gateway.keys import CLOCK, HUB, MODEL, SETTINGS
from kumowatch_gateway.readmodel import QueueQuery, ReadModel

log = logging.getLogger(__name__)

INITIAL_QUEUES: Final = 500


class SubscriptionFilter(BaseModel):
    """Optional filters of ``subscribe:*`` (globs)."""

    model_config = ConfigDict(extra="forbid")
    node: str | None = Field(default=None, max_length=200)
    queue: str | None = Field(default=None, max_length=500)
    provider: str | None = Field(default=None, max_length=200)


def error_frame(message: str, code: str) -> bytes:
    return frame("error", {"message": message, "code": code})


async def handle(request: web.Request) -> web.StreamResponse:
    """Upgrade, authenticate, then serve one client until it leaves."""
    if not origin_allowed(request):
        raise Forbidden("Origin not allowed")
    settings = request.app[SETTINGS]
    # No permessage-deflate: it would compress every frame once per client, defeating the
    # encode-once fan-out (and costing CPU per client per event).
    ws = web.WebSocketResponse(
        max_msg_size=settings.ws_max_msg_size,
        heartbeat=settings.ws_heartbeat_seconds,
        compress=False,
    )
    await ws.prepare(request)
    session = _Session(request, ws)
    try:
        await session.run()
    finally:
        await session.finish()
    return ws


class _Session:
    def __init__(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        self.app = request.app
        self.request = request
        self.ws = ws
        self.settings = request.app[SETTINGS]
        self.hub: Hub = request.app[HUB]
        self.model: ReadModel = request.app[MODEL]
        self.client: Client | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        token = bearer(self.request)
        if token is None and self.settings.ws_query_token:
            token = self.request.query.get("token") or None
        if token is None:
            token = await self._first_frame_token()
            if token is None:
                return
        try:
            who = await self.app[VERIFIER].verify(token)
        except AuthError as exc:
            await self._reject(f"Invalid authentication token: {exc.reason}")
            return
        client = self.client = Client(
            self.ws, who, self.settings.ws_buffer_size, self.request.transport
        )
        self.hub.add(client)
        self._schedule_expiry(who)
        self._send_statuses(client)
        await self._serve(client)

    async def finish(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        if self.client is not None:
            await self.hub.remove(self.client)
        if not self.ws.closed:
            with contextlib.suppress(Exception):
                await self.ws.close()

    async def _first_frame_token(self) -> str | None:
        try:
            msg = await self.ws.receive(timeout=self.settings.ws_auth_timeout_seconds)
        except TimeoutError:
            await self._reject("Authentication required: send an auth frame first")
            return None
        if msg.type != WSMsgType.TEXT:
            if msg.type not in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                await self._reject("Authentication required: send an auth frame first")
            return None
        event, data, _ = _decode(msg.data)
        token = data.get("token") if isinstance(data, dict) else None
        if event != "auth" or not isinstance(token, str) or not token:
            await self._reject("Authentication required: send an auth frame first")
            return None
        return token

    async def _reject(self, message: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.send_frame(error_frame(message, "unauthorized"), WSMsgType.TEXT)
            await self.ws.close(code=CLOSE_UNAUTHORIZED, message=b"unauthorized")

    def _schedule_expiry(self, who: Principal) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        loop = asyncio.get_running_loop()
        delay = max(0.0, who.expires_at - time.time())
        self._expiry = loop.call_later(delay, self._expire)

    def _expire(self) -> None:
        task = asyncio.create_task(self._close_expired())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_expired(self) -> None:
        client = self.client
        if client is None:
            return
        await client.close(
            CLOSE_UNAUTHORIZED, "token expired", error_frame("Token expired", "token_expired")
        )

    def _send_statuses(self, client: Client) -> None:
        statuses = self.model.statuses()
        if not statuses:
            client.put(
                frame(
                    "connection:status",
                    {
                        "connected": False,
                        "kumoMtaStatus": "down",
                        "timestamp": now_ms(self.app[CLOCK]),
                        "reason": "no data yet",
                    },
                ),
                "connection:status|",
            )
        for status in statuses:
            client.put(
                frame("connection:status", push.dump(status)), f"connection:status|{status.node}"
            )

    async def _serve(self, client: Client) -> None:
        async for msg in self.ws:
            if msg.type == WSMsgType.TEXT:
                await self._on_text(client, msg.data)
            elif msg.type == WSMsgType.BINARY:
                client.put(error_frame("Binary frames are not supported", "invalid_frame"), None)
            elif msg.type == WSMsgType.ERROR:
                break

    async def _on_text(self, client: Client, text: str) -> None:
        event, data, problem = _decode(text)
        if problem is not None:
            client.put(error_frame(problem, "invalid_frame"), None)
            return
        assert event is not None
        if event == "ping":
            client.put(frame("pong", {"timestamp": now_ms(self.app[CLOCK])}), None)
        elif event == "auth":
            await self._reauth(client, data)
        elif event.startswith("subscribe:"):
            self._subscribe(client, event.removeprefix("subscribe:"), data)
        elif event.startswith("unsubscribe:"):
            topic = _topic(event.removeprefix("unsubscribe:"))
            if topic is None:
                client.put(error_frame(f"Unknown topic in {event!r}", "unknown_event"), None)
            else:
                self.hub.unsubscribe(client, topic)
        else:
            client.put(error_frame(f"Unknown event {event!r}", "unknown_event"), None)

    async def _reauth(self, client: Client, data: Any) -> None:
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            client.put(error_frame("auth needs data.token", "invalid_frame"), None)
            return
        try:
            who = await self.app[VERIFIER].verify(token)
        except AuthError as exc:
            client.put(
                error_frame(f"Invalid authentication token: {exc.reason}", "unauthorized"), None
            )
            return
        client.principal = who
        self._schedule_expiry(who)

    def _subscribe(self, client: Client, name: str, data: Any) -> None:
        topic = _topic(name)
        if topic is None:
            client.put(error_frame(f"Unknown topic {name!r}", "unknown_event"), None)
            return
        try:
            spec = SubscriptionFilter.model_validate(data or {})
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) or "data" for e in exc.errors())
            client.put(
                error_frame(f"Invalid subscription filter: {fields}", "invalid_filter"), None
            )
            return
        flt = Filter(node=spec.node, queue=spec.queue, provider=spec.provider)
        self.hub.subscribe(client, topic, flt)
        if topic == Topic.METRICS:
            for name_, view in sorted(self.model.nodes.items()):
                if view.metrics is not None and globs.match(flt.node, name_):
                    client.put(
                        frame("metrics:update", push.dump(view.metrics)),
                        f"metrics:update|{name_}",
                    )
        elif topic == Topic.QUEUES:
            _, items = self.model.queue_page(
                QueueQuery(
                    node=flt.node, queue=flt.queue, provider=flt.provider, limit=INITIAL_QUEUES
                )
            )
            for q in items:
                client.put(
                    frame("queue:update", push.dump(q)),
                    f"queue:update|{q.node}|{q.kind}|{q.queueName}",
                )


def _topic(name: str) -> Topic | None:
    try:
        return Topic(name)
    except ValueError:
        return None


def _decode(text: str) -> tuple[str | None, Any, str | None]:
    """(event, data, problem)."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None, None, "Invalid JSON"
    if not isinstance(doc, dict):
        return None, None, 'A frame must be a JSON object {"event": ..., "data": ...}'
    event = doc.get("event")
    if not isinstance(event, str) or not event:
        return None, None, 'A frame needs a string "event"'
    data = doc.get("data")
    if data is not None and not isinstance(data, dict):
        return None, None, '"data" must be an object'
    return event, data, None
