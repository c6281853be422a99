"""The settings base every service's ``config.py`` extends, and the one place that reports bad values.

Settings come from environment variables only. ``load()`` turns a validation error into one clear
line per bad variable and exits with status 2, so a misconfigured pod fails at start, visibly.
"""

from __future__ import annotations

import sys
from typing import TypeVar

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from kumowatch_common.log import register_secret
from kumowatch_common.streams import Retention

S = TypeVar("S", bound="ServiceSettings")


class ServiceSettings(BaseSettings):
    """Settings shared by every service. Environment names are the field names in upper case."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    nats_url: str = Field(
        default="nats://127.0.0.1:4222", description="NATS server URL(s), comma-separated"
    )
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    nats_token: SecretStr | None = None
    log_level: str = Field(default="INFO", pattern=r"(?i)^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    http_host: str = Field(
        default="127.0.0.1", description="bind address of the health/metrics port"
    )
    instance_id: str | None = Field(default=None, description="replica id; default host-pid")
    nats_stream_replicas: int = Field(default=1, ge=1, le=5)
    snapshot_retention_seconds: float = Field(default=3600.0, gt=60)
    snapshot_max_bytes: int = Field(default=2 * 1024**3, gt=0)
    events_retention_seconds: float = Field(default=86400.0, gt=60)
    events_max_bytes: int = Field(default=4 * 1024**3, gt=0)
    lease_ttl_seconds: float = Field(default=15.0, ge=1.0, le=300.0)
    shutdown_grace_seconds: float = Field(default=20.0, gt=0, le=28.0)

    def retention(self) -> Retention:
        """Stream and bucket limits from these settings."""
        return Retention(
            replicas=self.nats_stream_replicas,
            snapshots_max_age=self.snapshot_retention_seconds,
            snapshots_max_bytes=self.snapshot_max_bytes,
            events_max_age=self.events_retention_seconds,
            events_max_bytes=self.events_max_bytes,
            lease_ttl=self.lease_ttl_seconds,
        )

    def secrets(self) -> list[str]:
        """Every secret value, so the log formatter can mask it."""
        out: list[str] = []
        for value in self.__dict__.values():
            if isinstance(value, SecretStr) and value.get_secret_value():
                out.append(value.get_secret_value())
        return out


def format_errors(service: str, exc: ValidationError) -> str:
    """One line per bad variable, naming it in upper case as the operator sets it."""
    lines = []
    for err in exc.errors():
        name = "_".join(str(p) for p in err["loc"]).upper() or "(settings)"
        lines.append(f"{service}: invalid configuration: {name}: {err['msg']}")
    return "\n".join(lines)


def load(cls: type[S], service: str) -> S:
    """Read settings from the environment, or print what is wrong and exit 2."""
    try:
        settings = cls()
    except ValidationError as exc:
        print(format_errors(service, exc), file=sys.stderr)
        raise SystemExit(2) from None
    for secret in settings.secrets():
        register_secret(secret)
    return settings
