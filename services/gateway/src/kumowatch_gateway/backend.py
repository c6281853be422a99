"""The gateway's NATS handle for writes: KV puts with compare-and-set, JetStream publishes, requests.

The HTTP site starts before NATS is reachable (so probes answer); until :meth:`Backend.bind` is
called, and while the connection is down, writes answer 503.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from kumowatch_common.events import Contract
from kumowatch_gateway.errors import Conflict, NotFound, Unavailable, UpstreamTimeout

log = logging.getLogger(__name__)

C = TypeVar("C", bound=Contract)


class Backend:
    """Writes to NATS on behalf of REST handlers."""

    def __init__(self, request_timeout: float = 10.0) -> None:
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._buckets: dict[str, KeyValue] = {}
        self.request_timeout = request_timeout

    def bind(self, nc: Client, js: JetStreamContext, buckets: dict[str, KeyValue]) -> None:
        self._nc, self._js, self._buckets = nc, js, buckets

    @property
    def bound(self) -> bool:
        return self._nc is not None

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    def _kv(self, bucket: str) -> KeyValue:
        if not self.connected or bucket not in self._buckets:
            raise Unavailable("NATS is not reachable; try again shortly")
        return self._buckets[bucket]

    async def get(self, bucket: str, key: str, cls: type[C]) -> tuple[C, int] | None:
        """The current value and revision, or None when absent or deleted."""
        kv = self._kv(bucket)
        try:
            entry = await kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return None
        except Exception as exc:
            raise Unavailable("NATS request failed; try again shortly") from exc
        if entry.value is None or entry.revision is None:
            return None
        return cls.from_bytes(entry.value), entry.revision

    async def put(self, bucket: str, key: str, value: Contract) -> int:
        """Write; the new revision."""
        kv = self._kv(bucket)
        try:
            return int(await kv.put(key, value.to_bytes()))
        except Exception as exc:
            raise Unavailable("NATS request failed; try again shortly") from exc

    async def modify(
        self, bucket: str, key: str, cls: type[C], change: Callable[[C], C], *, attempts: int = 3
    ) -> tuple[C, int]:
        """Read-modify-write with compare-and-set; 404 when absent, 409 after ``attempts`` races."""
        kv = self._kv(bucket)
        for _ in range(attempts):
            current = await self.get(bucket, key, cls)
            if current is None:
                raise NotFound("Not found")
            value, revision = current
            updated = change(value)
            try:
                new_rev = await kv.update(key, updated.to_bytes(), last=revision)
            except KeyWrongLastSequenceError:
                continue
            except Exception as exc:
                raise Unavailable("NATS request failed; try again shortly") from exc
            return updated, int(new_rev)
        raise Conflict("Changed concurrently; retry")

    async def delete(self, bucket: str, key: str) -> None:
        kv = self._kv(bucket)
        try:
            await kv.delete(key)
        except Exception as exc:
            raise Unavailable("NATS request failed; try again shortly") from exc

    async def publish(self, subject: str, value: Contract, msg_id: str) -> bool:
        """JetStream publish with a dedup id; False (logged) when it failed."""
        if self._js is None or not self.connected:
            return False
        try:
            await self._js.publish(subject, value.to_bytes(), headers={"Nats-Msg-Id": msg_id})
        except Exception as exc:
            log.warning("publish failed", extra={"subject": subject, "error": repr(exc)})
            return False
        return True

    async def request(self, subject: str, value: Contract) -> bytes:
        """Core request/reply; 504 when nobody answers in time."""
        if self._nc is None or not self.connected:
            raise Unavailable("NATS is not reachable; try again shortly")
        try:
            msg = await self._nc.request(subject, value.to_bytes(), timeout=self.request_timeout)
        except (NoRespondersError, NatsTimeoutError, TimeoutError):
            raise UpstreamTimeout("No notifier answered") from None
        return bytes(msg.data)
