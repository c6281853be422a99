"""The notifier in-process against the session nats-server and real receivers."""

from __future__ import annotations

import asyncio
import logging
import time

import nats
import pytest
from notifier_kit import Outcomes, readyz, running, settings, uid

from kumowatch_common import streams, subjects
from kumowatch_common.events import (
    Matcher,
    NotificationTestReply,
    NotificationTestRequest,
    Silence,
)
from kumowatch_common.testing import free_port
from kumowatch_notifier.bench import make_event, publish
from kumowatch_notifier.channels import IDEMPOTENCY_HEADER
from kumowatch_notifier.ledger import Progress
from kumowatch_notifier.ledger import key as ledger_key
from kumowatch_notifier.outcomes import DeadLetter
from kumowatch_notifier.receiver import HANG, Receiver, Reply


@pytest.fixture
def nats_server(fresh_nats):
    """A server of this test's own: no other test's alert events reach its notifier."""
    return fresh_nats


@pytest.fixture
async def nc(fresh_nats):
    client = await nats.connect(fresh_nats.url)
    await streams.provision(client.jetstream(), streams.Retention())
    yield client
    await client.drain()


async def drained(js, consumer: str, timeout: float = 10.0) -> None:
    """Every message of the consumer delivered and acked."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = await js.consumer_info(streams.STREAM_ALERTS, consumer)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"consumer {consumer} not drained")


async def test_firing_alert_is_delivered_recorded_and_acked(nats_server, nc) -> None:
    js = nc.jetstream()
    rule = uid("deliver")
    out = await Outcomes(rule).start(nc)
    async with Receiver() as rx, running(settings(nats_server.url, webhook_url=rx.url)) as cfg:
        ev = make_event(rule)
        await publish(js, ev)
        (sent,) = await out.wait_outcome("sent")
        (req,) = await rx.wait_for(1)
        await drained(js, cfg.notify_consumer)
    assert req.json()["alert"]["id"] == ev.alert.id
    assert sent.channel == "webhook"
    assert sent.attempt == 1
    assert sent.statusCode == 200
    assert sent.target == f"http://127.0.0.1:{rx.port}"
    assert sent.idempotencyKey == f"{ev.alert.id}:firing:webhook"
    assert sent.id == f"{sent.idempotencyKey}:1:sent"
    assert [o.outcome for o in out.items] == ["sent"]
    await out.stop()


async def test_500s_are_retried_with_backoff_and_the_same_idempotency_key(nats_server, nc) -> None:
    js = nc.jetstream()
    rule = uid("retry")
    out = await Outcomes(rule).start(nc)
    async with Receiver() as rx, running(settings(nats_server.url, webhook_url=rx.url)):
        rx.script = [Reply(500), Reply(502)]
        await publish(js, make_event(rule))
        await out.wait_outcome("sent")
        reqs = await rx.wait_for(3)
    assert [(o.outcome, o.attempt) for o in out.items] == [("retry", 1), ("retry", 2), ("sent", 3)]
    assert out.items[0].statusCode == 500
    assert out.items[0].retryable is True
    assert len({r.headers[IDEMPOTENCY_HEADER] for r in reqs}) == 1
    await out.stop()


async def test_429_retry_after_is_honoured(nats_server, nc) -> None:
    js = nc.jetstream()
    rule = uid("ratelimit")
    out = await Outcomes(rule).start(nc)
    async with Receiver() as rx, running(settings(nats_server.url, webhook_url=rx.url)):
        rx.script = [Reply(429, {"Retry-After": "1"})]
        await publish(js, make_event(rule))
        await out.wait_outcome("sent")
        first, second = await rx.wait_for(2)
    # Backoff alone would retry within 0.05 s; Retry-After asks for 1 s.
    assert second.at - first.at >= 0.95
    assert out.of("retry")[0].statusCode == 429
    await out.stop()


async def test_hanging_receiver_times_out_and_is_retried(nats_server, nc) -> None:
    js = nc.jetstream()
    rule = uid("hang")
    out = await Outcomes(rule).start(nc)
    cfg = settings(nats_server.url, notify_timeout_seconds=0.3)
    async with Receiver() as rx, running(cfg.model_copy(update={"webhook_url": rx.url})):
        rx.script = [Reply(HANG)]
        await publish(js, make_event(rule))
        await out.wait_outcome("sent")
    (retry,) = out.of("retry")
    assert "timed out" in (retry.error or "")
    await out.stop()


async def test_dead_letter_after_the_deadline_keeps_the_event(nats_server, nc) -> None:
    js = nc.jetstream()
    rule = uid("dead")
    out = await Outcomes(rule).start(nc)
    cfg = settings(nats_server.url, notify_deadline_seconds=0.6)
    async with Receiver(Reply(503)) as rx, running(cfg.model_copy(update={"webhook_url": rx.url})):
        ev = make_event(rule)
        await publish(js, ev)
        (dead,) = await out.wait_outcome("dead_letter")
        await drained(js, cfg.notify_consumer)
        attempts = len(rx.requests)
    assert isinstance(dead, DeadLetter)
    assert dead.payload == ev
    assert dead.statusCode == 503
    assert dead.attempt == attempts >= 2
    assert len(out.of("retry")) == attempts - 1
    await out.stop()


async def test_permanent_4xx_fails_without_retry(nats_server, nc) -> None:
    js = nc.jetstream()
    rule = uid("perm")
    out = await Outcomes(rule).start(nc)
    async with (
        Receiver(Reply(403)) as rx,
        running(settings(nats_server.url, webhook_url=rx.url)) as cfg,
    ):
        await publish(js, make_event(rule))
        try:
            (failed,) = await out.wait_outcome("failed")
        except TimeoutError:
            info = await js.consumer_info(streams.STREAM_ALERTS, cfg.notify_consumer)
            raise AssertionError(f"{info} {rx.requests}") from None
    assert failed.statusCode == 403
    assert failed.retryable is False
    assert len(rx.requests) == 1
    await out.stop()


async def test_unconfigured_channel_is_reported_and_recorded(nats_server, nc) -> None:
    js = nc.jetstream()
    rule = uid("unconf")
    out = await Outcomes(rule).start(nc)
    async with Receiver() as rx, running(settings(nats_server.url, webhook_url=rx.url)) as cfg:
        status, body = await readyz(cfg.notifier_port)
        await publish(js, make_event(rule, channels=("email", "slack", "webhook")))
        try:
            await out.wait(lambda items: len(items) >= 3)
        except TimeoutError:
            raise AssertionError(f"outcomes {out.items} requests {rx.requests}") from None
    assert status == 200
    assert body["checks"]["channels"]["ok"] is True
    assert "email: SMTP_HOST not set" in body["checks"]["channels"]["detail"]
    assert "slack: SLACK_WEBHOOK_URL not set" in body["checks"]["channels"]["detail"]
    by_channel = {o.channel: o for o in out.items}
    assert by_channel["webhook"].outcome == "sent"
    for ch in ("email", "slack"):
        assert by_channel[ch].outcome == "failed"
        assert by_channel[ch].error == "channel not configured"
    await out.stop()


async def test_per_rule_recipient_overrides_the_default(nats_server, nc) -> None:
    js = nc.jetstream()
    rule = uid("override")
    out = await Outcomes(rule).start(nc)
    async with (
        Receiver() as default_rx,
        Receiver() as rule_rx,
        running(settings(nats_server.url, webhook_url=default_rx.url)),
    ):
        await publish(js, make_event(rule, webhook=rule_rx.url))
        await rule_rx.wait_for(1)
        await out.wait_outcome("sent")
    assert default_rx.requests == []
    await out.stop()


async def test_resolved_goes_only_to_channels_in_notify_resolved(nats_server, nc) -> None:
    js = nc.jetstream()
    rule = uid("resolved")
    out = await Outcomes(rule).start(nc)
    cfg = settings(nats_server.url, notify_resolved="email")
    async with Receiver() as rx, running(cfg.model_copy(update={"webhook_url": rx.url})):
        ev = make_event(rule)
        await publish(js, make_event(rule, event="resolved", alert_id=ev.alert.id))
        await publish(js, make_event(rule, event="acknowledged", alert_id=ev.alert.id))
        await publish(js, ev)
        await rx.wait_for(1)
        await drained(js, cfg.notify_consumer)
    assert [r.json()["status"] for r in rx.requests] == ["firing"]
    assert [o.event for o in out.items] == ["firing"]
    await out.stop()


async def test_resolved_notification_is_sent(nats_server, nc) -> None:
    js = nc.jetstream()
    rule = uid("resolved2")
    async with Receiver() as rx, running(settings(nats_server.url, webhook_url=rx.url)):
        await publish(js, make_event(rule, event="resolved"))
        (req,) = await rx.wait_for(1)
    assert req.json()["status"] == "resolved"


async def test_silence_mutes_and_its_removal_applies(nats_server, nc) -> None:
    js = nc.jetstream()
    kv = await js.key_value(streams.BUCKET_SILENCES)
    rule = uid("silenced")
    now = int(time.time() * 1000)
    sid = uid("s")
    silence = Silence(
        id=sid,
        matchers=[
            Matcher(name="ruleId", value=rule),
            Matcher(name="queue", op="=~", value="example\\..*"),
        ],
        startsAt=now - 1000,
        endsAt=now + 600_000,
        createdBy="tester",
        comment="maintenance",
        createdAt=now,
    )
    await kv.put(sid, silence.to_bytes())
    out = await Outcomes(rule).start(nc)
    async with Receiver() as rx, running(settings(nats_server.url, webhook_url=rx.url)):
        await publish(js, make_event(rule))
        (muted,) = await out.wait_outcome("silenced")
        assert sid in (muted.error or "")
        await kv.delete(sid)
        for _ in range(100):
            await publish(js, make_event(rule))
            try:
                await rx.wait_for(1, timeout=0.2)
                break
            except TimeoutError:
                continue
    assert rx.requests
    await out.stop()


async def test_test_notification_request_gets_a_reply_after_a_real_send(nats_server, nc) -> None:
    async with Receiver() as rx, running(settings(nats_server.url, webhook_url=rx.url)):
        req = NotificationTestRequest(channel="webhook", requestedBy="admin")
        msg = await nc.request(subjects.NOTIFIER_TEST, req.to_bytes(), timeout=5)
        reply = NotificationTestReply.from_bytes(msg.data)
        assert reply.ok
        assert reply.statusCode == 200
        assert rx.requests[0].json()["event"] == "kumomta.test"
        bad = NotificationTestRequest(channel="email")
        msg = await nc.request(subjects.NOTIFIER_TEST, bad.to_bytes(), timeout=5)
        reply = NotificationTestReply.from_bytes(msg.data)
        assert not reply.ok
        assert reply.error == "channel not configured"


async def test_undecodable_event_is_terminated_and_others_flow(nats_server, nc) -> None:
    js = nc.jetstream()
    rule = uid("garbage")
    async with Receiver() as rx, running(settings(nats_server.url, webhook_url=rx.url)) as cfg:
        await js.publish(subjects.alert(rule, "firing"), b"{not json")
        await publish(js, make_event(rule))
        await rx.wait_for(1)
        await drained(js, cfg.notify_consumer)


async def test_secrets_never_appear_in_logs_or_outcomes(nats_server, nc, caplog) -> None:
    js = nc.jetstream()
    rule = uid("secret")
    out = await Outcomes(rule).start(nc)
    slack = f"http://127.0.0.1:{free_port()}/services/T0/B0/SLACKTOKEN123"
    cfg = settings(
        nats_server.url,
        slack_webhook_url=slack,
        webhook_secret="hmac-secret-value",
        smtp_pass="smtp-password-value",
        notify_deadline_seconds=0.3,
    )
    caplog.set_level(logging.DEBUG)
    async with Receiver() as rx, running(cfg.model_copy(update={"webhook_url": rx.url})):
        await publish(js, make_event(rule, channels=("slack", "webhook")))
        await out.wait(lambda items: any(o.outcome == "dead_letter" for o in items))
    dump = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    dump += " ".join(o.model_dump_json() for o in out.items)
    for secret in ("SLACKTOKEN123", "hmac-secret-value", "smtp-password-value"):
        assert secret not in dump
    await out.stop()


@pytest.mark.parametrize("bad", [{"notify_resolved": "pager"}, {"smtp_tls": "ssl"}])
def test_bad_settings_are_rejected(bad) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        settings("nats://127.0.0.1:1", **bad)


async def test_stopping_mid_retry_hands_over_keeping_attempts_and_deadline(nats_server, nc) -> None:
    js = nc.jetstream()
    rule = uid("handover")
    out = await Outcomes(rule).start(nc)
    cfg = settings(nats_server.url, notify_retry_base_seconds=0.5, notify_retry_max_seconds=0.5)
    async with Receiver(Reply(503)) as rx:
        cfg = cfg.model_copy(update={"webhook_url": rx.url})
        async with running(cfg, keep_consumer=True):
            ev = make_event(rule)
            await publish(js, ev)
            await out.wait_outcome("retry", 2)
        # The first replica stopped while waiting to retry: the event was nakked, not acked,
        # and its progress (first-attempt time: the deadline; attempts) is in the bucket.
        kv = await js.key_value(streams.BUCKET_THROTTLE)
        saved = Progress.model_validate_json(
            (await kv.get(ledger_key(ev.alert.id + ":firing"))).value
        )
        assert saved.firstAttemptAt <= out.of("retry")[0].timestamp
        assert saved.attempts["webhook"] == out.of("retry")[-1].attempt
        rx.default = Reply(200)
        async with running(cfg):
            (sent,) = await out.wait_outcome("sent")
    retries = out.of("retry")
    assert sent.attempt == retries[-1].attempt + 1
    assert [o.attempt for o in out.items] == list(range(1, len(out.items) + 1))
    keys = await kv.keys() if await _has_keys(kv) else []
    assert not [k for k in keys if k.startswith("delivery.")]  # progress forgotten once done
    await out.stop()


async def _has_keys(kv) -> bool:
    from nats.js.errors import NoKeysError

    try:
        await kv.keys()
    except NoKeysError:
        return False
    return True
