"""Queue snapshots: chunk assembly, a compact per-node table, and queue-depth rule evaluation.

Queue snapshots are the big input (100k+ queues per node), so they are decoded with orjson into
plain dicts rather than pydantic models, kept as parallel lists per kind (names, sizes) and
evaluated by comparing sizes first: labels are built and scopes checked only for the queues whose
value meets the threshold, or that already have a state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kumowatch_alerter.compiled import CompiledRule
from kumowatch_alerter.scope import queue_labels
from kumowatch_alerter.statemachine import (
    States,
    Transition,
    observe_false,
    observe_missing,
    observe_true,
)
from kumowatch_alerter.windows import GaugeWindow


class QueueTable:
    """One kind (scheduled or ready) of one node's latest complete queue snapshot."""

    __slots__ = ("_index", "kind", "names", "providers", "sizes", "suspended")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.names: list[str] = []
        self.sizes: list[float] = []
        self.providers: dict[str, str] = {}
        self.suspended: list[str] = []
        self._index: dict[str, int] | None = None

    def index(self) -> dict[str, int]:
        """Name → position, built on first use."""
        if self._index is None:
            self._index = dict(zip(self.names, range(len(self.names)), strict=True))
        return self._index

    def labels(self, name: str) -> dict[str, str]:
        return queue_labels(name, self.kind, self.providers.get(name))

    def __len__(self) -> int:
        return len(self.names)


class NodeQueues:
    """Assembles ``QueuesSnapshot`` chunks of one node into tables."""

    __slots__ = ("_chunks", "_parts", "_seq", "ready", "scheduled", "seq", "t")

    def __init__(self) -> None:
        self.scheduled = QueueTable("scheduled")
        self.ready = QueueTable("ready")
        self.t = 0
        self.seq = -1
        self._seq = -1
        self._chunks = 0
        self._parts: dict[int, list[dict[str, Any]]] = {}

    def table(self, kind: str) -> QueueTable:
        return self.ready if kind == "ready" else self.scheduled

    def add_chunk(self, raw: dict[str, Any]) -> bool:
        """Add one chunk (a decoded ``QueuesSnapshot``); True when a snapshot is complete."""
        seq = int(raw.get("seq", 0))
        chunks = max(1, int(raw.get("chunks", 1)))
        if seq <= self.seq and raw.get("timestamp", 0) <= self.t:
            return False  # old or duplicate
        if seq != self._seq:
            self._seq, self._chunks, self._parts = seq, chunks, {}
        self._parts[int(raw.get("chunk", 0))] = raw.get("queues") or []
        if len(self._parts) < self._chunks:
            return False
        parts = [self._parts[i] for i in sorted(self._parts)]
        self._parts = {}
        self._build(parts)
        self.seq = seq
        self.t = int(raw.get("timestamp", 0))
        return True

    def _build(self, parts: list[list[dict[str, Any]]]) -> None:
        sched, ready = QueueTable("scheduled"), QueueTable("ready")
        sn, ss, sp = sched.names, sched.sizes, sched.providers
        rn, rs, rp = ready.names, ready.sizes, ready.providers
        for queues in parts:
            for q in queues:
                name = q["queueName"]
                if q.get("kind") == "ready":
                    rn.append(name)
                    rs.append(q["size"])
                    if p := q.get("provider"):
                        rp[name] = p
                    if q.get("suspended"):
                        ready.suspended.append(name)
                else:
                    sn.append(name)
                    ss.append(q["size"])
                    if p := q.get("provider"):
                        sp[name] = p
                    if q.get("suspended"):
                        sched.suspended.append(name)
        self.scheduled, self.ready = sched, ready


def hits(sizes: list[float], op: str, thr: float) -> list[int]:
    """Positions whose value meets ``op thr`` (comprehensions per operator: the hot loop)."""
    if op == ">":
        return [i for i, v in enumerate(sizes) if v > thr]
    if op == ">=":
        return [i for i, v in enumerate(sizes) if v >= thr]
    if op == "<":
        return [i for i, v in enumerate(sizes) if v < thr]
    if op == "<=":
        return [i for i, v in enumerate(sizes) if v <= thr]
    if op == "==":
        return [i for i, v in enumerate(sizes) if v == thr]
    return [i for i, v in enumerate(sizes) if v != thr]


def _labeller(node: str, table: QueueTable, name: str) -> Callable[[], dict[str, str]]:
    def make() -> dict[str, str]:
        return {"node": node, **table.labels(name)}

    return make


def evaluate_rule(
    cr: CompiledRule,
    node: str,
    table: QueueTable,
    states: States,
    now: int,
    grace_ms: int,
    out: list[Transition],
) -> None:
    """Judge one queue_depth rule (no aggregation) over one node's table."""
    names, sizes = table.names, table.sizes
    scoped = cr.scope.restricts_series
    seen: set[str] = set()
    for i in hits(sizes, cr.op, cr.threshold):
        name = names[i]
        if scoped and not cr.scope.labels_ok(table.labels(name)):
            continue
        seen.add(name)
        observe_true(cr, states, name, sizes[i], _labeller(node, table, name), now, out)
    if len(states) > len(seen):
        index = table.index()
        for name in [k for k in states if k not in seen]:
            pos = index.get(name)
            if pos is None:
                observe_missing(cr, states, name, now, grace_ms, out)
            else:
                observe_false(cr, states, name, sizes[pos], now, out)


def update_windows(
    cr: CompiledRule,
    table: QueueTable,
    t: int,
    windows: dict[str, GaugeWindow],
    scope_cache: dict[str, bool],
) -> None:
    """Add the snapshot to the rule's per-queue gauge windows (in-scope queues only)."""
    assert cr.window_ms is not None
    window = cr.window_ms
    scoped = cr.scope.restricts_series
    names, sizes = table.names, table.sizes
    added = 0
    for i, name in enumerate(names):
        if scoped:
            ok = scope_cache.get(name)
            if ok is None:
                ok = scope_cache[name] = cr.scope.labels_ok(table.labels(name))
            if not ok:
                continue
        w = windows.get(name)
        if w is None:
            w = windows[name] = GaugeWindow()
        w.add(t, sizes[i], window)
        added += 1
    if len(windows) > added:
        index = table.index()
        for name in [k for k in windows if k not in index]:
            del windows[name]
    if len(scope_cache) > 2 * len(names) + 1024:
        scope_cache.clear()


def evaluate_aggregated(
    cr: CompiledRule,
    node: str,
    table: QueueTable,
    windows: dict[str, GaugeWindow],
    states: States,
    now: int,
    grace_ms: int,
    out: list[Transition],
) -> None:
    """Judge a queue_depth rule with ``aggregation`` over its windows (already updated)."""
    how = cr.aggregation or "last"
    thr, compare = cr.threshold, cr.compare
    for name, w in windows.items():
        value = w.value(how)
        if compare(value, thr):
            observe_true(cr, states, name, value, _labeller(node, table, name), now, out)
        elif name in states:
            observe_false(cr, states, name, value, now, out)
    for name in [k for k in states if k not in windows]:
        observe_missing(cr, states, name, now, grace_ms, out)
