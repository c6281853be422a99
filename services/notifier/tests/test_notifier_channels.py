"""Channel senders against real receivers: aiohttp for Slack and webhooks, aiosmtpd for email."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import hmac
import ssl
from email.message import EmailMessage

import aiohttp
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kumowatch_common.clock import SystemClock
from kumowatch_common.testing import free_port
from kumowatch_notifier.bench import make_event
from kumowatch_notifier.channels import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    EmailSender,
    SlackSender,
    WebhookSender,
)
from kumowatch_notifier.errors import PermanentChannelError, RetryableChannelError
from kumowatch_notifier.httpclient import parse_retry_after
from kumowatch_notifier.notification import Notification, ThrottleNote
from kumowatch_notifier.receiver import HANG, Receiver, Reply
from kumowatch_notifier.targets import Target, redact_url

INJECTION = '<script>alert("x")</script><img src=x onerror=1>'


def note(n: Notification, suppressed: int = 0) -> Notification:
    if not suppressed:
        return n
    return Notification(n.event, n.kind, ThrottleNote(suppressed, n.alert.timestamp))


async def test_webhook_body_headers_and_signature_verify() -> None:
    ev = make_event("r-wh", labels={"tenant": "acme"})
    n = Notification(ev, "firing")
    async with Receiver() as rx, aiohttp.ClientSession() as s:
        sender = WebhookSender(s, SystemClock(), 5.0, secret="s3cret-key")
        status = await sender.send(n, Target("webhook", url=rx.url))
        assert status == 200
        (req,) = rx.requests
    body = req.json()
    assert body["event"] == "kumomta.alert"
    assert body["status"] == "firing"
    assert body["alert"] == {
        "id": ev.alert.id,
        "severity": "warning",
        "message": ev.alert.message,
        "acknowledged": False,
        "value": 1500.0,
        "threshold": 1000.0,
    }
    assert body["rule"]["condition"] == {
        "type": "queue_depth",
        "operator": ">",
        "threshold": 1000.0,
        "timeWindow": 60000,
    }
    assert body["labels"]["tenant"] == "acme"
    assert body["metadata"] == {"source": "kumomta-alert-system", "version": "1.0.0"}
    assert body["timestamp"].endswith("Z")
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["User-Agent"].startswith("KumoWatch/")
    assert req.headers[IDEMPOTENCY_HEADER] == f"{ev.alert.id}:firing:webhook"
    # The receiver's side of the README's verification recipe.
    ts = req.headers[TIMESTAMP_HEADER]
    expected = hmac.new(b"s3cret-key", ts.encode() + b"." + req.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(req.headers[SIGNATURE_HEADER], f"sha256={expected}")


async def test_webhook_without_secret_is_unsigned_and_resolved_says_so() -> None:
    n = Notification(make_event("r-wh2", event="resolved"), "resolved")
    async with Receiver(Reply(204)) as rx, aiohttp.ClientSession() as s:
        assert (
            await WebhookSender(s, SystemClock(), 5.0).send(n, Target("webhook", url=rx.url)) == 204
        )
    (req,) = rx.requests
    assert SIGNATURE_HEADER not in req.headers
    assert req.json()["status"] == "resolved"
    assert req.headers[IDEMPOTENCY_HEADER].endswith(":resolved:webhook")


@pytest.mark.parametrize(
    ("reply", "error", "retry_after"),
    [
        (Reply(500), RetryableChannelError, None),
        (Reply(503, {"Retry-After": "7"}), RetryableChannelError, 7.0),
        (Reply(429, {"Retry-After": "2"}), RetryableChannelError, 2.0),
        (Reply(400), PermanentChannelError, None),
        (Reply(404), PermanentChannelError, None),
        (Reply(301, {"Location": "http://example.invalid/"}), PermanentChannelError, None),
    ],
)
async def test_http_errors_are_classified(
    reply: Reply, error: type[Exception], retry_after: float | None
) -> None:
    n = Notification(make_event("r-err"), "firing")
    async with Receiver(reply) as rx, aiohttp.ClientSession() as s:
        with pytest.raises(error) as info:
            await WebhookSender(s, SystemClock(), 5.0).send(n, Target("webhook", url=rx.url))
    exc = info.value
    assert getattr(exc, "status_code", None) == reply.status
    assert getattr(exc, "retry_after", None) == retry_after
    assert rx.url not in str(exc)


async def test_hanging_receiver_times_out_retryably() -> None:
    n = Notification(make_event("r-hang"), "firing")
    async with Receiver(Reply(HANG)) as rx, aiohttp.ClientSession() as s:
        with pytest.raises(RetryableChannelError, match="timed out"):
            await WebhookSender(s, SystemClock(), 0.3).send(n, Target("webhook", url=rx.url))


async def test_connection_refused_is_retryable() -> None:
    n = Notification(make_event("r-refused"), "firing")
    url = f"http://127.0.0.1:{free_port()}/hook"
    async with aiohttp.ClientSession() as s:
        with pytest.raises(RetryableChannelError, match="connection error"):
            await WebhookSender(s, SystemClock(), 2.0).send(n, Target("webhook", url=url))


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = 1_700_000_000.0
    when = dt.datetime.fromtimestamp(now + 30, dt.UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(when.strftime("%a, %d %b %Y %H:%M:%S GMT"), now) == pytest.approx(30)
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("-5", now) == 0.0


def test_targets_are_redacted_to_scheme_and_host() -> None:
    url = "https://hooks.slack.test/services/T000/B000/SECRETSECRET"
    assert redact_url(url) == "https://hooks.slack.test"
    assert Target("slack", url=url).redacted == "https://hooks.slack.test"
    assert "SECRET" not in repr(Target("slack", url=url))
    assert Target("email", recipients=("a@x.test", "b@x.test")).redacted == "a@x.test,b@x.test"


async def test_slack_body_has_the_seed_fields_and_colours() -> None:
    ev = make_event("r-slack", severity="critical", name="Bounce <b>&</b> spike")
    async with Receiver() as rx, aiohttp.ClientSession() as s:
        sender = SlackSender(s, SystemClock(), 5.0)
        await sender.send(note(Notification(ev, "firing"), 4), Target("slack", url=rx.url))
        await sender.send(
            Notification(make_event("r-slack", event="resolved"), "resolved"),
            Target("slack", url=rx.url),
        )
    firing, resolved = (r.json() for r in rx.requests)
    assert firing["username"] == "KumoMTA Alert System"
    assert firing["icon_emoji"] == ":envelope:"
    (att,) = firing["attachments"]
    assert att["color"] == "#990000"
    assert att["title"] == "🚨 Bounce &lt;b&gt;&amp;&lt;/b&gt; spike"
    assert att["text"] == ev.rule.description
    fields = {f["title"]: f["value"] for f in att["fields"]}
    assert fields["Severity"] == "CRITICAL"
    assert fields["Alert ID"] == ev.alert.id
    assert fields["Current Value"] == "1500.00"
    assert fields["Threshold"] == "1000"
    assert fields["Condition"] == "queue_depth &gt; 1000"
    assert fields["Throttle"].startswith("4 notifications suppressed since ")
    assert att["ts"] == ev.alert.timestamp // 1000
    assert att["footer"]
    (ratt,) = resolved["attachments"]
    assert ratt["color"] == "#2eb886"
    assert "Resolved:" in ratt["title"]


@pytest.mark.parametrize(
    ("severity", "colour", "emoji"),
    [("info", "#36a64f", "ℹ️"), ("warning", "#ff9900", "⚠️"), ("error", "#ff0000", "🔴")],
)
def test_slack_colour_and_emoji_by_severity(severity: str, colour: str, emoji: str) -> None:
    from kumowatch_notifier.render import slack_body

    body = slack_body(Notification(make_event("r-sev", severity=severity), "firing"))
    assert body["attachments"][0]["color"] == colour
    assert body["attachments"][0]["title"].startswith(emoji)


# --------------------------------------------------------------------------- SMTP


class Sink:
    """aiosmtpd handler keeping messages; ``code`` answers DATA with that reply instead."""

    def __init__(self, reply: str | None = None) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Envelope] = []
        self.reply = reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.reply:
            return self.reply
        self.envelopes.append(envelope)
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        return "250 OK"


def _self_signed(tmp_path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def _body(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


async def test_email_plain_has_escaped_html_and_the_seed_content() -> None:
    sink = Sink()
    ctl = Controller(sink, hostname="127.0.0.1", port=free_port())
    ctl.start()
    try:
        ev = make_event("r-mail", name=f"Queue {INJECTION}", severity="error")
        sender = EmailSender("127.0.0.1", ctl.port, "none", "alerts@kumomta.local", 5.0)
        target = Target("email", recipients=("ops@example.test", "oncall@example.test"))
        assert await sender.send(note(Notification(ev, "firing"), 2), target) == 250
    finally:
        ctl.stop()
    (msg,) = sink.messages
    assert msg["Subject"] == f"[ERROR] Queue {INJECTION}"
    assert msg["From"] == "alerts@kumomta.local"
    assert sink.envelopes[0].rcpt_tos == ["ops@example.test", "oncall@example.test"]
    html_part, text = _body(msg, "html"), _body(msg, "plain")
    assert "<script>" not in html_part
    assert "<img" not in html_part
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html_part
    for needle in (
        ev.rule.description,
        ev.alert.message,
        "1500.00",
        "queue_depth &gt; 1000",
        "60 seconds",
        ev.alert.id,
        "node=mta1",
        "FIRING",
        "2 notifications suppressed since",
    ):
        assert needle in html_part, needle
    for needle in ("queue_depth > 1000", ev.alert.id, INJECTION):
        assert needle in text, needle
    assert msg["X-Kumowatch-Idempotency-Key"] == f"{ev.alert.id}:firing:email"


async def test_email_subject_cannot_inject_headers() -> None:
    sink = Sink()
    ctl = Controller(sink, hostname="127.0.0.1", port=free_port())
    ctl.start()
    try:
        ev = make_event("r-hdr", name="Oops\r\nBcc: victim@example.test")
        sender = EmailSender("127.0.0.1", ctl.port, "none", "alerts@kumomta.local", 5.0)
        await sender.send(Notification(ev, "resolved"), Target("email", recipients=("a@x.test",)))
    finally:
        ctl.stop()
    (msg,) = sink.messages
    assert msg["Bcc"] is None
    assert msg["Subject"] == "[RESOLVED] [WARNING] Oops Bcc: victim@example.test"
    assert sink.envelopes[0].rcpt_tos == ["a@x.test"]


async def test_email_over_starttls_with_a_self_signed_certificate(tmp_path) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    sink = Sink()
    ctl = Controller(
        sink,
        hostname="localhost",
        port=free_port(),
        tls_context=server_ctx,
        require_starttls=True,
        auth_require_tls=True,
    )
    ctl.start()
    try:
        sender = EmailSender(
            "localhost",
            ctl.port,
            "starttls",
            "alerts@kumomta.local",
            5.0,
            tls_context=ssl.create_default_context(cafile=cert),
        )
        await sender.send(
            Notification(make_event("r-tls"), "firing"), Target("email", recipients=("a@x.test",))
        )
        # Without the CA the certificate is rejected: retryable, never sent in clear.
        untrusted = EmailSender("localhost", ctl.port, "starttls", "alerts@kumomta.local", 5.0)
        with pytest.raises(RetryableChannelError):
            await untrusted.send(
                Notification(make_event("r-tls"), "firing"),
                Target("email", recipients=("a@x.test",)),
            )
    finally:
        ctl.stop()
    assert len(sink.messages) == 1


@pytest.mark.parametrize(
    ("reply", "error"),
    [("451 4.3.0 try later", RetryableChannelError), ("554 5.7.1 rejected", PermanentChannelError)],
)
async def test_smtp_4xx_is_retryable_and_5xx_permanent(reply: str, error: type[Exception]) -> None:
    ctl = Controller(Sink(reply), hostname="127.0.0.1", port=free_port())
    ctl.start()
    try:
        sender = EmailSender("127.0.0.1", ctl.port, "none", "alerts@kumomta.local", 5.0)
        with pytest.raises(error):
            await sender.send(
                Notification(make_event("r-code"), "firing"),
                Target("email", recipients=("a@x.test",)),
            )
    finally:
        ctl.stop()


async def test_smtp_server_down_is_retryable() -> None:
    sender = EmailSender("127.0.0.1", free_port(), "none", "alerts@kumomta.local", 2.0)
    with pytest.raises(RetryableChannelError):
        await sender.send(
            Notification(make_event("r-down"), "firing"), Target("email", recipients=("a@x.test",))
        )
