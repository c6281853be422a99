"""Fault suite: the webhook channel down (answering 500) for a while, then back.

The outage lasts ``KUMOWATCH_FAULT_CHANNEL_DOWN_SECONDS`` (20 s by default so the suite stays
short; ``KUMOWATCH_FAULT_CHANNEL_DOWN_SECONDS=120 make test-faults`` runs the issue's 2 minutes).
Alerts raised during the outage must all arrive once the channel is back (the notifier retries
with backoff, capped at 2 s here, within its 300 s deadline), each with one idempotency key.
Recovery time: channel back → the last of the outage's notifications delivered.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bench.faults import CHANNEL_DOWN_SECONDS, running, summary

pytestmark = [
    pytest.mark.faults,
    pytest.mark.slow,
    pytest.mark.timeout(int(CHANNEL_DOWN_SECONDS) + 150),
]


async def test_channel_down_then_back_delivers_every_alert_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with running() as h:
        before = await h.incident()
        assert await h.wait_delivered([before], 30), h.kumo.log_tails()

        h.rx.fail_for(CHANNEL_DOWN_SECONDS)
        during = [await h.incident(), await h.incident()]
        await asyncio.sleep(CHANNEL_DOWN_SECONDS)
        back = time.time()
        after = await h.incident()

        assert await h.wait_delivered(timeout=90), h.kumo.log_tails()
        arrivals = [await h.arrival(q, 5) for q in during]
        await h.quiet()
        v = h.verdict()
        recovery = max(a for a in arrivals if a is not None) - back
        with capsys.disabled():
            print(
                "\n"
                + summary(
                    "channel-down",
                    v,
                    recovery,
                    outage_s=CHANNEL_DOWN_SECONDS,
                    rejected_posts=h.rx.rejected,
                )
            )
        assert h.rx.rejected > 0, "the outage saw no delivery attempt"
        assert v.ok, v
        assert after in h.incidents
