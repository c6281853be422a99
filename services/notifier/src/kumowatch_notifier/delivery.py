"""The notification pipeline for one alert event: silences, throttle, channels, outcomes.

``Pipeline.handle`` returns when every routed channel has a final outcome recorded (``sent``,
``failed``, ``dead_letter``, ``silenced`` or ``suppressed``), so the consumer may ack. Each channel
retries retryable errors with backoff until ``deadline`` seconds after the event's first attempt,
then records ``dead_letter``. On shutdown, a channel waiting to retry stops; the progress is saved
and ``RetryableHandlerError`` makes the consumer nak, so another replica continues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from kumowatch_common.clock import Clock, now_ms
from kumowatch_common.events import AlertEvent, Channel
from kumowatch_notifier.channels import Sender
from kumowatch_notifier.errors import (
    ChannelError,
    ChannelNotConfiguredError,
    RetryableHandlerError,
)
from kumowatch_notifier.ledger import Ledger, Progress
from kumowatch_notifier.metrics import Metrics
from kumowatch_notifier.notification import Notification, ThrottleNote
from kumowatch_notifier.outcomes import Recorder
from kumowatch_notifier.retry import Backoff, next_wait
from kumowatch_notifier.silences import SilenceIndex
from kumowatch_notifier.targets import Defaults, resolve, routed_channels
from kumowatch_notifier.throttle import Throttler

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Policy:
    """Delivery limits from the settings."""

    deadline: float
    backoff: Backoff
    resolved_channels: frozenset[Channel]


class Interrupted(Exception):
    """Shutdown began while a channel waited to retry."""


class Pipeline:
    """Turns alert events into channel deliveries and outcome records."""

    def __init__(
        self,
        *,
        senders: Mapping[Channel, Sender],
        defaults: Defaults,
        recorder: Recorder,
        throttler: Throttler,
        silences: SilenceIndex,
        ledger: Ledger,
        policy: Policy,
        clock: Clock,
        metrics: Metrics,
        stop: asyncio.Event,
    ) -> None:
        self.senders = senders
        self.defaults = defaults
        self.recorder = recorder
        self.throttler = throttler
        self.silences = silences
        self.ledger = ledger
        self.policy = policy
        self.clock = clock
        self.metrics = metrics
        self.stop = stop

    def channels_for(self, n: Notification) -> list[Channel]:
        channels = routed_channels(n.rule)
        if n.kind == "resolved":
            channels = [c for c in channels if c in self.policy.resolved_channels]
        return channels

    async def handle(self, event: AlertEvent, redelivered: bool = False) -> None:
        """Notify for one alert event (firing or resolved; others are ignored)."""
        if event.event not in ("firing", "resolved"):
            return
        n = Notification(event, "firing" if event.event == "firing" else "resolved")
        channels = self.channels_for(n)
        if not channels:
            return
        progress = await self.ledger.load(n.event_key) if redelivered else None
        if progress is None:
            progress = Progress(firstAttemptAt=now_ms(self.clock))
        if not progress.admitted:
            admitted = await self._admit(n, channels, progress)
            if admitted is None:
                return
            n = admitted
        elif progress.noteSuppressed:
            n = replace(n, note=ThrottleNote(progress.noteSuppressed, progress.noteSince))
        await self.deliver(n, channels, progress)

    async def _admit(
        self, n: Notification, channels: list[Channel], progress: Progress
    ) -> Notification | None:
        muted_by = self.silences.muting(n.event)
        if muted_by:
            for ch in channels:
                await self.recorder.record(
                    n, ch, "silenced", error=f"silenced by {', '.join(muted_by)}"
                )
            return None
        decision = await self.throttler.admit(n)
        if not decision.allowed:
            for ch in channels:
                await self.recorder.record(
                    n, ch, "suppressed", error="throttled", suppressed=decision.suppressed
                )
            return None
        progress.admitted = True
        if decision.note is not None:
            progress.noteSuppressed = decision.note.suppressed
            progress.noteSince = decision.note.since_ms
            return replace(n, note=decision.note)
        return n

    async def deliver(self, n: Notification, channels: list[Channel], progress: Progress) -> None:
        """Every channel to a final outcome; raises ``Interrupted`` if stopped mid-retry."""
        todo = [c for c in channels if c not in progress.done]
        results = await asyncio.gather(
            *(self._channel(n, ch, progress) for ch in todo), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await self.ledger.save(n.event_key, progress)
            if any(isinstance(e, Interrupted) for e in errors):
                # Delay past our last pull request's expiry (1 s), or JetStream could hand the
                # event straight back to this stopping replica.
                raise RetryableHandlerError("stopping during retries", delay=1.5)
            raise errors[0]
        if any(a > 1 for a in progress.attempts.values()):
            await self.ledger.forget(n.event_key)

    async def _channel(self, n: Notification, ch: Channel, progress: Progress) -> None:
        target = resolve(n.rule, ch, self.defaults)
        attempt = progress.attempts.get(ch, 0)
        if target is None:
            err = ChannelNotConfiguredError(ch)
            await self.recorder.record(
                n, ch, "failed", attempt + 1, error=err.message, retryable=False
            )
            progress.done[ch] = "failed"
            return
        sender = self.senders[ch]
        deadline = progress.firstAttemptAt / 1000 + self.policy.deadline
        while True:
            attempt += 1
            progress.attempts[ch] = attempt
            t0 = self.clock.monotonic()
            try:
                status = await sender.send(n, target)
            except ChannelError as exc:
                took = self.clock.monotonic() - t0
                self.metrics.attempt_seconds.labels(ch).observe(took)
                if not exc.retryable:
                    await self._final(
                        n, ch, "failed", attempt, target.redacted, exc, took, progress
                    )
                    return
                wait = next_wait(
                    self.policy.backoff, attempt, exc.retry_after, self.clock.now(), deadline
                )
                if wait is None:
                    await self._final(
                        n, ch, "dead_letter", attempt, target.redacted, exc, took, progress
                    )
                    log.error(
                        "notification dead-lettered",
                        extra={
                            "key": n.idempotency_key(ch),
                            "attempts": attempt,
                            "error": exc.message,
                        },
                    )
                    return
                await self.recorder.record(
                    n,
                    ch,
                    "retry",
                    attempt,
                    target=target.redacted,
                    status_code=exc.status_code,
                    error=exc.message,
                    retryable=True,
                    duration_ms=took * 1000,
                    required=False,
                )
                if attempt == 1:
                    await self.ledger.save(n.event_key, progress)
                if await _stopped_within(self.stop, wait):
                    raise Interrupted(n.idempotency_key(ch)) from None
                continue
            took = self.clock.monotonic() - t0
            self.metrics.attempt_seconds.labels(ch).observe(took)
            await self.recorder.record(
                n,
                ch,
                "sent",
                attempt,
                target=target.redacted,
                status_code=status,
                duration_ms=took * 1000,
            )
            progress.done[ch] = "sent"
            return

    async def _final(
        self,
        n: Notification,
        ch: Channel,
        outcome: Literal["failed", "dead_letter"],
        attempt: int,
        target: str,
        exc: ChannelError,
        took: float,
        progress: Progress,
    ) -> None:
        await self.recorder.record(
            n,
            ch,
            outcome,
            attempt,
            target=target,
            status_code=exc.status_code,
            error=exc.message,
            retryable=exc.retryable,
            duration_ms=took * 1000,
        )
        progress.done[ch] = outcome

    async def summary(self, n: Notification) -> None:
        """Deliver a claimed throttle summary, then release the claim."""
        channels = routed_channels(n.rule)
        progress = Progress(firstAttemptAt=now_ms(self.clock), admitted=True)
        with contextlib.suppress(RetryableHandlerError):
            await self.deliver(n, channels, progress)
            await self.throttler.finish(n)


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first (True then)."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True
