"""The per-series alert state machine: inactive → pending (``for``) → firing → resolved.

Prometheus semantics: a series whose condition holds becomes pending, and fires once it has held
for ``for`` (at once when ``for`` is 0); a pending series whose condition clears is dropped
silently; a firing one resolves when the condition clears, or ``keepFiringFor`` after that. A
firing series that disappears (its queue or provider is no longer reported, or its ratio can no
longer be judged) resolves after the grace period (or ``keepFiringFor``, if longer).

Alert ids are deterministic: sha256 over rule id, sorted labels and ``startsAt``, so a replayed or
duplicated transition carries the same id and JetStream's ``Nats-Msg-Id`` dedup drops it.

A rule with ``for`` also yields internal ``pending`` and ``dropped`` transitions (never published
on a subject): the publisher keeps each pending series in the pending bucket, so a restarted or
replacing alerter continues its ``for`` from when the series started pending, not from zero.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from kumowatch_alerter import text
from kumowatch_alerter.compiled import CompiledRule
from kumowatch_common.events import Alert, AlertRule, AlertStatus

TransitionKind = Literal["firing", "resolved", "pending", "dropped"]
Labels = dict[str, str]


@dataclass(frozen=True, slots=True)
class Transition:
    """One alert transition to publish."""

    event: TransitionKind
    alert: Alert
    rule: AlertRule


def _label_text(labels: Labels) -> str:
    return "\x1f".join(f"{k}={v}" for k, v in sorted(labels.items()))


def fingerprint(rule_id: str, labels: Labels) -> str:
    """Identity of a series of a rule (stable over its alerts)."""
    return hashlib.sha256(f"{rule_id}\x1e{_label_text(labels)}".encode()).hexdigest()[:16]


def alert_id(rule_id: str, labels: Labels, starts_at: int) -> str:
    """Identity of one alert: one firing episode of one series."""
    raw = f"{rule_id}\x1e{_label_text(labels)}\x1e{starts_at}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


class SeriesState:
    """A series that is pending or firing."""

    __slots__ = (
        "active_since",
        "alert",
        "cond",
        "keep_since",
        "labels",
        "missing_since",
        "reason",
        "status",
        "value",
    )

    def __init__(self, labels: Labels, value: float, now: int, reason: str | None) -> None:
        self.labels = labels
        self.value = value
        self.active_since = now
        self.status: Literal["pending", "firing"] = "pending"
        self.cond = True
        self.keep_since: int | None = None
        self.missing_since: int | None = None
        self.alert: Alert | None = None
        self.reason = reason

    @classmethod
    def restored(cls, alert: Alert) -> SeriesState:
        """A firing series rebuilt from the alert-state bucket, or a pending one from the
        pending bucket (its ``for`` runs from ``startsAt``; it fires once its condition is seen
        to hold again)."""
        st = cls(dict(alert.labels), alert.value, alert.startsAt, None)
        st.status = "firing" if alert.status == "firing" else "pending"
        st.cond = st.status == "firing"
        st.alert = alert
        return st


States = dict[str, SeriesState]


def _alert_labels(cr: CompiledRule, series: Labels) -> Labels:
    labels = dict(series)
    for key, value in cr.rule.labels.items():
        labels.setdefault(key, value)
    return labels


def _alert(cr: CompiledRule, st: SeriesState, at: int, status: AlertStatus) -> Alert:
    """The series' alert as of ``at`` (its start: the id is derived from it)."""
    labels = _alert_labels(cr, st.labels)
    return Alert(
        id=alert_id(cr.id, labels, at),
        ruleId=cr.id,
        ruleName=cr.rule.name,
        severity=cr.rule.severity,
        message=text.firing(cr, labels, st.value, st.reason),
        value=st.value,
        threshold=cr.threshold,
        timestamp=at,
        status=status,
        labels=labels,
        fingerprint=fingerprint(cr.id, labels),
        startsAt=at,
    )


def pending(cr: CompiledRule, st: SeriesState) -> Transition:
    """A series starts its ``for``: the transition the publisher keeps in the pending bucket."""
    st.alert = _alert(cr, st, st.active_since, "pending")
    return Transition("pending", st.alert, cr.rule)


