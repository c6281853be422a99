"""Detection trials: make a change on the simulator, time the notification at the receiver.

Both products watch the same simulator nodes at once, so each trial's change is measured by
kumowatch and by Prometheus + Alertmanager from the same instant. A trial waits for kumowatch's
resolved notification and for the window to drain before the next one starts; Prometheus gets a
new alert per trial (the scenario changes a new provider or queue each time), so each trial is a
fresh alert and Alertmanager group in both products.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.kumostack import KumoStack
from bench.progress import Progress
from bench.promstack import PromStack
from bench.receiver import WebhookReceiver, am_alert, kumowatch_alert
from bench.report import Row
from bench.scenarios import Scenario
from bench.sim import SimProcess
from bench.stats import seconds
from kumowatch_common.events import AlertRule


@dataclass
class Phase:
    """A set of product settings (``equal`` or ``defaults``) and the stacks running them."""

    name: str
    label: str
    kumo: KumoStack | None
    prom: PromStack | None
    timeout: float
    warmup: float = 0.0


@dataclass
class ScenarioResult:
    """Latencies (s from the change to the webhook) of one scenario in one phase."""

    phase: Phase
    scenario: Scenario
    kumowatch: list[float] = field(default_factory=list)
    prometheus: list[float] = field(default_factory=list)
    trials: int = 0
    missed: dict[str, int] = field(default_factory=lambda: {"kumowatch": 0, "prometheus": 0})
    note: str = ""


def rule_id(phase: Phase, scenario: Scenario) -> str:
    return f"bench-{phase.name}-{scenario.key}"


async def run_scenario(
    phase: Phase,
    scenario: Scenario,
    sim: SimProcess,
    rx: WebhookReceiver,
    trials: int,
    progress: Progress,
) -> ScenarioResult:
    """``trials`` trials of ``scenario`` against the phase's stacks."""
    result = ScenarioResult(phase, scenario)
    rid = rule_id(phase, scenario)
    prom_rule = scenario.prom_rule()
    await scenario.prepare(sim)
    warm = max(phase.warmup, scenario.drain)
    progress.step(f"{phase.name}/{scenario.key}: warming up {warm:.0f} s")
    await asyncio.sleep(warm)
    for i in range(trials):
        mark = len(rx.deliveries)
        t0 = await scenario.start(sim, i)
        labels = dict(scenario.labels)
        waits: dict[str, Any] = {}
        if phase.kumo is not None:
            waits["kumowatch"] = rx.wait_for(
                kumowatch_alert(rid, labels=labels), phase.timeout, mark
            )
        if phase.prom is not None:
            am_labels = {"alertname": prom_rule.name, **labels}
            waits["prometheus"] = rx.wait_for(am_alert(am_labels), phase.timeout, mark)
        got = dict(zip(waits, await asyncio.gather(*waits.values()), strict=True))
        result.trials += 1
        parts = []
        for product, deliveries in got.items():
            if deliveries:
                latency = deliveries[0].at - t0
                getattr(result, product).append(latency)
                parts.append(f"{product} {seconds(latency)}")
            else:
                result.missed[product] += 1
                parts.append(f"{product} missed")
                if product == "prometheus" and phase.prom is not None:
                    parts.append(await prom_diagnosis(phase.prom, prom_rule.expr))
        progress.step(
            f"{phase.name}/{scenario.key}: trial {i + 1}/{trials}: {', '.join(parts)}"
            f" (crossing {seconds(scenario.crossing)})"
        )
        reset_at = time.monotonic()
        await scenario.reset(sim)
        if i + 1 < trials:
            await scenario.settle(sim, phase.timeout)
            if got.get("kumowatch"):
                resolved = kumowatch_alert(rid, "resolved", labels)
                await rx.wait_for(resolved, scenario.drain + 60, mark)
            if phase.prom is not None:
                await prom_clear(phase.prom, prom_rule.expr, phase.timeout)
            left = scenario.drain - (time.monotonic() - reset_at)
            if left > 0:
                await asyncio.sleep(left)
    return result


