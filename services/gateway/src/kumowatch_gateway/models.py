"""Request, query and response models of the REST API (the OpenAPI document is built from them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from kumowatch_common.events import (
    Alert,
    AlertRule,
    Channel,
    ConnectionStatus,
    Matcher,
    NotificationOutcome,
    OutcomeKind,
    QueueUpdate,
    Severity,
    Silence,
)

Text = Field(default=None, max_length=200)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Query(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --------------------------------------------------------------------------- queries


class AlertsQuery(_Query):
    """``GET /api/alerts``: the seed's ``acknowledged`` and ``limit`` plus more filters."""

    acknowledged: bool | None = Field(default=None, description="true or false; absent: both")
    status: Literal["pending", "firing", "resolved"] | None = None
    ruleId: str | None = Field(default=None, max_length=200)
    severity: Severity | None = None
    limit: int = Field(default=100, ge=1, le=10_000)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class QueuesQuery(_Query):
    """``GET /api/queues``: filters (globs), sort and page."""

    node: str | None = Field(default=None, max_length=200, description="glob")
    kind: Literal["scheduled", "ready"] | None = None
    queue: str | None = Field(default=None, max_length=500, description="glob on queueName")
    tenant: str | None = Field(default=None, max_length=200, description="glob")
    domain: str | None = Field(default=None, max_length=255, description="glob")
    provider: str | None = Field(default=None, max_length=200, description="glob")
    sort: Literal["size", "name"] = "size"
    order: Literal["asc", "desc"] | None = Field(
        default=None, description="default: desc for size, asc for name"
    )
    offset: int = Field(default=0, ge=0, le=10_000_000)
    limit: int = Field(default=100, ge=1, le=1000)


class NodeQuery(_Query):
    node: str | None = Field(default=None, max_length=200, description="glob")


class ProvidersQuery(_Query):
    node: str | None = Field(default=None, max_length=200, description="glob")
    provider: str | None = Field(default=None, max_length=200, description="glob")


class NotificationsQuery(_Query):
    outcome: OutcomeKind | None = None
    alertId: str | None = Field(default=None, max_length=200)
    channel: Channel | None = None
    limit: int = Field(default=100, ge=1, le=10_000)


class SilencesQuery(_Query):
    active: bool | None = Field(default=None, description="only silences in effect now")


# --------------------------------------------------------------------------- bodies


class AcknowledgeRequest(_Strict):
    note: str | None = Field(default=None, max_length=2000)


class ToggleRequest(_Strict):
    enabled: StrictBool


class SilenceCreate(_Strict):
    """A new silence: matchers, and an end (``endsAt`` epoch ms or ``durationMs``)."""

    matchers: list[Matcher] = Field(min_length=1, max_length=50)
    startsAt: int | None = Field(default=None, ge=0, description="epoch ms; default now")
    endsAt: int | None = Field(default=None, ge=0, description="epoch ms")
    durationMs: int | None = Field(default=None, gt=0, le=365 * 24 * 3600 * 1000)
    comment: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _has_end(self) -> SilenceCreate:
        if (self.endsAt is None) == (self.durationMs is None):
            raise ValueError("give exactly one of endsAt or durationMs")
        return self


class TestNotificationRequest(_Strict):
    channel: Channel
    target: str | None = Field(
        default=None, max_length=2000, description="email address or URL overriding the default"
    )


# --------------------------------------------------------------------------- responses


class FieldErrorModel(BaseModel):
    field: str
    message: str


class ErrorResponse(BaseModel):
    success: Literal[False] = False
    message: str
    errors: list[FieldErrorModel] | None = None


class SuccessMessage(BaseModel):
    success: bool
    message: str


class RuleResponse(BaseModel):
    success: bool
    rule: AlertRule


class ToggleResponse(BaseModel):
    success: bool
    message: str
    rule: AlertRule


class AcknowledgeResponse(BaseModel):
    success: bool
    message: str
    alert: Alert | None = None


class AlertDetail(BaseModel):
    alert: Alert
    rule: AlertRule | None = None
    notifications: list[NotificationOutcome]


class QueuesPage(BaseModel):
    total: int
    items: list[QueueUpdate]


class SilenceResponse(BaseModel):
    success: bool
    silence: Silence


class TestNotificationResult(BaseModel):
    success: bool
    channel: Channel
    ok: bool
    error: str | None = None
    statusCode: int | None = None


class NatsHealth(BaseModel):
    connected: bool
    synced: bool


class KumoHealth(BaseModel):
    nodes: list[ConnectionStatus]
    healthy: int
    degraded: int
    down: int


class HealthResponse(BaseModel):
    """The seed's ``{status, timestamp, uptime}`` plus NATS and KumoMTA detail."""

    status: Literal["healthy", "degraded"]
    timestamp: str
    uptime: float
    instance: str
    nats: NatsHealth
    kumomta: KumoHealth


class Me(BaseModel):
    userId: str
    username: str
    roles: list[str]
    exp: int