def _drop(
    cr: CompiledRule, states: States, key: str, st: SeriesState, out: list[Transition]
) -> None:
    """Forget a pending series (its condition cleared before ``for``)."""
    del states[key]
    if st.alert is not None:
        out.append(Transition("dropped", st.alert, cr.rule))


def fire(cr: CompiledRule, st: SeriesState, now: int) -> Transition:
    alert = _alert(cr, st, now, "firing")
    st.status = "firing"
    st.alert = alert
    st.keep_since = None
    return Transition("firing", alert, cr.rule)


def resolve(cr: CompiledRule, st: SeriesState, now: int, why: str) -> Transition:
    assert st.alert is not None
    alert = st.alert.model_copy(
        update={
            "status": "resolved",
            "endsAt": now,
            "timestamp": now,
            "value": st.value,
            "message": text.resolved(cr, st.alert.labels, st.value, why),
        }
    )
    return Transition("resolved", alert, cr.rule)


def observe_true(
    cr: CompiledRule,
    states: States,
    key: str,
    value: float,
    labels: Callable[[], Labels],
    now: int,
    out: list[Transition],
    reason: str | None = None,
) -> None:
    """The series' condition holds now."""
    st = states.get(key)
    if st is None:
        st = SeriesState(labels(), value, now, reason)
        states[key] = st
        if cr.for_ms > 0:
            out.append(pending(cr, st))
    else:
        st.value = value
        st.cond = True
        st.keep_since = None
        st.missing_since = None
        if reason is not None:
            st.reason = reason
    if st.status == "pending" and now - st.active_since >= cr.for_ms:
        out.append(fire(cr, st, now))


def observe_false(
    cr: CompiledRule, states: States, key: str, value: float, now: int, out: list[Transition]
) -> None:
    """The series is reported and its condition does not hold."""
    st = states.get(key)
    if st is None:
        return
    st.value = value
    st.cond = False
    st.missing_since = None
    if st.status == "pending":
        _drop(cr, states, key, st, out)
        return
    if cr.keep_ms <= 0:
        del states[key]
        out.append(resolve(cr, st, now, "cleared"))
        return
    if st.keep_since is None:
        st.keep_since = now
    elif now - st.keep_since >= cr.keep_ms:
        del states[key]
        out.append(resolve(cr, st, now, "cleared"))


def observe_missing(
    cr: CompiledRule,
    states: States,
    key: str,
    now: int,
    grace_ms: int,
    out: list[Transition],
    since: int | None = None,
) -> None:
    """The series is not reported (or cannot be judged) now."""
    st = states.get(key)
    if st is None:
        return
    if st.status == "pending":
        _drop(cr, states, key, st, out)
        return
    st.cond = False
    if st.missing_since is None:
        st.missing_since = now if since is None else since
    if now - st.missing_since >= max(grace_ms, cr.keep_ms):
        del states[key]
        out.append(resolve(cr, st, now, "missing"))


def advance(
    cr: CompiledRule, states: States, now: int, grace_ms: int, out: list[Transition]
) -> None:
    """Timers only (no new data): pending → firing, keepFiringFor and grace expiry."""
    for key, st in list(states.items()):
        if st.status == "pending":
            if st.cond and now - st.active_since >= cr.for_ms:
                out.append(fire(cr, st, now))
        elif st.missing_since is not None:
            if now - st.missing_since >= max(grace_ms, cr.keep_ms):
                del states[key]
                out.append(resolve(cr, st, now, "missing"))
        elif st.keep_since is not None and now - st.keep_since >= cr.keep_ms:
            del states[key]
            out.append(resolve(cr, st, now, "cleared"))


def resolve_all(
    cr: CompiledRule, states: States, now: int, why: str, out: list[Transition]
) -> None:
    """Resolve every firing series (the rule went away), dropping pending ones."""
    for key, st in list(states.items()):
        if st.status == "firing":
            out.append(resolve(cr, st, now, why))
        else:
            _drop(cr, states, key, st, out)
    states.clear()
