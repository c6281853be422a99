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
from kumowatch_alerter.scope import ScopeMatcher, queue_labels
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

    def in_scope(self, scope: ScopeMatcher, name: str) -> bool:
        return scope.queue_ok(name, self.kind, self.providers.get(name))

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
        rows = parts[0] if len(parts) == 1 else [q for part in parts for q in part]
        # Comprehensions, one per column: several tight passes beat one branchy loop here.
        ready_rows = [q for q in rows if q.get("kind") == "ready"]
        sched_rows = [q for q in rows if q.get("kind") != "ready"] if ready_rows else rows
        self.scheduled = _table("scheduled", sched_rows)
        self.ready = _table("ready", ready_rows)


def _table(kind: str, rows: list[dict[str, Any]]) -> QueueTable:
    table = QueueTable(kind)
    table.names = [q["queueName"] for q in rows]
    table.sizes = [q["size"] for q in rows]
    table.providers = {q["queueName"]: p for q in rows if (p := q.get("provider"))}
    table.suspended = [q["queueName"] for q in rows if q.get("suspended")]
    return table


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
        if scoped and not table.in_scope(cr.scope, name):
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
    judge: tuple[str, States, int, int, list[Transition]] | None = None,
) -> None:
    """Add the snapshot to the rule's per-queue gauge windows (in-scope queues only).

    With ``judge`` (node, states, now, grace, out) each window is judged in the same pass:
    one loop over the table instead of two is what keeps a 100k-queue aggregation cheap.
    """
    assert cr.window_ms is not None
    window = cr.window_ms
    scoped = cr.scope.restricts_series
    scope, in_scope = cr.scope, table.in_scope
    names, sizes = table.names, table.sizes
    how = cr.aggregation or "last"
    avg = how == "avg"
    thr, compare = cr.threshold, cr.compare
    start = t - window
    if judge is not None:
        node, states, now, _grace, out = judge
    added = 0
    get = windows.get
    for i, name in enumerate(names):
        if scoped:
            ok = scope_cache.get(name)
            if ok is None:
                ok = scope_cache[name] = in_scope(scope, name)
            if not ok:
                continue
        v = sizes[i]
        w = get(name)
        if w is None:
            w = windows[name] = GaugeWindow()
        # GaugeWindow.add, inlined: this loop runs once per in-scope queue per snapshot.
        ts, vs = w.ts, w.vs
        ts.append(t)
        vs.append(v)
        total = w.total + v
        if ts[0] < start:
            k = 1
            while ts[k] < start:
                k += 1
            total -= sum(vs[:k])
            del ts[:k], vs[:k]
        w.total = total
        added += 1
        if judge is None:
            continue
        value = total / len(vs) if avg else w.value(how)
        if compare(value, thr):
            observe_true(cr, states, name, value, _labeller(node, table, name), now, out)
        elif states and name in states:
            observe_false(cr, states, name, value, now, out)
    if len(windows) > added:
        index = table.index()
        for name in [k for k in windows if k not in index]:
            del windows[name]
    if len(scope_cache) > 2 * len(names) + 1024:
        scope_cache.clear()
    if judge is not None:
        node, states, now, grace_ms, out = judge
        for name in [k for k in states if k not in windows]:
            observe_missing(cr, states, name, now, grace_ms, out)
