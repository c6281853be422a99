"""Publish transitions once: JetStream with ``Nats-Msg-Id``, and the alert-state bucket.

Order makes a crash at any point safe with a replica taking over from the bucket:

- firing: put the alert in the bucket, then publish. A crash in between leaves a bucket entry the
  next owner restores and re-publishes with the same ``Nats-Msg-Id`` (dropped if it did go out).
- resolved: publish, then delete the bucket key. A crash in between makes the next owner restore
  the alert and resolve it again with the same id, which the stream's dedup window drops.

- pending / dropped (rules with ``for``; nothing is published): put / delete the series' key in
  the pending bucket. A firing deletes it after the publish; a crash before that leaves a pending
  entry the next owner drops because the series is firing.

Failures are retried with backoff until they succeed (or the service stops), in order: the
transitions of one series never overtake each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from prometheus_client import CollectorRegistry, Counter

from kumowatch_alerter.errors import PublishError
from kumowatch_alerter.statemachine import Transition
from kumowatch_common import subjects
from kumowatch_common.events import Alert, AlertEvent

log = logging.getLogger(__name__)

BATCH = 256


class Publisher:
    """A queue of transitions drained by :meth:`run`."""

    def __init__(
        self,
        js: JetStreamContext,
        state: KeyValue,
        pending: KeyValue,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.js = js
        self.state = state
        self.pending_kv = pending
        self._queue: deque[Transition] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.published = Counter(
            "kumowatch_alerter_transitions_total",
            "alert transitions published",
            ["event"],
            registry=registry,
        )
        self.failures = Counter(
            "kumowatch_alerter_publish_failures_total",
            "failed publish attempts (retried)",
            registry=registry,
        )
        self.pending_writes = Counter(
            "kumowatch_alerter_pending_writes_total",
            "pending-bucket writes (pending: a series started its `for`; dropped: it cleared)",
            ["event"],
            registry=registry,
        )

    def submit(self, transitions: list[Transition]) -> None:
        """Queue transitions (non-blocking; called from message callbacks)."""
        if transitions:
            self._queue.extend(transitions)
            self._idle.clear()
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def drained(self) -> None:
        """Wait until everything submitted so far is published."""
        await self._idle.wait()

    async def run(self, stop: asyncio.Event, grace: float = 5.0) -> None:
        """Publish until ``stop``; then keep going for up to ``grace`` s to drain the queue."""
        while not stop.is_set():
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                waiter = asyncio.create_task(self._wake.wait())
                stopper = asyncio.create_task(stop.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                continue
            await self._flush(stop)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._flush(None), timeout=grace)

    async def _flush(self, stop: asyncio.Event | None) -> None:
        while self._queue:
            batch: list[Transition] = []
            ids: set[str] = set()
            while self._queue and len(batch) < BATCH and _series(self._queue[0]) not in ids:
                tr = self._queue.popleft()
                ids.add(_series(tr))
                batch.append(tr)
            await asyncio.gather(*(self._deliver(tr, stop) for tr in batch))
        self._idle.set()

    async def _deliver(self, tr: Transition, stop: asyncio.Event | None) -> None:
        delay = 0.2
        while True:
            try:
                await self.publish_one(tr)
                return
            except Exception as exc:
                self.failures.inc()
                err = PublishError(tr.alert.id, tr.event, repr(exc))
                log.warning(str(err), extra={"retry_in": delay})
                if stop is not None and stop.is_set():
                    return
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)

    async def publish_one(self, tr: Transition) -> None:
        """One transition, in the crash-safe order (see the module doc)."""
        alert = tr.alert
        if tr.event == "pending":
            await self.pending_kv.put(pending_key(alert), alert.to_bytes())
            self.pending_writes.labels("pending").inc()
            return
        if tr.event == "dropped":
            with contextlib.suppress(KeyNotFoundError):
                await self.pending_kv.delete(pending_key(alert))
            self.pending_writes.labels("dropped").inc()
            return
        payload = AlertEvent(event=tr.event, alert=alert, rule=tr.rule).to_bytes()
        subject = subjects.alert(alert.ruleId, tr.event)
        headers = {"Nats-Msg-Id": f"{alert.id}:{tr.event}"}
        if tr.event == "firing":
            await self.state.put(alert.id, alert.to_bytes())
            await self.js.publish(subject, payload, headers=headers)
            if tr.rule.for_ > 0:
                with contextlib.suppress(KeyNotFoundError):
                    await self.pending_kv.delete(pending_key(alert))
        else:
            await self.js.publish(subject, payload, headers=headers)
            with contextlib.suppress(KeyNotFoundError):
                await self.state.delete(alert.id)
        self.published.labels(tr.event).inc()
        log.info(
            "alert " + tr.event,
            extra={"alert": alert.id, "rule": alert.ruleId, "labels": alert.labels},
        )


def pending_key(alert: Alert) -> str:
    """The pending bucket's key of a series: ``<rule id>.<fingerprint>``."""
    return f"{alert.ruleId}.{alert.fingerprint or alert.id}"


def _series(tr: Transition) -> str:
    return tr.alert.fingerprint or tr.alert.id
