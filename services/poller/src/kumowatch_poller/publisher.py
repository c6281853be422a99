"""Publish a batch to JetStream with every ack awaited together, not one after the other.

Each message carries a ``Nats-Msg-Id``, so a retry (or a second replica) publishing the same fact
is dropped by the stream's duplicate window. A batch succeeds only when every message is acked.

The acks come back on one wildcard inbox of the publisher's own, matched to their messages by a
counter token, and a batch has one future that the last of its acks resolves. That is nats-py's
``publish_async`` without what the ingest hot path cannot afford per message (a semaphore, a NUID
and random bytes per token, a future and its callbacks, dataclass introspection and ``json`` per
ack); unacknowledged messages are bounded across batches by ``window``.
"""

from __future__ import annotations

import asyncio
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


class _Batch:
    """The acks of one batch as they arrive; ``done`` resolves when none is missing."""

    __slots__ = ("done", "left", "results")

    def __init__(self, size: int, done: asyncio.Future[None]) -> None:
        self.results: list[PubAck | Exception | None] = [None] * size
        self.left = size
        self.done = done

    def settle(self, index: int, result: PubAck | Exception) -> None:
        if self.results[index] is None:
            self.results[index] = result
            self.left -= 1
            if not self.left and not self.done.done():
                self.done.set_result(None)


class Publisher:
    """Batches of JetStream publishes, bounded by one deadline and a window of unacked messages."""

    def __init__(self, nc: Client, timeout: float = 5.0, window: int = WINDOW) -> None:
        self.nc = nc
        self.timeout = timeout
        self.window = window
        self._inbox: str | None = None
        self._opening = asyncio.Lock()
        self._tokens = itertools.count()
        self._pending: dict[str, tuple[_Batch, int]] = {}
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
        state = _Batch(len(batch), asyncio.get_running_loop().create_future())
        tokens: list[str] = []
        try:
            async with asyncio.timeout(self.timeout):
                await self._send(batch, state, tokens)
                await state.done
        except BaseException as exc:
            # Every ack that arrived took its token with it: only a failure leaves any behind.
            for token in tokens:
                self._pending.pop(token, None)
            self._make_room()
            if not isinstance(exc, Exception):
                raise  # cancelled, not failed
            cause = "no ack in time" if isinstance(exc, TimeoutError) else _describe(exc)
            raise PublishError(max(1, state.left), len(batch), cause) from exc
        acks = [r for r in state.results if isinstance(r, PubAck)]
        if len(acks) < len(batch):
            errors = [r for r in state.results if isinstance(r, Exception)]
            raise PublishError(len(errors), len(batch), _describe(errors[0]))
        return acks

    async def _send(self, batch: Sequence[Outgoing], state: _Batch, tokens: list[str]) -> None:
        inbox = self._inbox or await self._open()
        pending, publish = self._pending, self.nc.publish
        for index, (subject, payload, msg_id) in enumerate(batch):
            while len(pending) >= self.window:
                self._room.clear()
                await self._room.wait()
            token = str(next(self._tokens))
            pending[token] = (state, index)
            tokens.append(token)
            await publish(subject, payload, reply=inbox + token, headers={"Nats-Msg-Id": msg_id})

    async def _open(self) -> str:
        async with self._opening:
            if self._inbox is None:
                inbox = self.nc.new_inbox() + "."
                await self.nc.subscribe(inbox + "*", cb=self._on_ack)
                self._inbox = inbox
            return self._inbox

    def _make_room(self) -> None:
        if len(self._pending) < self.window:
            self._room.set()

    async def _on_ack(self, msg: Msg) -> None:
        assert self._inbox is not None
        waiting = self._pending.pop(msg.subject[len(self._inbox) :], None)
        self._make_room()
        if waiting is not None:
            waiting[0].settle(waiting[1], _ack(msg))


def _ack(msg: Msg) -> PubAck | Exception:
    if msg.headers and msg.headers.get("Status") == _NO_RESPONDERS:
        return NoStreamResponseError()
    try:
        answer = orjson.loads(msg.data)
        error = answer.get("error")
        if error is not None:
            return APIError(error.get("code"), error.get("description"), error.get("err_code"))
        return PubAck(
            stream=answer["stream"],
            seq=answer["seq"],
            domain=answer.get("domain"),
            duplicate=answer.get("duplicate"),
        )
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError) as exc:
        return APIError(description=f"unreadable ack {msg.data[:200]!r}: {exc}")


def _describe(exc: BaseException) -> str:
    # nats-py's errors keep their detail in __str__; their repr is a bare "APIError()".
    return str(exc) or repr(exc)