async def prom_clear(prom: PromStack, expr: str, timeout: float) -> None:
    """Wait until Prometheus itself no longer sees the condition (its latest sample is clear)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not await prom.query(expr):
            return
        await asyncio.sleep(1.0)


def event_rule(rule_id: str, provider: str, count: int, window_s: float) -> AlertRule:
    """An ``event_count`` rule: at least ``count`` Bounce records at ``provider`` in the window."""
    return AlertRule.model_validate(
        {
            "id": rule_id,
            "name": "Bench bounce records",
            "severity": "warning",
            "condition": {
                "type": "event_count",
                "operator": ">=",
                "threshold": count,
                "timeWindow": int(window_s * 1000),
                "match": {"types": ["Bounce"], "provider": provider},
            },
            "channels": ["webhook"],
        }
    )


def bounce_records(count: int, provider: str, node_id: str) -> list[dict[str, Any]]:
    """KumoMTA ``Bounce`` log records as its log hook posts them."""
    now = time.time()
    out = []
    for _ in range(count):
        mid = uuid.uuid4().hex
        out.append(
            {
                "type": "Bounce",
                "id": mid,
                "sender": "bounces@acme.sim.example",
                "recipient": f"user{mid[:6]}@{provider}.example",
                "queue": f"newsletter:acme@{provider}.example",
                "site": f"mx.{provider}.example",
                "size": 4096,
                "response": {
                    "code": 550,
                    "enhanced_code": {"class": 5, "subject": 1, "detail": 1},
                    "content": "5.1.1 user unknown",
                    "command": "RCPT TO",
                },
                "peer_address": {"name": f"mx.{provider}.example.", "addr": "192.0.2.25"},
                "timestamp": int(now),
                "created": int(now) - 5,
                "num_attempts": 1,
                "bounce_classification": "InvalidRecipient",
                "egress_pool": "pool1",
                "egress_source": "ip-1",
                "meta": {"tenant": "acme", "campaign": "newsletter"},
                "headers": {},
                "delivery_protocol": "ESMTP",
                "reception_protocol": "ESMTP",
                "nodeid": node_id,
                "provider_name": provider,
            }
        )
    return out


async def run_event_driven(
    ingest_url: str,
    rx: WebhookReceiver,
    rid: str,
    provider: str,
    count: int,
    window_s: float,
    trials: int,
    progress: Progress,
    timeout: float = 30.0,
) -> list[float | None]:
    """Latency from POSTing ``count`` bounce records to the ingest endpoint to the webhook."""
    out: list[float | None] = []
    node_id = str(uuid.uuid4())
    async with aiohttp.ClientSession() as http:
        for i in range(trials):
            mark = len(rx.deliveries)
            records = bounce_records(count, provider, node_id)
            t0 = time.time()
            async with http.post(ingest_url, json=records) as resp:
                if resp.status >= 300:
                    raise RuntimeError(f"ingest answered {resp.status}: {await resp.text()}")
            got = await rx.wait_for(kumowatch_alert(rid), timeout, mark)
            latency = got[0].at - t0 if got else None
            out.append(latency)
            progress.step(f"event-driven: trial {i + 1}/{trials}: {seconds(latency)}")
            if i + 1 < trials:
                waited = time.monotonic()
                if got:
                    await rx.wait_for(kumowatch_alert(rid, "resolved"), window_s + 30, mark)
                left = window_s + 1.0 - (time.monotonic() - waited)
                if left > 0:
                    await asyncio.sleep(left)
    return out


def _p(values: list[float], q: float) -> float | None:
    from bench.stats import percentile

    return percentile(values, q) if values else None


def _figure(values: list[float], missed: int, trials: int) -> str:
    if not values:
        return f"no notification in {trials} trials"
    text = f"p50 {seconds(_p(values, 50))} / p99 {seconds(_p(values, 99))}"
    return text + (f" ({missed} of {trials} missed)" if missed else "")


def result_row(result: ScenarioResult, kumo_reason: str | None = None) -> Row:
    """The table row of one scenario in one phase."""
    from bench.stats import ratio

    kw, pr = result.kumowatch, result.prometheus
    crossing = result.scenario.crossing
    kw_text = (
        f"not available: {kumo_reason}"
        if kumo_reason
        else _figure(kw, result.missed["kumowatch"], result.trials)
    )
    pr_text = "Prometheus + Alertmanager " + _figure(pr, result.missed["prometheus"], result.trials)
    ratios = ""
    if kw and pr:
        ratios = (
            f"p50 {ratio(_p(pr, 50), _p(kw, 50))} · p99 {ratio(_p(pr, 99), _p(kw, 99))}"
            " (Prometheus / kumowatch)"
        )
    over = []
    if kw:
        over.append(f"kumowatch +{seconds(max(0.0, (_p(kw, 50) or 0) - crossing))}")
    if pr:
        over.append(f"Prometheus +{seconds(max(0.0, (_p(pr, 50) or 0) - crossing))}")
    notes = f"theoretical crossing {seconds(crossing)}"
    if over:
        notes += "; p50 overhead above it: " + ", ".join(over)
    notes += f"; {result.trials} trials"
    return Row(
        f"Detection: {result.scenario.title}",
        result.phase.label,
        kw_text,
        pr_text,
        ratios,
        notes + (f"; {result.note}" if result.note else ""),
    )


async def prom_diagnosis(prom: PromStack, expr: str) -> str:
    """Why Prometheus did not notify: its view of the targets, the value, and its alerts."""
    try:
        up = await prom.query("up")
        value = await prom.query(expr.rsplit(">", 1)[0])
        alerts = await prom.alerts()
    except Exception as exc:
        return f"[diagnosis failed: {exc}]"
    ups = {r["metric"].get("node"): r["value"][1] for r in up}
    vals = [r["value"][1] for r in value]
    return f"[up {ups}; value {vals}; prometheus alerts {alerts}]"
