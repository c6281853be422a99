"""Benchmarks of the poller's hot paths, for ``make bench``.

- :func:`parse_rate`: series/s of our ``/metrics`` parser on a KumoMTA-shaped body beside
  prometheus-client's own text parser on the same body.
- :func:`parse_publish_rate`: parse, derive every snapshot and publish them to JetStream.
- :func:`ingest_rate`: log records/s through ``POST /ingest/kumomta/v1`` with every JetStream ack,
  beside a bare nats-py JetStream publish loop of the same records.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from typing import Any, Final

import aiohttp
import nats
import orjson
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from kumowatch_common import streams, subjects
from kumowatch_common.testing import free_port
from kumowatch_poller import logrecords
from kumowatch_poller.ingest import PATH, Ingest
from kumowatch_poller.metricset import WANTED
from kumowatch_poller.promtext import parse_text
from kumowatch_poller.publisher import Outgoing, Publisher
from kumowatch_poller.snapshots import NodeSnapshots, Scrape, queue_chunks, queue_items
from kumowatch_poller.states import SuspensionIndex

_SITES: Final = (
    "(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com",
    "(mta5|mta6|mta7).am0.yahoodns.net",
    "outlook-com.olc.protection.outlook.com",
)


def metrics_body(series: int = 1_000_000) -> str:
    """A KumoMTA-shaped ``/metrics`` body of about ``series`` series (mostly per-queue ones)."""
    lines = [
        "# HELP scheduled_count number of messages in the scheduled queue",
        "# TYPE scheduled_count gauge",
        'total_messages_delivered{service="smtp_client"} 123456',
        'total_messages_fail{service="smtp_client"} 1234',
        'total_messages_transfail{service="smtp_client"} 2345',
        'total_messages_received{service="esmtp_listener"} 130000',
        "memory_usage 320516096",
        "memory_limit 1538067456",
    ]
    per = max(1, (series - 6) // 5)
    for i in range(per):
        site = _SITES[i % 3]
        service = f"smtp_client:ip-{i % 16}->{site}.{i}@smtp_client"
        lines.append(
            f'scheduled_count{{queue="camp{i % 40}:tenant{i % 9}@d{i}.example.com"}} {i % 97}'
        )
        lines.append(f'ready_count{{service="{service}"}} {i % 13}')
        lines.append(f'connection_count{{service="{service}"}} {i % 3}')
        lines.append(f'total_messages_delivered{{service="{service}"}} {i}')
        lines.append(
            f'total_messages_delivered_by_provider_and_source{{provider="p{i}", '
            f'source="ip-{i % 16}", pool="pool{i % 4}"}} {i}'
        )
    return "\n".join(lines) + "\n"


def _timed(fn: Any, *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def parse_rate(series: int = 1_000_000) -> dict[str, Any]:
    """Series/s: ours (what the poller reads), ours parsing everything, prometheus-client."""
    body = metrics_body(series)
    n = body.count("\n") - 2
    ours_s, ms = _timed(parse_text, body, WANTED)
    full_s, full = _timed(parse_text, body)
    prom_s, prom_n = _timed(
        lambda b: sum(len(f.samples) for f in text_string_to_metric_families(b)), body
    )
    assert full.series == prom_n == n, (full.series, prom_n, n)
    return {
        "series": n,
        "ours_series_per_s": round(n / ours_s),
        "ours_all_families_series_per_s": round(n / full_s),
        "prometheus_client_series_per_s": round(n / prom_s),
        "speedup": round(prom_s / ours_s, 1),
        "speedup_all_families": round(prom_s / full_s, 1),
        "wanted_series": ms.series,
    }


async def parse_publish_rate(nats_url: str, series: int = 1_000_000) -> dict[str, Any]:
    """Series/s for parse + every snapshot built + published to JetStream with acks."""
    body = metrics_body(series)
    n = body.count("\n") - 2
    nc = await nats.connect(nats_url)
    try:
        await streams.provision(nc.jetstream(), streams.Retention())
        publisher = Publisher(nc, timeout=60)
        node = f"bench-{uuid.uuid4().hex[:8]}"
        snaps = NodeSnapshots(node)
        started = time.perf_counter()
        ms = parse_text(body, WANTED)
        seq = int(time.time() * 1000)
        scrape = Scrape(ms, time.monotonic(), seq, seq)
        update = snaps.metrics(scrape)
        providers = snaps.providers(scrape)
        chunks = queue_chunks(queue_items(ms, node, seq, SuspensionIndex()), node, seq, seq)
        batch = [
            Outgoing(subjects.snapshot(node, "metrics"), update.to_bytes(), f"{node}:m:{seq}"),
            Outgoing(subjects.snapshot(node, "providers"), providers.to_bytes(), f"{node}:p:{seq}"),
        ]
        batch.extend(
            Outgoing(subjects.snapshot(node, "queues"), c, f"{node}:q:{seq}:{i}")
            for i, c in enumerate(chunks)
        )
        await publisher.publish(batch)
        took = time.perf_counter() - started
    finally:
        await nc.drain()
    return {
        "series": n,
        "series_per_s": round(n / took),
        "messages": len(batch),
        "seconds": round(took, 2),
    }


def _records(n: int) -> list[dict[str, Any]]:
    run = uuid.uuid4().hex[:16]
    base = {
        "type": "Delivery",
        "sender": "user@sender.example.com",
        "recipient": "user@recipient.example.com",
        "queue": "campaign:tenant@example.com",
        "site": "ip-1->(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com@smtp_client",
        "size": 1047,
        "response": {
            "code": 250,
            "enhanced_code": {"class": 2, "subject": 0, "detail": 0},
            "content": "OK ids=8a5475ccbbc611eda12250ebf67f93bd",
            "command": ".",
        },
        "peer_address": {"name": "gmail-smtp-in.l.google.com.", "addr": "142.251.2.27"},
        "created": 1678069691,
        "num_attempts": 0,
        "bounce_classification": "Uncategorized",
        "egress_pool": "pool0",
        "egress_source": "ip-1",
        "meta": {},
        "headers": {},
        "delivery_protocol": "ESMTP",
        "reception_protocol": "ESMTP",
        "nodeid": "557f3ad4-2c8c-11ee-976e-782d7e12e173",
    }
    return [base | {"id": f"{run}{i:016x}", "timestamp": 1678069691 + i} for i in range(n)]


async def _bare_publish(nats_url: str, records: list[dict[str, Any]], node: str) -> float:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        subject = subjects.event(node, "Delivery")
        payloads = [(orjson.dumps(r), r["id"]) for r in records]
        started = time.perf_counter()
        futures = [
            await js.publish_async(subject, data, headers={"Nats-Msg-Id": msg_id})
            for data, msg_id in payloads
        ]
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await nc.drain()


async def _publisher_publish(nats_url: str, records: list[dict[str, Any]], node: str) -> float:
    """The same records as the ingest's events, through its Publisher alone (no HTTP, no checks)."""
    nc = await nats.connect(nats_url)
    try:
        publisher = Publisher(nc, timeout=60)
        subject = subjects.event(node, "Delivery")
        batch = []
        for doc, facts in zip(records, logrecords.check(list(records)), strict=True):
            msg_id, payload = logrecords.encode(doc, facts, node, 0)
            batch.append(Outgoing(subject, payload, msg_id))
        started = time.perf_counter()
        await publisher.publish(batch)
        return time.perf_counter() - started
    finally:
        await nc.drain()


