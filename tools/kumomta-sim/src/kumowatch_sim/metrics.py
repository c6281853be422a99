"""Render a node's metrics as KumoMTA does: Prometheus text and the hand-assembled metrics.json.

Label pairs are separated by ``", "``. The ``trailing-comma`` and ``unescaped-labels`` quirks
reproduce KumoMTA's hand-assembled output (see ``kumomta-api.md`` §1.4 quirks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

import orjson

from kumowatch_sim.model import (
    DISK_TOTAL_BYTES,
    DISK_TOTAL_INODES,
    MEMORY_LIMIT,
    TrafficModel,
)
from kumowatch_sim.state import Histogram, ReadyQueue

QUIRKS: Final[frozenset[str]] = frozenset({"trailing-comma", "unescaped-labels"})
DISK_NAMES: Final = ("data spool", "log dir /var/log/kumomta", "meta spool")
THREAD_POOLS: Final = (
    ("localset", 2),
    ("logging", 1),
    ("qmaint", 4),
    ("readyq", 4),
    ("spoolin", 2),
)

Number = int | float
Row = tuple[tuple[str, ...], Number]
Pair = tuple[str, Number]


@dataclass(slots=True)
class Family:
    """One metric family: no labels (``value``), labelled ``rows``, or a labelled histogram."""

    name: str
    help: str
    type: str
    labels: tuple[str, ...] = ()
    value: Number | None = None
    rows: Iterable[Row] | None = None
    pairs: list[Pair] | None = None
    histograms: dict[str, Histogram] | None = None


def _families(model: TrafficModel, backlog: dict[str, int] | None) -> list[Family]:
    m = model
    ready = list(m.ready.values())
    conn_by_provider: dict[str, int] = {}
    conn_by_pp: dict[tuple[str, str], int] = {}
    for rq in ready:
        p = rq.site.provider
        conn_by_provider[p] = conn_by_provider.get(p, 0) + rq.connections
        conn_by_pp[(p, rq.pool)] = conn_by_pp.get((p, rq.pool), 0) + rq.connections
    outbound = sum(rq.connections for rq in ready)
    disk_pct = m.knobs.disk_free_percent
    mem = m.memory_usage()
    messages = m.sched_total + m.ready_total

    def per_rq(
        agg: Number, attr: Callable[[ReadyQueue], Number], extra: list[Pair] | None = None
    ) -> list[Pair]:
        rows: list[Pair] = list(extra or [])
        rows.append(("smtp_client", agg))
        rows.extend((rq.service, attr(rq)) for rq in ready)
        return rows

    def one(mapping: dict[str, int]) -> list[Pair]:
        return list(mapping.items())

    def two(mapping: dict[tuple[str, str], int]) -> list[Row]:
        return [(k, v) for k, v in mapping.items()]

    def three(mapping: dict[tuple[str, str, str], int]) -> list[Row]:
        return [(k, v) for k, v in mapping.items()]

    fams = [
        Family(
            "connection_count",
            "number of active connections",
            "gauge",
            ("service",),
            pairs=per_rq(
                outbound,
                lambda rq: rq.connections,
                [("esmtp_listener", m.inbound_connections)],
            ),
        ),
        Family(
            "connection_count_by_provider",
            "number of active connections by provider",
            "gauge",
            ("provider",),
            pairs=one(conn_by_provider),
        ),
        Family(
            "connection_count_by_provider_and_pool",
            "number of active connections by provider and egress pool",
            "gauge",
            ("provider", "pool"),
            rows=two(conn_by_pp),
        ),
        Family(
            "deliver_message_latency_rollup",
            "how long a deliver_message call takes for a given protocol",
            "histogram",
            ("service",),
            histograms={"smtp_client": m.latency},
        ),
        Family(
            "disk_free_bytes",
            "number of available bytes in a monitored location",
            "gauge",
            ("name",),
            pairs=[(n, int(DISK_TOTAL_BYTES * disk_pct / 100)) for n in DISK_NAMES],
        ),
        Family(
            "disk_free_inodes",
            "number of available inodes in a monitored location",
            "gauge",
            ("name",),
            pairs=[(n, int(DISK_TOTAL_INODES * 0.94)) for n in DISK_NAMES],
        ),
        Family(
            "disk_free_inodes_percent",
            "percentage of available inodes in a monitored location",
            "gauge",
            ("name",),
            pairs=[(n, 94) for n in DISK_NAMES],
        ),
        Family(
            "disk_free_percent",
            "percentage of available bytes in a monitored location",
            "gauge",
            ("name",),
            pairs=[(n, int(disk_pct)) for n in DISK_NAMES],
        ),
        Family(
            "log_hook_backlog_count",
            "number of messages in the backlog for a log hook",
            "gauge",
            ("logger",),
            pairs=one(backlog or {}),
        ),
        Family(
            "lua_load_count",
            "how many times the policy lua script has been loaded into a new context",
            "counter",
            value=m.lua_load_count,
        ),
        Family(
            "lua_spare_count",
            "the number of lua contexts available for reuse in the pool",
            "gauge",
            value=2,
        ),
        Family("memory_limit", "soft memory limit measured in bytes", "gauge", value=MEMORY_LIMIT),
        Family(
            "memory_low_thresh",
            "low memory threshold measured in bytes",
            "gauge",
            value=int(MEMORY_LIMIT * 0.8),
        ),
        Family(
            "memory_over_limit_count",
            "how many times the soft memory limit was exceeded",
            "counter",
            value=m.memory_over_limit_count,
        ),
        Family("memory_usage", "number of bytes of used memory", "gauge", value=mem),
        Family("message_count", "total number of Message objects", "gauge", value=messages),
        Family(
            "message_data_resident_count",
            "total number of Message objects with body data loaded",
            "gauge",
            value=m.ready_total,
        ),
        Family(
            "message_meta_resident_count",
            "total number of Message objects with metadata loaded",
            "gauge",
            value=messages,
        ),
        Family(
            "queued_count_by_provider",
            "number of messages in the scheduled and ready queues by provider",
            "gauge",
            ("provider",),
            pairs=one(m.queued_by_provider.values),
        ),
        Family(
            "queued_count_by_provider_and_pool",
            "number of messages in the scheduled and ready queues by provider and egress pool",
            "gauge",
            ("provider", "pool"),
            rows=two(m.queued_by_provider_pool.values),
        ),
        Family(
            "ready_count",
            "number of messages in the ready queue",
            "gauge",
            ("service",),
            pairs=per_rq(m.ready_total, lambda rq: len(rq.messages)),
        ),
        Family(
            "scheduled_by_domain",
            "number of messages in the scheduled queues by destination domain",
            "gauge",
            ("domain",),
            pairs=one(m.by_domain.values),
        ),
        Family(
            "scheduled_by_tenant",
            "number of messages in the scheduled queues by tenant",
            "gauge",
            ("tenant",),
            pairs=one(m.by_tenant.values),
        ),
        Family(
            "scheduled_by_tenant_campaign",
            "number of messages in the scheduled queues by tenant and campaign",
            "gauge",
            ("tenant", "campaign"),
            rows=two(m.by_tenant_campaign.values),
        ),
        Family(
            "scheduled_count",
            "number of messages in the scheduled queue",
            "gauge",
            ("queue",),
            pairs=[(name, q.count) for name, q in m.sched.items()],
        ),
        Family(
            "scheduled_count_total",
            "total number of messages across all scheduled queues",
            "gauge",
            value=m.sched_total,
        ),
        Family(
            "scheduled_queue_count",
            "number of scheduled queues",
            "gauge",
            value=len(m.sched),
        ),
        Family(
            "thread_pool_parked",
            "number of parked (idle) threads in a thread pool",
            "gauge",
            ("pool",),
            pairs=[(n, max(0, size - 1 - (m.version % size))) for n, size in THREAD_POOLS],
        ),
        Family(
            "thread_pool_size",
            "number of worker threads in a thread pool",
            "gauge",
            ("pool",),
            pairs=[(n, size) for n, size in THREAD_POOLS],
        ),
        Family(
            "total_connection_count",
            "total number of connections ever made",
            "counter",
            ("service",),
            pairs=per_rq(
                m.outbound_connections_total,
                lambda rq: rq.total_connections,
                [("esmtp_listener", m.inbound_connections_total)],
            ),
        ),
        Family(
            "total_connections_denied",
            "total number of connections rejected due to load shedding or concurrency limits",
            "counter",
            ("service",),
            pairs=[("esmtp_listener", m.connections_denied)],
        ),
    ]
    helps = {
        "delivered": "total number of messages ever delivered",
        "transfail": "total number of message delivery attempts that transiently failed",
        "fail": "total number of message delivery attempts that permanently failed",
    }
    for outcome, text in helps.items():
        agg = getattr(m.totals, outcome)
        fams.append(
            Family(
                f"total_messages_{outcome}",
                text,
                "counter",
                ("service",),
                pairs=per_rq(agg, _getter(outcome)),
            )
        )
        fams.append(
            Family(
                f"total_messages_{outcome}_by_provider",
                f"{text}, by provider",
                "counter",
                ("provider",),
                pairs=one(m.by_provider[outcome].values),
            )
        )
        fams.append(
            Family(
                f"total_messages_{outcome}_by_provider_and_source",
                f"{text}, by provider and egress source",
                "counter",
                ("provider", "source", "pool"),
                rows=three(m.by_provider_source[outcome].values),
            )
        )
    fams.append(
        Family(
            "total_messages_received",
            "total number of messages ever received",
            "counter",
            ("service",),
            pairs=one(dict(m.received)),
        )
    )
    fams.sort(key=lambda f: f.name)
    return fams


def _getter(attr: str) -> Callable[[ReadyQueue], Number]:
    def get(rq: ReadyQueue) -> Number:
        value: Number = getattr(rq, attr)
        return value

    return get


# ---------------------------------------------------------------- Prometheus text


def _num(value: Number) -> str:
    if isinstance(value, int):
        return str(value)
    if value.is_integer():
        return str(int(value))
    return repr(value)


def _text_escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def _raw(value: str) -> str:
    return value


def _needs_text_escape(values: list[str]) -> bool:
    joined = "".join(values)
    return "\\" in joined or '"' in joined or "\n" in joined


def render_text(
    model: TrafficModel,
    *,
    backlog: dict[str, int] | None = None,
    prefix: str = "",
    quirks: frozenset[str] = frozenset(),
) -> str:
    """The ``/metrics`` body."""
    raw = "unescaped-labels" in quirks
    esc = _raw if raw else _text_escape
    out: list[str] = []
    add = out.append
    for fam in _families(model, backlog):
        name = prefix + fam.name
        add(f"# HELP {name} {fam.help}\n# TYPE {name} {fam.type}\n")
        if fam.histograms is not None:
            key = fam.labels[0]
            for label, hist in fam.histograms.items():
                lab = f'{key}="{esc(label)}"'
                for le, cum in hist.cumulative():
                    add(f'{name}_bucket{{{lab}, le="{le}"}} {cum}\n')
                add(f'{name}_bucket{{{lab}, le="+Inf"}} {hist.count}\n')
                add(f"{name}_sum{{{lab}}} {_num(hist.sum)}\n")
                add(f"{name}_count{{{lab}}} {hist.count}\n")
        elif fam.pairs is not None:
            head = f'{name}{{{fam.labels[0]}="'
            pairs = fam.pairs
            if not raw and _needs_text_escape([k for k, _ in pairs]):
                pairs = [(_text_escape(k), v) for k, v in pairs]
            # Values are ints (or integral floats rendered by _num below).
            out.extend([f'{head}{k}"}} {v}\n' for k, v in pairs if type(v) is int])
            out.extend([f'{head}{k}"}} {_num(v)}\n' for k, v in pairs if type(v) is not int])
        elif fam.rows is None:
            add(f"{name} {_num(fam.value or 0)}\n")
        else:
            rows = list(fam.rows)
            if not raw and _needs_text_escape([x for vals, _ in rows for x in vals]):
                rows = [(tuple(_text_escape(x) for x in vals), v) for vals, v in rows]
            heads = [f'{k}="' for k in fam.labels]
            if len(heads) == 2:
                h0, h1 = f"{name}{{{heads[0]}", f'", {heads[1]}'
                out.extend([f'{h0}{a}{h1}{b}"}} {v}\n' for (a, b), v in rows])
            else:
                for vals, v in rows:
                    inner = ", ".join(f'{h}{x}"' for h, x in zip(heads, vals, strict=True))
                    add(f"{name}{{{inner}}} {_num(v)}\n")
    return "".join(out)


# ---------------------------------------------------------------- metrics.json


def _jnum(value: Number) -> str:
    return repr(float(value))


def _json_escape(value: str) -> str:
    return orjson.dumps(value).decode()


def _json_fast(value: str) -> str:
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return _json_escape(value)


def _json_raw(value: str) -> str:
    return f'"{value}"'


def _json_hist(hist: Histogram) -> str:
    avg = hist.sum / hist.count if hist.count else 0.0
    buckets = ",".join(f"[{le},{_jnum(c)}]" for le, c in hist.cumulative())
    return (
        f'{{"count":{hist.count},"sum":{_jnum(hist.sum)},"avg":{_jnum(avg)},"bucket":[{buckets}]}}'
    )


def _needs_json_escape(values: list[str]) -> bool:
    joined = "".join(values)
    return not (joined.isascii() and joined.isprintable()) or '"' in joined or "\\" in joined


def render_json(
    model: TrafficModel,
    *,
    backlog: dict[str, int] | None = None,
    quirks: frozenset[str] = frozenset(),
) -> str:
    """The ``/metrics.json`` body."""
    raw = "unescaped-labels" in quirks
    js = _json_raw if raw else _json_fast
    trailing = "," if "trailing-comma" in quirks else ""
    parts: list[str] = []
    for fam in _families(model, backlog):
        head = f'"{fam.name}":{{"help":{_json_escape(fam.help)},"type":"{fam.type}","value":'
        if fam.histograms is not None:
            inner = ",".join(f"{js(k)}:{_json_hist(h)}" for k, h in fam.histograms.items())
            body = f'{{"{fam.labels[0]}":{{{inner}{trailing}}}}}'
        elif fam.pairs is not None:
            pairs = fam.pairs
            if not pairs:
                body = "null"
            else:
                if raw or not _needs_json_escape([k for k, _ in pairs]):
                    inner = ",".join([f'"{k}":{float(v)!r}' for k, v in pairs])
                else:
                    inner = ",".join([f"{_json_escape(k)}:{float(v)!r}" for k, v in pairs])
                body = f'{{"{fam.labels[0]}":{{{inner}{trailing}}}}}'
        elif fam.rows is None:
            body = _jnum(fam.value or 0)
        else:
            rows = list(fam.rows)
            if not rows:
                body = "null"
            else:
                keys = fam.labels
                objs = []
                for vals, v in rows:
                    pairs_s = ",".join(f'"{k}":{js(x)}' for k, x in zip(keys, vals, strict=True))
                    objs.append(f'{{{pairs_s},"@":{_jnum(v)}}}')
                body = "[" + ",".join(objs) + "]"
        parts.append(head + body + "}")
    return "{" + ",".join(parts) + "}"


class MetricsCache:
    """Renders at most once per model version (the ticker bumps it each step)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], tuple[int, bytes]] = {}

    def get(self, key: tuple[str, str], version: int, render: Callable[[], str]) -> bytes:
        hit = self._cache.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        body = render().encode()
        self._cache[key] = (version, body)
        return body

    def clear(self) -> None:
        self._cache.clear()
