"""Connect to NATS and stay connected: reconnect forever, log and count state changes, drain on stop.

nats-py gives up on the *first* connect when the server is not there; :func:`connect` retries that
too, with capped backoff, until it succeeds or ``stop`` is set. After that the client's own
reconnect logic runs with ``max_reconnect_attempts=-1``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig
from prometheus_client import CollectorRegistry, Counter, Gauge

log = logging.getLogger(__name__)


@dataclass(slots=True)
class NatsMetrics:
    """Connection metrics, ``kumowatch_<service>_nats_*``."""

    connected: Gauge
    reconnects: Counter
    disconnects: Counter
    errors: Counter

    @classmethod
    def create(cls, service: str, registry: CollectorRegistry) -> NatsMetrics:
        p = f"kumowatch_{service}_nats"
        return cls(
            connected=Gauge(f"{p}_connected", "1 while connected to NATS", registry=registry),
            reconnects=Counter(f"{p}_reconnects_total", "reconnections", registry=registry),
            disconnects=Counter(f"{p}_disconnects_total", "disconnections", registry=registry),
            errors=Counter(f"{p}_errors_total", "asynchronous client errors", registry=registry),
        )


@dataclass(slots=True)
class NatsOptions:
    """How to reach NATS."""

    servers: list[str]
    name: str
    user: str | None = None
    password: str | None = None
    token: str | None = None
    connect_timeout: int = 2
    reconnect_wait: int = 1
    max_backoff: float = 5.0
    extra: dict[str, object] = field(default_factory=dict)


async def connect(
    opts: NatsOptions, metrics: NatsMetrics, stop: asyncio.Event | None = None
) -> Client:
    """Connect, retrying the first connect with backoff; then reconnect forever on loss."""

    async def disconnected() -> None:
        metrics.connected.set(0)
        metrics.disconnects.inc()
        log.warning("nats disconnected")

    async def reconnected() -> None:
        metrics.connected.set(1)
        metrics.reconnects.inc()
        log.info("nats reconnected", extra={"server": _server(nc)})

    async def error(exc: Exception) -> None:
        metrics.errors.inc()
        log.warning("nats error", extra={"error": str(exc) or type(exc).__name__})

    async def closed() -> None:
        metrics.connected.set(0)
        log.info("nats connection closed")

    delay = 0.25
    while True:
        nc = Client()
        try:
            await nc.connect(
                servers=opts.servers,
                name=opts.name,
                user=opts.user,
                password=opts.password,
                token=opts.token,
                connect_timeout=opts.connect_timeout,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=opts.reconnect_wait,
                disconnected_cb=disconnected,
                reconnected_cb=reconnected,
                error_cb=error,
                closed_cb=closed,
                **opts.extra,  # type: ignore[arg-type]
            )
        except Exception as exc:
            log.warning(
                "nats not reachable, retrying",
                extra={"error": str(exc) or type(exc).__name__, "retry_in": round(delay, 2)},
            )
            if stop is not None and stop.is_set():
                raise
            try:
                if stop is not None:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                    raise ConnectionAbortedError("stopped before NATS was reachable") from exc
                await asyncio.sleep(delay)
            except TimeoutError:
                pass
            delay = min(opts.max_backoff, delay * 2) * (0.8 + 0.4 * random.random())
            continue
        metrics.connected.set(1)
        log.info("nats connected", extra={"server": _server(nc)})
        return nc


def _server(nc: Client) -> str:
    uri = getattr(nc, "connected_url", None)
    return uri.netloc if uri is not None else "?"


async def close(nc: Client, timeout: float = 5.0) -> None:
    """Drain (flush pending publishes, finish subscriptions), bounded; then close."""
    if nc.is_closed:
        return
    try:
        if nc.is_connected:
            await asyncio.wait_for(nc.drain(), timeout=timeout)
    except Exception as exc:
        log.warning("nats drain incomplete", extra={"error": str(exc) or type(exc).__name__})
    finally:
        if not nc.is_closed:
            await nc.close()


def jetstream(nc: Client, timeout: float = 5.0) -> JetStreamContext:
    """The JetStream context with a bounded API timeout."""
    return nc.jetstream(timeout=timeout)


async def subscribe_ordered(
    js: JetStreamContext,
    subject: str,
    *,
    stream: str,
    cb: Callable[[Msg], Awaitable[None]],
    config: ConsumerConfig,
    idle_heartbeat: float = 5.0,
    pending_msgs_limit: int = 512 * 1024,
    pending_bytes_limit: int = 256 * 1024 * 1024,
) -> JetStreamContext.PushSubscription:
    """An ordered push consumer that keeps delivering after the client re-creates it.

    The client re-creates an ordered consumer after two missed heartbeats or a sequence gap (the
    server that held it died, the consumer was removed) from the next stream sequence. nats-py
    (2.16) then sets ``BY_START_SEQUENCE`` on the consumer request it kept but leaves any
    ``opt_start_time`` in it, and the server refuses that request (``err_code=10094``) on every
    retry: a consumer that started by time stopped for good at its first reset. The kept request
    is ``config`` itself, so once the first consumer exists the start time is dropped from it.
    """
    sub = await js.subscribe(
        subject,
        stream=stream,
        cb=cb,
        ordered_consumer=True,
        config=config,
        idle_heartbeat=idle_heartbeat,
        pending_msgs_limit=pending_msgs_limit,
        pending_bytes_limit=pending_bytes_limit,
    )
    # No await since the consumer was created: no reset can have used the request yet.
    config.opt_start_time = None
    return sub


__all__ = [
    "Client",
    "NatsMetrics",
    "NatsOptions",
    "close",
    "connect",
    "jetstream",
    "nats",
    "subscribe_ordered",
]
