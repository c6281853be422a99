"""JetStream streams and KV buckets, provisioned idempotently by every service at start.

``provision()`` creates what is missing and updates what exists to the configured limits; it never
deletes a stream or bucket, and never purges data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Final

from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

from kumowatch_common import subjects

log = logging.getLogger(__name__)

STREAM_SNAPSHOTS: Final = "KUMOMTA_SNAPSHOTS"
STREAM_EVENTS: Final = "KUMOMTA_EVENTS"
STREAM_ALERTS: Final = "ALERTS"
STREAM_NOTIFICATIONS: Final = "NOTIFICATIONS"

BUCKET_RULES: Final = "kumowatch_rules"
BUCKET_ALERT_STATE: Final = "kumowatch_alert_state"
BUCKET_PENDING: Final = "kumowatch_alert_pending"
BUCKET_ACKS: Final = "kumowatch_alert_acks"
BUCKET_THROTTLE: Final = "kumowatch_throttle"
BUCKET_SILENCES: Final = "kumowatch_silences"
BUCKET_LEASES: Final = "kumowatch_leases"

HOUR: Final = 3600.0
DAY: Final = 24 * HOUR


@dataclass(frozen=True, slots=True)
class Retention:
    """Limits, all overridable through settings (``StreamSettings``)."""

    replicas: int = 1
    snapshots_max_age: float = HOUR
    snapshots_max_bytes: int = 2 * 1024**3
    events_max_age: float = DAY
    events_max_bytes: int = 4 * 1024**3
    events_duplicate_window: float = 30 * 60.0
    alerts_max_age: float = 30 * DAY
    notifications_max_age: float = 7 * DAY
    lease_ttl: float = 15.0
    # A pending entry is written once, when its series starts pending: a `for` longer than this
    # starts over if the alerter restarts after it expired.
    pending_max_age: float = 7 * DAY
    max_msg_size: int = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Topology:
    """The stream and bucket configurations derived from one :class:`Retention`."""

    streams: list[StreamConfig] = field(default_factory=list)
    buckets: list[KeyValueConfig] = field(default_factory=list)


def topology(r: Retention) -> Topology:
    """Every stream and bucket kumowatch uses, with its limits."""
    streams = [
        StreamConfig(
            name=STREAM_SNAPSHOTS,
            description="KumoMTA snapshots per node: metrics, queues, providers, status, states",
            subjects=[subjects.ALL_SNAPSHOTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=r.snapshots_max_age,
            max_bytes=r.snapshots_max_bytes,
            max_msg_size=r.max_msg_size,
            num_replicas=r.replicas,
            duplicate_window=120.0,
        ),
        StreamConfig(
            name=STREAM_EVENTS,
            description="KumoMTA log records by node and record type",
            subjects=[subjects.ALL_EVENTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=r.events_max_age,
            max_bytes=r.events_max_bytes,
            max_msg_size=r.max_msg_size,
            num_replicas=r.replicas,
            duplicate_window=r.events_duplicate_window,
        ),
        StreamConfig(
            name=STREAM_ALERTS,
            description="Alert transitions: firing, resolved, acknowledged, silenced",
            subjects=[subjects.ALL_ALERTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=r.alerts_max_age,
            num_replicas=r.replicas,
            duplicate_window=15 * 60.0,
        ),
        StreamConfig(
            name=STREAM_NOTIFICATIONS,
            description="Notification attempt outcomes and dead letters",
            subjects=[subjects.ALL_NOTIFICATIONS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=r.notifications_max_age,
            num_replicas=r.replicas,
            duplicate_window=15 * 60.0,
        ),
    ]
    buckets = [
        KeyValueConfig(
            bucket=BUCKET_RULES, description="alert rules", history=5, replicas=r.replicas
        ),
        KeyValueConfig(
            bucket=BUCKET_ALERT_STATE,
            description="active alerts by alert id",
            history=1,
            replicas=r.replicas,
        ),
        KeyValueConfig(
            bucket=BUCKET_PENDING,
            description="pending alerts (the start of their `for`) by rule and series",
            history=1,
            replicas=r.replicas,
            ttl=r.pending_max_age,
        ),
        KeyValueConfig(
            bucket=BUCKET_ACKS,
            description="acknowledgements by alert id",
            history=1,
            replicas=r.replicas,
            ttl=r.alerts_max_age,
        ),
        KeyValueConfig(
            bucket=BUCKET_THROTTLE,
            description="notification throttle windows",
            history=1,
            replicas=r.replicas,
            ttl=DAY,
        ),
        KeyValueConfig(
            bucket=BUCKET_SILENCES, description="silences", history=5, replicas=r.replicas
        ),
        KeyValueConfig(
            bucket=BUCKET_LEASES,
            description="work leases (one key per item)",
            history=1,
            replicas=r.replicas,
            ttl=r.lease_ttl,
        ),
    ]
    return Topology(streams=streams, buckets=buckets)


async def provision(js: JetStreamContext, r: Retention) -> dict[str, KeyValue]:
    """Create or update every stream and bucket; return the buckets by name."""
    topo = topology(r)
    for cfg in topo.streams:
        await _ensure_stream(js, cfg)
    buckets: dict[str, KeyValue] = {}
    for kv_cfg in topo.buckets:
        buckets[kv_cfg.bucket] = await _ensure_bucket(js, kv_cfg)
    return buckets


async def _ensure_stream(js: JetStreamContext, cfg: StreamConfig) -> None:
    assert cfg.name is not None
    try:
        info = await js.stream_info(cfg.name)
    except NotFoundError:
        await js.add_stream(cfg)
        log.info("stream created", extra={"stream": cfg.name})
        return
    current = info.config
    # Replica count can only change on a cluster; never shrink subjects.
    if cfg.subjects and current.subjects:
        cfg.subjects = sorted(set(current.subjects) | set(cfg.subjects))
    if _differs(current, cfg):
        await js.update_stream(cfg)
        log.info("stream updated", extra={"stream": cfg.name})


def _differs(current: StreamConfig, wanted: StreamConfig) -> bool:
    fields = (
        "subjects",
        "max_age",
        "max_bytes",
        "max_msg_size",
        "num_replicas",
        "duplicate_window",
        "description",
        "discard",
    )
    return any(_norm(getattr(current, f)) != _norm(getattr(wanted, f)) for f in fields)


def _norm(value: object) -> object:
    # The server reports "no limit" as -1 where the config object says None.
    return None if value in (None, -1) else value


async def _ensure_bucket(js: JetStreamContext, cfg: KeyValueConfig) -> KeyValue:
    try:
        kv = await js.key_value(cfg.bucket)
    except (NotFoundError, Exception) as exc:
        if not _is_not_found(exc):
            raise
        kv = await js.create_key_value(cfg)
        log.info("bucket created", extra={"bucket": cfg.bucket})
        return kv
    stream = f"KV_{cfg.bucket}"
    info = await js.stream_info(stream)
    current = info.config
    want_age = cfg.ttl or 0.0
    if (
        (current.max_age or 0.0) != want_age
        or (current.max_msgs_per_subject or 1) != cfg.history
        or (current.num_replicas or 1) != cfg.replicas
    ):
        current.max_age = want_age
        current.max_msgs_per_subject = cfg.history
        current.num_replicas = cfg.replicas
        if want_age and current.duplicate_window and current.duplicate_window > want_age:
            # The server refuses a dedup window longer than the max age.
            current.duplicate_window = want_age
        await js.update_stream(current)
        log.info("bucket updated", extra={"bucket": cfg.bucket})
    return kv


def _is_not_found(exc: Exception) -> bool:
    return isinstance(exc, NotFoundError) or "not found" in str(exc).lower()
