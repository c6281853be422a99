"""The notifier's settings: one frozen class, read once in ``main()`` and passed down."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from kumowatch_common.events import CHANNELS, Channel
from kumowatch_common.settings import ServiceSettings

TlsMode = Literal["starttls", "tls", "none"]


class Settings(ServiceSettings):
    """Environment variables of ``kumowatch-notifier`` (see the service README)."""

    notifier_port: int = Field(default=3004, ge=0, le=65535)

    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_pass: SecretStr | None = None
    smtp_tls: TlsMode | None = Field(
        default=None,
        description="starttls | tls (implicit) | none; default tls on 465, else starttls",
    )
    smtp_ca_file: str | None = Field(
        default=None, description="extra CA bundle for the SMTP server"
    )
    alert_from_email: str = "alerts@kumomta.local"
    alert_email_to: str = Field(default="", description="comma-separated default recipients")

    slack_webhook_url: SecretStr | None = None
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None

    notify_deadline_seconds: float = Field(default=300.0, gt=0)
    notify_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    notify_retry_base_seconds: float = Field(default=1.0, gt=0)
    notify_retry_max_seconds: float = Field(default=60.0, gt=0)
    notify_ack_wait_seconds: float = Field(default=30.0, ge=1, le=3600)
    notify_resolved: str = Field(
        default="email,slack,webhook", description="channels that get resolved notifications"
    )
    notify_concurrency: int = Field(default=64, ge=1, le=10_000)
    notify_consumer: str = Field(default="notifier", pattern=r"^[A-Za-z0-9_-]+$")
    notify_start_lookback_seconds: float = Field(default=300.0, ge=0)
    notify_summary_interval_seconds: float = Field(default=1.0, gt=0, le=60)

    @field_validator("smtp_host", "smtp_user", "webhook_url", "smtp_ca_file", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("slack_webhook_url", "smtp_pass", "webhook_secret", mode="before")
    @classmethod
    def _blank_secret_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("notify_resolved")
    @classmethod
    def _known_channels(cls, value: str) -> str:
        for name in _split(value):
            if name not in CHANNELS:
                raise ValueError(f"unknown channel {name!r}; use email, slack, webhook")
        return value

    @property
    def email_to(self) -> list[str]:
        """Default email recipients."""
        return _split(self.alert_email_to)

    @property
    def resolved_channels(self) -> frozenset[Channel]:
        """Channels that receive resolved notifications."""
        return frozenset(c for c in CHANNELS if c in _split(self.notify_resolved))

    @property
    def tls_mode(self) -> TlsMode:
        """The effective SMTP transport security."""
        if self.smtp_tls is not None:
            return self.smtp_tls
        return "tls" if self.smtp_port == 465 else "starttls"


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]
