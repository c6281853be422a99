"""Gauge windows of one aggregated queue_depth rule over one node's queues, column by column.

Every queue of a snapshot has the same sample time, so the window keeps one list of snapshot
times and, per snapshot, one column of values laid out by *slot* (a queue's place in the
layout). Per queue there is a running total (sum and avg) and the index of the snapshot the
queue first appeared in (``born``). A snapshot is then a few whole-column operations (``map``
over tuples) instead of one method call per queue.

Slots are stable: a new queue gets a new slot at the end, a queue that leaves leaves a hole, and
``order`` says which table position fills each slot. Only when holes pile up are the slots laid
out again in table order (every column gathered anew), so a snapshot in which a few queues come
and go costs a few list operations, not a relayout.

The semantics are those of one :class:`~kumowatch_alerter.windows.GaugeWindow` per queue:

- A queue's window holds its samples from the snapshots it was reported in, ending at the newest;
  a queue missing from one snapshot starts again from nothing when it returns.
- Expiry drops samples older than ``t - window`` from the front of the window. For a queue born
  in the window, the columns before its birth hold 0.0, so the whole-column subtraction of the
  expired columns leaves its total as a per-queue window would (same float operations, same
  order).
- While snapshot times increase, every window starts at ``max(first, born)``. Two cases leave
  that shape and are kept in per-queue ``GaugeWindow`` objects (``odd``) from then on, as
  before: a snapshot time going backwards, which makes a young queue's front-expiry differ from
  the oldest ones'; and a queue still reported but no longer in scope (its scope verdict changed
  after the scope cache was cleared), whose window is kept, unchanged, while it is reported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from itertools import compress, repeat
from operator import add, eq, ge, gt, itemgetter, sub, truediv
from typing import Final, TypeVar, cast

from kumowatch_alerter.windows import GaugeWindow

Column = Sequence[float]
T = TypeVar("T")

#: Holes tolerated beyond a quarter of the live slots before the slots are laid out again.
COMPACT_MIN: Final = 1024


def gather(values: Sequence[T], idx: Sequence[int]) -> tuple[T, ...]:
    """``values`` at positions ``idx``."""
    return _picker(idx)(values)


def _picker(idx: Sequence[int]) -> Callable[[Sequence[T]], tuple[T, ...]]:
    """A function taking ``values`` at positions ``idx`` (``itemgetter``: the loop in C)."""
    if len(idx) > 1:
        return itemgetter(*idx)
    return lambda values: tuple(values[i] for i in idx)


class QueueWindows:
    """One rule's per-queue windows on one node (see the module docstring)."""

    __slots__ = (
        "_index",
        "born",
        "cols",
        "first",
        "holes",
        "how",
        "last_birth",
        "names",
        "odd",
        "odd_at",
        "order",
        "picked",
        "table_names",
        "times",
        "totals",
        "window_ms",
    )

    def __init__(self, how: str, window_ms: int) -> None:
        self.how = how
        self.window_ms = window_ms
        #: The layout: slot → queue name (None: a hole), and name → slot (None: not built yet,
        #: which it only is without holes; 100k entries per node are worth not keeping idle).
        self.names: list[str | None] = []
        self._index: dict[str, int] | None = {}
        self.holes: set[int] = set()
        #: Slot → the table position that fills it (the table's length for a hole); None when
        #: slot ``s`` is simply the ``s``-th in-scope queue of the table.
        self.order: list[int] | None = None
        #: Per slot: the absolute snapshot index the queue was first reported at, in this run.
        self.born: Sequence[int] = ()
        #: Per slot: the running sum of the window (sum and avg only).
        self.totals: Sequence[float] = ()
        #: Snapshot times and value columns of the window; ``first`` is the absolute index of
        #: the oldest.
        self.times: list[int] = []
        self.cols: list[Column] = []
        self.first = 0
        self.last_birth = 0
        self.odd: dict[str, GaugeWindow] = {}
        #: The table names of the last snapshot, the positions of its queues in the layout (None:
        #: all) and of those in ``odd``: an unchanged table needs no scope lookups and no placing.
        self.table_names: Sequence[str] | None = None
        self.picked: list[int] | None = None
        self.odd_at: list[int] = []

    def __len__(self) -> int:
        return len(self.names) - len(self.holes) + len(self.odd)

    def __contains__(self, name: object) -> bool:
        return name in self.index() or name in self.odd

    def index(self) -> dict[str, int]:
        """Name → slot of the queues in the layout."""
        if self._index is None:
            names = cast(list[str], self.names)  # no holes while the index is not built
            self._index = dict(zip(names, range(len(names)), strict=True))
        return self._index

    # ------------------------------------------------------------------ layout

    def expiry(self, t: int) -> int:
        """How many of the oldest columns a snapshot at ``t`` expires (a front scan)."""
        start, times = t - self.window_ms, self.times
        k = 0
        while k < len(times) and times[k] < start:
            k += 1
        return k

    def split_young(self, t: int, keep: int) -> bool:
        """Move to ``odd`` the queues whose window would not start where the layout says.

        Only when times went backwards: a queue born after the oldest kept column, at a time
        older than ``t - window``, would expire its own first samples. True if any moved.
        """
        start, times, moved = t - self.window_ms, self.times, False
        for k in range(keep + 1, len(times)):
            if times[k] >= start:
                continue
            born = self.first + k
            for slot in [s for s, b in enumerate(self.born) if b == born]:
                name = self.names[slot]
                if name is not None and name not in self.odd:
                    self.odd[name] = self.extract(slot)
                    moved = True
        return moved

    def extract(self, slot: int) -> GaugeWindow:
        """The slot's window as a per-queue ``GaugeWindow`` (before this snapshot's sample)."""
        w = GaugeWindow()
        rel = max(0, self.born[slot] - self.first)
        w.ts = self.times[rel:]
        w.vs = [col[slot] for col in self.cols[rel:]]
        w.total = self.totals[slot] if self.totals else float(sum(w.vs))
        return w

    def place(
        self,
        names: Sequence[str],
        at: Sequence[int],
        size: int,
        dormant: Callable[[set[str]], set[str]],
    ) -> set[str]:
        """Give the queues ``names`` (at table positions ``at``, of ``size``) their slots.

        New queues are born now. Of the queues gone from the layout, those ``dormant`` returns
        (still reported, out of scope) keep their window in ``odd``. Returns the names reported
        more than once, placing nothing, if there are any: they belong in ``odd``.
        """
        if not self.names:
            return self._first_place(names)
        index = self.index()
        slot_of = list(map(index.get, names, repeat(-1)))
        new = list(compress(range(len(names)), map(eq, slot_of, repeat(-1))))
        live = list(compress(slot_of, map(ge, slot_of, repeat(0)))) if new else slot_of
        kept = set(live)
        if len(kept) < len(live) or len({names[j] for j in new}) < len(new):
            return {name for name, n in Counter(names).items() if n > 1}
        if len(kept) < len(index):
            self._leave(set(range(len(self.names))) - self.holes - kept, dormant)
        if new:
            for j in new:
                slot_of[j] = index[names[j]] = len(self.names)
                self.names.append(names[j])
            self._births(len(new))
        if len(self.holes) > COMPACT_MIN + len(index) // 4:
            self._compact(names, slot_of)
        elif not self.holes and slot_of == list(range(len(slot_of))):
            self.order = None
        else:
            order = [size] * len(self.names)
            for s, p in zip(slot_of, at, strict=True):
                order[s] = p
            self.order = order
        return set()

    def _first_place(self, names: Sequence[str]) -> set[str]:
        """Place queues in an empty layout: all of them born now."""
        if len(set(names)) < len(names):
            return {name for name, n in Counter(names).items() if n > 1}
        self.names = list(names)
        self._births(len(names))
        self.order, self._index = None, None
        return set()

    def _leave(self, gone: set[int], dormant: Callable[[set[str]], set[str]]) -> None:
        names, index, odd = self.names, self.index(), self.odd
        leaving = {name for s in gone if (name := names[s]) is not None and name not in odd}
        for name in dormant(leaving) if leaving else ():
            odd[name] = self.extract(index[name])
        for s in gone:
            name = names[s]
            assert name is not None
            del index[name]
            names[s] = None
        self.holes |= gone

    def _births(self, k: int) -> None:
        """Grow the per-slot arrays by ``k`` slots born now (their names already laid out)."""
        now = self.first + len(self.times)
        self.last_birth = now
        self.born = (*self.born, *repeat(now, k))
        if self.how in ("avg", "sum"):
            self.totals = (*self.totals, *repeat(0.0, k))
        zeros = (0.0,) * k
        self.cols = [(*col, *zeros) for col in self.cols]

    def _compact(self, names: Sequence[str], slot_of: list[int]) -> None:
        """Lay the slots out in table order again, without holes."""
        pick = _picker(slot_of)
        self.born = pick(self.born)
        if self.how in ("avg", "sum"):
            self.totals = pick(self.totals)
        self.cols = [pick(col) for col in self.cols]
        self.names = list(names)
        self.holes, self.order, self._index = set(), None, None

    def column(self, sizes: Sequence[float]) -> Column:
        """This snapshot's values in slot order."""
        if self.order is not None:
            return gather((*sizes, 0.0), self.order)
        return sizes if self.picked is None else gather(sizes, self.picked)

    def position(self, slot: int) -> int:
        """The table position of the queue in ``slot``."""
        if self.order is not None:
            return self.order[slot]
        return slot if self.picked is None else self.picked[slot]

    # ------------------------------------------------------------------ samples

    def add(self, t: int, values: Column, expired: int) -> None:
        """Append one snapshot's column (laid out as ``names``), expiring ``expired`` columns."""
        if self.how in ("avg", "sum"):
            grown = map(add, self.totals, values)
            if expired:
                cols = self.cols
                # sum() of the expired samples, column-wise: 0.0 + a + b ..., as GaugeWindow does.
                dropped = map(add, repeat(0.0), cols[0])
                for col in cols[1:expired]:
                    dropped = map(add, dropped, col)
                self.totals = list(map(sub, grown, dropped))
            else:
                self.totals = list(grown)
        self.times.append(t)
        self.cols.append(values)
        if expired:
            del self.times[:expired], self.cols[:expired]
            self.first += expired

    def young(self) -> list[int]:
        """Slots born after the oldest kept column (their windows are shorter)."""
        if self.last_birth <= self.first:
            return []
        return list(compress(range(len(self.born)), map(gt, self.born, repeat(self.first))))

    def values(self) -> list[float]:
        """The aggregated value of every slot's window."""
        how, cols = self.how, self.cols
        if how == "sum":
            return list(self.totals)
        if how == "avg":
            totals = self.totals
            out = list(map(truediv, totals, repeat(len(cols))))
            end, born = self.first + len(cols), self.born
            for slot in self.young():
                out[slot] = totals[slot] / (end - born[slot])
            return out
        pick = max if how == "max" else min
        out = list(map(pick, *cols)) if len(cols) > 1 else list(cols[0]) if cols else []
        for slot in self.young():
            rel = self.born[slot] - self.first
            out[slot] = pick([col[slot] for col in cols[rel:]])
        return out
