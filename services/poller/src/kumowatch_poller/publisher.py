"""Publish a batch to JetStream with every ack awaited together, not one after the other.

Each message carries a ``Nats-Msg-Id``, so a retry (or a second replica) publishing the same fact
is dropped by the stream's duplicate window. A batch succeeds only when every message is acked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import PubAck

from kumowatch_poller.errors import PublishError


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to publish."""

    subject: str
    payload: bytes
    msg_id: str


class Publisher:
    """Batches of JetStream publishes, bounded by one deadline."""

    def __init__(self, nc: Client, js: JetStreamContext, timeout: float = 5.0) -> None:
        self.nc = nc
        self.js = js
        self.timeout = timeout

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    async def publish(self, batch: Sequence[Outgoing]) -> list[PubAck]:
        """Publish all of ``batch``; the acks in order, or PublishError if any is missing."""
        if not batch:
            return []
        if not self.connected:
            raise PublishError(len(batch), len(batch), "NATS is not connected")
        futures: list[asyncio.Future[PubAck]] = []
        try:
            async with asyncio.timeout(self.timeout):
                for msg in batch:
                    futures.append(
                        await self.js.publish_async(
                            msg.subject, msg.payload, headers={"Nats-Msg-Id": msg.msg_id}
                        )
                    )
                results = await asyncio.gather(*futures, return_exceptions=True)
        except Exception as exc:
            for fut in futures:
                fut.cancel()
            for fut in futures:
                with contextlib.suppress(BaseException):
                    fut.exception()
            missing = len(batch) - sum(1 for f in futures if f.done() and not f.cancelled())
            cause = "no ack in time" if isinstance(exc, TimeoutError) else repr(exc)
            raise PublishError(max(1, missing), len(batch), cause) from exc
        acks: list[PubAck] = []
        errors: list[BaseException] = []
        for result in results:
            if isinstance(result, BaseException):
                errors.append(result)
            else:
                acks.append(result)
        if errors:
            raise PublishError(len(errors), len(batch), repr(errors[0]))
        return acks
