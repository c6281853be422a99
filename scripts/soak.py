"""`make soak`: kumowatch under a steady, large load for a while, watching for leaks and lag.

10 simulated KumoMTA nodes with 10,000 scheduled queues each, polled every second, for 10
minutes (``--minutes`` to shorten). Every service's resident memory (VmRSS) is sampled; the
growth per service compares the end of the run with the time just after warm-up (target under
10%). The warm-up is how long the alerter keeps node and provider samples (the longest rule
window, the default bounce-rate rule's 5 minutes, plus 60 s) plus 30 s: until then its state
legitimately grows. It is capped at 65% of the run (``--warmup`` to set it); the growth since the
2-minute mark is printed beside it. Evaluation lag: every 30 s a canary queue on mta1 is pushed over a rule's threshold; the
lag is the alert's decision time (``Alert.timestamp``) minus the timestamp of the first queue
snapshot that showed it over (the poller's poll time), and the end-to-end figure is the canary's
change to the webhook notification. The alerter's own evaluation-time histogram is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import secrets
import statistics
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nats  # noqa: E402
import orjson  # noqa: E402

from bench.kumostack import KumoStack, runnable  # noqa: E402
from bench.procs import rss_kib  # noqa: E402
from bench.progress import Progress  # noqa: E402
from bench.receiver import WebhookReceiver  # noqa: E402
from bench.report import Row, markdown  # noqa: E402
from bench.sim import SimProcess  # noqa: E402
from bench.stats import percentile  # noqa: E402
from kumowatch_common import subjects  # noqa: E402
from kumowatch_common.events import AlertEvent, AlertRule  # noqa: E402
from kumowatch_common.testing import NatsServer  # noqa: E402

CANARY_THRESHOLD = 40
CANARY_RATE = 50.0
CANARY_EVERY_S = 30.0
RULE_ID = "soak-canary"


@dataclass
class Canary:
    queue: str
    changed_at: float
    first_over_ms: int | None = None
    decided_ms: int | None = None
    webhook_at: float | None = None
    suspension: str = ""


@dataclass
class Soak:
    sim: SimProcess
    kumo: KumoStack
    rx: WebhookReceiver
    progress: Progress
    canaries: dict[str, Canary] = field(default_factory=dict)
    samples: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    backlog: list[float] = field(default_factory=list)

    def alerter_metrics(self) -> str | OSError:
        """The alerter's /metrics text (or why it could not be read)."""
        port = next((r.proc.port for r in self.kumo.procs if r.service == "alerter"), None)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return str(r.read().decode())
        except (OSError, ValueError) as exc:  # ValueError: no alerter port
            return OSError(str(exc))

    def sample_backlog(self) -> float | None:
        """The alerter's snapshot bytes received and not yet evaluated, all nodes together."""
        text = self.alerter_metrics()
        if isinstance(text, OSError):
            return None
        total = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("kumowatch_alerter_feed_backlog_bytes{")
        )
        self.backlog.append(total)
        return total

    def sample(self) -> None:
        now = time.monotonic()
        pids: dict[str, int | None] = {r.name: r.pid for r in self.kumo.procs if r.alive}
        if self.sim.child is not None:
            pids["simulator"] = self.sim.child.pid
        nats_proc = getattr(self.kumo.nats, "proc", None)
        if nats_proc is not None:
            pids["nats-server"] = nats_proc.pid
        for name, pid in pids.items():
            kib = rss_kib(pid) if pid else None
            if kib is not None:
                self.samples.setdefault(name, []).append((now, kib))

    async def on_queues(self, msg: Any) -> None:
        if not self.canaries:
            return
        data = orjson.loads(msg.data)
        for q in data.get("queues", ()):
            c = self.canaries.get(q.get("queueName", ""))
            if c is not None and c.first_over_ms is None and q.get("size", 0) > CANARY_THRESHOLD:
                c.first_over_ms = int(data["timestamp"])

    async def on_alert(self, msg: Any) -> None:
        ev = AlertEvent.from_bytes(msg.data)
        c = self.canaries.get(ev.alert.labels.get("queue", ""))
        if c is not None and c.decided_ms is None:
            c.decided_ms = ev.alert.timestamp

    async def canary(self) -> None:
        queue = f"soak-canary-{secrets.token_hex(4)}:acme@gmail.com"
        suspension = await self.sim.suspend("mta1", [queue], "soak canary", "60m")
        c = Canary(queue, time.time(), suspension=suspension)
        self.canaries[queue] = c
        await self.sim.set("mta1", queue_rate={queue: CANARY_RATE})
        got = await self.rx.wait_for(
            lambda d: d.rule_id == RULE_ID and d.labels.get("queue") == queue, 60.0
        )
        c.webhook_at = got[0].at if got else None
        # Over the threshold and suspended, it stays firing without growing further.
        await self.sim.set("mta1", queue_rate={queue: None})


