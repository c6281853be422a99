"""The pure evaluation core: snapshots and log records in, alert transitions out. No NATS.

Every input method takes one contract (as published by the poller) and returns the transitions it
caused; :meth:`Engine.tick` advances timers (``for``, ``keepFiringFor``, grace, NoData) with the
injected clock. Snapshot rules are judged when their node's data arrives; event rules when a
record arrives (and on ticks, as their windows slide).

A node is *replaying* until :meth:`Engine.go_live`: its data then only fills the windows, so a
restarted or newly assigned alerter rebuilds windows from the stream without re-deciding the past.
While a node is unreachable (status ``down`` or silent for ``nodata_seconds``) only the liveness
rule is judged for it; its other series are frozen rather than resolved for lack of data.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any, Final

from kumowatch_alerter import queues as q
from kumowatch_alerter.compiled import CompiledRule
from kumowatch_alerter.eventrules import EventSeries, classify, group_key, record_labels
from kumowatch_alerter.queuewindows import QueueWindows
from kumowatch_alerter.scope import parse_scheduled, queue_labels
from kumowatch_alerter.statemachine import (
    SeriesState,
    States,
    Transition,
    advance,
    observe_false,
    observe_missing,
    observe_true,
    resolve,
    resolve_all,
)
from kumowatch_alerter.values import node_value, provider_value
from kumowatch_alerter.windows import MetricSample, ProviderSample, prune
from kumowatch_common.clock import Clock
from kumowatch_common.events import (
    Alert,
    AlertCondition,
    AlertRule,
    ConnectionStatus,
    KumoLogEvent,
    MetricsUpdate,
    ProvidersSnapshot,
    QueuesSnapshot,
    StatesSnapshot,
    Suspension,
)

#: Which input keeps a family's series current (for the "data stopped" check on ticks).
FAMILY_INPUT: Final = {
    "queue": "queues",
    "node": "metrics",
    "provider": "providers",
    "suspension": "states",
}


class NodeData:
    """What the engine knows of one KumoMTA node."""

    __slots__ = (
        "arrivals",
        "last_seen",
        "live",
        "metrics",
        "name",
        "provider_names",
        "providers",
        "queues",
        "status",
        "suspensions",
    )

    def __init__(self, name: str, now: int, live: bool) -> None:
        self.name = name
        self.metrics: deque[MetricSample] = deque()
        self.providers: dict[str, deque[ProviderSample]] = {}
        self.provider_names: frozenset[str] = frozenset()
        self.queues = q.NodeQueues()
        self.status: ConnectionStatus | None = None
        self.suspensions: list[Suspension] = []
        self.last_seen = now
        self.arrivals: dict[str, int] = {}
        self.live = live


class Engine:
    """Rules × series → transitions, deterministic for a given clock and input order."""

    def __init__(
        self,
        clock: Clock,
        *,
        nodata_seconds: float = 30.0,
        grace_seconds: float = 60.0,
        auto_nodes: bool = True,
    ) -> None:
        self.clock = clock
        self.nodata_ms = int(nodata_seconds * 1000)
        self.grace_ms = int(grace_seconds * 1000)
        self.auto_nodes = auto_nodes
        self.rules: dict[str, CompiledRule] = {}
        self.nodes: dict[str, NodeData] = {}
        self.states: dict[str, dict[str, States]] = {}
        self.qwindows: dict[str, dict[str, QueueWindows]] = {}
        self.scope_cache: dict[str, dict[str, dict[str, bool]]] = {}
        self.ewindows: dict[str, dict[str, dict[str, EventSeries]]] = {}
        self._family: dict[str, list[CompiledRule]] = {}
        self.keep_ms = 120_000

    # ------------------------------------------------------------------ rules and nodes

    def now(self) -> int:
        return int(self.clock.now() * 1000)

    def set_rules(self, rules: Iterable[AlertRule]) -> list[Transition]:
        """Replace the rule set. Alerts of removed, disabled or reshaped rules resolve."""
        now, out = self.now(), list[Transition]()
        new = {r.id: CompiledRule.of(r) for r in rules if r.enabled}
        for rid, old in self.rules.items():
            cr = new.get(rid)
            if cr is not None and cr.same_series_shape(old):
                if cr.rule.condition != old.rule.condition or cr.rule.scope != old.rule.scope:
                    self.qwindows.pop(rid, None)
                    self.ewindows.pop(rid, None)
                    self.scope_cache.pop(rid, None)
                continue
            for states in self.states.pop(rid, {}).values():
                resolve_all(old, states, now, "rule", out)
            self.qwindows.pop(rid, None)
            self.ewindows.pop(rid, None)
            self.scope_cache.pop(rid, None)
        self.rules = new
        self._family = {}
        for cr in new.values():
            self._family.setdefault(cr.family, []).append(cr)
        windows = [cr.window_ms or 0 for cr in new.values() if cr.family in ("node", "provider")]
        self.keep_ms = max([120_000, *(w + 60_000 for w in windows)])
        return out

    def family(self, name: str) -> list[CompiledRule]:
        return self._family.get(name, [])

    def max_window_ms(self) -> int:
        """The longest window of any rule (what a rebuild must replay)."""
        return max([0, *(cr.window_ms or 0 for cr in self.rules.values())])

    def add_node(self, node: str, *, live: bool = False) -> NodeData:
        nd = self.nodes.get(node)
        if nd is None:
            nd = self.nodes[node] = NodeData(node, self.now(), live)
        return nd

    def go_live(self, node: str) -> None:
        """End the node's replay: from now on its data is judged."""
        nd = self.add_node(node)
        nd.live = True
        nd.last_seen = max(nd.last_seen, self.now() - self.nodata_ms // 2)

    def drop_node(self, node: str) -> None:
        """Forget a node (another replica took it over): nothing resolves."""
        self.nodes.pop(node, None)
        for table in (self.states, self.qwindows, self.ewindows, self.scope_cache):
            for per_node in table.values():
                per_node.pop(node, None)

    def _node(self, node: str) -> NodeData | None:
        nd = self.nodes.get(node)
        if nd is None and self.auto_nodes:
            nd = self.add_node(node, live=True)
        return nd

    def _states(self, rule_id: str, node: str) -> States:
        per_node = self.states.setdefault(rule_id, {})
        states = per_node.get(node)
        if states is None:
            states = per_node[node] = {}
        return states

    def _qwindows(self, cr: CompiledRule, node: str) -> QueueWindows:
        per_node = self.qwindows.setdefault(cr.id, {})
        windows = per_node.get(node)
        if windows is None:
            assert cr.aggregation is not None
            assert cr.window_ms is not None
            windows = per_node[node] = QueueWindows(cr.aggregation, cr.window_ms)
        return windows

    def _seen(self, nd: NodeData, kind: str, payload_ms: int) -> None:
        at = self.now() if nd.live else payload_ms
        nd.arrivals[kind] = max(at, nd.arrivals.get(kind, 0))
        if kind in ("metrics", "status"):
            nd.last_seen = max(nd.last_seen, at)

    # ------------------------------------------------------------------ restore

    def restore(self, alerts: Iterable[Alert]) -> list[Transition]:
        """Adopt firing alerts from the alert-state bucket for the nodes this engine has.

        Alerts whose rule no longer exists (or no longer fits) come back as resolved transitions.
        Pending alerts (from the pending bucket) resume their ``for`` where it was; one whose rule
        is gone, has no ``for`` any more or whose series is already firing is dropped.
        """
        now, out = self.now(), list[Transition]()
        ordered = sorted(alerts, key=lambda a: a.status != "firing")  # firing first
        for alert in ordered:
            node = alert.labels.get("node")
            if node is None or node not in self.nodes:
                continue
            cr = self.rules.get(alert.ruleId)
            key = cr.key_of(alert.labels) if cr is not None else None
            if alert.status == "pending":
                states = self._states(cr.id, node) if cr is not None else {}
                if cr is None or key is None or cr.for_ms <= 0 or key in states:
                    out.append(Transition("dropped", alert, cr.rule if cr else _gone_rule(alert)))
                else:
                    states[key] = SeriesState.restored(alert)
                continue
            if cr is None or key is None:
                out.append(_orphan(alert, cr, now))
                continue
            states = self._states(cr.id, node)
            if key not in states:
                states[key] = SeriesState.restored(alert)
        return out

    # ------------------------------------------------------------------ inputs

    def on_metrics(self, m: MetricsUpdate) -> list[Transition]:
        nd = self._node(m.node)
        if nd is None or (nd.metrics and m.timestamp <= nd.metrics[-1].t):
            return []
        nd.metrics.append(
            MetricSample(
                m.timestamp,
                m.delivered,
                m.bounced,
                m.deferred,
                m.received,
                m.counterReset,
                m.scheduledTotal + m.readyTotal,
                m.throughput,
                m.diskFreePercent,
                m.memoryRatio,
            )
        )
        prune(nd.metrics, self.keep_ms)
        self._seen(nd, "metrics", m.timestamp)
        if not nd.live:
            return []
        now, out = self.now(), list[Transition]()
        for cr in self.family("node"):
            if cr.satisfiable and cr.scope.node_ok(nd.name):
                self._judge(cr, nd.name, "", node_value(cr, nd.metrics), now, out)
        self._judge_liveness(nd, now, out)
        return out

    def on_status(self, s: ConnectionStatus) -> list[Transition]:
        nd = self._node(s.node)
        if nd is None:
            return []
        if nd.status is None or s.timestamp >= nd.status.timestamp:
            nd.status = s
        self._seen(nd, "status", s.timestamp)
        out: list[Transition] = []
        if nd.live:
            self._judge_liveness(nd, self.now(), out)
        return out

    def on_queues(self, chunk: QueuesSnapshot | dict[str, Any]) -> list[Transition]:
        """One chunk (a model, or the dict orjson decoded); judged once the snapshot is whole."""
        raw = chunk.model_dump(mode="json") if isinstance(chunk, QueuesSnapshot) else chunk
        nd = self._node(str(raw.get("node")))
        if nd is None or not nd.queues.add_chunk(raw):
            return []
        t = nd.queues.t
        self._seen(nd, "queues", t)
        now, out = self.now(), list[Transition]()
        rules = [cr for cr in self.family("queue") if cr.satisfiable and cr.scope.node_ok(nd.name)]
        if nd.live:
            q.prime_hits(nd.queues, [cr for cr in rules if not (cr.aggregation and cr.window_ms)])
        for cr in rules:
            table = nd.queues.table(cr.metric)
            if cr.aggregation and cr.window_ms:
                judge = (nd.name, self._states(cr.id, nd.name), now, self.grace_ms, out)
                q.update_windows(
                    cr,
                    table,
                    t,
                    self._qwindows(cr, nd.name),
                    self.scope_cache.setdefault(cr.id, {}).setdefault(nd.name, {}),
                    judge if nd.live else None,
                )
            elif nd.live:
                states = self._states(cr.id, nd.name)
                q.evaluate_rule(cr, nd.name, table, states, now, self.grace_ms, out)
        if nd.live:
            self._judge_suspensions(nd, now, out)
        return out

    def on_providers(self, p: ProvidersSnapshot) -> list[Transition]:
        nd = self._node(p.node)
        if nd is None:
            return []
        for stats in p.providers:
            samples = nd.providers.get(stats.provider)
            if samples is None:
                samples = nd.providers[stats.provider] = deque()
            elif samples[-1].t >= p.timestamp:
                continue
            samples.append(
                ProviderSample(
                    p.timestamp, stats.delivered, stats.failed, stats.transfailed, p.counterReset
                )
            )
            prune(samples, self.keep_ms)
        nd.provider_names = frozenset(s.provider for s in p.providers)
        for name in [n for n, s in nd.providers.items() if s[-1].t < p.timestamp - self.keep_ms]:
            del nd.providers[name]
        self._seen(nd, "providers", p.timestamp)
        if not nd.live:
            return []
        now, out = self.now(), list[Transition]()
        for cr in self.family("provider"):
            if not (cr.satisfiable and cr.scope.node_ok(nd.name)):
                continue
            states = self._states(cr.id, nd.name)
            for name in nd.provider_names:
                if cr.scope.restricts_series and not cr.scope.labels_ok({"provider": name}):
                    continue
                self._judge(cr, nd.name, name, provider_value(cr, nd.providers[name]), now, out)
            for name in [k for k in states if k not in nd.provider_names]:
                observe_missing(cr, states, name, now, self.grace_ms, out)
        return out

    def on_states(self, s: StatesSnapshot) -> list[Transition]:
        nd = self._node(s.node)
        if nd is None:
            return []
        nd.suspensions = list(s.suspensions)
        self._seen(nd, "states", s.timestamp)
        out: list[Transition] = []
        if nd.live:
            self._judge_suspensions(nd, self.now(), out)
        return out

    def on_event(self, ev: KumoLogEvent) -> list[Transition]:
        rules = self.family("event")
        nd = self._node(ev.node) if rules else None
        if nd is None:
            return []
        labels = record_labels(ev)
        now, out = self.now(), list[Transition]()
        second = ev.receivedAt // 1000
        for cr in rules:
            assert cr.window_ms is not None
            if ev.receivedAt < now - cr.window_ms or not cr.scope.node_ok(nd.name):
                continue
            counts = classify(cr, labels)
            key = group_key(cr, labels) if counts is not None else None
            if counts is None or key is None:
                continue
            per_node = self.ewindows.setdefault(cr.id, {}).setdefault(nd.name, {})
            series = per_node.get(key)
            if series is None:
                series = per_node[key] = EventSeries()
            series.add(second, *counts)
            if nd.live:
                self._judge_event(cr, nd.name, key, series, now, out)
        return out

    # ------------------------------------------------------------------ timers

    def tick(self) -> list[Transition]:
        """Advance timers: ``for``, ``keepFiringFor``, grace, NoData, sliding event windows."""
        now, out = self.now(), list[Transition]()
        for nd in self.nodes.values():
            if not nd.live:
                continue
            self._judge_liveness(nd, now, out)
            if self.unreachable(nd, now):
                continue
            for family, kind in FAMILY_INPUT.items():
                arrived = nd.arrivals.get(kind)
                for cr in self.family(family):
                    states = self.states.get(cr.id, {}).get(nd.name)
                    if not states:
                        continue
                    if arrived is None or now - arrived > self.grace_ms:
                        since = arrived if arrived is not None else now
                        for key in list(states):
                            observe_missing(cr, states, key, now, self.grace_ms, out, since)
                    else:
                        advance(cr, states, now, self.grace_ms, out)
            for cr in self.family("event"):
                self._tick_events(cr, nd.name, now, out)
        return out

    def _tick_events(self, cr: CompiledRule, node: str, now: int, out: list[Transition]) -> None:
        per_node = self.ewindows.get(cr.id, {}).get(node, {})
        states = self.states.get(cr.id, {}).get(node, {})
        for key in list(per_node):
            self._judge_event(cr, node, key, per_node[key], now, out)
        for key in [k for k in states if k not in per_node]:
            self._judge_event(cr, node, key, EventSeries(), now, out)

    # ------------------------------------------------------------------ judging

    def unreachable(self, nd: NodeData, now: int) -> bool:
        """Status ``down``, or no metrics/status for ``nodata_seconds``."""
        down = nd.status is not None and nd.status.kumoMtaStatus == "down"
        return down or now - nd.last_seen > self.nodata_ms

    def _judge(
        self,
        cr: CompiledRule,
        node: str,
        key: str,
        value: float | None,
        now: int,
        out: list[Transition],
    ) -> None:
        states = self._states(cr.id, node)
        if value is None:
            observe_missing(cr, states, key, now, self.grace_ms, out)
        elif cr.compare(value, cr.threshold):
            observe_true(cr, states, key, value, lambda: _series_labels(cr, node, key), now, out)
        else:
            observe_false(cr, states, key, value, now, out)

    def _judge_liveness(self, nd: NodeData, now: int, out: list[Transition]) -> None:
        rules = self.family("liveness")
        if not rules:
            return
        down = self.unreachable(nd, now)
        if nd.status is not None and nd.status.kumoMtaStatus == "down":
            reason = nd.status.reason or "KumoMTA reported down"
        else:
            reason = f"no data for {(now - nd.last_seen) // 1000}s"
        value = 1.0 if down else 0.0
        for cr in rules:
            if not (cr.satisfiable and cr.scope.node_ok(nd.name)):
                continue
            states = self._states(cr.id, nd.name)
            if cr.compare(value, cr.threshold):
                labels = {"node": nd.name}
                observe_true(cr, states, "", value, labels.copy, now, out, reason)
            else:
                observe_false(cr, states, "", value, now, out)

    def _judge_suspensions(self, nd: NodeData, now: int, out: list[Transition]) -> None:
        rules = self.family("suspension")
        if not rules:
            return
        current = suspended_series(nd)
        for cr in rules:
            if not (cr.satisfiable and cr.scope.node_ok(nd.name)):
                continue
            states = self._states(cr.id, nd.name)
            seen = set()
            for key, (labels, reason) in current.items():
                if cr.scope.restricts_series and not cr.scope.labels_ok(labels):
                    continue
                seen.add(key)
                observe_true(cr, states, key, 1.0, labels.copy, now, out, reason)
            for key in [k for k in states if k not in seen]:
                observe_false(cr, states, key, 0.0, now, out)

    def _judge_event(
        self,
        cr: CompiledRule,
        node: str,
        key: str,
        series: EventSeries,
        now: int,
        out: list[Transition],
    ) -> None:
        assert cr.window_ms is not None
        series.prune((now - cr.window_ms) // 1000)
        states = self._states(cr.id, node)
        value = series.value(cr)
        if value is None:
            observe_missing(cr, states, key, now, self.grace_ms, out)
        elif cr.compare(value, cr.threshold):
            observe_true(cr, states, key, value, lambda: _series_labels(cr, node, key), now, out)
        else:
            observe_false(cr, states, key, value, now, out)
        if not series.buckets and key not in states:
            self.ewindows.get(cr.id, {}).get(node, {}).pop(key, None)

    # ------------------------------------------------------------------ introspection

    def active(self) -> Iterator[tuple[CompiledRule, str, str, SeriesState]]:
        """Every pending or firing series: (rule, node, key, state)."""
        for rid, per_node in self.states.items():
            cr = self.rules.get(rid)
            if cr is None:
                continue
            for node, states in per_node.items():
                for key, st in states.items():
                    yield cr, node, key, st

    def firing(self) -> list[Alert]:
        """The alerts currently firing."""
        return [
            st.alert
            for _, _, _, st in self.active()
            if st.status == "firing" and st.alert is not None
        ]

    def series_count(self) -> int:
        """Series with state or window data (what the memory figure counts)."""
        total = sum(len(s) for per_node in self.states.values() for s in per_node.values())
        total += sum(len(w) for per_node in self.qwindows.values() for w in per_node.values())
        total += sum(len(w) for per_node in self.ewindows.values() for w in per_node.values())
        return total


def _series_labels(cr: CompiledRule, node: str, key: str) -> dict[str, str]:
    labels = {"node": node}
    name = cr.key_label
    if name is not None and key:
        labels[name] = key
    return labels


def _matches_suspension(s: Suspension, name: str) -> bool:
    parts = parse_scheduled(name)
    return (
        (s.domain is None or (parts.domain or "").lower() == s.domain.lower())
        and (s.tenant is None or parts.tenant == s.tenant)
        and (s.campaign is None or parts.campaign == s.campaign)
    )


def _selector(s: Suspension) -> str:
    domain = s.domain or "*"
    if s.campaign or s.tenant:
        head = f"{s.campaign}:{s.tenant or ''}" if s.campaign else (s.tenant or "")
        return f"{head}@{domain}"
    return domain


def suspended_series(nd: NodeData) -> dict[str, tuple[dict[str, str], str]]:
    """Every suspended queue of a node: key → (labels, KumoMTA's reason)."""
    out: dict[str, tuple[dict[str, str], str]] = {}
    sched, ready = nd.queues.scheduled, nd.queues.ready
    for s in nd.suspensions:
        if s.kind == "ready":
            name = s.name or s.id
            out[f"ready|{name}"] = ({"node": nd.name, **queue_labels(name, "ready")}, s.reason)
            continue
        matched = [n for n in sched.names if _matches_suspension(s, n)]
        for name in matched or [_selector(s)]:
            labels = {"node": nd.name, **sched.labels(name)}
            out[f"scheduled|{name}"] = (labels, s.reason)
    for table in (sched, ready):
        for name in table.suspended:
            key = f"{table.kind}|{name}"
            if key not in out:
                out[key] = ({"node": nd.name, **table.labels(name)}, "suspended (queue state)")
    return out


def _gone_rule(alert: Alert) -> AlertRule:
    """What is known of the rule of an alert whose rule no longer exists."""
    return AlertRule(
        id=alert.ruleId,
        name=alert.ruleName,
        description="rule no longer exists",
        enabled=False,
        severity=alert.severity,
        condition=AlertCondition(type="queue_depth", operator=">", threshold=alert.threshold),
    )


def _orphan(alert: Alert, cr: CompiledRule | None, now: int) -> Transition:
    """A restored alert whose rule is gone: resolve it with what is known of the rule."""
    rule = cr.rule if cr is not None else _gone_rule(alert)
    st = SeriesState.restored(alert)
    return resolve(CompiledRule.of(rule), st, now, "rule")
