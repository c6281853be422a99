"""The dev overlay's pods, run as local processes against a 3-node NATS cluster, lose nothing.

Every Deployment of the rendered dev overlay starts as its pod would: the container's command and
args, the environment assembled from its ConfigMaps, Secret and downward API. Only addresses are
translated to loopback: each Service to the local port of the process behind it, ``nats:4222`` to
the three local NATS servers, 0.0.0.0 to 127.0.0.1, each container port to a free one. So the
simulator's log hook really reaches the poller through the URL the manifest names, and the
poller really polls the simulator through its KUMOMTA_API_URL.

The simulator is driven into a bounce spike; mid-flow the NATS server leading KUMOMTA_EVENTS is
killed (SIGKILL); afterwards every log record the simulator submitted is stored exactly once in
the stream, which has 3 replicas because the manifests say NATS_STREAM_REPLICAS=3.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.metadata
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import nats
import orjson
import pytest
import yaml
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from kumowatch_common import streams
from kumowatch_common.testing import NatsCluster, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
OVERLAY = "dev"
READY_TIMEOUT = 90.0
FLOW_TIMEOUT = 90.0

Obj = dict[str, Any]


def _load_render() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kw_render", ROOT / "scripts" / "render.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kw_render"] = module
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ manifests -> local processes


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion in env values, command and args."""
    return re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), value)


def _secret_data(obj: Obj) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
    data.update(obj.get("stringData") or {})
    return data


@dataclass
class Pod:
    """One Deployment's container as a local process."""

    name: str
    labels: dict[str, str]
    argv: list[str]
    env: dict[str, str]
    ports: dict[str, int]  # container port name -> container port number
    readiness: Obj
    local: dict[int, int] = field(default_factory=dict)  # container port -> local port
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(
        default_factory=lambda: Path(tempfile.mkstemp(prefix="kw-pod-", suffix=".log")[1])
    )

    def local_port(self, port: int | str) -> int:
        number = self.ports[port] if isinstance(port, str) else port
        return self.local[number]

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def pods_from_manifests(objs: list[Obj]) -> list[Pod]:
    """Every Deployment's (single) container with its environment resolved as the kubelet does."""
    maps = {o["metadata"]["name"]: o.get("data") or {} for o in objs if o["kind"] == "ConfigMap"}
    secrets = {o["metadata"]["name"]: _secret_data(o) for o in objs if o["kind"] == "Secret"}
    pods = []
    for obj in objs:
        if obj["kind"] != "Deployment":
            continue
        name = obj["metadata"]["name"]
        template = obj["spec"]["template"]
        (c,) = template["spec"]["containers"]
        env: dict[str, str] = {}
        for src in c.get("envFrom", []):
            env.update(maps[src["configMapRef"]["name"]])
        for item in c.get("env", []):
            env[item["name"]] = _env_value(item, env, name, maps, secrets)
        env = {k: v for k, v in env.items() if v is not None}
        argv = [_expand(a, env) for a in [*c["command"], *c.get("args", [])]]
        pods.append(
            Pod(
                name=name,
                labels=template["metadata"]["labels"],
                argv=argv,
                env=env,
                ports={p["name"]: p["containerPort"] for p in c.get("ports", [])},
                readiness=c["readinessProbe"],
            )
        )
    return pods


def _env_value(
    item: Obj,
    env: dict[str, str],
    pod: str,
    maps: dict[str, dict[str, str]],
    secrets: dict[str, dict[str, str]],
) -> Any:
    if "value" in item:
        return _expand(item["value"], env)
    source = item["valueFrom"]
    if "fieldRef" in source:
        assert source["fieldRef"]["fieldPath"] == "metadata.name"
        return f"{pod}-local-0"
    kind, table = (
        ("configMapKeyRef", maps) if "configMapKeyRef" in source else ("secretKeyRef", secrets)
    )
    ref = source[kind]
    value = table.get(ref["name"], {}).get(ref["key"])
    assert value is not None or ref.get("optional"), f"{pod}: {ref} is not in the overlay"
    return value


