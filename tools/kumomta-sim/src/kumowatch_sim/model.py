"""The traffic model of one kumod: reception, scheduled queues, ready queues, outcomes.

Time is the node's own clock (epoch seconds). The background ticker advances it in step with
monotonic time; tests call :meth:`TrafficModel.advance` to step it without waiting.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from typing import Any, Final

from kumowatch_sim.admin import AdminState, Bounce, BounceV1Request
from kumowatch_sim.faults import FaultState
from kumowatch_sim.humantime import rfc3339
from kumowatch_sim.knobs import Knobs, SetRequest
from kumowatch_sim.outcomes import BOUNCES, TRANSFAILS, Picker
from kumowatch_sim.records import build_record, response
from kumowatch_sim.scenario import Scenario, Step, Timeline
from kumowatch_sim.state import CounterMap, GaugeMap, Histogram, Message, ReadyQueue, SchedQueue
from kumowatch_sim.topology import (
    DEFAULT_POOL,
    POOLS,
    SOURCE_ADDRESSES,
    TENANTS,
    UNTENANTED_WEIGHT,
    Domain,
    big_domain,
    build_domains,
    long_tail_site,
    queue_name,
    ready_queue_name,
)
from kumowatch_sim.truth import Totals

READY_CAPACITY: Final = 1024
MESSAGES_PER_CONNECTION: Final = 20
MEMORY_LIMIT: Final = 1_538_067_456
MEMORY_BASE: Final = 320_516_096
DISK_TOTAL_BYTES: Final = 26_097_875_968
DISK_TOTAL_INODES: Final = 3_251_495
HOUSEKEEPING_EVERY: Final = 5.0
BIG_COMBOS: Final[tuple[tuple[str | None, str], ...]] = (
    ("newsletter", "acme"),
    ("digest", "globex"),
    (None, "hooli"),
    ("alerts", "umbrella"),
)

_TENANT_POOLS: Final = {t.name: t.pool for t in TENANTS}

RecordSink = Callable[[dict[str, Any]], None]


class TrafficModel:
    """Deterministic (given a seed and the sequence of steps) traffic of one node."""

    def __init__(
        self,
        *,
        name: str,
        index: int = 0,
        seed: int = 0,
        rate: float = 50.0,
        step: float = 0.5,
        prune_after: float = 120.0,
        start_time: float | None = None,
    ) -> None:
        self.name = name
        self.rng = random.Random(f"kumowatch-sim:{seed}:{index}")
        self._cosmetic = random.Random(f"kumowatch-sim-records:{seed}:{index}")
        self.node_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        self._id_suffix = uuid.UUID(self.node_id).hex[:16]
        self.step = step
        self.prune_after = prune_after
        self.now = time.time() if start_time is None else start_time
        self.knobs = Knobs(rate=rate)
        self.admin = AdminState()
        self.fault = FaultState()
        self.sink: RecordSink | None = None
        self.backlog: Callable[[], int] | None = None
        self.version = 0
        self.restarts = 0
        self.lifetime = Totals()
        self._seq = itertools.count(1)
        self._domains: dict[str, Domain] = {d.name: d for d in build_domains()}
        self._streams, self._stream_cum = self._build_streams()
        self._bounce_picker = Picker(BOUNCES)
        self._transfail_picker = Picker(TRANSFAILS)
        self._timeline: Timeline | None = None
        self._scenario: Scenario | None = None
        self._reset_spool()
        self._reset_counters()

    # ---------------------------------------------------------------- lifecycle

    def _reset_spool(self) -> None:
        self.sched: dict[str, SchedQueue] = {}
        self.ready: dict[str, ReadyQueue] = {}
        self._active_sched: dict[SchedQueue, None] = {}  # ordered, for determinism
        self._active_ready: dict[ReadyQueue, None] = {}
        self._deferred: list[tuple[float, int, Message]] = []
        self._sched_empty_since: dict[str, float] = {}
        self.sched_total = 0
        self.ready_total = 0
        self.by_domain: GaugeMap[str] = GaugeMap()
        self.by_tenant: GaugeMap[str] = GaugeMap()
        self.by_tenant_campaign: GaugeMap[tuple[str, str]] = GaugeMap()
        self.queued_by_provider: GaugeMap[str] = GaugeMap()
        self.queued_by_provider_pool: GaugeMap[tuple[str, str]] = GaugeMap()

    def _reset_counters(self) -> None:
        self.online_since = self.now
        self.totals = Totals()
        self.received: Counter[str] = Counter()
        self.inbound_connections_total = 0
        self.inbound_connections = 0
        self.connections_denied = 0
        self.outbound_connections_total = 0
        self.by_provider: dict[str, CounterMap[str]] = {
            k: CounterMap() for k in ("delivered", "transfail", "fail")
        }
        self.by_provider_source: dict[str, CounterMap[tuple[str, str, str]]] = {
            k: CounterMap() for k in ("delivered", "transfail", "fail")
        }
        self.latency = Histogram()
        self.memory_over_limit_count = 0
        self.lua_load_count = 1
        self.record_counts: Counter[str] = Counter()
        self._arrival_carry = 0.0
        self._queue_carry: dict[str, float] = {}
        self._history: deque[tuple[float, int, int, int, int]] = deque(maxlen=2400)
        self._last_housekeeping = self.now

    def restart(self, *, keep_spool: bool = False) -> None:
        """Emulate a kumod restart: counters reset, online_since changes, admin entries drop.

        With ``keep_spool`` the spooled messages survive (as in KumoMTA), otherwise the node
        comes back empty.
        """
        self.restarts += 1
        if keep_spool:
            pending = [m for q in self.sched.values() for m in q.due]
            pending.extend(m for rq in self.ready.values() for m in rq.messages)
            pending.extend(entry[2] for entry in self._deferred)
        else:
            pending = []
        self._reset_spool()
        self.admin.clear()
        self._reset_counters()
        for msg in pending:
            msg.queue = self._register(msg.queue)
            self._sched_delta(msg.queue, 1)
            msg.queue.due.append(msg)
            self._active_sched[msg.queue] = None
        self.lua_load_count = 1
        self.version += 1

    # ---------------------------------------------------------------- topology

    def _build_streams(
        self,
    ) -> tuple[list[tuple[str | None, str | None, Domain, str]], list[float]]:
        streams: list[tuple[str | None, str | None, Domain, str]] = []
        weights: list[float] = []
        domains = list(self._domains.values())
        for tenant in TENANTS:
            share = tenant.weight / len(tenant.campaigns)
            for campaign in tenant.campaigns:
                for dom in domains:
                    streams.append((campaign or None, tenant.name, dom, tenant.pool))
                    weights.append(share * dom.weight)
        for dom in domains:
            streams.append((None, None, dom, DEFAULT_POOL))
            weights.append(UNTENANTED_WEIGHT * dom.weight / len(TENANTS))
        return streams, list(itertools.accumulate(weights))

    def domain(self, name: str) -> Domain:
        """The Domain for a name, inventing a long-tail site for unknown domains."""
        dom = self._domains.get(name)
        if dom is None:
            dom = Domain(name, long_tail_site(name, len(self._domains)), 0.0)
            self._domains[name] = dom
        return dom

    def queue(self, campaign: str | None, tenant: str | None, domain: str) -> SchedQueue:
        """Get or create a scheduled queue."""
        name = queue_name(campaign, tenant, domain)
        q = self.sched.get(name)
        if q is None:
            pool = _TENANT_POOLS.get(tenant or "", DEFAULT_POOL)
            q = SchedQueue(name, campaign, tenant, self.domain(domain), pool)
            self.sched[name] = q
            self._sched_empty_since[name] = self.now
        return q

    def queue_by_name(self, name: str) -> SchedQueue:
        """Get or create a scheduled queue from its KumoMTA name."""
        head, _, domain = name.rpartition("@")
        campaign, sep, tenant = head.partition(":")
        if not sep:
            campaign, tenant = "", head
        return self.queue(campaign or None, tenant or None, domain.partition("!")[0])

    def _register(self, q: SchedQueue) -> SchedQueue:
        existing = self.sched.get(q.name)
        if existing is not None:
            return existing
        self.sched[q.name] = q
        return q

    def _ready_queue(self, source: str, pool: str, q: SchedQueue) -> ReadyQueue:
        site = q.domain.site
        name = ready_queue_name(source, site.name)
        rq = self.ready.get(name)
        if rq is None:
            rq = ReadyQueue(source, pool, site, name, self.now)
            self.ready[name] = rq
        return rq

    def populate(self, queues: int) -> None:
        """Fill the spool with ``queues`` scheduled queues holding deferred messages."""
        rng = random.Random(f"populate:{self.node_id}")
        rand = rng.random
        per_domain = len(BIG_COMBOS)
        now = self.now
        heap = self._deferred
        dom = big_domain(0)
        for i in range(queues):
            if i % per_domain == 0:
                dom = big_domain(i // per_domain)
                self._domains.setdefault(dom.name, dom)
            campaign, tenant = BIG_COMBOS[i % per_domain]
            q = self.queue(campaign, tenant, dom.name)
            roll = rand()
            n = 1 if roll < 0.7 else (2 if roll < 0.9 else 3)
            for _ in range(n):
                msg = Message(self._new_id(), q, now - 60 - 3540 * rand(), 4000)
                msg.attempts = 1 + int(3 * rand())
                msg.due = now + 3600 + 18000 * rand()
                heap.append((msg.due, next(self._seq), msg))
            self._sched_delta(q, n)
        heapq.heapify(heap)
        self.version += 1

    # ---------------------------------------------------------------- scenarios and knobs

    def load_scenario(self, scenario: Scenario) -> None:
        """Start a scenario's timeline from now (and pre-populate its queues)."""
        self._scenario = scenario
        self._timeline = Timeline(scenario, self.now)
        if scenario.queues:
            self.populate(scenario.queues)
        self._run_timeline()

    @property
    def scenario(self) -> Scenario | None:
        return self._scenario

    def apply_set(self, req: SetRequest) -> None:
        req.apply(self.knobs)
        if req.prune_after is not None:
            self.prune_after = req.prune_after
        self.version += 1

    def _run_timeline(self) -> None:
        if self._timeline is None:
            return
        for step in self._timeline.due(self.now):
            self._apply_step(step)

    def _apply_step(self, step: Step) -> None:
        if step.restart:
            self.restart()
        if step.set is not None:
            self.apply_set(step.set)
        if step.fault is not None:
            self.fault.set(step.fault, self.now, step.for_, step.delay)
        if step.suspend is not None:
            self.admin.add_suspension(self.new_uuid(), step.suspend, self.now)
        if step.suspend_ready_q is not None:
            self.admin.add_ready_suspension(self.new_uuid(), step.suspend_ready_q, self.now)
        if step.bounce is not None:
            self.admin_bounce(step.bounce)

    # ---------------------------------------------------------------- helpers

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self._cosmetic.getrandbits(128), version=4))

    def _new_id(self) -> str:
        return f"{next(self._seq):016x}{self._id_suffix}"

    def _sched_delta(self, q: SchedQueue, delta: int) -> None:
        now = self.now
        q.count += delta
        self.sched_total += delta
        self.by_domain.add(q.domain.name, delta, now)
        if q.tenant:
            self.by_tenant.add(q.tenant, delta, now)
            if q.campaign:
                self.by_tenant_campaign.add((q.tenant, q.campaign), delta, now)
        self._queued_delta(q.provider, q.pool, delta)
        if q.count == 0:
            self._sched_empty_since[q.name] = now
        else:
            self._sched_empty_since.pop(q.name, None)

    def _queued_delta(self, provider: str, pool: str, delta: int) -> None:
        self.queued_by_provider.add(provider, delta, self.now)
        self.queued_by_provider_pool.add((provider, pool), delta, self.now)

    def _defer(self, msg: Message, due: float) -> None:
        msg.due = due
        heapq.heappush(self._deferred, (due, next(self._seq), msg))

    def _emit(self, record: dict[str, Any]) -> None:
        self.record_counts[record["type"]] += 1
        if self.sink is not None:
            self.sink(record)

    def liveness(self) -> str | None:
        """Why the node would answer 503 on check-liveness, or None when live."""
        if self.knobs.liveness:
            return self.knobs.liveness
        if self.knobs.disk_free_percent < 5.0:
            return "storage is too full"
        if self.memory_usage() > MEMORY_LIMIT:
            return "load shedding"
        return None

    def memory_usage(self) -> int:
        if self.knobs.memory_usage is not None:
            return self.knobs.memory_usage
        return MEMORY_BASE + 2048 * (self.sched_total + self.ready_total)

    # ---------------------------------------------------------------- time

    def advance(self, seconds: float) -> None:
        """Run the model forward by ``seconds`` of node time, in steps of at most ``step``."""
        remaining = seconds
        while remaining > 1e-9:
            dt = min(self.step, remaining)
            self._tick(dt)
            remaining -= dt

    def _tick(self, dt: float) -> None:
        self.now += dt
        self._run_timeline()
        self.admin.expire(self.now)
        self.fault.current(self.now)
        self._arrive(dt)
        self._release_deferred()
        self._promote()
        self._dispatch(dt)
        if self.memory_usage() > MEMORY_LIMIT:
            self.memory_over_limit_count += 1
        if self.now - self._last_housekeeping >= HOUSEKEEPING_EVERY:
            self._housekeeping()
        t = self.totals
        self._history.append((self.now, t.received, t.delivered, t.transfail, t.fail))
        self.version += 1

    def _arrive(self, dt: float) -> None:
        knobs = self.knobs
        expected = knobs.rate * dt * self.rng.uniform(0.8, 1.2) + self._arrival_carry
        count = int(expected)
        self._arrival_carry = expected - count
        extra: list[tuple[SchedQueue, int]] = []
        for name, qrate in knobs.queue_rate.items():
            want = qrate * dt + self._queue_carry.get(name, 0.0)
            n = int(want)
            self._queue_carry[name] = want - n
            if n:
                extra.append((self.queue_by_name(name), n))
        total = count + sum(n for _, n in extra)
        if not knobs.receptions or total == 0:
            self.inbound_connections = 0
            return
        sessions = math.ceil(total / 4)
        if self.liveness() == "load shedding":
            self.connections_denied += sessions
            self.inbound_connections = 0
            return
        self.inbound_connections_total += sessions
        self.inbound_connections = max(1, math.ceil(knobs.rate * 0.05))
        rng, cum, streams = self.rng, self._stream_cum, self._streams
        top = cum[-1]
        for _ in range(count):
            campaign, tenant, dom, _pool = streams[bisect.bisect_right(cum, rng.random() * top)]
            http = rng.random() < knobs.http_share
            self.receive(self.queue(campaign, tenant, dom.name), http=http)
        for q, n in extra:
            for _ in range(n):
                self.receive(q, http=False)

    def receive(
        self,
        q: SchedQueue,
        *,
        http: bool,
        sender: str | None = None,
        recipient: str | None = None,
        size: int | None = None,
    ) -> Message:
        """Accept one message into scheduled queue ``q`` (or bounce it if a bounce matches)."""
        msg = Message(
            self._new_id(), q, self.now, size if size is not None else self.rng.randint(2000, 60000)
        )
        msg.sender = sender
        msg.recipient = recipient
        service = "http_listener" if http else "esmtp_listener"
        self.received[service] += 1
        if not http:
            self.received["esmtp_listener:0.0.0.0:25"] += 1
        self.totals.received += 1
        self.lifetime.received += 1
        if self.sink is not None:
            self._emit(self._reception_record(msg, http))
        else:
            self.record_counts["Reception"] += 1
        bounce = self.admin.bounce_for(q)
        if bounce is not None:
            self._admin_bounced(msg, bounce)
            return msg
        self._sched_delta(q, 1)
        q.due.append(msg)
        self._active_sched[q] = None
        return msg

    def _release_deferred(self) -> None:
        heap, now = self._deferred, self.now
        while heap and heap[0][0] <= now:
            _, _, msg = heapq.heappop(heap)
            q = msg.queue
            q.due.append(msg)
            self._active_sched[q] = None

    def _promote(self) -> None:
        if not self._active_sched:
            return
        for q in list(self._active_sched):
            if self.admin.is_suspended(q):
                continue
            sources = POOLS.get(q.pool, ("unspecified",))
            due = q.due
            while due:
                source = sources[next(self._seq) % len(sources)] if len(sources) > 1 else sources[0]
                rq = self._ready_queue(source, q.pool, q)
                if len(rq.messages) >= READY_CAPACITY:
                    break
                msg = due.popleft()
                q.count -= 1
                self.sched_total -= 1
                self._sched_gauges_only(q, -1)
                rq.messages.append(msg)
                self.ready_total += 1
                rq.idle_since = None
                self._active_ready[rq] = None
            if not due:
                self._active_sched.pop(q, None)

    def _sched_gauges_only(self, q: SchedQueue, delta: int) -> None:
        # A message moving scheduled -> ready stays "queued" for the provider gauges.
        now = self.now
        self.by_domain.add(q.domain.name, delta, now)
        if q.tenant:
            self.by_tenant.add(q.tenant, delta, now)
            if q.campaign:
                self.by_tenant_campaign.add((q.tenant, q.campaign), delta, now)
        if q.count == 0:
            self._sched_empty_since[q.name] = now

    def _dispatch(self, dt: float) -> None:
        if not self._active_ready:
            return
        knobs = self.knobs
        suspended = self.admin.ready_suspended_names() if self.admin.ready_suspensions else set()
        for rq in list(self._active_ready):
            mult = knobs.throttle.get(rq.site.provider, 1.0)
            if mult < 1.0:
                rq.throttled_since = rq.throttled_since or self.now
            else:
                rq.throttled_since = None
            if not knobs.deliveries or rq.name in suspended or mult <= 0.0:
                rq.connections = 0
                rq.limited_since = None
                continue
            cap = rq.site.capacity * mult
            rq.budget = min(rq.budget + cap * dt, cap)
            backlog = len(rq.messages)
            n = min(int(rq.budget), backlog)
            rq.budget -= n
            want = min(rq.site.connection_limit, math.ceil(backlog / MESSAGES_PER_CONNECTION))
            opened = max(0, want - rq.connections) + n // 100
            rq.connections = want
            rq.total_connections += opened
            self.outbound_connections_total += opened
            if want >= rq.site.connection_limit and backlog > n:
                rq.limited_since = rq.limited_since or self.now
            else:
                rq.limited_since = None
            for _ in range(n):
                self._attempt(rq, rq.messages.popleft())
            if not rq.messages:
                self._active_ready.pop(rq, None)
                rq.idle_since = self.now
                rq.connections = 0
                rq.limited_since = None

    def _attempt(self, rq: ReadyQueue, msg: Message) -> None:
        q = msg.queue
        provider = rq.site.provider
        self.ready_total -= 1
        self._queued_delta(provider, q.pool, -1)
        knobs, rng, now = self.knobs, self.rng, self.now
        self.latency.observe(rng.lognormvariate(-1.4, 0.6))
        roll = rng.random()
        bounce, transfail = knobs.bounce_for(provider), knobs.transfail_for(provider)
        if roll < bounce:
            outcome = "fail"
            rq.fail += 1
            result = self._bounce_picker.pick(rng)
        elif roll < bounce + transfail:
            outcome = "transfail"
            rq.transfail += 1
            result = self._transfail_picker.pick(rng)
        else:
            outcome = "delivered"
            rq.delivered += 1
            result = None
        self.totals.add(outcome, provider)
        self.lifetime.add(outcome, provider)
        self.by_provider[outcome].inc(provider, now)
        self.by_provider_source[outcome].inc((provider, rq.source, rq.pool), now)
        msg.attempts += 1
        if outcome == "delivered":
            if self.sink is not None:
                resp = response(250, (2, 0, 0), f"OK ids={msg.id}", ".")
                self._emit(self._delivery_record("Delivery", msg, rq, resp, "Uncategorized"))
            else:
                self.record_counts["Delivery"] += 1
            return
        assert result is not None
        kind = "Bounce" if outcome == "fail" else "TransientFailure"
        if self.sink is not None:
            resp = response(result.code, result.enhanced, result.content, result.command)
            self._emit(self._delivery_record(kind, msg, rq, resp, result.classification))
        else:
            self.record_counts[kind] += 1
        if outcome == "transfail":
            self._retry(msg, rq)

    def _retry(self, msg: Message, rq: ReadyQueue) -> None:
        knobs = self.knobs
        if msg.attempts >= knobs.max_attempts:
            self.totals.expired += 1
            self.lifetime.expired += 1
            if self.sink is not None:
                resp = response(551, (5, 4, 7), "Next Hop: Too many retry attempts", None)
                self._emit(self._delivery_record("Expiration", msg, rq, resp, "MessageExpired"))
            else:
                self.record_counts["Expiration"] += 1
            return
        q = self._register(msg.queue)
        msg.queue = q
        bounce = self.admin.bounce_for(q)
        if bounce is not None:
            self._admin_bounced(msg, bounce)
            return
        self._sched_delta(q, 1)
        delay = min(knobs.retry_interval * 2 ** (msg.attempts - 1), knobs.max_retry_interval)
        self._defer(msg, self.now + delay)

    def _housekeeping(self) -> None:
        now, after = self.now, self.prune_after
        self._last_housekeeping = now
        for name in [n for n, since in self._sched_empty_since.items() if now - since >= after]:
            del self._sched_empty_since[name]
            q = self.sched.get(name)
            if q is not None and q.count == 0 and not q.due:
                del self.sched[name]
                self._active_sched.pop(q, None)
        for name in [
            n
            for n, rq in self.ready.items()
            if rq.idle_since is not None and now - rq.idle_since >= after and not rq.messages
        ]:
            del self.ready[name]
        for gauge in (self.by_domain, self.by_tenant, self.queued_by_provider):
            gauge.prune(now, after)
        self.by_tenant_campaign.prune(now, after)
        self.queued_by_provider_pool.prune(now, after)
        live = set(self.queued_by_provider.values)
        for counter in self.by_provider.values():
            counter.prune(now, after, keep=live)
        live_pps = {(rq.site.provider, rq.source, rq.pool) for rq in self.ready.values()}
        for counter3 in self.by_provider_source.values():
            counter3.prune(now, after, keep=live_pps)

    # ---------------------------------------------------------------- admin actions

    def admin_bounce(self, req: BounceV1Request) -> Bounce:
        """Register an admin bounce and bounce every matching queued message now."""
        entry = self.admin.add_bounce(self.new_uuid(), req, self.now)
        matched = {q for q in self.sched.values() if entry.matches(q)}
        if matched:
            for q in matched:
                while q.due:
                    msg = q.due.popleft()
                    self._sched_delta(q, -1)
                    self._admin_bounced(msg, entry)
            keep: list[tuple[float, int, Message]] = []
            for item in self._deferred:
                if item[2].queue in matched:
                    self._sched_delta(item[2].queue, -1)
                    self._admin_bounced(item[2], entry)
                else:
                    keep.append(item)
            heapq.heapify(keep)
            self._deferred = keep
        for rq in self.ready.values():
            if not rq.messages or not any(entry.matches(m.queue) for m in rq.messages):
                continue
            remaining: deque[Message] = deque()
            for msg in rq.messages:
                if entry.matches(msg.queue):
                    self.ready_total -= 1
                    self._queued_delta(rq.site.provider, msg.queue.pool, -1)
                    self._admin_bounced(msg, entry)
                else:
                    remaining.append(msg)
            rq.messages = remaining
        self.version += 1
        return entry

    def _admin_bounced(self, msg: Message, entry: Bounce) -> None:
        name = msg.queue.name
        entry.bounced[name] = entry.bounced.get(name, 0) + 1
        self.totals.admin_bounced += 1
        self.lifetime.admin_bounced += 1
        if entry.suppress_logging:
            return
        if self.sink is not None:
            resp = response(551, (5, 7, 1), f"Administrator bounced message: {entry.reason}", None)
            self._emit(self._queue_record("AdminBounce", msg, resp))
        else:
            self.record_counts["AdminBounce"] += 1

    # ---------------------------------------------------------------- records

    def _meta(self, q: SchedQueue) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        if q.tenant:
            meta["tenant"] = q.tenant
        if q.campaign:
            meta["campaign"] = q.campaign
        return meta

    def _addresses(self, msg: Message) -> tuple[str, str]:
        q = msg.queue
        sender = msg.sender or f"bounces@{q.tenant or 'mailer'}.sim.example"
        recipient = msg.recipient or f"user{int(msg.id[:16], 16) % 50000}@{q.domain.name}"
        return sender, recipient

    def _reception_record(self, msg: Message, http: bool) -> dict[str, Any]:
        q = msg.queue
        sender, recipient = self._addresses(msg)
        octet = self._cosmetic.randint(2, 250)
        return build_record(
            kind="Reception",
            msg_id=msg.id,
            sender=sender,
            recipient=recipient,
            queue=q.name,
            site="",
            size=msg.size,
            resp=response(250, None, "", None),
            peer=None
            if http
            else {"name": f"app{octet % 8}.sim.example", "addr": f"10.1.0.{octet}"},
            now=self.now,
            created=msg.created,
            num_attempts=0,
            classification="Uncategorized",
            egress_pool=None,
            egress_source=None,
            source_address=None,
            meta=self._meta(q),
            delivery_protocol=None,
            reception_protocol="HTTP" if http else "ESMTP",
            nodeid=self.node_id,
            provider_name=None,
            session_id=self.new_uuid(),
        )

    def _delivery_record(
        self, kind: str, msg: Message, rq: ReadyQueue, resp: dict[str, Any], classification: str
    ) -> dict[str, Any]:
        q = msg.queue
        sender, recipient = self._addresses(msg)
        port = self._cosmetic.randint(32768, 60999)
        return build_record(
            kind=kind,
            msg_id=msg.id,
            sender=sender,
            recipient=recipient,
            queue=q.name,
            site=rq.name,
            size=msg.size,
            resp=resp,
            peer={"name": rq.site.mx_host, "addr": rq.site.mx_addr},
            now=self.now,
            created=msg.created,
            num_attempts=msg.attempts - 1 if kind == "Delivery" else msg.attempts,
            classification=classification,
            egress_pool=rq.pool,
            egress_source=rq.source,
            source_address={"address": f"{SOURCE_ADDRESSES.get(rq.source, '10.0.0.10')}:{port}"},
            meta=self._meta(q),
            delivery_protocol="ESMTP",
            reception_protocol="ESMTP",
            nodeid=self.node_id,
            provider_name=rq.site.provider,
            session_id=self.new_uuid(),
        )

    def _queue_record(self, kind: str, msg: Message, resp: dict[str, Any]) -> dict[str, Any]:
        q = msg.queue
        sender, recipient = self._addresses(msg)
        return build_record(
            kind=kind,
            msg_id=msg.id,
            sender=sender,
            recipient=recipient,
            queue=q.name,
            site="",
            size=msg.size,
            resp=resp,
            peer=None,
            now=self.now,
            created=msg.created,
            num_attempts=msg.attempts,
            classification="Uncategorized",
            egress_pool=q.pool,
            egress_source=None,
            source_address=None,
            meta=self._meta(q),
            delivery_protocol=None,
            reception_protocol="ESMTP",
            nodeid=self.node_id,
            provider_name=q.provider,
            session_id=None,
        )

    # ---------------------------------------------------------------- observation

    def recent_rate(self, window: float = 10.0) -> dict[str, float]:
        """Per-second rates of received/delivered/transfail/fail over the last ``window``."""
        hist = self._history
        if len(hist) < 2:
            return {"received": 0.0, "delivered": 0.0, "transfail": 0.0, "fail": 0.0}
        last = hist[-1]
        first = hist[0]
        for entry in reversed(hist):
            first = entry
            if last[0] - entry[0] >= window:
                break
        span = last[0] - first[0] or 1.0
        keys = ("received", "delivered", "transfail", "fail")
        return {k: (last[i + 1] - first[i + 1]) / span for i, k in enumerate(keys)}

    def ready_states(self) -> dict[str, dict[str, Any]]:
        """Ready queues currently connection-limited or rate-throttled."""
        out: dict[str, dict[str, Any]] = {}
        for rq in self.ready.values():
            state: dict[str, Any] = {}
            if rq.limited_since is not None:
                state["connection_limited"] = {
                    "context": f"connection_limit={rq.site.connection_limit} reached",
                    "since": rfc3339(rq.limited_since),
                }
            if rq.throttled_since is not None:
                state["connection_rate_throttled"] = {
                    "context": f"max_connection_rate throttle for {rq.site.provider}",
                    "since": rfc3339(rq.throttled_since),
                }
            if state:
                out[rq.name] = state
        return out
