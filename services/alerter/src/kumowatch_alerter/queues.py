"""Queue snapshots: chunk assembly, a compact per-node table, and queue-depth rule evaluation.

Queue snapshots are the big input (100k+ queues per node), so they are decoded with orjson into
plain dicts rather than pydantic models, kept as parallel lists per kind (names, sizes) and
evaluated by comparing sizes first: labels are built and scopes checked only for the queues whose
value meets the threshold, or that already have a state. Rules with an aggregation keep their
windows column-wise (:mod:`kumowatch_alerter.queuewindows`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import compress, repeat
from operator import ge, is_, le, not_
from typing import Any, Final, cast

from kumowatch_alerter.compiled import OPERATORS, CompiledRule
from kumowatch_alerter.queuewindows import QueueWindows, gather
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

    __slots__ = ("_carry", "_hits", "_index", "kind", "names", "providers", "sizes", "suspended")

    def __init__(self, kind: str, carry: tuple[list[str], dict[str, int]] | None = None) -> None:
        self.kind = kind
        self.names: list[str] = []
        self.sizes: list[float] = []
        self.providers: dict[str, str] = {}
        self.suspended: list[str] = []
        self._index: dict[str, int] | None = None
        #: The index of an earlier table and the names it was built from.
        self._carry = carry
        #: operator → (threshold, positions): the loosest scan so far, for the tighter ones.
        self._hits: dict[str, tuple[float, list[int]]] = {}

    def index(self) -> dict[str, int]:
        """Name → position, built on first use (or taken over from an earlier, equal table)."""
        if self._index is None:
            carry, self._carry = self._carry, None
            # A node mostly reports the same queues in the same order: comparing the names is
            # ~20 times cheaper than hashing them all into a new dict.
            if carry is not None and carry[0] == self.names:
                # Equal names: the earlier strings are kept (the index holds them), the fresh
                # copies may go.
                self.names, self._index = carry
            else:
                self._index = dict(zip(self.names, range(len(self.names)), strict=True))
        return self._index

    def handover(self) -> tuple[list[str], dict[str, int]] | None:
        """What the next table of the same kind may take its index from."""
        return (self.names, self._index) if self._index is not None else self._carry

    def hits(self, op: str, thr: float) -> list[int]:
        """Positions whose size meets ``op thr``, ascending.

        ``v > thr`` implies ``v > t`` for any ``t <= thr`` (likewise for the other orderings),
        so a looser scan of this table is filtered instead of scanning every queue again.
        """
        sizes = self.sizes
        looser = _LOOSER.get(op)
        if looser is None:
            return hits(sizes, op, thr)
        done = self._hits.get(op)
        if done is not None and looser(done[0], thr):
            test = OPERATORS[op]
            return [i for i in done[1] if test(sizes[i], thr)]
        out = hits(sizes, op, thr)
        self._hits[op] = (thr, out)
        return out

    def present(self, names: set[str]) -> set[str]:
        """Which of ``names`` this table reports (a scan, unless the index is built)."""
        if self._index is not None:
            return {name for name in names if name in self._index}
        return set(compress(self.names, map(names.__contains__, self.names)))

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
        sched = QueueTable("scheduled", self.scheduled.handover())
        ready = QueueTable("ready", self.ready.handover())
        _fill(parts, sched, ready)
        self.scheduled, self.ready = sched, ready


def _fill(parts: list[list[dict[str, Any]]], sched: QueueTable, ready: QueueTable) -> None:
    """Split the rows by kind into the two tables' columns.

    One loop over the rows, not one comprehension per column: the rows were just decoded, so
    every pass over them is a pass of cache misses, and that outweighs the loop's branches.
    """
    s_names, s_sizes, s_prov, s_susp = sched.names, sched.sizes, sched.providers, sched.suspended
    r_names, r_sizes, r_prov, r_susp = ready.names, ready.sizes, ready.providers, ready.suspended
    s_name, s_size, r_name, r_size = s_names.append, s_sizes.append, r_names.append, r_sizes.append
    for part in parts:
        for q in part:
            if q.get("kind") == "ready":
                name = q["queueName"]
                r_name(name)
                r_size(q["size"])
                if p := q.get("provider"):
                    r_prov[name] = p
                if q.get("suspended"):
                    r_susp.append(name)
            else:
                name = q["queueName"]
                s_name(name)
                s_size(q["size"])
                if p := q.get("provider"):
                    s_prov[name] = p
                if q.get("suspended"):
                    s_susp.append(name)


#: For an ordering operator: is a scan at threshold ``a`` a superset of one at ``b``?
_LOOSER: Final[dict[str, Callable[[float, float], bool]]] = {
    ">": le,
    ">=": le,
    "<": ge,
    "<=": ge,
}


def hits(sizes: Sequence[float], op: str, thr: float) -> list[int]:
    """Positions whose value meets ``op thr`` (the hot loop, kept in C)."""
    return list(compress(range(len(sizes)), map(OPERATORS[op], sizes, repeat(thr))))


def prime_hits(queues: NodeQueues, rules: list[CompiledRule]) -> None:
    """Scan each table once at the loosest threshold per operator, for the rules to filter."""
    loosest: dict[tuple[str, str], float] = {}
    for cr in rules:
        key, looser = (cr.metric, cr.op), _LOOSER.get(cr.op)
        thr = loosest.get(key)
        if looser is not None and (thr is None or looser(cr.threshold, thr)):
            loosest[key] = cr.threshold
    for (metric, op), thr in loosest.items():
        queues.table(metric).hits(op, thr)


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
    for i in table.hits(cr.op, cr.threshold):
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


def _in_scope(
    cr: CompiledRule, table: QueueTable, scope_cache: dict[str, bool]
) -> list[int] | None:
    """Table positions of the queues in the rule's scope (None: all of them)."""
    if not cr.scope.restricts_series:
        return None
    names = table.names
    flags = list(map(scope_cache.get, names))
    if None in flags:
        scope, in_scope = cr.scope, table.in_scope
        for i in compress(range(len(names)), map(is_, flags, repeat(None))):
            name = names[i]
            flags[i] = scope_cache[name] = in_scope(scope, name)
    return list(compress(range(len(names)), flags))


