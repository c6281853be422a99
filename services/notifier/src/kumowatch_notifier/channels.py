"""The three channel senders behind one protocol.

A sender makes exactly one attempt and either returns a status code or raises a classified
:class:`~.errors.ChannelError`; retries, deadlines and outcome records belong to ``delivery``.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Final, Protocol

import aiohttp
import aiosmtplib
import orjson

from kumowatch_common.clock import Clock
from kumowatch_common.events import Channel
from kumowatch_notifier import render
from kumowatch_notifier.config import Settings, TlsMode
from kumowatch_notifier.errors import (
    ChannelNotConfiguredError,
    PermanentChannelError,
    RetryableChannelError,
)
from kumowatch_notifier.httpclient import post
from kumowatch_notifier.notification import Notification
from kumowatch_notifier.targets import Target

VERSION: Final = "0.1.0"
USER_AGENT: Final = f"KumoWatch/{VERSION}"
IDEMPOTENCY_HEADER: Final = "X-Kumowatch-Idempotency-Key"
TIMESTAMP_HEADER: Final = "X-Kumowatch-Timestamp"
SIGNATURE_HEADER: Final = "X-Kumowatch-Signature"


class Sender(Protocol):
    """One channel: one attempt per call."""

    channel: Channel

    async def send(self, n: Notification, target: Target) -> int:
        """Deliver ``n``; the status code on success, else raise ``ChannelError``."""
        ...

    async def send_test(self, target: Target) -> int:
        """Deliver a test notification."""
        ...


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


@dataclass(slots=True)
class WebhookSender:
    """Generic JSON webhook with an idempotency key and an optional HMAC signature."""

    session: aiohttp.ClientSession
    clock: Clock
    timeout: float
    secret: str | None = None
    channel: Channel = "webhook"

    async def send(self, n: Notification, target: Target) -> int:
        body = orjson.dumps(render.webhook_body(n))
        return await self._post(target, body, n.idempotency_key(self.channel))

    async def send_test(self, target: Target) -> int:
        body = orjson.dumps(render.webhook_test_body(int(self.clock.now() * 1000)))
        key = f"test:{hashlib.sha256(body).hexdigest()[:16]}"
        return await self._post(target, body, key)

    async def _post(self, target: Target, body: bytes, key: str) -> int:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            IDEMPOTENCY_HEADER: key,
        }
        if self.secret:
            ts = str(int(self.clock.now()))
            headers[TIMESTAMP_HEADER] = ts
            headers[SIGNATURE_HEADER] = sign(self.secret, ts, body)
        return await post(
            self.session, self.channel, target.url, body, headers, self.timeout, self.clock.now()
        )


@dataclass(slots=True)
class SlackSender:
    """Slack incoming webhook with the seed's attachment."""

    session: aiohttp.ClientSession
    clock: Clock
    timeout: float
    channel: Channel = "slack"

    async def send(self, n: Notification, target: Target) -> int:
        return await self._post(target, orjson.dumps(render.slack_body(n)))

    async def send_test(self, target: Target) -> int:
        return await self._post(target, orjson.dumps(render.slack_test_body()))

    async def _post(self, target: Target, body: bytes) -> int:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        return await post(
            self.session, self.channel, target.url, body, headers, self.timeout, self.clock.now()
        )


@dataclass(slots=True)
class EmailSender:
    """SMTP via aiosmtplib: plain, STARTTLS (required) or implicit TLS."""

    host: str | None
    port: int
    tls: TlsMode
    sender: str
    timeout: float
    user: str | None = None
    password: str | None = None
    tls_context: ssl.SSLContext | None = None
    channel: Channel = "email"

    @classmethod
    def from_settings(cls, s: Settings) -> EmailSender:
        ctx = ssl.create_default_context(cafile=s.smtp_ca_file) if s.smtp_ca_file else None
        return cls(
            host=s.smtp_host,
            port=s.smtp_port,
            tls=s.tls_mode,
            sender=s.alert_from_email,
            timeout=s.notify_timeout_seconds,
            user=s.smtp_user,
            password=s.smtp_pass.get_secret_value() if s.smtp_pass else None,
            tls_context=ctx,
        )

    async def send(self, n: Notification, target: Target) -> int:
        msg = self._message(
            target, render.email_subject(n), render.email_text(n), render.email_html(n)
        )
        msg["X-Kumowatch-Idempotency-Key"] = render.header_safe(n.idempotency_key(self.channel))
        return await self._send(msg, target)

    async def send_test(self, target: Target) -> int:
        subject, text, html_part = render.test_email()
        return await self._send(self._message(target, subject, text, html_part), target)

    def _message(self, target: Target, subject: str, text: str, html_part: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = ", ".join(target.recipients)
        msg["Subject"] = subject
        msg.set_content(text)
        msg.add_alternative(html_part, subtype="html")
        return msg

    async def _send(self, msg: EmailMessage, target: Target) -> int:
        if self.host is None or not target.recipients:
            raise ChannelNotConfiguredError(self.channel)
        try:
            responses, _ = await aiosmtplib.send(
                msg,
                hostname=self.host,
                port=self.port,
                username=self.user,
                password=self.password,
                use_tls=self.tls == "tls",
                start_tls=self.tls == "starttls",
                timeout=self.timeout,
                tls_context=self.tls_context,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise _by_code(self.channel, min(codes, default=550), "all recipients refused") from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(self.channel, exc.code, f"SMTP {exc.code}") from exc
        except aiosmtplib.SMTPNotSupported as exc:
            raise PermanentChannelError(self.channel, f"not supported: {exc}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise RetryableChannelError(
                self.channel, f"SMTP connection error: {type(exc).__name__}"
            ) from exc
        refused = [code for code, _ in responses.values() if code >= 400]
        if refused:
            # Some recipients accepted the message: retrying would duplicate it for them.
            raise PermanentChannelError(
                self.channel, f"{len(refused)} recipient(s) refused", status_code=max(refused)
            )
        return 250


def _by_code(
    channel: str, code: int, message: str
) -> PermanentChannelError | RetryableChannelError:
    if 400 <= code < 500:
        return RetryableChannelError(channel, message, status_code=code)
    return PermanentChannelError(channel, message, status_code=code)
