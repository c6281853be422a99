"""Payload contracts for every subject (see ``subjects``) and for the KV buckets.

Field names follow the seed server's TypeScript types where it defines them (``QueueUpdate``,
``MetricsUpdate``, ``MessageStatus``, ``ConnectionStatus``, ``Alert``, ``AlertRule``): camelCase,
timestamps in epoch milliseconds. Everything else is additive. Every payload carries
``schema_version``; consumers ignore versions newer than they know only where stated.
"""

from __future__ import annotations

from typing import Any, Final, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Final = 1

Severity = Literal["info", "warning", "error", "critical"]
KumoStatus = Literal["healthy", "degraded", "down"]
Channel = Literal["email", "slack", "webhook"]
CHANNELS: Final[tuple[Channel, ...]] = ("email", "slack", "webhook")

M = TypeVar("M", bound="Contract")


class Contract(BaseModel):
    """Base of every wire payload: strict fields, a schema version, orjson encoding."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    schema_version: int = SCHEMA_VERSION

    def to_bytes(self) -> bytes:
        """Encode for the wire (by alias, so ``for`` stays ``for``)."""
        return orjson.dumps(self.model_dump(mode="json", by_alias=True))

    @classmethod
    def from_bytes(cls: type[M], data: bytes | str) -> M:
        """Decode and validate one payload."""
        return cls.model_validate_json(data)


# --------------------------------------------------------------------------- snapshots (poller)


class MetricsUpdate(Contract):
    """``kumomta.v1.<node>.metrics``: one node's aggregates for one poll.

    ``delivered``/``bounced``/``deferred``/``received`` are KumoMTA's cumulative counters since the
    node started (``total_messages_{delivered,fail,transfail}{service="smtp_client"}`` and
    ``total_messages_received``); the ``*PerSec`` rates and ``throughput`` are counter deltas over
    the poll interval (monotonic time), 0 when no previous sample or after a reset.
    """

    node: str
    delivered: float
    bounced: float
    deferred: float
    received: float = 0
    throughput: float = Field(description="deliveries per second over the last interval")
    timestamp: int = Field(description="epoch ms when the poll completed")
    deliveredPerSec: float = 0
    bouncedPerSec: float = 0
    deferredPerSec: float = 0
    receivedPerSec: float = 0
    bounceRatio: float | None = Field(
        default=None, description="bounced / (delivered + bounced) over the interval, percent"
    )
    deferralRatio: float | None = Field(
        default=None,
        description="deferred / (delivered + bounced + deferred) over the interval, percent",
    )
    intervalSeconds: float = 0
    counterReset: bool = Field(
        default=False, description="a counter went down or online_since changed: new baseline"
    )
    onlineSince: str | None = None
    scheduledTotal: float = 0
    readyTotal: float = 0
    scheduledQueueCount: float = 0
    connectionsOut: float = 0
    connectionsIn: float = 0
    connectionsDenied: float = 0
    diskFreePercent: float | None = Field(default=None, description="lowest over monitored paths")
    diskFree: dict[str, float] = Field(default_factory=dict, description="percent by path name")
    memoryUsage: float | None = None
    memoryLimit: float | None = None
    memoryRatio: float | None = Field(default=None, description="usage / limit, percent")
    messageCount: float | None = None
    logHookBacklog: float = 0
    seq: int = 0


class QueueUpdate(Contract):
    """One queue in a ``queues`` snapshot; the seed's QueueUpdate plus labels.

    ``kind="scheduled"``: ``queueName`` is ``campaign:tenant@domain[!routing]``, ``scheduled`` is
    ``scheduled_count``. ``kind="ready"``: ``queueName`` is ``source->site@proto``, ``ready`` is
    ``ready_count``. ``size`` is ``scheduled + ready``.
    """

    queueName: str
    size: float
    ready: float = 0
    scheduled: float = 0
    timestamp: int
    node: str
    kind: Literal["scheduled", "ready"] = "scheduled"
    tenant: str | None = None
    campaign: str | None = None
    domain: str | None = None
    routingDomain: str | None = None
    source: str | None = None
    site: str | None = None
    protocol: str | None = None
    provider: str | None = None
    connections: float | None = None
    suspended: bool = False


class QueuesSnapshot(Contract):
    """``kumomta.v1.<node>.queues``: one chunk of a node's queue list.

    A poll publishes ``chunks`` messages sharing ``seq``; a consumer has the whole list when it has
    chunk ``0..chunks-1`` of one ``seq``.
    """

    node: str
    seq: int
    chunk: int = 0
    chunks: int = 1
    timestamp: int
    totalQueues: int = 0
    queues: list[QueueUpdate] = Field(default_factory=list)


class ProviderStats(Contract):
    """Per provider (KumoMTA's ``provider`` label: shaping provider or MX site)."""

    provider: str
    delivered: float = 0
    failed: float = 0
    transfailed: float = 0
    deliveredPerSec: float = 0
    failedPerSec: float = 0
    transfailedPerSec: float = 0
    bounceRatio: float | None = None
    queued: float = 0
    connections: float = 0


class ProvidersSnapshot(Contract):
    """``kumomta.v1.<node>.providers``: per-provider counters (cumulative) and rates."""

    node: str
    seq: int = 0
    timestamp: int
    counterReset: bool = False
    providers: list[ProviderStats] = Field(default_factory=list)


class ConnectionStatus(Contract):
    """``kumomta.v1.<node>.status``: the seed's ConnectionStatus plus node and reason."""

    connected: bool
    kumoMtaStatus: KumoStatus
    timestamp: int
    node: str
    reason: str | None = None
    version: str | None = None
    nodeId: str | None = None
    hostname: str | None = None
    onlineSince: str | None = None
    lastSuccessAt: int | None = None
    latencyMs: float | None = None


class Suspension(Contract):
    """An admin or automation suspension of a scheduled (``kind="scheduled"``) or ready queue."""

    kind: Literal["scheduled", "ready"]
    id: str
    reason: str
    duration: str | None = None
    campaign: str | None = None
    tenant: str | None = None
    domain: str | None = None
    name: str | None = Field(default=None, description="ready queue name, for kind=ready")
    expires: str | None = None


class AdminBounceEntry(Contract):
    """An entry of ``/api/admin/bounce/v1``."""

    id: str
    reason: str
    duration: str | None = None
    campaign: str | None = None
    tenant: str | None = None
    domain: str | None = None
    routingDomain: str | None = None
    bounced: dict[str, float] = Field(default_factory=dict)
    totalBounced: float = 0


class ReadyQueueState(Contract):
    """One entry of ``ready-q-states``: a ready queue that is connection limited or throttled."""

    queueName: str
    state: str
    context: str | None = None
    since: str | None = None


class StatesSnapshot(Contract):
    """``kumomta.v1.<node>.states``: suspensions, admin bounces, ready-queue states."""

    node: str
    timestamp: int
    suspensions: list[Suspension] = Field(default_factory=list)
    bounces: list[AdminBounceEntry] = Field(default_factory=list)
    readyQueueStates: list[ReadyQueueState] = Field(default_factory=list)


# --------------------------------------------------------------------------- log events


class MessageStatus(Contract):
    """The seed's MessageStatus, derived from a log record."""

    messageId: str
    status: Literal["queued", "delivered", "bounced", "deferred", "failed"]
    queue: str
    timestamp: int
    details: str | None = None


class KumoLogRecord(BaseModel):
    """KumoMTA's JSON log record. Tolerant: unknown fields are kept, most fields optional."""

    model_config = ConfigDict(extra="allow")

    type: str
    id: str
    sender: str | None = None
    recipient: str | list[str] | None = None
    queue: str | None = None
    site: str | None = None
    size: int | None = None
    response: dict[str, Any] | None = None
    peer_address: dict[str, Any] | None = None
    timestamp: int | float
    event_time: str | None = None
    created: int | float | None = None
    created_time: str | None = None
    num_attempts: int | None = None
    bounce_classification: str | None = None
    egress_pool: str | None = None
    egress_source: str | None = None
    source_address: dict[str, Any] | None = None
    feedback_report: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    headers: dict[str, Any] | None = None
    delivery_protocol: str | None = None
    reception_protocol: str | None = None
    nodeid: str | None = None
    provider_name: str | None = None
    session_id: str | None = None


class KumoLogEvent(Contract):
    """``kumomta.v1.<node>.events.<type>``: one log record as received, plus a status summary."""

    node: str
    receivedAt: int
    record: KumoLogRecord
    status: MessageStatus
    dedupId: str = Field(description="the Nats-Msg-Id it was published with")


# --------------------------------------------------------------------------- rules and alerts

ConditionType = Literal[
    "queue_depth",
    "bounce_rate",
    "delivery_rate",
    "domain_suspension",
    "system_health",
    "deferral_rate",
    "provider_bounce_rate",
    "event_count",
    "event_ratio",
]
Operator = Literal[">", "<", ">=", "<=", "==", "!="]
Aggregation = Literal["avg", "sum", "max", "min"]


class EventMatch(BaseModel):
    """Which log records an event rule counts. Empty lists match anything; globs use fnmatch."""

    model_config = ConfigDict(extra="forbid")
    types: list[str] = Field(default_factory=list)
    bounceClassifications: list[str] = Field(default_factory=list)
    domain: str | None = None
    provider: str | None = None
    tenant: str | None = None


class AlertCondition(BaseModel):
    """The seed's AlertCondition plus the fields the added condition types need.

    ``timeWindow`` is in ms. ``metric`` selects a sub-signal for ``system_health``
    (``deferred_ratio`` by default, ``disk_free_percent``, ``memory_ratio``, ``liveness``) and the
    queue kind for ``queue_depth`` (``scheduled`` by default or ``ready``). ``groupBy`` is
    ``node`` (default) or ``provider`` for ratio rules. Event rules use ``match`` (the records
    counted) and, for ``event_ratio``, ``of`` (the denominator).
    """

    model_config = ConfigDict(extra="forbid")
    type: ConditionType
    operator: Operator
    threshold: float
    timeWindow: int | None = Field(default=None, ge=0)
    aggregation: Aggregation | None = None
    metric: str | None = None
    groupBy: Literal["node", "provider", "queue", "domain", "tenant"] | None = None
    match: EventMatch | None = None
    of: EventMatch | None = None


class Throttle(BaseModel):
    """At most ``maxAlerts`` notifications per ``period`` ms, window opened by the first."""

    model_config = ConfigDict(extra="forbid")
    period: int = Field(gt=0)
    maxAlerts: int = Field(gt=0)


class Scope(BaseModel):
    """Globs (fnmatch) restricting which series a rule evaluates; None matches everything."""

    model_config = ConfigDict(extra="forbid")
    node: str | None = None
    queue: str | None = None
    tenant: str | None = None
    domain: str | None = None
    provider: str | None = None


class Recipients(BaseModel):
    """Per-rule channel targets overriding the notifier's defaults."""

    model_config = ConfigDict(extra="forbid")
    email: list[str] = Field(default_factory=list)
    slack: str | None = Field(default=None, description="incoming-webhook URL")
    webhook: str | None = None


class AlertRule(Contract):
    """A rule as stored in the ``rules`` bucket; the seed's fields plus lifecycle controls.

    ``for``, ``keepFiringFor`` are in ms (Prometheus semantics). ``minVolume`` is the least number
    of messages (denominator) in the window for a ratio to be judged.
    """

    id: str
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    enabled: bool = True
    severity: Severity
    condition: AlertCondition
    channels: list[Channel] = Field(default_factory=list)
    throttle: Throttle | None = None
    scope: Scope = Field(default_factory=Scope)
    for_: int = Field(default=0, ge=0, alias="for")
    keepFiringFor: int = Field(default=0, ge=0)
    minVolume: float = Field(default=0, ge=0)
    labels: dict[str, str] = Field(default_factory=dict)
    recipients: Recipients = Field(default_factory=Recipients)
    builtin: bool = False
    createdAt: int | None = None
    updatedAt: int | None = None


AlertStatus = Literal["pending", "firing", "resolved"]


class Alert(Contract):
    """The seed's Alert (``id ... acknowledged``) plus lifecycle fields.

    ``id`` is deterministic: a hash of the rule id, the series labels and ``startsAt``.
    """

    id: str
    ruleId: str
    ruleName: str
    severity: Severity
    message: str
    value: float
    threshold: float
    timestamp: int
    acknowledged: bool = False
    status: AlertStatus = "firing"
    labels: dict[str, str] = Field(default_factory=dict)
    fingerprint: str = ""
    startsAt: int
    endsAt: int | None = None
    acknowledgedBy: str | None = None
    acknowledgedAt: int | None = None
    ackNote: str | None = None
    silencedBy: list[str] = Field(default_factory=list)


AlertEventKind = Literal["firing", "resolved", "acknowledged", "silenced"]


class AlertEvent(Contract):
    """``alerts.v1.<rule_id>.<state>``: one transition, with the rule as it was when decided."""

    event: AlertEventKind
    alert: Alert
    rule: AlertRule


class Acknowledgement(Contract):
    """A value of the acks bucket (key: alert id)."""

    alertId: str
    by: str
    at: int
    note: str | None = None


class Matcher(BaseModel):
    """Alertmanager-style label matcher: ``=``, ``!=``, ``=~``, ``!~``."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    value: str
    op: Literal["=", "!=", "=~", "!~"] = "="


class Silence(Contract):
    """A value of the silences bucket: mutes notifications of matching alerts in [start, end)."""

    id: str
    matchers: list[Matcher] = Field(min_length=1)
    startsAt: int
    endsAt: int
    createdBy: str
    comment: str = ""
    createdAt: int


# --------------------------------------------------------------------------- notifications

OutcomeKind = Literal["sent", "retry", "failed", "dead_letter", "suppressed", "silenced"]


class NotificationOutcome(Contract):
    """``notifications.v1.<channel>.<outcome>``: one attempt (or decision) for one alert event."""

    id: str
    alertId: str
    ruleId: str
    event: AlertEventKind
    channel: Channel
    outcome: OutcomeKind
    attempt: int = 1
    timestamp: int
    idempotencyKey: str
    target: str | None = Field(default=None, description="redacted destination")
    statusCode: int | None = None
    error: str | None = None
    retryable: bool | None = None
    durationMs: float | None = None
    suppressedCount: int = 0
    instance: str | None = Field(default=None, description="notifier replica that made the attempt")
    payload: AlertEvent | None = Field(
        default=None, description="the alert event, kept on dead_letter records for replay"
    )


class NotificationTestRequest(Contract):
    """Request (NATS request/reply on ``subjects.NOTIFIER_TEST``) for a test notification."""

    channel: Channel
    target: str | None = None
    requestedBy: str | None = None


class NotificationTestReply(Contract):
    """Reply to :class:`NotificationTestRequest`."""

    channel: Channel
    ok: bool
    error: str | None = None
    statusCode: int | None = None


class Lease(Contract):
    """A value of the leases bucket."""

    holder: str
    expiresAt: float = Field(description="epoch seconds")
    acquiredAt: float
