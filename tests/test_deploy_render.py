"""Every kustomize overlay renders, validates offline, and runs hardened, probed, bounded pods."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_render() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kw_render", ROOT / "scripts" / "render.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kw_render"] = module
    spec.loader.exec_module(module)
    return module


render = _load_render()
OVERLAYS = render.overlays()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Any]]:
    out = tmp_path_factory.mktemp("rendered")
    return {name: render.render_and_validate(name, out) for name in OVERLAYS}


def _objs(reports: list[Any], kind: str | None = None) -> list[dict[str, Any]]:
    return [r.obj for r in reports if kind is None or r.obj["kind"] == kind]


def _by_name(reports: list[Any], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in _objs(reports, kind)}


def _workloads(reports: list[Any]) -> list[dict[str, Any]]:
    return [o for o in _objs(reports) if o["kind"] in ("Deployment", "StatefulSet")]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in container.get("env", [])}


def test_dev_and_prod_overlays_exist() -> None:
    assert {"dev", "prod"} <= set(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_offline(rendered: dict[str, list[Any]], overlay: str) -> None:
    failures = [r.line() for r in rendered[overlay] if not r.ok]
    assert not failures, "\n".join(failures)
    assert all(r.checked for r in rendered[overlay])


def test_secret_template_validates() -> None:
    for template in render.TEMPLATES:
        reports = render.validate("template", render.load(template.read_text()))
        assert reports
        assert all(r.ok for r in reports), [r.line() for r in reports]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_is_hardened_probed_and_bounded(
    rendered: dict[str, list[Any]], overlay: str
) -> None:
    workloads = _workloads(rendered[overlay])
    assert workloads
    for obj in workloads:
        spec = obj["spec"]["template"]["spec"]
        name = obj["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["securityContext"]["runAsUser"] != 0, name
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert sc.get("privileged") is not True, name
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][kind]), (name, kind)
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in c, (name, probe)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_probe_health_and_stop_within_the_grace_period(
    rendered: dict[str, list[Any]], overlay: str
) -> None:
    deployments = _by_name(rendered[overlay], "Deployment")
    ports = {"gateway": 3001, "poller": 3002, "alerter": 3003, "notifier": 3004}
    for svc, port in ports.items():
        spec = deployments[f"kumowatch-{svc}"]["spec"]["template"]["spec"]
        assert spec["terminationGracePeriodSeconds"] == 30
        (c,) = spec["containers"]
        assert c["command"] == [f"kumowatch-{svc}"]
        assert c["ports"] == [{"name": "http", "containerPort": port}]
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
        env = _env(c)
        assert env["INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_configuration_names_ports_host_and_stream_replicas(
    rendered: dict[str, list[Any]], overlay: str
) -> None:
    maps = {
        name.rsplit("-", 1)[0]: cm["data"]
        for name, cm in _by_name(rendered[overlay], "ConfigMap").items()
    }
    common = maps["kumowatch-common"]
    assert common["HTTP_HOST"] == "0.0.0.0"
    assert common["NATS_URL"] == "nats://nats:4222"
    assert common["NATS_STREAM_REPLICAS"] == "3"
    assert maps["kumowatch-gateway"]["PORT"] == "3001"
    assert maps["kumowatch-poller"]["POLLER_PORT"] == "3002"
    assert maps["kumowatch-alerter"]["ALERTER_PORT"] == "3003"
    assert maps["kumowatch-notifier"]["NOTIFIER_PORT"] == "3004"
    expected_env = "development" if overlay == "dev" else "production"
    assert maps["kumowatch-gateway"]["KUMOWATCH_ENV"] == expected_env


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nats_is_a_three_node_jetstream_cluster_with_volumes(
    rendered: dict[str, list[Any]], overlay: str
) -> None:
    nats = _by_name(rendered[overlay], "StatefulSet")["nats"]
    assert nats["spec"]["replicas"] == 3
    assert nats["spec"]["serviceName"] == "nats-headless"
    (claim,) = nats["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"]
    conf = next(
        cm["data"]["nats.conf"]
        for name, cm in _by_name(rendered[overlay], "ConfigMap").items()
        if name.startswith("nats-config")
    )
    assert "jetstream" in conf
    for i in range(3):
        assert f"nats://nats-{i}.nats-headless:6222" in conf
    pdb = _by_name(rendered[overlay], "PodDisruptionBudget")
    assert set(pdb) == {
        "nats",
        "kumowatch-poller",
        "kumowatch-alerter",
        "kumowatch-notifier",
        "kumowatch-gateway",
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_gateway_and_ingest_are_open_outside_the_namespace(
    rendered: dict[str, list[Any]], overlay: str
) -> None:
    policies = _objs(rendered[overlay], "NetworkPolicy")
    deny = [p for p in policies if p["metadata"]["name"] == "default-deny-ingress"]
    assert deny
    assert deny[0]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    open_ports: set[tuple[str, int]] = set()
    infra_ports: set[tuple[str, str, int]] = set()
    for p in policies:
        target = p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name", "*")
        for rule in p["spec"].get("ingress", []):
            ports = [port["port"] for port in rule["ports"]]
            peers = rule.get("from")
            if peers is None:  # any source
                open_ports |= {(target, port) for port in ports}
                continue
            for peer in peers:
                if "namespaceSelector" in peer:
                    ns = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                    infra_ports |= {(ns, target, port) for port in ports}
    assert open_ports == {("kumowatch-gateway", 3001), ("kumowatch-poller", 3002)}
    # Other namespaces: only the KEDA operator to the NATS monitor port and Prometheus to metrics.
    assert infra_ports <= {
        ("keda", "nats", 8222),
        ("monitoring", "*", 3003),
        ("monitoring", "*", 3004),
    }


def test_prod_scales_each_service_its_own_way(rendered: dict[str, list[Any]]) -> None:
    prod = rendered["prod"]
    deployments = _by_name(prod, "Deployment")
    assert deployments["kumowatch-poller"]["spec"]["replicas"] >= 2
    assert deployments["kumowatch-alerter"]["spec"]["replicas"] >= 2
    assert "replicas" not in deployments["kumowatch-gateway"]["spec"]
    assert "replicas" not in deployments["kumowatch-notifier"]["spec"]
    hpa = _by_name(prod, "HorizontalPodAutoscaler")["kumowatch-gateway"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "kumowatch-gateway"
    scaled = _by_name(prod, "ScaledObject")["kumowatch-notifier"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "nats-jetstream"
    assert trigger["metadata"]["stream"] == "ALERTS"
    assert trigger["metadata"]["consumer"] == "notifier"
    assert trigger["metadata"]["natsServerMonitoringEndpoint"].endswith(
        f".{scaled['metadata']['namespace']}.svc.cluster.local:8222"
    )
    monitors = _by_name(prod, "ServiceMonitor")
    assert set(monitors) == {f"kumowatch-{s}" for s in ("poller", "alerter", "notifier", "gateway")}


def test_dev_runs_one_replica_each_and_the_simulator(rendered: dict[str, list[Any]]) -> None:
    dev = rendered["dev"]
    deployments = _by_name(dev, "Deployment")
    for svc in ("poller", "alerter"):
        assert deployments[f"kumowatch-{svc}"]["spec"]["replicas"] == 1
    assert _by_name(dev, "HorizontalPodAutoscaler")["kumowatch-gateway"]["spec"]["minReplicas"] == 1
    assert not _objs(dev, "ScaledObject")
    assert not _objs(dev, "ServiceMonitor")
    (sim,) = deployments["kumomta-sim"]["spec"]["template"]["spec"]["containers"]
    assert sim["command"] == ["kumowatch-sim"]
    args = sim["args"]
    assert args[:6] == ["--nodes", "2", "--port", "8000", "--host", "0.0.0.0"]
