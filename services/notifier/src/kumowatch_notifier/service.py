"""The notifier service: wiring of consumer, pipeline, watches, summaries and test responder."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from kumowatch_common import health, lifecycle, streams
from kumowatch_common.clock import Clock, SystemClock
from kumowatch_common.events import Channel
from kumowatch_notifier.channels import EmailSender, Sender, SlackSender, WebhookSender
from kumowatch_notifier.config import Settings
from kumowatch_notifier.consumer import Consumer
from kumowatch_notifier.delivery import Pipeline, Policy
from kumowatch_notifier.ledger import Ledger
from kumowatch_notifier.metrics import Metrics
from kumowatch_notifier.outcomes import Recorder
from kumowatch_notifier.retry import Backoff
from kumowatch_notifier.silences import SilenceIndex
from kumowatch_notifier.targets import Defaults
from kumowatch_notifier.testnotify import TestResponder
from kumowatch_notifier.throttle import Throttler

log = logging.getLogger(__name__)


def senders(
    settings: Settings, session: aiohttp.ClientSession, clock: Clock
) -> dict[Channel, Sender]:
    """The three channel senders."""
    timeout = settings.notify_timeout_seconds
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    return {
        "email": EmailSender.from_settings(settings),
        "slack": SlackSender(session, clock, timeout),
        "webhook": WebhookSender(session, clock, timeout, secret),
    }


async def serve(settings: Settings, stop: asyncio.Event, *, clock: Clock | None = None) -> None:
    """Run one notifier replica until ``stop`` is set."""
    clock = clock or SystemClock()
    started = asyncio.Event()
    app = web.Application(middlewares=[_not_ready_until(started)])
    async with contextlib.AsyncExitStack() as stack:
        rt = await stack.enter_async_context(
            lifecycle.runtime("notifier", settings, settings.notifier_port, stop, app=app)
        )
        metrics = Metrics.create(rt.registry)
        defaults = Defaults.from_settings(settings)
        _report_channels(rt.readiness, defaults)
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=100)
        session = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))
        chans = senders(settings, session, clock)
        kv_throttle = rt.bucket(streams.BUCKET_THROTTLE)
        silences = SilenceIndex(rt.bucket(streams.BUCKET_SILENCES), clock, metrics)
        throttler = Throttler(
            kv_throttle,
            clock,
            rt.instance,
            metrics,
            claim_timeout=settings.notify_deadline_seconds + 2 * settings.notify_timeout_seconds,
        )
        pipeline = Pipeline(
            senders=chans,
            defaults=defaults,
            recorder=Recorder(rt.js, clock, metrics),
            throttler=throttler,
            silences=silences,
            ledger=Ledger(kv_throttle),
            policy=Policy(
                deadline=settings.notify_deadline_seconds,
                backoff=Backoff(
                    settings.notify_retry_base_seconds, settings.notify_retry_max_seconds
                ),
                resolved_channels=settings.resolved_channels,
            ),
            clock=clock,
            metrics=metrics,
            stop=stop,
        )
        consumer = Consumer(
            rt.js,
            pipeline.handle,
            name=settings.notify_consumer,
            ack_wait=settings.notify_ack_wait_seconds,
            concurrency=settings.notify_concurrency,
            lookback=settings.notify_start_lookback_seconds,
            clock=clock,
            metrics=metrics,
        )
        rt.readiness.add(
            "silences", lambda: (silences.ready, None if silences.ready else "loading")
        )
        rt.readiness.add(
            "consumer", lambda: (consumer.bound, None if consumer.bound else "binding")
        )
        responder = TestResponder(rt.nc, chans, defaults)
        await responder.start()
        stack.push_async_callback(responder.stop)
        started.set()
        rt.mark_started()
        log.info("notifier started", extra={"instance": rt.instance, "consumer": consumer.name})
        async with asyncio.TaskGroup() as tg:
            tg.create_task(silences.run(stop), name="silences")
            tg.create_task(throttler.watch(stop), name="throttle-watch")
            tg.create_task(_summaries(pipeline, throttler, settings, stop), name="summaries")
            tg.create_task(consumer.run(stop), name="consumer")


def _not_ready_until(started: asyncio.Event) -> Middleware:
    """``/readyz`` is 503 until this service has registered its own checks.

    The runtime answers ``/readyz`` as soon as NATS is connected, before the checks below exist.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/readyz" and not started.is_set():
            body = {
                "status": "not ready",
                "checks": {"notifier": {"ok": False, "detail": "starting"}},
            }
            return web.json_response(body, status=503)
        return await handler(request)

    return middleware


def _report_channels(readiness: health.Readiness, defaults: Defaults) -> None:
    missing = defaults.unconfigured()
    for why in missing:
        log.warning("channel not configured", extra={"detail": why})
    detail = "; ".join(missing) if missing else None
    readiness.add("channels", lambda: (True, detail))


async def _summaries(
    pipeline: Pipeline, throttler: Throttler, settings: Settings, stop: asyncio.Event
) -> None:
    """Claim and send throttle summaries of closed windows."""
    tasks: set[asyncio.Task[None]] = set()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.notify_summary_interval_seconds)
        if stop.is_set():
            break
        for n in await throttler.claim_due():
            log.info(
                "sending throttle summary",
                extra={"rule": n.rule.id, "suppressed": n.note.suppressed if n.note else 0},
            )
            task = asyncio.create_task(pipeline.summary(n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
