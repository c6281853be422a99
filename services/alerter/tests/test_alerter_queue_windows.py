"""Column-wise queue gauge windows against the per-queue reference they replaced.

``reference_update_windows`` is the former implementation (one ``GaugeWindow`` per queue),
kept as the oracle (one fix, marked): random snapshots with queues appearing and disappearing, names
reported twice, gaps longer than the window, times going backwards and scope verdicts changing
must give the same transitions, in the same order, with the same values.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from alerter_timeline import Timeline, rule

from kumowatch_alerter import queuewindows
from kumowatch_alerter.compiled import CompiledRule
from kumowatch_alerter.queues import NodeQueues, QueueTable, hits, update_windows
from kumowatch_alerter.queuewindows import QueueWindows
from kumowatch_alerter.statemachine import (
    States,
    Transition,
    observe_false,
    observe_missing,
    observe_true,
)
from kumowatch_alerter.windows import GaugeWindow

Judge = tuple[str, States, int, int, list[Transition]]


def reference_update_windows(
    cr: CompiledRule,
    table: QueueTable,
    t: int,
    windows: dict[str, GaugeWindow],
    scope_cache: dict[str, bool],
    judge: Judge | None = None,
) -> None:
    """The per-queue implementation, as it was."""
    assert cr.window_ms is not None
    window = cr.window_ms
    scoped = cr.scope.restricts_series
    scope, in_scope = cr.scope, table.in_scope
    names, sizes = table.names, table.sizes
    how = cr.aggregation or "last"
    thr, compare = cr.threshold, cr.compare
    if judge is not None:
        node, states, now, _grace, out = judge
    for i, name in enumerate(names):
        if scoped:
            ok = scope_cache.get(name)
            if ok is None:
                ok = scope_cache[name] = in_scope(scope, name)
            if not ok:
                continue
        w = windows.get(name)
        if w is None:
            w = windows[name] = GaugeWindow()
        w.add(t, sizes[i], window)
        if judge is None:
            continue
        value = w.value(how)
        if compare(value, thr):
            labels = {"node": node, **table.labels(name)}
            observe_true(cr, states, name, value, labels.copy, now, out)
        elif states and name in states:
            observe_false(cr, states, name, value, now, out)
    # Was ``if len(windows) > added:``, which counted a name reported twice twice and so could
    # keep the window of a queue that left; a queue missing from a snapshot loses its window.
    index = table.index()
    for name in [k for k in windows if k not in index]:
        del windows[name]
    if len(scope_cache) > 2 * len(names) + 1024:
        scope_cache.clear()
    if judge is not None:
        node, states, now, grace_ms, out = judge
        for name in [k for k in states if k not in windows]:
            observe_missing(cr, states, name, now, grace_ms, out)


def compiled(how: str, op: str, threshold: float, window_s: int, scope: dict[str, str]) -> Any:
    r = rule(
        "r",
        "queue_depth",
        op,
        threshold,
        timeWindow=window_s * 1000,
        aggregation=how,
        scope=scope,
        keepFiringFor=5000,
    )
    return CompiledRule.of(r)


def table_of(rows: list[tuple[str, float, str | None]]) -> QueueTable:
    table = QueueTable("scheduled")
    table.names = [name for name, _, _ in rows]
    table.sizes = [size for _, size, _ in rows]
    table.providers = {name: p for name, _, p in rows if p}
    return table


def window_values(w: QueueWindows, how: str) -> dict[str, float]:
    values = w.values() if w.cols else []
    out = {name: values[slot] for name, slot in w.index().items()}
    out.update({name: gw.value(how) for name, gw in w.odd.items()})
    return out


def as_tuples(out: list[Transition]) -> list[tuple[str, str, float, int]]:
    return [(tr.event, tr.alert.labels["queue"], tr.alert.value, tr.alert.timestamp) for tr in out]


class Pair:
    """The new and the reference implementation fed the same snapshots."""

    def __init__(self, cr: CompiledRule) -> None:
        assert cr.aggregation is not None
        assert cr.window_ms is not None
        self.cr = cr
        self.new = QueueWindows(cr.aggregation, cr.window_ms)
        self.ref: dict[str, GaugeWindow] = {}
        self.new_cache: dict[str, bool] = {}
        self.ref_cache: dict[str, bool] = {}
        self.new_states: States = {}
        self.ref_states: States = {}

    def step(self, rows: list[tuple[str, float, str | None]], t: int, live: bool = True) -> None:
        new_out: list[Transition] = []
        ref_out: list[Transition] = []
        new_judge: Judge = ("n1", self.new_states, t, 10_000, new_out)
        ref_judge: Judge = ("n1", self.ref_states, t, 10_000, ref_out)
        cr = self.cr
        update_windows(cr, table_of(rows), t, self.new, self.new_cache, new_judge if live else None)
        reference_update_windows(
            cr, table_of(rows), t, self.ref, self.ref_cache, ref_judge if live else None
        )
        assert as_tuples(new_out) == as_tuples(ref_out)
        assert set(self.new_states) == set(self.ref_states)
        how = cr.aggregation or "last"
        assert window_values(self.new, how) == {k: w.value(how) for k, w in self.ref.items()}
        assert len(self.new) == len(self.ref)
        assert self.new_cache == self.ref_cache

    def clear_caches(self) -> None:
        self.new_cache.clear()
        self.ref_cache.clear()
        self.new.table_names = None  # what update_windows does when it clears the cache itself


def random_rows(
    rng: random.Random, pool: list[str], providers: dict[str, str]
) -> list[tuple[str, float, str | None]]:
    names = [n for n in pool if rng.random() < 0.8]
    if rng.random() < 0.2:
        rng.shuffle(names)
    if names and rng.random() < 0.15:
        names.append(rng.choice(names))  # reported twice
    rows = []
    for name in names:
        size = rng.choice([0.0, 1.0, 7.0, 100.0]) if rng.random() < 0.3 else rng.uniform(0, 200)
        rows.append((name, size, providers.get(name)))
    return rows


@pytest.mark.parametrize("compact_min", [0, 1024])
@pytest.mark.parametrize("how", ["avg", "sum", "max", "min"])
@pytest.mark.parametrize("seed", range(6))
def test_column_windows_match_per_queue_windows_on_random_snapshots(
    how: str, seed: int, compact_min: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queuewindows, "COMPACT_MIN", compact_min)  # 0: holes compacted often
    rng = random.Random(seed * 31 + len(how))
    op = rng.choice([">", ">=", "<", "!="])
    threshold = rng.choice([20.0, 100.0, 150.0])
    scope = rng.choice([{}, {"domain": "*.net"}, {"provider": "big*"}])
    pair = Pair(compiled(how, op, threshold, rng.choice([10, 20, 60]), scope))
    pool = [f"c{i % 3}:t{i}@d{i % 5}.{'net' if i % 2 else 'com'}" for i in range(40)]
    providers = {name: "big" for name in pool if rng.random() < 0.5}
    t = 1_700_000_000_000
    for step in range(60):
        roll = rng.random()
        if roll < 0.06:
            t += 120_000  # a gap longer than any window
        elif roll < 0.12:
            t -= rng.choice([1_000, 7_000, 15_000])  # a snapshot stamped earlier
        else:
            t += rng.choice([1_000, 5_000, 5_000, 5_000, 9_000])
        if rng.random() < 0.1:
            flip = rng.choice(pool)
            providers[flip] = "" if providers.get(flip) else "big"
        if rng.random() < 0.1:
            pair.clear_caches()  # scope verdicts are taken again (provider changes seen)
        pair.step(random_rows(rng, pool, providers), t, live=step > 3 or rng.random() < 0.5)


def test_stable_snapshots_keep_every_window_in_columns() -> None:
    pair = Pair(compiled("avg", ">", 50.0, 20, {}))
    rows = [(f"q{i}@d.com", float(i), None) for i in range(10)]
    for k in range(8):
        pair.step([(n, s + k, p) for n, s, p in rows], 1_000_000 + k * 5000)
    assert pair.new.odd == {}
    assert len(pair.new.cols) == 5  # 20 s of 5 s snapshots, both ends kept


def test_a_name_reported_twice_adds_two_samples() -> None:
    pair = Pair(compiled("avg", ">", 1e9, 60, {}))
    pair.step([("a@x.com", 10.0, None), ("b@x.com", 1.0, None)], 1_000)
    pair.step([("a@x.com", 20.0, None), ("a@x.com", 60.0, None)], 6_000)
    assert window_values(pair.new, "avg")["a@x.com"] == 30.0


def test_times_going_backwards_expire_each_window_as_before() -> None:
    pair = Pair(compiled("sum", ">", 1e9, 10, {}))
    pair.step([("old@x.com", 1.0, None)], 100_000)
    pair.step([("old@x.com", 2.0, None)], 105_000)
    pair.step([("old@x.com", 4.0, None), ("young@x.com", 8.0, None)], 90_000)
    pair.step([("old@x.com", 16.0, None), ("young@x.com", 32.0, None)], 112_000)
    values = window_values(pair.new, "sum")
    assert values == {"old@x.com": 2.0 + 4.0 + 16.0, "young@x.com": 32.0}


def test_a_queue_leaving_the_scope_keeps_its_window_while_reported() -> None:
    pair = Pair(compiled("max", ">", 1e9, 60, {"provider": "big"}))
    pair.step([("a@x.com", 9.0, "big"), ("b@x.com", 1.0, "big")], 1_000)
    pair.clear_caches()
    pair.step([("a@x.com", 2.0, "small"), ("b@x.com", 1.0, "big")], 6_000)
    assert window_values(pair.new, "max") == {"a@x.com": 9.0, "b@x.com": 1.0}
    pair.clear_caches()
    pair.step([("a@x.com", 3.0, "big"), ("b@x.com", 1.0, "big")], 11_000)
    assert window_values(pair.new, "max") == {"a@x.com": 9.0, "b@x.com": 1.0}


Q = "campaign:tenant@gmail.com"


def test_avg_restarts_when_a_queue_misses_a_snapshot() -> None:
    tl = Timeline([rule("avg", "queue_depth", ">", 1000, timeWindow=30_000, aggregation="avg")])
    for size in (3000, 3000):
        tl.queues(sizes={Q: size, "other@x.com": 1})
        tl.advance(5)
    tl.queues(sizes={"other@x.com": 1})
    tl.advance(5)
    tl.queues(sizes={Q: 1500, "other@x.com": 1})
    [(t, tr)] = tl.fired()
    assert t == 0.0
    assert tr.alert.value == 3000
    tl.advance(5)
    tl.queues(sizes={Q: 100, "other@x.com": 1})  # (1500 + 100) / 2, the 3000s forgotten
    assert tl.times("resolved") == [20.0]


def test_sum_and_min_follow_the_window_as_it_slides() -> None:
    tl = Timeline(
        [
            rule("sum", "queue_depth", ">", 250, timeWindow=10_000, aggregation="sum"),
            rule("min", "queue_depth", ">=", 50, timeWindow=10_000, aggregation="min"),
        ]
    )
    for size in (100, 100, 100, 10, 100, 100, 100):
        tl.queues(sizes={Q: size})
        tl.advance(5)
    # sums 100, 200, 300, 210, 210, 210, 300; minimums 100, 100, 100, 10, 10, 10, 100
    assert tl.times("firing", "sum") == [10.0, 30.0]
    assert tl.times("resolved", "sum") == [15.0]
    assert tl.times("firing", "min") == [0.0, 30.0]
    assert tl.times("resolved", "min") == [15.0]


def snapshot(seq: int, rows: list[tuple[str, float, str]]) -> dict[str, Any]:
    queues = [{"queueName": n, "size": s, "kind": k} for n, s, k in rows]
    return {"node": "n1", "seq": seq, "chunk": 0, "chunks": 1, "timestamp": seq, "queues": queues}


def test_a_table_takes_over_the_index_of_an_equal_one_and_rebuilds_otherwise() -> None:
    nq = NodeQueues()
    same = [("a@x.com", 1.0, "scheduled"), ("r1", 2.0, "ready"), ("b@x.com", 3.0, "scheduled")]
    assert nq.add_chunk(snapshot(1, same))
    first = nq.scheduled.index()
    assert first == {"a@x.com": 0, "b@x.com": 1}
    assert nq.add_chunk(snapshot(2, same))
    assert nq.scheduled.index() is first
    assert nq.ready.index() == {"r1": 0}
    swapped = [("b@x.com", 3.0, "scheduled"), ("a@x.com", 1.0, "scheduled")]
    assert nq.add_chunk(snapshot(3, swapped))
    assert nq.scheduled.index() == {"b@x.com": 0, "a@x.com": 1}
    assert nq.ready.index() == {}
    assert nq.add_chunk(snapshot(4, [*swapped, ("c@x.com", 1.0, "scheduled")]))
    assert nq.add_chunk(snapshot(5, swapped))  # the table in between never built its index
    assert nq.scheduled.index() == {"b@x.com": 0, "a@x.com": 1}


@pytest.mark.parametrize("op", [">", ">=", "<", "<=", "==", "!="])
def test_table_hits_filtered_from_a_looser_scan_equal_a_full_scan(op: str) -> None:
    rng = random.Random(op)
    sizes = [float(rng.choice([0, 5, 10, 50, 100, 1000])) for _ in range(500)]
    table = table_of([(f"q{i}", size, None) for i, size in enumerate(sizes)])
    thresholds = [rng.choice([-1.0, 0.0, 5.0, 10.0, 75.0, 100.0, 5000.0]) for _ in range(12)]
    for thr in thresholds:
        assert table.hits(op, thr) == hits(sizes, op, thr)
