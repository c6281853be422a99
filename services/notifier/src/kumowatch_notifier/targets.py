"""Where a rule's notifications go: per-rule recipients, else the service defaults.

A target knows its redacted form (a URL's scheme and host, email addresses) for outcome records;
the full URL, which for Slack is a secret, never leaves this object except to the sender.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from kumowatch_common.events import CHANNELS, AlertRule, Channel
from kumowatch_notifier.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Target:
    """One destination: a URL (Slack, webhook) or recipient addresses (email)."""

    channel: Channel
    url: str = field(default="", repr=False)
    recipients: tuple[str, ...] = ()

    @property
    def redacted(self) -> str:
        """Safe to record: scheme://host[:port] for URLs, addresses for email."""
        if self.channel == "email":
            return ",".join(self.recipients)
        return redact_url(self.url)


def redact_url(url: str) -> str:
    """``https://hooks.example.com/services/T/B/secret`` → ``https://hooks.example.com``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(invalid url)"
    return f"{parts.scheme or '?'}://{host}{port}"


@dataclass(frozen=True, slots=True)
class Defaults:
    """The service-wide targets from the settings."""

    email: tuple[str, ...]
    slack: str | None
    webhook: str | None
    smtp_configured: bool

    @classmethod
    def from_settings(cls, s: Settings) -> Defaults:
        return cls(
            email=tuple(s.email_to),
            slack=s.slack_webhook_url.get_secret_value() if s.slack_webhook_url else None,
            webhook=s.webhook_url,
            smtp_configured=s.smtp_host is not None,
        )

    def unconfigured(self) -> list[str]:
        """Why each channel has no default target (empty when all are configured)."""
        out = []
        if not self.smtp_configured:
            out.append("email: SMTP_HOST not set")
        elif not self.email:
            out.append("email: ALERT_EMAIL_TO not set (per-rule recipients only)")
        if not self.slack:
            out.append("slack: SLACK_WEBHOOK_URL not set (per-rule URLs only)")
        if not self.webhook:
            out.append("webhook: WEBHOOK_URL not set (per-rule URLs only)")
        return out


def resolve(rule: AlertRule, channel: Channel, defaults: Defaults) -> Target | None:
    """The target for one channel of a rule, or None when there is none."""
    rec = rule.recipients
    if channel == "email":
        if not defaults.smtp_configured:
            return None
        recipients = tuple(rec.email) or defaults.email
        return Target("email", recipients=recipients) if recipients else None
    url = (rec.slack or defaults.slack) if channel == "slack" else (rec.webhook or defaults.webhook)
    return Target(channel, url=url) if url else None


def routed_channels(rule: AlertRule) -> list[Channel]:
    """The rule's channels, deduplicated, in canonical order."""
    return [c for c in CHANNELS if c in rule.channels]
