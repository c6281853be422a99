"""Connect to NATS and stay connected: reconnect forever, log and count state changes, drain on stop.

nats-py gives up on the *first* connect when the server is not there; :func:`connect` retries that
too, with capped backoff, until it succeeds or ``stop`` is set. After that the client's own
reconnect logic runs with ``max_reconnect_attempts=-1``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
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


__all__ = ["Client", "NatsMetrics", "NatsOptions", "close", "connect", "jetstream", "nats"]