def _consecutive_free_ports(count: int) -> int:
    for _ in range(50):
        base = free_port()
        if base + count > 65535:
            continue
        if all(_is_free(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def localize(pods: list[Pod], objs: list[Obj], nats_url: str) -> None:
    """Give every container port a free local port and rewrite addresses to loopback."""
    for pod in pods:
        numbers = sorted(pod.ports.values())
        if "--port" in pod.argv:
            # The simulator: node i listens on --port + i.
            i = pod.argv.index("--port")
            first = int(pod.argv[i + 1])
            assert numbers == list(range(first, first + len(numbers))), pod.name
            base = _consecutive_free_ports(len(numbers))
            pod.argv[i + 1] = str(base)
            pod.local = {n: base + k for k, n in enumerate(numbers)}
        else:
            pod.local = {n: free_port() for n in numbers}
        for key, value in list(pod.env.items()):
            if key.endswith("PORT") and value.isdigit() and int(value) in pod.local:
                pod.env[key] = str(pod.local[int(value)])

    rules: list[tuple[re.Pattern[str], str]] = []
    for svc in (o for o in objs if o["kind"] == "Service"):
        name, ns = svc["metadata"]["name"], svc["metadata"].get("namespace", "")
        host = rf"{re.escape(name)}(?:\.{re.escape(ns)}(?:\.svc(?:\.cluster\.local)?)?)?"
        selector = svc["spec"].get("selector") or {}
        if selector.get("app.kubernetes.io/name") == "nats":
            # The StatefulSet is replaced by the local cluster: a Service address means all of it.
            rules.append((re.compile(rf"nats://{host}:4222"), nats_url))
            continue
        backends = [p for p in pods if selector.items() <= p.labels.items()]
        if not backends:
            continue
        (backend,) = backends
        for port in svc["spec"]["ports"]:
            local = backend.local_port(port.get("targetPort", port["port"]))
            rules.append((re.compile(rf"(?<=//){host}:{port['port']}\b"), f"127.0.0.1:{local}"))

    def translate(value: str) -> str:
        value = value.replace("0.0.0.0", "127.0.0.1")
        for pattern, repl in rules:
            value = pattern.sub(repl, value)
        return value

    names = [o["metadata"]["name"] for o in objs if o["kind"] == "Service"]
    for pod in pods:
        pod.env = {k: translate(v) for k, v in pod.env.items()}
        pod.argv = [translate(a) for a in pod.argv]
        for value in [*pod.env.values(), *pod.argv]:
            for name in names:
                assert not re.search(rf"//{re.escape(name)}[.:]", value), (
                    f"{pod.name}: {value!r} names Service {name} on a port nothing serves"
                )


def missing_entry_point(command: str) -> str | None:
    """Why the console script cannot run yet (its module is not written), or None."""
    for ep in importlib.metadata.entry_points(group="console_scripts", name=command):
        if importlib.util.find_spec(ep.module) is None:
            return f"{command}: {ep.module} does not exist yet"
        return None
    return f"{command}: no such console script"


# ------------------------------------------------------------------ processes


def start(pod: Pod) -> None:
    path = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    executable = shutil.which(pod.argv[0], path=path)
    assert executable is not None, pod.argv[0]
    env = {"PATH": path, "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8", **pod.env}
    out = open(pod.log_path, "ab")  # noqa: SIM115 - owned by the process
    pod.proc = subprocess.Popen([executable, *pod.argv[1:]], env=env, stdout=out, stderr=out)


def stop(pod: Pod) -> None:
    if pod.proc is not None and pod.proc.poll() is None:
        pod.proc.terminate()
        try:
            pod.proc.wait(25)
        except subprocess.TimeoutExpired:
            pod.proc.kill()
            pod.proc.wait(10)


async def wait_for(what: str, check: Callable[[], Any], timeout: float, pods: list[Pod]) -> Any:
    """Poll ``check`` (sync or async) until it returns a truthy value; fail with the pods' logs."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        dead = [p for p in pods if p.proc is not None and p.proc.poll() is not None]
        if dead or time.monotonic() > deadline:
            logs = "\n".join(
                f"--- {p.name} (exit {p.proc and p.proc.poll()})\n{p.log_tail()}" for p in pods
            )
            raise AssertionError(
                f"{'a process died' if dead else 'timed out'} waiting for {what}\n{logs}"
            )
        await asyncio.sleep(0.1)


async def probe_ready(session: aiohttp.ClientSession, pod: Pod) -> bool:
    """The pod's own readinessProbe, against its local port."""
    probe = pod.readiness
    if "httpGet" in probe:
        url = (
            f"http://127.0.0.1:{pod.local_port(probe['httpGet']['port'])}{probe['httpGet']['path']}"
        )
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False
    port = pod.local_port(probe["tcpSocket"]["port"])
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


# ------------------------------------------------------------------ JetStream inspection


async def stored_events(js: JetStreamContext) -> list[tuple[str, bytes]]:
    """(Nats-Msg-Id, payload) of every message in KUMOMTA_EVENTS, read with an ephemeral consumer."""
    info = await js.stream_info(streams.STREAM_EVENTS)
    total = info.state.messages
    sub = await js.pull_subscribe(
        ">",
        stream=streams.STREAM_EVENTS,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=60
        ),
    )
    out: list[tuple[str, bytes]] = []
    try:
        while len(out) < total:
            for msg in await sub.fetch(1000, timeout=10):
                out.append(((msg.headers or {}).get("Nats-Msg-Id", ""), msg.data))
    finally:
        await sub.unsubscribe()
    return out


async def event_count(js: JetStreamContext) -> int:
    try:
        return int((await js.stream_info(streams.STREAM_EVENTS)).state.messages)
    except Exception:
        return 0


# ------------------------------------------------------------------ the test


@pytest.fixture
def cluster() -> Iterator[NatsCluster]:
    c = NatsCluster.create(3).start()
    yield c
    c.cleanup()


@pytest.fixture
async def pods(cluster: NatsCluster) -> AsyncIterator[list[Pod]]:
    render = _load_render()
    objs = render.load(render.render(OVERLAY))
    all_pods = pods_from_manifests(objs)
    localize(all_pods, objs, cluster.url)
    runnable = []
    for pod in all_pods:
        reason = missing_entry_point(pod.argv[0])
        if reason is None:
            runnable.append(pod)
        else:
            print(f"not started: {pod.name}: {reason}")
    yield runnable
    for pod in runnable:
        stop(pod)


async def test_manifest_processes_lose_no_record_when_a_nats_server_dies(
    cluster: NatsCluster, pods: list[Pod]
) -> None:
    by_name = {p.name: p for p in pods}
    assert {"kumomta-sim", "kumowatch-poller"} <= set(by_name), "poller and simulator must run"
    sim, poller = by_name["kumomta-sim"], by_name["kumowatch-poller"]
    assert poller.env["NATS_STREAM_REPLICAS"] == "3"
    assert "--log-hook-url" in sim.argv
    nodes = [f"http://127.0.0.1:{port}" for port in sorted(sim.local.values())]

    nc = await nats.connect(
        servers=[s.url for s in cluster.servers], max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )
    js = nc.jetstream(timeout=5)
    await wait_for("a JetStream meta leader", lambda: _answers(js.account_info()), 30, pods)
    for pod in pods:
        start(pod)
    async with aiohttp.ClientSession() as http:
        for pod in pods:
            await wait_for(
                f"{pod.name} ready", lambda p=pod: probe_ready(http, p), READY_TIMEOUT, pods
            )
        info = await js.stream_info(streams.STREAM_EVENTS)
        assert info.config.num_replicas == 3
        if "kumowatch-notifier" in by_name:
            await _assert_keda_trigger_names_the_notifier_consumer(js, pods)

        await _sim_post(http, nodes, "scenario", {"name": "bounce-spike", "params": SPIKE})
        await wait_for(
            "bounce records in KUMOMTA_EVENTS",
            lambda: _count(js, streams.STREAM_EVENTS, "kumomta.v1.*.events.Bounce", at_least=20),
            FLOW_TIMEOUT,
            pods,
        )
        leader = await _kill_events_leader(js, cluster, pods)
        if "kumowatch-alerter" in by_name:
            await wait_for(
                "the bounce-rate-high alert",
                lambda: _count(js, streams.STREAM_ALERTS, "alerts.v1.bounce-rate-high.firing"),
                FLOW_TIMEOUT,
                pods,
            )
        # Quiesce the simulator: no new messages, no delivery attempts, so no new log records.
        await _sim_post(http, nodes, "set", {"rate": 0, "deliveries": False, "receptions": False})
        total = await wait_for(
            "every submitted record stored",
            lambda: _quiet_total(http, js, nodes),
            FLOW_TIMEOUT,
            pods,
        )
        for hook in await _hooks(http, nodes):
            assert hook["failed"] == 0, hook
            assert hook["dropped_overflow"] == 0, hook
            assert hook["delivered"] == hook["submitted"], hook

    records = await stored_events(js)
    assert len(records) == total
    ids = [msg_id for msg_id, _ in records]
    assert all(ids)
    assert len(set(ids)) == len(ids), "a record is stored twice"
    assert "Bounce" in {orjson.loads(data)["record"]["type"] for _, data in records}
    print(f"{total} records stored once across the loss of {leader}; ran {sorted(by_name)}")
    if "kumowatch-alerter" in by_name:
        await _assert_alert_transitions_once(js)
    for pod in pods:
        assert pod.proc is not None
        assert pod.proc.poll() is None, f"{pod.name} died:\n{pod.log_tail()}"
    await nc.drain()


SPIKE = {"spike_at": 0, "spike_for": 3600, "ratio": 0.5}


async def _answers(call: Any) -> bool:
    try:
        await call
    except Exception:
        return False
    return True


async def _count(js: JetStreamContext, stream: str, subject: str, at_least: int = 1) -> bool:
    """Whether ``stream`` holds at least ``at_least`` messages on ``subject`` (a wildcard)."""
    try:
        info = await js.stream_info(stream, subjects_filter=subject)
    except Exception:
        return False
    return sum((info.state.subjects or {}).values()) >= at_least


async def _sim_post(
    http: aiohttp.ClientSession, nodes: list[str], path: str, body: dict[str, Any]
) -> None:
    for node in nodes:
        async with http.post(f"{node}/_sim/{path}", json=body) as resp:
            assert resp.status == 200, await resp.text()


async def _hooks(http: aiohttp.ClientSession, nodes: list[str]) -> list[dict[str, Any]]:
    """The simulator's log-hook counters of every node."""
    out = []
    for node in nodes:
        async with http.get(f"{node}/_sim/truth?queues=0") as resp:
            out.append((await resp.json())["log_hook"])
    return out


async def _quiet_total(
    http: aiohttp.ClientSession, js: JetStreamContext, nodes: list[str]
) -> int | None:
    """Records submitted, once every hook has delivered all, the total holds still, and the
    stream holds exactly that many."""
    first = await _hooks(http, nodes)
    if any(h["backlog"] for h in first):
        return None
    stored = await event_count(js)
    second = await _hooks(http, nodes)
    submitted = sum(h["submitted"] for h in second)
    if submitted != sum(h["submitted"] for h in first) or stored != submitted:
        return None
    return submitted


async def _kill_events_leader(js: JetStreamContext, cluster: NatsCluster, pods: list[Pod]) -> str:
    """SIGKILL the server leading KUMOMTA_EVENTS (the worst one to lose mid-flow); wait until
    a new leader stores more records."""
    leader = (await js.stream_info(streams.STREAM_EVENTS)).cluster.leader
    victim = next(s for s in cluster.servers if s.name == leader)
    before = await event_count(js)
    victim.kill()

    async def flowing_on_a_new_leader() -> bool:
        try:
            info = await js.stream_info(streams.STREAM_EVENTS)
        except Exception:
            return False
        return info.cluster.leader not in (None, leader) and info.state.messages >= before + 300

    await wait_for("records stored after the kill", flowing_on_a_new_leader, FLOW_TIMEOUT, pods)
    return str(leader)


async def _assert_keda_trigger_names_the_notifier_consumer(
    js: JetStreamContext, pods: list[Pod]
) -> None:
    """The ScaledObject's stream and consumer are the ones the running notifier pulls from."""
    (scaled,) = yaml.safe_load_all((ROOT / "deploy/components/keda/scaledobject.yaml").read_text())
    (trigger,) = scaled["spec"]["triggers"]
    stream, consumer = trigger["metadata"]["stream"], trigger["metadata"]["consumer"]
    await wait_for(
        f"consumer {consumer} on {stream}",
        lambda: _answers(js.consumer_info(stream, consumer)),
        READY_TIMEOUT,
        pods,
    )


async def _assert_alert_transitions_once(js: JetStreamContext) -> None:
    """Every alert transition in ALERTS appears once (the alerter ran through the kill too)."""
    info = await js.stream_info(streams.STREAM_ALERTS)
    print(f"ALERTS holds {info.state.messages} transitions, each once")
    sub = await js.pull_subscribe(
        ">",
        stream=streams.STREAM_ALERTS,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE),
    )
    seen: list[tuple[str, str]] = []
    while len(seen) < info.state.messages:
        for msg in await sub.fetch(500, timeout=10):
            doc = orjson.loads(msg.data)
            if doc.get("event") in ("firing", "resolved"):
                seen.append((str(doc["alert"]["id"]), str(doc["event"])))
            else:
                seen.append((msg.subject, str(msg.metadata.sequence.stream)))
    await sub.unsubscribe()
    assert len(set(seen)) == len(seen), "an alert transition is stored twice"
