"""`make bench` / `make bench-quick`: kumowatch against Prometheus + Alertmanager, and the rows of
every service's own benchmark module. Prints one markdown table and writes docs/benchmarks.md.

Detection runs two phases at once on one simulator: ``equal`` (kumowatch polls every 1 s;
Prometheus scrapes and evaluates every 1 s, Alertmanager group_wait 0, group_interval 1 s) on
nodes mta1/mta2 and ``defaults`` (kumowatch's 5 s poll; Prometheus 1 m scrape and evaluation,
Alertmanager group_wait 30 s) on mta3/mta4, each with its own NATS server and Prometheus.
``--quick`` is the CI-sized run (3 trials at equal intervals, 1 at defaults, smaller rows).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import shlex
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import kumostack, promstack, report  # noqa: E402
from bench.detection import (  # noqa: E402
    Phase,
    ScenarioResult,
    event_rule,
    result_row,
    run_event_driven,
    run_scenario,
)
from bench.faults import latest_results  # noqa: E402
from bench.kumostack import KumoStack, runnable  # noqa: E402
from bench.progress import Progress  # noqa: E402
from bench.promstack import PromStack, PromTimers  # noqa: E402
from bench.receiver import WebhookReceiver  # noqa: E402
from bench.report import Row  # noqa: E402
from bench.rows import Context  # noqa: E402
from bench.scenarios import BounceSpike, QueueOverThreshold, Scenario  # noqa: E402
from bench.servicerows import all_rows  # noqa: E402
from bench.sim import SimProcess  # noqa: E402
from bench.stats import mib, percentile, seconds  # noqa: E402
from kumowatch_common.testing import NatsServer  # noqa: E402

EVENT_PROVIDER = "eventbench"
EVENT_COUNT = 5
EVENT_WINDOW_S = 5.0
# A drained queue leaves the snapshot; the alerter resolves it after this grace (default 60 s).
# Shortened so trials follow each other sooner; it does not change when an alert fires.
SERIES_GRACE_S = 5


@dataclass
class Options:
    quick: bool
    trials: int
    default_trials: int
    skip_defaults: bool
    skip_rows: bool
    output: Path
    command: str


@dataclass
class PhasePlan:
    phase: Phase
    scenarios: list[Scenario]
    trials: int
    results: list[ScenarioResult] = field(default_factory=list)


def parse_args(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="CI-sized run (< 5 minutes)")
    p.add_argument("--trials", type=int, default=None, help="trials per row at equal intervals")
    p.add_argument("--default-trials", type=int, default=None, help="trials per defaults row")
    p.add_argument("--skip-defaults", action="store_true", help="no defaults phase")
    p.add_argument("--skip-rows", action="store_true", help="no service bench-module rows")
    p.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    a = p.parse_args(argv)
    trials = a.trials if a.trials is not None else (3 if a.quick else 10)
    default_trials = a.default_trials if a.default_trials is not None else (1 if a.quick else 10)
    command = "python scripts/bench.py" + ("".join(f" {shlex.quote(x)}" for x in argv))
    return Options(a.quick, trials, default_trials, a.skip_defaults, a.skip_rows, a.output, command)


def kumowatch_unavailable() -> str | None:
    missing = [f"{svc}: {why}" for svc, why in kumostack.available().items() if why]
    return "; ".join(missing) if missing else None


async def start_phase(
    name: str,
    label: str,
    nodes: list[str],
    sim: SimProcess,
    rx: WebhookReceiver,
    timers: PromTimers,
    poll: float,
    scenarios: list[Scenario],
    timeout: float,
    warmup: float,
    progress: Progress,
    kumo_reason: str | None,
) -> tuple[Phase, str | None]:
    targets = {n: sim.url(n).removeprefix("http://") for n in nodes}
    prom = PromStack(targets, rx.url(f"/am/{name}"), timers)
    for sc in scenarios:
        prom.add_rule(sc.prom_rule())
    progress.step(f"{name}: starting Prometheus + Alertmanager ({', '.join(nodes)})")
    await asyncio.to_thread(prom.start)
    kumo: KumoStack | None = None
    if kumo_reason is None:
        api = ",".join(f"{n}={sim.url(n)}" for n in nodes)
        # The gateway runs too (no client attached) so every service has a peak-memory row.
        with_gateway = runnable("kumowatch_gateway") is None
        kumo = KumoStack(
            api,
            rx.url(f"/kw/{name}"),
            poll_interval=poll,
            services=("poller", "alerter", "notifier", *(("gateway",) if with_gateway else ())),
            env={"JWT_SECRET": secrets.token_urlsafe(48)},
            service_env={"alerter": {"ALERTER_SERIES_GRACE_SECONDS": str(SERIES_GRACE_S)}},
        )
        rules = [sc.kumowatch_rule(rule_id_for(name, sc)) for sc in scenarios]
        if name == "equal":
            rules.append(
                event_rule(f"bench-{name}-event", EVENT_PROVIDER, EVENT_COUNT, EVENT_WINDOW_S)
            )
        progress.step(f"{name}: starting kumowatch (poll {poll:g} s)")
        try:
            await kumo.start(rules)
        except Exception as exc:
            kumo_reason = f"could not start: {exc}".splitlines()[0]
            progress.step(f"{name}: kumowatch {kumo_reason}")
            kumo.stop()
            kumo = None
    phase = Phase(name, label, kumo, prom, timeout, warmup)
    return phase, kumo_reason


def rule_id_for(phase_name: str, sc: Scenario) -> str:
    return f"bench-{phase_name}-{sc.key}"


async def run_plan(
    plan: PhasePlan, sim: SimProcess, rx: WebhookReceiver, progress: Progress
) -> None:
    plan.results = list(
        await asyncio.gather(
            *(run_scenario(plan.phase, sc, sim, rx, plan.trials, progress) for sc in plan.scenarios)
        )
    )


def fault_rows() -> list[Row]:
    """The fault suite's latest summaries (``make test-faults`` writes them), if any."""
    import datetime as dt

    rows = []
    for name, rec in sorted(latest_results().items()):
        when = dt.datetime.fromtimestamp(float(rec.get("at", 0)), dt.UTC).strftime("%Y-%m-%d")
        ok = rec.get("expected") == rec.get("delivered") and not rec.get("duplicates")
        rec_s = rec.get("recovery_s")
        rows.append(
            Row(
                f"Fault: {name}",
                f"fault suite run of {when}",
                f"alerts expected {rec.get('expected')} = delivered {rec.get('delivered')}, "
                f"{rec.get('duplicates')} duplicates",
                "no loss, no duplicate by idempotency key",
                "meets" if ok else "misses",
                "recovery " + (seconds(float(rec_s)) if rec_s is not None else "n/a"),
            )
        )
    return rows


