"""Publish a batch to JetStream with every ack awaited together, not one after the other.

Each message carries a ``Nats-Msg-Id``, so a retry (or a second replica) publishing the same fact
is dropped by the stream's duplicate window. A batch succeeds only when every message is acked.

The acks come back on one wildcard inbox of the publisher's own, matched to their messages by a
counter token. That is nats-py's ``publish_async`` without what the ingest hot path cannot afford
per message (a semaphore, a NUID and random bytes per token, dataclass introspection and
``json`` per ack); in-flight messages are bounded across batches by ``window``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Sequence
from typing import Final, NamedTuple

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import PubAck
from nats.js.errors import APIError, NoStreamResponseError

from kumowatch_poller.errors import PublishError

WINDOW: Final = 4000
_NO_RESPONDERS: Final = "503"


class Outgoing(NamedTuple):
    """One message to publish.

    A NamedTuple, not a frozen dataclass: the ingest builds one per record, and a frozen
    dataclass costs twenty times as much to construct.
    """

    subject: str
    payload: bytes
    msg_id: str


class Publisher:
    """Batches of JetStream publishes, bounded by one deadline and a window of unacked messages."""

    def __init__(self, nc: Client, timeout: float = 5.0, window: int = WINDOW) -> None:
        self.nc = nc
        self.timeout = timeout
        self.window = window
        self._inbox: str | None = None
        self._opening = asyncio.Lock()
        self._tokens = itertools.count()
        self._pending: dict[str, asyncio.Future[PubAck]] = {}
        self._room = asyncio.Event()
        self._room.set()

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    @property
    def in_flight(self) -> int:
        """Messages published and not yet acknowledged (or given up on)."""
        return len(self._pending)

    async def publish(self, batch: Sequence[Outgoing]) -> list[PubAck]:
        """Publish all of ``batch``; the acks in order, or PublishError if any is missing."""
        if not batch:
            return []
        if not self.connected:
            raise PublishError(len(batch), len(batch), "NATS is not connected")
        futures: list[asyncio.Future[PubAck]] = []
        tokens: list[str] = []
        try:
            async with asyncio.timeout(self.timeout):
                await self._send(batch, futures, tokens)
                results = await asyncio.gather(*futures, return_exceptions=True)
        except BaseException as exc:
            # Every ack that arrived took its token with it: only a failure leaves any behind.
            missing = len(batch) - sum(1 for f in futures if f.done() and not f.cancelled())
            self._forget(tokens, futures)
            if not isinstance(exc, Exception):
                raise  # cancelled, not failed
            cause = "no ack in time" if isinstance(exc, TimeoutError) else _describe(exc)
            raise PublishError(max(1, missing), len(batch), cause) from exc
        acks: list[PubAck] = []
        errors: list[BaseException] = []
        for result in results:
            if isinstance(result, BaseException):
                errors.append(result)
            else:
                acks.append(result)
        if errors:
            raise PublishError(len(errors), len(batch), _describe(errors[0]))
        return acks

    async def _send(
        self,
        batch: Sequence[Outgoing],
        futures: list[asyncio.Future[PubAck]],
        tokens: list[str],
    ) -> None:
        inbox = self._inbox or await self._open()
        loop = asyncio.get_running_loop()
        pending, publish = self._pending, self.nc.publish
        for subject, payload, msg_id in batch:
            while len(pending) >= self.window:
                self._room.clear()
                await self._room.wait()
            token = str(next(self._tokens))
            future: asyncio.Future[PubAck] = loop.create_future()
            pending[token] = future
            tokens.append(token)
            futures.append(future)
            await publish(subject, payload, reply=inbox + token, headers={"Nats-Msg-Id": msg_id})

    async def _open(self) -> str:
        async with self._opening:
            if self._inbox is None:
                inbox = self.nc.new_inbox() + "."
                await self.nc.subscribe(inbox + "*", cb=self._on_ack)
                self._inbox = inbox
            return self._inbox

    async def _on_ack(self, msg: Msg) -> None:
        assert self._inbox is not None
        future = self._pending.pop(msg.subject[len(self._inbox) :], None)
        if len(self._pending) < self.window:
            self._room.set()
        if future is None or future.done():
            return  # given up on already
        if msg.headers and msg.headers.get("Status") == _NO_RESPONDERS:
            future.set_exception(NoStreamResponseError())
            return
        try:
            answer = orjson.loads(msg.data)
            error = answer.get("error")
            if error is not None:
                future.set_exception(
                    APIError(error.get("code"), error.get("description"), error.get("err_code"))
                )
                return
            future.set_result(
                PubAck(
                    stream=answer["stream"],
                    seq=answer["seq"],
                    domain=answer.get("domain"),
                    duplicate=answer.get("duplicate"),
                )
            )
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError) as exc:
            future.set_exception(APIError(description=f"unreadable ack {msg.data[:200]!r}: {exc}"))

    def _forget(self, tokens: list[str], futures: list[asyncio.Future[PubAck]]) -> None:
        for token in tokens:
            self._pending.pop(token, None)
        if len(self._pending) < self.window:
            self._room.set()
        for future in futures:
            if not future.done():
                future.cancel()
            elif not future.cancelled():
                with contextlib.suppress(BaseException):
                    future.exception()  # retrieved: no "never retrieved" warning


def _describe(exc: BaseException) -> str:
    # nats-py's errors keep their detail in __str__; their repr is a bare "APIError()".
    return str(exc) or repr(exc)
