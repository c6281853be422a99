"""``POST /ingest/kumomta/v1``: KumoMTA's log hook, answered only once JetStream holds every record.

The body is one record, a JSON array (batch mode) or NDJSON, optionally gzip/deflate encoded
(aiohttp decodes it; the limit applies to the decoded size). All records are validated before
anything is published: one bad record makes the whole request a 400 naming it. Each record is
published with ``Nats-Msg-Id`` = sha256 of its canonical JSON, so KumoMTA's retries of a batch are
dropped by KUMOMTA_EVENTS' 30-minute duplicate window. NATS down or an ack missing gives 503, and
KumoMTA retries.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Mapping
from typing import Final

import orjson
from aiohttp import web
from pydantic import SecretStr

from kumowatch_common import subjects
from kumowatch_common.clock import Clock, SystemClock, now_ms
from kumowatch_common.subjects import InvalidTokenError
from kumowatch_poller import logrecords
from kumowatch_poller.errors import (
    BadRequestError,
    BodyTooLargeError,
    IngestError,
    PublishError,
    UnavailableError,
)
from kumowatch_poller.publisher import Outgoing, Publisher
from kumowatch_poller.telemetry import PollerMetrics

log = logging.getLogger(__name__)

PATH: Final = "/ingest/kumomta/v1"
BATCH: Final = 1000
RETRY_AFTER_SECONDS: Final = "5"


class Ingest:
    """The ingest endpoint; ``publisher`` is set once NATS is connected."""

    def __init__(
        self,
        *,
        max_body: int,
        token: SecretStr | None = None,
        node_ids: Mapping[str, str] | None = None,
        metrics: PollerMetrics | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.max_body = max_body
        self.token = token.get_secret_value().encode() if token is not None else None
        self.node_ids: Mapping[str, str] = node_ids if node_ids is not None else {}
        self.metrics = metrics
        self.clock = clock or SystemClock()
        self.publisher: Publisher | None = None

    def add_routes(self, app: web.Application) -> None:
        """Mount the endpoint on ``app``."""
        app.router.add_post(PATH, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one log-hook request."""
        started = time.monotonic()
        if not self._authorized(request):
            return self._answer(
                401,
                {"error": "a valid Bearer token is required"},
                headers={"WWW-Authenticate": 'Bearer realm="kumowatch-ingest"'},
            )
        try:
            accepted, duplicates = await self._ingest(request)
        except IngestError as exc:
            return self._refuse(exc)
        if self.metrics is not None:
            self.metrics.ingest_records.labels("accepted").inc(accepted - duplicates)
            self.metrics.ingest_records.labels("duplicate").inc(duplicates)
            self.metrics.ingest_seconds.observe(time.monotonic() - started)
        return self._answer(200, {"accepted": accepted, "duplicates": duplicates})

    def _authorized(self, request: web.Request) -> bool:
        if self.token is None:
            return True
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credential.strip().encode(), self.token)

    async def _ingest(self, request: web.Request) -> tuple[int, int]:
        outgoing = await self._prepare(request)
        # Only the encoded events live on while JetStream acks: the decoded records are gone, so
        # the collector has less to walk under load.
        publisher = self.publisher
        if publisher is None or not publisher.connected:
            raise UnavailableError("NATS is not connected; retry later")
        duplicates = 0
        for start in range(0, len(outgoing), BATCH):
            try:
                acks = await publisher.publish(outgoing[start : start + BATCH])
            except PublishError as exc:
                if self.metrics is not None:
                    self.metrics.publish_failures.labels("ingest").inc(exc.failed)
                log.warning("ingest not acknowledged", extra={"error": exc.cause})
                raise UnavailableError(f"JetStream did not acknowledge: {exc.cause}") from exc
            duplicates += sum(1 for ack in acks if ack.duplicate)
        return len(outgoing), duplicates

    async def _prepare(self, request: web.Request) -> list[Outgoing]:
        """The request's records, all valid, as the messages to publish."""
        explicit = request.query.get("node")
        if explicit is not None:
            try:
                subjects.validate_token(explicit, "node name")
            except InvalidTokenError as exc:
                raise BadRequestError(str(exc), field="node") from None
        docs = logrecords.split_body(await self._read(request))
        records = logrecords.check(docs)
        received = now_ms(self.clock)
        outgoing: list[Outgoing] = []
        subject_of: dict[tuple[str, str], str] = {}
        for doc, record in zip(docs, records, strict=True):
            node = logrecords.resolve_node(record, explicit, self.node_ids)
            msg_id, payload = logrecords.encode(doc, record, node, received)
            subject = subject_of.get((node, record.type))
            if subject is None:
                subject = subject_of[(node, record.type)] = subjects.event(node, record.type)
            outgoing.append(Outgoing(subject, payload, msg_id))
        return outgoing

    async def _read(self, request: web.Request) -> bytes:
        length = request.content_length
        if length is not None and length > self.max_body:
            raise BodyTooLargeError(f"body of {length} bytes is over {self.max_body}")
        parts: list[bytes] = []
        size = 0
        try:
            async for chunk in request.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > self.max_body:
                    raise BodyTooLargeError(f"body is over {self.max_body} bytes (decoded)")
                parts.append(chunk)
        except BodyTooLargeError:
            raise
        except Exception as exc:
            raise BadRequestError(f"body could not be read or decoded: {exc}") from None
        return b"".join(parts)

    def _refuse(self, exc: IngestError) -> web.Response:
        body: dict[str, object] = {"error": exc.message}
        headers: dict[str, str] = {}
        if isinstance(exc, BadRequestError):
            body["record"] = exc.record
            body["field"] = exc.field
            if self.metrics is not None:
                self.metrics.ingest_records.labels("invalid").inc()
        if isinstance(exc, UnavailableError):
            headers["Retry-After"] = RETRY_AFTER_SECONDS
        return self._answer(exc.status, body, headers=headers)

    def _answer(
        self, status: int, body: dict[str, object], headers: dict[str, str] | None = None
    ) -> web.Response:
        if self.metrics is not None:
            self.metrics.ingest_requests.labels(str(status)).inc()
        return web.Response(
            status=status,
            body=orjson.dumps(body),
            content_type="application/json",
            headers=headers,
        )
