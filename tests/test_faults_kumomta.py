"""Fault suite: KumoMTA misbehaving. Node ``mta2`` is down (connection refused), answers 503,
answers slowly, answers garbage, or restarts (its counters reset); node ``mta1`` stays healthy.

For each fault: incidents on the healthy node during the fault and a probe incident on the
faulted node once it is back must all be delivered once (alerts expected = alerts delivered, no
duplicate by idempotency key). A node that cannot be read raises exactly one "KumoMTA
unreachable" alert, resolved when it answers again: refused and 503 make it ``down``; garbage
makes it ``degraded`` with no usable metrics, so the NoData path raises it (after
ALERTER_NODATA_SECONDS, 6 s here, below the 8 s fault). A slow node under the request timeout
and a restarted node raise none, and a counter reset never yields a bounce-rate alert. Recovery time:
fault over → the probe incident's notification.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bench.faults import FaultHarness, running, summary
from kumowatch_common.events import AlertRule
from kumowatch_common.rules import UNREACHABLE_RULE_ID, default_rules

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(150)]

FAULTED = "mta2"
FAULT_SECONDS = 8.0
BOUNCE_RULE = "fault-restart-bounce"


def bounce_rule() -> AlertRule:
    return AlertRule.model_validate(
        {
            "id": BOUNCE_RULE,
            "name": "Fault suite bounce rate",
            "severity": "warning",
            "condition": {
                "type": "provider_bounce_rate",
                "operator": ">",
                "threshold": 10,
                "timeWindow": 20_000,
            },
            "channels": ["webhook"],
            "scope": {"node": FAULTED},
            "minVolume": 20,
        }
    )


def unthrottled_unreachable_rule() -> AlertRule:
    # Its default throttle (3 per 5 minutes) would mute later faults of this module: the tests
    # judge every transition, so the module runs it unthrottled.
    rule = next(r for r in default_rules() if r.id == UNREACHABLE_RULE_ID)
    return rule.model_copy(update={"throttle": None})


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[FaultHarness]:
    rules = [bounce_rule(), unthrottled_unreachable_rule()]
    async with running(extra_rules=rules, scope_node="mta*") as h:
        yield h


def unreachable(h: FaultHarness, status: str, since: int) -> int:
    return sum(
        1
        for d in h.rx.deliveries[since:]
        if d.rule_id == UNREACHABLE_RULE_ID
        and d.status == status
        and d.labels.get("node") == FAULTED
    )


async def _run_fault(
    h: FaultHarness, kind: str, delay: float | None = None
) -> tuple[set[str], float | None, int]:
    mark = len(h.rx.deliveries)
    mine = {await h.incident("mta1")}
    body: dict[str, object] = {"kind": kind, "seconds": FAULT_SECONDS}
    if delay is not None:
        body["delay"] = delay
    await h.sim.call(FAULTED, "POST", "/_sim/fault", body)
    mine.add(await h.incident("mta1"))
    await asyncio.sleep(FAULT_SECONDS)
    over = time.time()
    probe = await _probe(h)
    mine.add(probe)
    arrived = await h.arrival(probe, 60)
    assert await h.wait_delivered(sorted(mine), 60), h.kumo.log_tails()
    return mine, (None if arrived is None else arrived - over), mark


async def _probe(h: FaultHarness) -> str:
    # The faulted node may still be closing its fault window: retry the admin call briefly.
    for _ in range(40):
        try:
            return await h.incident(FAULTED)
        except Exception:
            await asyncio.sleep(0.25)
    return await h.incident(FAULTED)


@pytest.mark.parametrize("kind", ["refuse", "503", "garbage"])
async def test_unreadable_kumomta_raises_one_unreachable_alert_and_loses_nothing(
    stack: FaultHarness, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    h = stack
    mine, recovery, mark = await _run_fault(h, kind)
    got = await h.rx.wait_for(
        lambda d: (
            d.rule_id == UNREACHABLE_RULE_ID
            and d.status == "resolved"
            and d.labels.get("node") == FAULTED
        ),
        30,
        since=mark,
    )
    await h.quiet()
    v = h.verdict(mine)
    fired, resolved = unreachable(h, "firing", mark), unreachable(h, "resolved", mark)
    with capsys.disabled():
        print(
            "\n"
            + summary(
                f"kumomta-{kind}",
                v,
                recovery,
                unreachable_firing=fired,
                unreachable_resolved=resolved,
            )
        )
    assert v.ok, v
    assert fired == 1, f"{fired} unreachable notifications for {kind}"
    assert got, "unreachable alert never resolved"


async def test_slow_kumomta_under_the_request_timeout_raises_no_alert(
    stack: FaultHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    h = stack
    kind = "slow"
    mine, recovery, mark = await _run_fault(h, kind, delay=0.15)
    await h.quiet()
    v = h.verdict(mine)
    fired = unreachable(h, "firing", mark)
    with capsys.disabled():
        print("\n" + summary(f"kumomta-{kind}", v, recovery, unreachable_firing=fired))
    assert v.ok, v
    assert fired == 0


async def test_restarted_kumomta_counter_reset_raises_no_false_alert(
    stack: FaultHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    h = stack
    mark = len(h.rx.deliveries)
    mine = {await h.incident("mta1")}
    await h.sim.restart(FAULTED, keep_spool=True)
    restarted = time.time()
    probe = await h.incident(FAULTED)
    mine.add(probe)
    arrived = await h.arrival(probe, 60)
    assert await h.wait_delivered(sorted(mine), 60), h.kumo.log_tails()
    # Several polls of the reset counters go by while the probe is detected and judged.
    await h.quiet(5.0)
    v = h.verdict(mine)
    false = [
        d
        for d in h.rx.deliveries[mark:]
        if d.status == "firing"
        and d.rule_id in (BOUNCE_RULE, "bounce-rate-high", UNREACHABLE_RULE_ID)
    ]
    recovery = None if arrived is None else arrived - restarted
    with capsys.disabled():
        print("\n" + summary("kumomta-restart", v, recovery, false_alerts=len(false)))
    assert v.ok, v
    assert not false, [d.body for d in false]