def rule() -> AlertRule:
    return AlertRule.model_validate(
        {
            "id": RULE_ID,
            "name": "Soak canary queue",
            "severity": "info",
            "condition": {"type": "queue_depth", "operator": ">", "threshold": CANARY_THRESHOLD},
            "channels": ["webhook"],
            "scope": {"node": "mta1", "queue": "soak-canary-*"},
        }
    )


def growth(points: list[tuple[float, int]], start: float, warm: float) -> tuple[int, int, float]:
    """(baseline KiB just after warm-up, end KiB, growth ratio)."""
    base_pts = [k for t, k in points if start + warm <= t <= start + warm + 30] or [points[0][1]]
    end_pts = [k for t, k in points if t >= points[-1][0] - 30] or [points[-1][1]]
    base, end = int(statistics.median(base_pts)), int(statistics.median(end_pts))
    return base, end, (end - base) / base if base else math.nan


def evaluation_histogram(text: str | OSError) -> str:
    """p50/p99 bucket bounds of ``kumowatch_alerter_evaluation_seconds{kind="queues"}``."""
    if isinstance(text, OSError):
        return f"n/a ({text})"
    buckets: list[tuple[float, float]] = []
    for line in text.splitlines():
        if line.startswith("kumowatch_alerter_evaluation_seconds_bucket") and "queue" in line:
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((math.inf if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
    if not buckets or buckets[-1][1] == 0:
        return "n/a (no queue evaluations recorded)"
    buckets.sort()
    total = buckets[-1][1]

    def bound(q: float) -> str:
        for le, count in buckets:
            if count >= q * total:
                return f"≤ {le * 1000:g} ms" if le != math.inf else "> 2.5 s"
        return "?"

    return f"p50 {bound(0.5)}, p99 {bound(0.99)} over {total:.0f} evaluations"


async def run(args: argparse.Namespace) -> int:
    progress = Progress()
    duration = args.minutes * 60.0
    warm = args.warmup if args.warmup is not None else min(390.0, 0.65 * duration)
    services = ["poller", "alerter", "notifier"]
    if runnable("kumowatch_gateway") is None:
        services.append("gateway")
    missing = [s for s in services if runnable(f"kumowatch_{s}")]
    if missing:
        print(f"soak: services not runnable yet: {missing}", file=sys.stderr)
        return 2
    server = NatsServer().start()
    rx = await WebhookReceiver().start()
    sim = SimProcess(nodes=args.nodes, rate=50.0, tick=0.5, queues=args.queues)
    kumo: KumoStack | None = None
    try:
        progress.step(f"soak: simulator {args.nodes} nodes × {args.queues:,} queues")
        await asyncio.to_thread(sim.start)
        kumo = KumoStack(
            sim.api_url_env(),
            rx.url("/kw"),
            poll_interval=args.interval,
            nats=server,
            services=tuple(services),
            env={"JWT_SECRET": secrets.token_urlsafe(48), "LOG_LEVEL": "WARNING"},
        )
        progress.step(f"soak: starting {', '.join(services)} (poll {args.interval:g} s)")
        await kumo.start([rule()], ready_timeout=120)
        soak = Soak(sim, kumo, rx, progress)
        nc = await nats.connect(server.url)
        await nc.subscribe(subjects.snapshot("mta1", "queues"), cb=soak.on_queues)
        await nc.subscribe(subjects.alert(RULE_ID, "firing"), cb=soak.on_alert)
        start = time.monotonic()
        next_canary = start + 10.0
        next_report = start + 60.0
        tasks: list[asyncio.Task[None]] = []
        while (now := time.monotonic()) - start < duration:
            soak.sample()
            if now >= next_canary:
                tasks.append(asyncio.create_task(soak.canary()))
                next_canary += CANARY_EVERY_S
            backlog = soak.sample_backlog()
            if now >= next_report:
                rss = ", ".join(f"{k} {v[-1][1] / 1024:.0f} MiB" for k, v in soak.samples.items())
                lagging = "n/a" if backlog is None else f"{backlog / 2**20:.1f} MiB"
                progress.step(
                    f"soak: {(now - start) / 60:.0f} min: {rss}; alerter backlog {lagging}"
                )
                next_report += 60.0
            await asyncio.sleep(args.sample)
        await asyncio.gather(*tasks, return_exceptions=True)
        await nc.close()
        eval_hist = evaluation_histogram(soak.alerter_metrics())
        print(report(soak, start, warm, args, eval_hist))
    finally:
        if kumo is not None:
            kumo.stop()
        sim.stop()
        await sim.close()
        await rx.stop()
        server.cleanup()
    return 0


def report(soak: Soak, start: float, warm: float, args: argparse.Namespace, hist: str) -> str:
    rows: list[Row] = []
    for name, points in sorted(soak.samples.items()):
        base, end, g = growth(points, start, warm)
        _, _, g2 = growth(points, start, min(120.0, warm))
        verdict = (
            "" if name in ("simulator", "nats-server") else ("meets" if g < 0.10 else "misses")
        )
        rows.append(
            Row(
                f"RSS growth: {name}",
                f"after {warm:.0f} s warm-up → end",
                f"{g:+.1%} ({base / 1024:.0f} → {end / 1024:.0f} MiB)",
                "target < 10%" if verdict else "context",
                verdict,
                f"since the 2-minute mark {g2:+.1%}; peak {max(k for _, k in points) / 1024:.0f} MiB",
            )
        )
    lags = [
        (c.decided_ms - c.first_over_ms) / 1000.0
        for c in soak.canaries.values()
        if c.decided_ms is not None and c.first_over_ms is not None
    ]
    e2e = [c.webhook_at - c.changed_at for c in soak.canaries.values() if c.webhook_at]
    n = len(soak.canaries)
    rows.append(
        Row(
            "Evaluation lag: snapshot timestamp → alert decided",
            f"{n} canaries on mta1, one per {CANARY_EVERY_S:g} s",
            f"p50 {percentile(lags, 50):.2f} s / max {max(lags):.2f} s" if lags else "no data",
            f"poll interval {args.interval:g} s",
            "",
            f"alerter evaluation time {hist}",
        )
    )
    rows.append(
        Row(
            "Canary: change → webhook notification",
            f"{args.nodes} nodes × {args.queues:,} queues at {args.interval:g} s",
            f"p50 {percentile(e2e, 50):.2f} s / max {max(e2e):.2f} s ({len(e2e)}/{n} delivered)"
            if e2e
            else f"0/{n} delivered",
            "",
        )
    )
    if soak.backlog:
        rows.append(
            Row(
                "Alerter feed backlog (snapshots received, not yet evaluated)",
                f"sampled every {args.sample:g} s, all nodes",
                f"p50 {percentile(soak.backlog, 50) / 2**20:.1f} MiB / "
                f"max {max(soak.backlog) / 2**20:.1f} MiB",
                "context: what the alerter buffers while it is behind",
                "",
            )
        )
    return markdown(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--nodes", type=int, default=10)
    p.add_argument("--queues", type=int, default=10_000, help="scheduled queues per node")
    p.add_argument("--interval", type=float, default=1.0, help="poll interval (s)")
    p.add_argument("--sample", type=float, default=5.0, help="RSS sampling period (s)")
    p.add_argument("--warmup", type=float, default=None, help="seconds before the baseline")
    args = p.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run(args))
    return 130


if __name__ == "__main__":
    sys.exit(main())
