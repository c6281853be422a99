"""Benchmarks of the gateway (``make bench`` calls these; each returns a dict of figures).

- :func:`ws_fanout`: WebSocket fan-out latency from NATS publish to client receive, for N clients
  subscribed to ``metrics:update`` at a given message rate, and memory per idle connection. The
  gateway runs as its own process (as in production); clients and publisher share this one.
- :func:`alerts_list_p99`: ``GET /api/alerts`` latency with N stored alerts.

Figures are wall-clock on whatever machine runs them; nothing here asserts a threshold.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import itertools
import multiprocessing
import random
import resource
import secrets
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import aiohttp
import nats
import orjson
from aiohttp import web

from kumowatch_common.clock import now_ms
from kumowatch_common.events import (
    Acknowledgement,
    Alert,
    KumoLogEvent,
    KumoLogRecord,
    MessageStatus,
)
from kumowatch_common.testing import NatsServer, ServiceProcess, free_port
from kumowatch_gateway.app import create_app
from kumowatch_gateway.auth import mint
from kumowatch_gateway.config import Settings
from kumowatch_gateway.readmodel import ReadModel

BENCH_NODE = "bench"


def _percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}
    qs = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "p50_ms": round(qs[49] * 1000, 2),
        "p95_ms": round(qs[94] * 1000, 2),
        "p99_ms": round(qs[98] * 1000, 2),
        "max_ms": round(max(samples) * 1000, 2),
    }


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))


@contextlib.asynccontextmanager
async def _gateway(nats_url: str | None, secret: str) -> AsyncIterator[tuple[str, int, str]]:
    server = NatsServer(name="kw-bench").start() if nats_url is None else None
    url = nats_url or (server.url if server else "")
    port = free_port()
    proc = ServiceProcess(
        "kumowatch_gateway",
        {
            "PORT": str(port),
            "NATS_URL": url,
            "JWT_SECRET": secret,
            "LOG_LEVEL": "WARNING",
            "WS_BUFFER_SIZE": "4096",
        },
        port=port,
    ).start()
    try:
        await asyncio.to_thread(proc.wait_ready, 60)
        assert proc.proc is not None
        yield f"http://127.0.0.1:{port}", proc.proc.pid, url
    finally:
        proc.stop()
        if server is not None:
            server.cleanup()


async def ws_fanout(
    clients: int = 1000,
    rate: float = 10,
    seconds: float = 10,
    *,
    nats_url: str | None = None,
    warmup: float = 1.0,
    workers: int = 2,
) -> dict[str, Any]:
    """Latency NATS publish → client receive for ``clients`` sockets at ``rate`` messages/s.

    Each message is a log event (``message:status``, never coalesced) carrying its publish time;
    clients run in ``workers`` processes so that client-side parsing does not queue behind one
    interpreter. Returns p50/p95/p99/max in ms, delivered/expected frame counts, and the
    gateway's resident memory per idle authenticated connection (RSS delta / clients).
    """
    _raise_fd_limit(clients * 2 + 256)
    secret = secrets.token_urlsafe(48)
    token = mint(secret, sub="bench", roles=[], ttl_seconds=3600)
    total = int(rate * (seconds + warmup))
    measure_after = time.time() + 3600.0  # replaced once the warm-up starts
    ctx = multiprocessing.get_context("spawn")
    async with _gateway(nats_url, secret) as (base, pid, url):
        gc.collect()
        rss_before = _rss_bytes(pid)
        ready, results = ctx.Queue(), ctx.Queue()
        stop = ctx.Event()
        shares = [clients // workers + (1 if i < clients % workers else 0) for i in range(workers)]
        procs = [
            ctx.Process(
                target=_client_worker,
                args=(base, token, n, total, ready, results, stop),
                daemon=True,
            )
            for n in shares
            if n
        ]
        for proc in procs:
            proc.start()
        for _ in procs:
            await asyncio.to_thread(ready.get, True, 300)
        await asyncio.sleep(1.0)
        rss_idle = _rss_bytes(pid)
        nc = await nats.connect(url)
        subject = f"kumomta.v1.{BENCH_NODE}.events.Delivery"
        started = time.perf_counter()
        measure_after = time.time() + warmup
        for seq in range(total):
            delay = started + seq / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await nc.publish(subject, _log_event(seq).to_bytes())
        await nc.flush()
        await nc.close()
        outcomes = [await asyncio.to_thread(results.get, True, 120) for _ in procs]
        stop.set()
        for proc in procs:
            await asyncio.to_thread(proc.join, 10)
    latencies = [lat for sent, lat in itertools.chain.from_iterable(o[1] for o in outcomes)
                 if sent >= measure_after]  # fmt: skip
    return {
        "clients": clients,
        "rate_per_s": rate,
        "seconds": seconds,
        **_percentiles(latencies),
        "frames_expected": total * clients,
        "frames_received": sum(o[0] for o in outcomes),
        "memory_per_idle_connection_kib": round(
            (rss_idle - rss_before) / max(1, clients) / 1024, 1
        ),
    }


def _log_event(seq: int) -> KumoLogEvent:
    sent = repr(time.time())
    record = KumoLogRecord(type="Delivery", id=f"m{seq}", queue="bench.example", timestamp=seq)
    status = MessageStatus(
        messageId=f"m{seq}", status="delivered", queue="bench.example", timestamp=now_ms(),
        details=sent,
    )  # fmt: skip
    return KumoLogEvent(
        node=BENCH_NODE, receivedAt=now_ms(), record=record, status=status, dedupId=f"b{seq}"
    )


def _client_worker(
    base: str, token: str, clients: int, total: int, ready: Any, results: Any, stop: Any
) -> None:
    """One client process: connect, report ready, collect (sent, latency) until all arrived.

    The clients are :class:`_LightClient` protocols (frames parsed in ``data_received``, no task
    per socket), so that 1,000 sockets in two processes measure the gateway's fan-out rather
    than the client library's per-frame cost.
    """
    _raise_fd_limit(clients + 256)

    async def main() -> tuple[int, list[tuple[float, float]]]:
        samples: list[tuple[float, float]] = []
        done = asyncio.Event()
        expected = total * clients
        counter = [0]

        def on_event(payload: bytes) -> None:
            now = time.time()
            if not payload.startswith(b'{"event":"message:status"'):
                return
            sent = float(orjson.loads(payload)["data"]["details"])
            samples.append((sent, now - sent))
            counter[0] += 1
            if counter[0] >= expected:
                done.set()

        loop = asyncio.get_running_loop()
        host, port = base.removeprefix("http://").split(":")
        sem = asyncio.Semaphore(64)

        async def one() -> _LightClient:
            async with sem:
                proto = _LightClient(f"{host}:{port}", token, on_event)
                await loop.create_connection(lambda: proto, host, int(port))
                await asyncio.wait_for(proto.subscribed, 30)
                return proto

        protos = await asyncio.gather(*(one() for _ in range(clients)))
        ready.put(len(protos))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 60 + total)
        for proto in protos:
            proto.close()
        return counter[0], samples

    results.put(asyncio.run(main()))
    stop.wait(30)


class _LightClient(asyncio.Protocol):
    """A minimal RFC 6455 client: handshake with a Bearer header, masked frames out, unmasked
    frames in. It subscribes to messages for the bench node and waits for the pong."""

    _SUB: Final = orjson.dumps({"event": "subscribe:messages", "data": {"node": BENCH_NODE}})

    def __init__(self, hostport: str, token: str, on_event: Any) -> None:
        self.hostport = hostport
        self.token = token
        self.on_event = on_event
        self.buf = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        transport.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: {self.hostport}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {self.token}\r\n\r\n"
            ).encode()
        )

    def send(self, payload: bytes, opcode: int = 1) -> None:
        mask = secrets.token_bytes(4)
        n = len(payload)
        head = (
            bytes((0x80 | opcode, 0x80 | n))
            if n < 126
            else bytes((0x80 | opcode, 0xFE)) + n.to_bytes(2, "big")
        )
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self.transport is not None
        self.transport.write(head + mask + masked)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                raise ConnectionError(bytes(buf[:80]).decode(errors="replace"))
            del buf[: end + 4]
            self.upgraded = True
            self.send(self._SUB)
            self.send(b'{"event":"ping"}')
        while len(buf) >= 2:
            n = buf[1] & 0x7F
            head = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, head = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, head = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < head + n:
                return
            opcode = buf[0] & 0x0F
            payload = bytes(buf[head : head + n])
            del buf[: head + n]
            if opcode == 1:
                if not self.subscribed.done() and payload.startswith(b'{"event":"pong"'):
                    self.subscribed.set_result(None)
                self.on_event(payload)
            elif opcode == 9:
                self.send(payload, opcode=10)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


async def alerts_list_p99(alerts: int = 100_000, requests: int = 500) -> dict[str, Any]:
    """``GET /api/alerts`` latency (limit 50, mixed filters) with ``alerts`` alerts in memory."""
    secret = secrets.token_urlsafe(48)
    model = ReadModel(alert_limit=alerts)
    rnd = random.Random(7)
    base = now_ms() - alerts * 1000
    build_started = time.perf_counter()
    for i in range(alerts):
        ts = base + i * 1000
        a = Alert(
            id=f"alert-{i:07d}", ruleId=f"rule-{i % 20}", ruleName="Critical Queue Depth",
            severity=rnd.choice(("info", "warning", "error", "critical")),
            message="Queue depth (12000) exceeded threshold (10000)", value=12000,
            threshold=10000, timestamp=ts, startsAt=ts,
            status="resolved" if rnd.random() < 0.9 else "firing",
            labels={"node": f"mta{i % 8}"},
        )  # fmt: skip
        model.alerts.upsert(a)
        if rnd.random() < 0.5:
            model.alerts.set_ack(Acknowledgement(alertId=a.id, by="bench", at=ts + 10))
    build_s = time.perf_counter() - build_started
    settings = Settings(jwt_secret=secret)
    app = create_app(settings, model=model)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    headers = {"Authorization": f"Bearer {mint(secret, sub='b', roles=[], ttl_seconds=3600)}"}
    queries = [
        "limit=50",
        "acknowledged=false&limit=50",
        "acknowledged=true&limit=50&offset=1000",
        "status=firing&limit=50",
        "ruleId=rule-3&severity=critical&limit=50",
    ]
    samples: list[float] = []
    try:
        async with aiohttp.ClientSession() as http:
            for i in range(requests + 20):
                url = f"http://127.0.0.1:{port}/api/alerts?{queries[i % len(queries)]}"
                t0 = time.perf_counter()
                async with http.get(url, headers=headers) as r:
                    await r.read()
                    assert r.status == 200
                if i >= 20:
                    samples.append(time.perf_counter() - t0)
    finally:
        await runner.cleanup()
    return {
        "alerts": alerts,
        "requests": requests,
        **_percentiles(samples),
        "index_build_s": round(build_s, 2),
    }


def main() -> None:
    """``python -m kumowatch_gateway.bench``: run every benchmark and print JSON lines."""
    for result in (
        asyncio.run(ws_fanout(1000, 10, 10)),
        asyncio.run(ws_fanout(5000, 2, 10)),
        asyncio.run(alerts_list_p99(100_000)),
    ):
        print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