def _lay_out(
    cr: CompiledRule, table: QueueTable, windows: QueueWindows, scope_cache: dict[str, bool]
) -> None:
    """Place the table's in-scope queues in the windows (the others' windows in ``odd``).

    A name reported more than once in a snapshot adds one sample per report to its window, so
    it is kept in ``odd``, as is the window of a queue still reported but no longer in scope.
    """
    names, odd = table.names, windows.odd
    in_scope = _in_scope(cr, table, scope_cache)

    def dormant(gone: Iterable[str]) -> set[str]:
        # Every reported queue has a verdict by now: True ones are in the layout or in odd.
        maybe = {name for name in gone if scope_cache.get(name) is False}
        return table.present(maybe) if maybe else set()

    while True:
        picked, odd_at = in_scope, []
        every = range(len(names)) if in_scope is None else in_scope
        if odd:
            in_odd = list(map(odd.__contains__, gather(names, every)))
            odd_at = list(compress(every, in_odd))
            if odd_at:
                picked = every = list(compress(every, map(not_, in_odd)))
        layout = names if picked is None else gather(names, picked)
        twice = windows.place(layout, every, len(names), dormant)
        if not twice:
            break
        index = windows.index()
        for name in twice:
            slot = index.get(name)
            odd[name] = GaugeWindow() if slot is None else windows.extract(slot)
    if odd:
        reported = {names[i] for i in odd_at}
        unreported = [name for name in odd if name not in reported]
        kept = dormant(unreported) if unreported else set()
        for name in unreported:
            if name not in kept:
                del odd[name]
    windows.picked, windows.odd_at = picked, odd_at


def _add_odd(
    cr: CompiledRule, windows: QueueWindows, table: QueueTable, at: list[int], t: int
) -> list[tuple[int, str, float]]:
    """Add the sample to the per-queue windows of ``odd``: (position, name, value) of each."""
    assert cr.window_ms is not None
    how, odd, out = cr.aggregation or "last", windows.odd, []
    for i in at:
        name = table.names[i]
        w = odd[name]
        w.add(t, table.sizes[i], cr.window_ms)
        out.append((i, name, w.value(how)))
    return out


def update_windows(
    cr: CompiledRule,
    table: QueueTable,
    t: int,
    windows: QueueWindows,
    scope_cache: dict[str, bool],
    judge: tuple[str, States, int, int, list[Transition]] | None = None,
) -> None:
    """Add the snapshot to the rule's gauge windows (in-scope queues only) and judge them.

    ``judge`` is (node, states, now, grace, out); without it (replay) the windows only fill.
    """
    names, sizes = table.names, table.sizes
    expired = windows.expiry(t)
    moved = windows.split_young(t, expired)
    if moved or names != windows.table_names:
        _lay_out(cr, table, windows, scope_cache)
    windows.add(t, windows.column(sizes), expired)
    odd_values = _add_odd(cr, windows, table, windows.odd_at, t)
    windows.table_names = table.names  # after index(), which may swap in an equal list
    if len(scope_cache) > 2 * len(names) + 1024:
        scope_cache.clear()
        windows.table_names = None
    if judge is not None:
        _judge_windows(cr, table, windows, odd_values, judge)


def _judge_windows(
    cr: CompiledRule,
    table: QueueTable,
    windows: QueueWindows,
    odd_values: list[tuple[int, str, float]],
    judge: tuple[str, States, int, int, list[Transition]],
) -> None:
    """Judge the windows that got this snapshot's sample, in table order, as one loop would."""
    node, states, now, grace_ms, out = judge
    values = windows.values()
    slots = hits(values, cr.op, cr.threshold)
    if windows.holes:
        slots = [s for s in slots if s not in windows.holes]
    if states:
        index = windows.index()
        extra = [s for k in states if (s := index.get(k)) is not None]
        if extra:
            slots = sorted({*slots, *extra})
    if windows.order is not None:
        slots.sort(key=windows.order.__getitem__)  # table order, as one loop over it would go
    layout = windows.names
    items = [(cast(str, layout[s]), values[s]) for s in slots]
    thr, compare = cr.threshold, cr.compare
    # Only reports that hit, or of a name with a state, are judged; a name's first report may
    # create the state its next report sees, so all reports of a name that hits are kept.
    hit = {name for _, name, v in odd_values if compare(v, thr)}
    odd_values = [x for x in odd_values if x[1] in hit or x[1] in states]
    if odd_values:
        keyed = [(windows.position(s), *item) for s, item in zip(slots, items, strict=True)]
        items = [(name, v) for _, name, v in sorted([*keyed, *odd_values])]
    for name, value in items:
        if compare(value, thr):
            observe_true(cr, states, name, value, _labeller(node, table, name), now, out)
        elif name in states:
            observe_false(cr, states, name, value, now, out)
    for name in [k for k in states if k not in windows]:
        observe_missing(cr, states, name, now, grace_ms, out)