def memory_rows(samples: dict[str, tuple[str, int | None]]) -> list[Row]:
    rows = []
    for name, (setting, kib) in samples.items():
        rows.append(Row(f"Peak memory (VmHWM): {name}", setting, mib(kib), "", "", ""))
    return rows


def peak_memory(plan: PhasePlan) -> dict[str, tuple[str, int | None]]:
    out: dict[str, tuple[str, int | None]] = {}
    label = f"detection, {plan.phase.name} phase"
    if plan.phase.kumo is not None:
        for name, kib in plan.phase.kumo.peak_rss().items():
            out[f"kumowatch {name.rsplit('-', 1)[0]} ({plan.phase.name})"] = (label, kib)
    if plan.phase.prom is not None:
        for name, kib in plan.phase.prom.peak_rss().items():
            out[f"peer {name} ({plan.phase.name})"] = (label, kib)
    return out


async def detection(
    opts: Options,
    progress: Progress,
    during_warmup: Callable[[], Awaitable[list[Row]]] | None = None,
) -> tuple[list[Row], list[str], list[Row]]:
    """Detection rows and notes; plus the rows ``during_warmup`` produced, if given."""
    rows: list[Row] = []
    rows_out: list[Row] = []
    notes: list[str] = []
    kumo_reason = kumowatch_unavailable()
    if kumo_reason:
        progress.step(f"kumowatch side not available: {kumo_reason}")
    promstack.ensure_installed(progress.step)
    rx = await WebhookReceiver().start()
    sim = SimProcess(nodes=4, rate=50.0, tick=0.2)
    plans: list[PhasePlan] = []
    event: list[float | None] = []
    memory: dict[str, tuple[str, int | None]] = {}
    reasons: dict[str, str | None] = {}
    background: asyncio.Task[None] | None = None
    try:
        progress.step("starting the KumoMTA simulator (4 nodes)")
        await asyncio.to_thread(sim.start)
        memory_sim = sim.child
        if not opts.skip_defaults:
            df_label = (
                "defaults: kumowatch 5 s poll; Prometheus scrape/eval 1 m, "
                "Alertmanager group_wait 30 s, group_interval 5 m"
            )
            df_scen: list[Scenario] = [
                BounceSpike("mta3", window=120.0),
                QueueOverThreshold("mta4"),
            ]
            phase, reasons["defaults"] = await start_phase(
                "defaults",
                df_label,
                ["mta3", "mta4"],
                sim,
                rx,
                PromTimers.defaults(),
                5.0,
                df_scen,
                300.0,
                125.0,
                progress,
                kumo_reason,
            )
            plans.append(PhasePlan(phase, df_scen, opts.default_trials))
            background = asyncio.create_task(run_plan(plans[-1], sim, rx, progress))
        if during_warmup is not None:
            # Quick mode: the CPU-heavy rows overlap only the defaults phase's 2-minute warm-up
            # (baseline traffic being collected), never a trial.
            rows_out.extend(await during_warmup())
        eq_label = "equal: poll = scrape = eval = 1 s; group_wait 0, group_interval 1 s"
        eq_scen: list[Scenario] = [BounceSpike("mta1", window=20.0), QueueOverThreshold("mta2")]
        phase, reasons["equal"] = await start_phase(
            "equal",
            eq_label,
            ["mta1", "mta2"],
            sim,
            rx,
            PromTimers.equal(),
            1.0,
            eq_scen,
            60.0,
            3.0,
            progress,
            kumo_reason,
        )
        equal = PhasePlan(phase, eq_scen, opts.trials)
        plans.insert(0, equal)
        await run_plan(equal, sim, rx, progress)
        if equal.phase.kumo is not None:
            poller = equal.phase.kumo.replicas_of("poller")[0]
            url = f"http://127.0.0.1:{poller.proc.port}/ingest/kumomta/v1?node=mta1"
            event.extend(
                await run_event_driven(
                    url,
                    rx,
                    "bench-equal-event",
                    EVENT_PROVIDER,
                    EVENT_COUNT,
                    EVENT_WINDOW_S,
                    opts.trials,
                    progress,
                )
            )
        if background is not None:
            await background
        for plan in plans:
            memory.update(peak_memory(plan))
        if memory_sim is not None:
            memory["simulator (4 nodes, test tool)"] = ("detection", memory_sim.peak_rss_kib())
    finally:
        if background is not None and not background.done():
            background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await background
        for plan in plans:
            if plan.phase.kumo is not None:
                plan.phase.kumo.stop()
            if plan.phase.prom is not None:
                plan.phase.prom.stop()
        sim.stop()
        await sim.close()
        await rx.stop()
    for plan in plans:
        for res in plan.results:
            rows.append(result_row(res, reasons.get(plan.phase.name)))
    got = [e for e in event if e is not None]
    if reasons.get("equal"):
        ev_text = f"not available: {reasons['equal']}"
    elif got:
        ev_text = f"p50 {seconds(percentile(got, 50))} / p99 {seconds(percentile(got, 99))}"
    else:
        ev_text = "no notification"
    rows.append(
        Row(
            f"Event-driven detection: {EVENT_COUNT} Bounce records by log hook → notification",
            f"event_count rule ≥ {EVENT_COUNT} in {EVENT_WINDOW_S:g} s; POST to the poller's ingest",
            ev_text,
            "Prometheus: no log ingestion (pull only); target: within 1 s of the deciding record",
            "meets" if got and percentile(got, 99) < 1.0 else ("misses" if got else ""),
            f"theoretical crossing 0 s (all records in one POST); {len(event)} trials",
        )
    )
    rows += memory_rows(memory)
    notes += [
        "Detection latency: from the change on the simulator (`/_sim/set`, or an admin suspension "
        "through `/api/admin/suspend/v1` plus traffic into that queue) to the notification "
        "arriving at a local aiohttp webhook receiver. Both products watch the same nodes at "
        "once, so every trial is measured by both from the same instant.",
        "Theoretical crossing: when the windowed value first passes the threshold, computed from "
        "the rates set (bounce: W·(θ−r0)/(r1−r0); queue: N/q). What a product takes above it is "
        "its detection overhead.",
        "Prometheus rules: `100 * increase(total_messages_fail_by_provider[W]) / "
        "(increase(fail) + increase(total_messages_delivered_by_provider[W])) > θ` and "
        '`scheduled_count{queue=~"bench-t.*"} > N`, the same as the kumowatch rules; '
        "Alertmanager webhook_configs to the same receiver, group_by [alertname, node, provider, "
        "queue]. Each trial spikes the next of gmail, yahoo, outlook, icloud or fills a new "
        "queue, so it is a new alert (a new group) in both products, as a new incident is; "
        "nothing is reloaded during a run. The defaults bounce rule uses a 2 m window, the "
        "shortest Prometheus evaluates at its 1 m default scrape interval.",
        f"The alerter runs with ALERTER_SERIES_GRACE_SECONDS={SERIES_GRACE_S} (default 60) so a "
        "drained queue resolves sooner between trials; firing is unaffected.",
        "Peak memory is VmHWM from /proc/<pid>/status of each process at the end of the runs.",
    ]
    if kumo_reason:
        notes.append(f"kumowatch side not run: {kumo_reason}.")
    return rows, notes, rows_out


