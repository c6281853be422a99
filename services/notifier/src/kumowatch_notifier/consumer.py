"""The shared durable pull consumer on ALERTS and how each message is settled.

Every replica binds to the same durable consumer (``NOTIFY_CONSUMER``, default ``notifier``), so
each alert event is handled by one replica at a time. A handler that returns acks the message
(its outcomes are already recorded); ``RetryableHandlerError`` naks it with a delay;
``PermanentHandlerError`` (or an undecodable payload) terminates it, logged and counted. While a
message is handled, ``in_progress()`` is sent every ``ack_wait / 3`` so a slow or retrying
delivery keeps it; if the replica dies, JetStream redelivers it to another after ``ack_wait``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from kumowatch_common import streams, subjects
from kumowatch_common.clock import Clock
from kumowatch_common.events import AlertEvent
from kumowatch_notifier.errors import PermanentHandlerError, RetryableHandlerError
from kumowatch_notifier.metrics import Metrics

log = logging.getLogger(__name__)

Handler = Callable[[AlertEvent, bool], Awaitable[None]]
FILTERS = [f"{subjects.ALERTS_ROOT}.*.firing", f"{subjects.ALERTS_ROOT}.*.resolved"]
MAX_ACK_PENDING = 20_000


class Consumer:
    """Fetch alert events and run ``handler`` on each, at most ``concurrency`` at once."""

    def __init__(
        self,
        js: JetStreamContext,
        handler: Handler,
        *,
        name: str,
        ack_wait: float,
        concurrency: int,
        lookback: float,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self.js = js
        self.handler = handler
        self.name = name
        self.ack_wait = ack_wait
        self.concurrency = concurrency
        self.lookback = lookback
        self.clock = clock
        self.metrics = metrics
        self.bound = False
        self._tasks: set[asyncio.Task[None]] = set()

    def config(self) -> ConsumerConfig:
        """The durable consumer; on first creation it starts ``lookback`` seconds back."""
        if self.lookback > 0:
            start = datetime.fromtimestamp(self.clock.now(), UTC) - timedelta(seconds=self.lookback)
            policy, opt_start = DeliverPolicy.BY_START_TIME, start
        else:
            policy, opt_start = DeliverPolicy.NEW, None
        return ConsumerConfig(
            durable_name=self.name,
            name=self.name,
            description="kumowatch notifier: alert events to channels",
            deliver_policy=policy,
            opt_start_time=opt_start,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_deliver=-1,
            max_ack_pending=MAX_ACK_PENDING,
            filter_subjects=FILTERS,
        )

    async def ensure(self) -> None:
        """Create the consumer, or align the editable fields of an existing one."""
        try:
            info = await self.js.consumer_info(streams.STREAM_ALERTS, self.name)
        except NotFoundError:
            await self.js.add_consumer(streams.STREAM_ALERTS, self.config())
            log.info("consumer created", extra={"consumer": self.name})
            return
        current = info.config
        if current.ack_wait != self.ack_wait or current.max_ack_pending != MAX_ACK_PENDING:
            current.ack_wait = self.ack_wait
            current.max_ack_pending = MAX_ACK_PENDING
            await self.js.add_consumer(streams.STREAM_ALERTS, current)
            log.info("consumer updated", extra={"consumer": self.name})

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch until ``stop``, then wait for in-flight events (the caller bounds the wait)."""
        psub = await self._bind(stop)
        if psub is None:
            return
        slots = asyncio.Semaphore(self.concurrency)
        try:
            while not stop.is_set():
                await slots.acquire()
                free = 1
                while free < min(self.concurrency, 256) and not slots.locked():
                    await slots.acquire()
                    free += 1
                msgs = await self._fetch(psub, free, stop)
                for _ in range(free - len(msgs)):
                    slots.release()
                if msgs:
                    log.debug("fetched", extra={"count": len(msgs)})
                for msg in msgs:
                    task = asyncio.create_task(self._settle(msg, slots))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        finally:
            self.bound = False
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await psub.unsubscribe()

    async def _fetch(
        self, psub: JetStreamContext.PullSubscription, batch: int, stop: asyncio.Event
    ) -> list[Msg]:
        """Up to ``batch`` messages, waiting at most 1 s; returns early (empty) on stop."""
        fetch = asyncio.ensure_future(psub.fetch(batch, timeout=1.0))
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not fetch.done():
            # Anything delivered to a cancelled fetch is redelivered after ack_wait.
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await fetch
            return []
        try:
            return fetch.result()
        except (NatsTimeoutError, TimeoutError):
            return []
        except Exception as exc:
            log.warning("fetch failed", extra={"error": repr(exc)})
            await _sleep_unless(stop, 0.5)
            return []

    async def _bind(self, stop: asyncio.Event) -> JetStreamContext.PullSubscription | None:
        delay = 0.5
        while not stop.is_set():
            try:
                await self.ensure()
                psub = await self.js.pull_subscribe_bind(
                    durable=self.name, stream=streams.STREAM_ALERTS
                )
                self.bound = True
                return psub
            except Exception as exc:
                log.warning("consumer bind failed, retrying", extra={"error": repr(exc)})
                await _sleep_unless(stop, delay)
                delay = min(5.0, delay * 2)
        return None

    async def _settle(self, msg: Msg, slots: asyncio.Semaphore) -> None:
        self.metrics.inflight.inc()
        beat = asyncio.create_task(self._heartbeat(msg))
        try:
            result = await self._run_handler(msg)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            self.metrics.inflight.dec()
            slots.release()
        self.metrics.events.labels(result).inc()

    async def _run_handler(self, msg: Msg) -> str:
        try:
            try:
                event = AlertEvent.from_bytes(msg.data)
            except ValidationError as exc:
                raise PermanentHandlerError(
                    f"undecodable alert event: {exc.error_count()} errors"
                ) from exc
            await self.handler(event, msg.metadata.num_delivered > 1)
        except RetryableHandlerError as exc:
            log.warning(
                "alert event will be retried", extra={"subject": msg.subject, "error": str(exc)}
            )
            await _quietly(msg.nak(delay=exc.delay or None))
            return "nak"
        except PermanentHandlerError as exc:
            log.error("alert event dropped", extra={"subject": msg.subject, "error": str(exc)})
            await _quietly(msg.term())
            return "term"
        except Exception:
            log.exception("alert event handler failed", extra={"subject": msg.subject})
            await _quietly(msg.nak(delay=5.0))
            return "nak"
        await _quietly(msg.ack())
        return "ack"

    async def _heartbeat(self, msg: Msg) -> None:
        interval = max(0.3, self.ack_wait / 3)
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                await msg.in_progress()


async def _quietly(aw: Awaitable[None]) -> None:
    try:
        await aw
    except Exception as exc:
        log.warning("could not settle message", extra={"error": repr(exc)})


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