async def _send(url: str, records: int, batch: int, senders: int) -> float:
    """POST ``records`` in batches from ``senders`` connections; seconds until the last 200."""
    ours = _records(records)
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for i in range(0, records, batch):
        queue.put_nowait(orjson.dumps(ours[i : i + batch]))
    async with aiohttp.ClientSession() as http:

        async def sender() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                async with http.post(url, data=body) as resp:
                    if resp.status != 200:
                        raise RuntimeError(f"ingest answered {resp.status}: {await resp.text()}")

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        return time.perf_counter() - started


async def ingest_rate(
    nats_url: str, records: int = 50_000, batch: int = 100, senders: int = 16
) -> dict[str, Any]:
    """Records/s through the ingest endpoint (acked) beside a bare JetStream publish loop.

    The log hook's side runs in its own process, as KumoMTA does: ``senders`` connections each
    POST batches of ``batch`` records and the rate is what they see acknowledged. The bare loop
    publishes the same number of records with ``publish_async`` and awaits every ack; its faster
    of two runs is the reference. ``publisher_records_per_s`` is the ingest's Publisher alone on
    the same records as events, so ``ratio_to_publisher`` is what HTTP and checking cost.
    """
    nc = await nats.connect(nats_url)
    await streams.provision(nc.jetstream(), streams.Retention())
    ingest = Ingest(max_body=16 * 1024 * 1024)
    ingest.publisher = Publisher(nc, timeout=30)
    app = web.Application()
    ingest.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    node = f"bench-{uuid.uuid4().hex[:8]}"
    url = f"http://127.0.0.1:{port}{PATH}?node={node}"
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kumowatch_poller.bench",
            "send",
            url,
            str(records),
            str(batch),
            str(senders),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"sender failed with {proc.returncode}")
        ingest_s = float(out.decode().strip())
    finally:
        await runner.cleanup()
        await nc.drain()
    # The bare loop runs twice; the faster run is the reference.
    bare_s = min(
        await _bare_publish(nats_url, _records(records), f"{node}-bare"),
        await _bare_publish(nats_url, _records(records), f"{node}-bare"),
    )
    publisher_s = await _publisher_publish(nats_url, _records(records), f"{node}-publisher")
    ours_rate, bare_rate = records / ingest_s, records / bare_s
    return {
        "records": records,
        "batch": batch,
        "senders": senders,
        "ingest_records_per_s": round(ours_rate),
        "bare_publish_records_per_s": round(bare_rate),
        "ratio": round(ours_rate / bare_rate, 2),
        # Not the target, for reading it: publishing alone through the ingest's own Publisher,
        # which is leaner per message than nats-py's publish_async in the bare loop.
        "publisher_records_per_s": round(records / publisher_s),
        "ratio_to_publisher": round(publisher_s / ingest_s, 2),
    }


def _main(argv: list[str]) -> None:
    if len(argv) == 5 and argv[0] == "send":
        url, records, batch, senders = argv[1], int(argv[2]), int(argv[3]), int(argv[4])
        print(asyncio.run(_send(url, records, batch, senders)))
        return
    raise SystemExit("usage: python -m kumowatch_poller.bench send URL RECORDS BATCH SENDERS")


if __name__ == "__main__":
    _main(sys.argv[1:])