async def amain(opts: Options) -> int:
    progress = Progress()
    started = time.monotonic()
    progress.step(f"bench: {'quick' if opts.quick else 'full'} run; {opts.command}")
    server = NatsServer().start()
    try:
        ctx = Context(server.url, opts.quick, progress)

        async def service_rows() -> list[Row]:
            return await all_rows(ctx)

        overlap = service_rows if opts.quick and not opts.skip_rows else None
        rows, notes, extra = await detection(opts, progress, overlap)
        if not opts.skip_rows and overlap is None:
            extra = await service_rows()
    finally:
        server.cleanup()
    rows += extra
    rows += fault_rows()
    notes.append(
        "Fault rows: the latest results of the fault suite (`make test-faults`, "
        "tests/test_faults_*.py, real processes), read from .data/faults.jsonl. Recovery: from "
        "the end of the fault (or the kill) to the notification of an incident started at that "
        "moment; for the channel outage, to the last notification held back by it. The suite's "
        "channel outage is 20 s; KUMOWATCH_FAULT_CHANNEL_DOWN_SECONDS=120 runs the issue's 2 "
        "minutes."
    )
    if opts.quick:
        notes.append(
            "Quick mode: 3 trials at equal intervals, 1 at defaults, smaller sizes where a row "
            "says so; the service rows run during the defaults phase's 2-minute warm-up (the "
            "simulator and the idle defaults stacks share the CPU with them)."
        )
    elapsed = time.monotonic() - started
    report.write_doc(opts.output, opts.command, rows, notes, elapsed)
    progress.step(f"bench: done in {elapsed:.0f} s; wrote {opts.output}")
    print(report.markdown(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(amain(opts))
    return 130


if __name__ == "__main__":
    sys.exit(main())
